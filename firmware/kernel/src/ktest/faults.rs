//! Deliberate faults, one per name, so the host can check that each is reported with its details and ends
//! QEMU with a failure status.
use crate::println;

/// An address the initial page tables leave unmapped (below Warden's region).
const UNMAPPED: u64 = 0x10_0000;

/// Triggers the fault called `name`; returns only if the name is unknown.
pub fn trigger(name: &str) {
    println!("warden-test: triggering {name}");
    match name {
        "page-fault" => {
            // SAFETY: none: this read is meant to fault, and the fault handler terminates the VM.
            let value = unsafe { (UNMAPPED as *const u64).read_volatile() };
            println!("warden-test: read {value:#x} from an unmapped page?!");
        }
        "write-to-text" => {
            let text = trigger as *const () as *mut u8;
            // SAFETY: none: the page is mapped read-only, this write is meant to fault.
            unsafe { text.write_volatile(0xCC) };
        }
        "invalid-opcode" => {
            // SAFETY: UD2 raises #UD, which the handler reports before terminating.
            unsafe { core::arch::asm!("ud2", options(nomem, nostack)) };
        }
        "stack-overflow" => {
            println!("warden-test: recursion reached depth {}", recurse(0));
        }
        "panic" => panic!("deliberate panic from the test image"),
        "unexpected-ve" => {
            // In a TD, WBINVD raises #VE (exit reason 54), which Warden never causes and its #VE
            // handler must refuse (`warden_platform::tdx_ve::VeError::UnexpectedExit`); elsewhere it
            // just runs.
            // SAFETY: WBINVD writes back and invalidates caches; no memory changes meaning.
            unsafe { core::arch::asm!("wbinvd", options(nostack)) };
            println!("warden-test: WBINVD returned");
        }
        _ => {}
    }
}

/// Recurses until the boot stack runs into its guard page.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    if depth == u64::MAX {
        return 0;
    }
    let frame = [depth; 64];
    core::hint::black_box(&frame);
    recurse(depth + 1) + core::hint::black_box(frame[7])
}
