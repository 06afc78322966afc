//! Warden and the bundled test guest on the emulated partitioned TDX machine (`warden-tdx-guest.igvm`):
//! Warden, the TD's L1, launches the guest as L2 VM 1 and serves it; the guest's steps pass; then its
//! final attack writes one byte to Warden's first page, which Warden never granted it: the TDX module
//! stops the write (an EPT violation), Warden reports it and stops the guest, and the byte in the
//! machine's memory is Warden's own. The TDREPORT the guest received carries Warden's two extends: in
//! RTMR[0] the boot configuration the VMM placed (the parameter page and the memory-map page, which
//! MRTD does not cover), in RTMR[1] the guest image before its first instruction.
use std::path::PathBuf;

use sha2::{Digest, Sha384};
use warden_defs::guest_launch::GuestPayload;
use warden_defs::layout::{GUEST_PAYLOAD_PAGE, MEMORY_MAP_PAGE, PAGE_SIZE, PARAMS_PAGE, WARDEN_BASE};
use warden_machine::machine::{Config, Outcome};
use warden_machine::tdx::loader::TdImage;
use warden_machine::tdx::loader::load;
use warden_machine::tdx::machine::TdxMachine;

/// What the guest's attack writes (`tests/guest`, `steps::attacks::write_warden`): bit 0 clear, where
/// Warden's PML4 entry has it set.
const ATTACK_BYTE: u8 = 0x5A;
/// The accessed and dirty bits of a page-table entry, which the CPU may set on its walks.
const ACCESSED_DIRTY: u8 = 0x60;

#[test]
fn warden_serves_the_l2_guest_and_stops_its_write_to_wardens_memory() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/warden/warden-tdx-guest.igvm");
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask build` first)", path.display()));
    let td = load(&bytes).expect("the TDX loader takes warden-tdx-guest.igvm");
    // No smoke stop: the run goes past the verdict to the final attack, and ends when Warden halts the
    // TD. The boot derives the vTPM's RSA-2048 EK under emulation: minutes on a busy host.
    let config = Config { echo: false, max_seconds: 900.0, ..Config::default() };
    let mut machine = TdxMachine::launch(&td, config).expect("launch");
    let mut before = [0u8; 1];
    machine.uc.mem_read(WARDEN_BASE, &mut before).expect("Warden's first page is memory");
    assert_eq!(before[0] & 1, 1, "Warden's PML4 entry 0 is present");

    let outcome = machine.run();
    let console = machine.uc.get_data().vmm.hv.warden.lines.join("\n");
    let mut after = [0u8; 1];
    machine.uc.mem_read(WARDEN_BASE, &mut after).expect("Warden's first page is memory");

    assert!(console.contains("guest: verdict: PASS"), "no PASS verdict: {outcome}\nconsole:\n{console}");
    assert!(
        console.contains(&format!("guest: attack: writing Warden's page {WARDEN_BASE:#x}")),
        "the guest never attacked: {outcome}\nconsole:\n{console}"
    );
    let denied = format!("warden: L2 guest denied at GPA {WARDEN_BASE:#x} (qualification");
    assert!(
        console.contains(&denied),
        "Warden did not report the EPT violation: {outcome}\nconsole:\n{console}"
    );
    assert!(!console.contains("FAIL wrote Warden's memory"), "the write went through:\n{console}");
    assert!(matches!(outcome, Outcome::Halted(_)), "Warden did not halt the TD after the denial: {outcome}");
    assert_ne!(after[0], ATTACK_BYTE, "the guest's byte is in Warden's memory");
    assert_eq!(after[0] & !ACCESSED_DIRTY, before[0] & !ACCESSED_DIRTY, "Warden's byte changed");

    let report = tdreport(&console);
    assert_eq!(
        report[RTMR0],
        expected_rtmr0(&td),
        "RTMR[0] is not SHA-384(0^48 || SHA-384(the parameter page || the memory-map page))"
    );
    assert_eq!(
        report[RTMR1],
        expected_rtmr1(&td),
        "RTMR[1] is not SHA-384(0^48 || SHA-384(the guest image as loaded))"
    );
}

/// RTMR[0] and RTMR[1] in a TDREPORT_STRUCT (Intel TDX Module v1.5 ABI Specification, TDINFO_STRUCT at
/// 0x200: RTMR[0] at +0xD0, RTMR[1] at +0x100).
const RTMR0: std::ops::Range<usize> = 0x2D0..0x300;
const RTMR1: std::ops::Range<usize> = 0x300..0x330;

/// The TDREPORT the guest printed (`guest: evidence report <hex>`).
fn tdreport(console: &str) -> Vec<u8> {
    let line = console
        .lines()
        .find_map(|line| line.strip_prefix("guest: evidence report "))
        .unwrap_or_else(|| panic!("the guest printed no report:\n{console}"));
    let bytes: Vec<u8> =
        (0..line.len() / 2).map(|i| u8::from_str_radix(&line[2 * i..2 * i + 2], 16).expect("hex")).collect();
    assert_eq!(bytes.len(), 1024, "a TDREPORT is 1024 bytes");
    bytes
}

/// One extend from zero, as a verifier replays it: SHA-384(48 zero bytes || `event_digest`).
fn extend_from_zero(event_digest: &[u8]) -> Vec<u8> {
    Sha384::new().chain_update([0u8; 48]).chain_update(event_digest).finalize().to_vec()
}

/// SHA-384(48 zero bytes || SHA-384(the boot parameter page || the memory-map page as the loader placed
/// them)), computed here from the IGVM file and the machine's configuration, independently of the
/// firmware.
fn expected_rtmr0(td: &TdImage) -> Vec<u8> {
    let page = |gpa: u64| &td.pages.get(&gpa).expect("the parameter pages are placed")[..];
    extend_from_zero(
        &Sha384::new().chain_update(page(PARAMS_PAGE)).chain_update(page(MEMORY_MAP_PAGE)).finalize(),
    )
}

/// SHA-384(48 zero bytes || SHA-384(the image's pages `[image_start, image_end)` as the loader added
/// them)), computed here from the IGVM file, independently of the firmware.
fn expected_rtmr1(td: &TdImage) -> Vec<u8> {
    let descriptor = td.pages.get(&GUEST_PAYLOAD_PAGE).expect("the payload descriptor page is loaded");
    let payload = GuestPayload::parse(&descriptor[..]).expect("descriptor").expect("a guest");
    let mut image = Sha384::new();
    for gpa in (payload.image_start..payload.image_end).step_by(PAGE_SIZE as usize) {
        image.update(&td.pages.get(&gpa).expect("every image page is loaded")[..]);
    }
    extend_from_zero(&image.finalize())
}
