//! A deliberate fault in the test image is reported with its details and ends QEMU with a failure
//! status (threat model T7: a fault must never be a silent hang). Each fault is one boot.
#![forbid(unsafe_code)]
use std::process::Output;

fn boot_with_fault(fault: &str) -> (String, Output) {
    let output = warden_tests::xtask()
        .args(["run", "--no-build", "--accel", "tcg", "--timeout", "60", "--fault", fault])
        .output()
        .expect("the xtask binary runs");
    (String::from_utf8_lossy(&output.stdout).into_owned(), output)
}

fn assert_reported(fault: &str, expected: &[&str]) {
    let (console, output) = boot_with_fault(fault);
    assert!(!output.status.success(), "{fault}: the run succeeded\n{console}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("QEMU exit code 35"), "{fault}: not the failure status\n{stderr}");
    assert!(
        console.contains(&format!("warden-test: triggering {fault}")),
        "{fault}: not triggered\n{console}"
    );
    for line in expected {
        assert!(console.contains(line), "{fault}: missing {line:?}\n{console}");
    }
}

/// Threat model T7.
#[test]
fn page_fault_is_reported_with_address() {
    assert_reported(
        "page-fault",
        &[
            "FATAL EXCEPTION 14 (page fault) error code 0x0 rip 0x",
            "page fault address (cr2) 0x0000000000100000",
        ],
    );
}

/// Threat model T7.
#[test]
fn write_to_code_is_a_protection_fault() {
    // Error code 0x3: the page was present (bit 0) and the access a write (bit 1).
    assert_reported("write-to-text", &["FATAL EXCEPTION 14 (page fault) error code 0x3 rip 0x"]);
}

/// Threat model T7.
#[test]
fn invalid_opcode_is_reported() {
    assert_reported("invalid-opcode", &["FATAL EXCEPTION 6 (invalid opcode) error code 0x0 rip 0x"]);
}

/// Threat model T7.
#[test]
fn stack_overflow_hits_the_guard_page() {
    assert_reported(
        "stack-overflow",
        &["FATAL EXCEPTION 14 (page fault)", "stack overflow: the boot stack ran into its guard page"],
    );
}

/// Threat model T7.
#[test]
fn panic_is_reported_and_terminates() {
    assert_reported("panic", &["warden: PANIC: panicked at", "deliberate panic from the test image"]);
}
