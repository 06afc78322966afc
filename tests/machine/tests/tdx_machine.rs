//! The TDX machine on hand-placed code at the reset vector (no firmware): what the TDX module does with
//! the instructions a TD cannot run natively before the TD has a #VE handler.
use std::collections::BTreeMap;

use warden_machine::machine::{Config, Outcome};
use warden_machine::tdx::loader::TdImage;
use warden_machine::tdx::machine::TdxMachine;
use warden_machine::tdx::mrtd::Mrtd;

/// A TD whose only page is the top page below 4 GiB, with `code` at the reset vector.
fn run(code: &[u8]) -> Outcome {
    let mut page = Box::new([0xF4u8; 4096]);
    page[0xFF0..0xFF0 + code.len()].copy_from_slice(code);
    let mut pages = BTreeMap::new();
    pages.insert(0xFFFF_F000, page);
    let image = TdImage { pages, mrtd: Mrtd::default() };
    let config = Config { max_seconds: 20.0, echo: false, ..Config::default() };
    TdxMachine::launch(&image, config).expect("launch").run()
}

fn triple_fault(outcome: Outcome) -> String {
    match outcome {
        Outcome::TripleFault(why) => why,
        other => panic!("expected a triple fault, got {other}"),
    }
}

#[test]
fn a_hypervisor_cpuid_leaf_before_the_ve_handler_is_a_triple_fault() {
    // mov eax, 0x4000_0000; cpuid
    let why = triple_fault(run(&[0xB8, 0, 0, 0, 0x40, 0x0F, 0xA2]));
    assert!(
        why.contains("CPUID 0x40000000") && why.contains("#VE") && why.contains("before an IDT"),
        "{why}"
    );
}

#[test]
fn leaf_0_is_the_modules_answer_and_hlt_raises_ve() {
    // xor eax, eax; cpuid; hlt
    let why = triple_fault(run(&[0x31, 0xC0, 0x0F, 0xA2, 0xF4]));
    assert!(why.contains("HLT at RIP 0xfffffff4") && why.contains("#VE"), "{why}");
}

#[test]
fn a_read_of_a_pending_page_raises_ve() {
    // mov eax, [0x0100_0000]
    let why = triple_fault(run(&[0xA1, 0, 0, 0, 0x01]));
    assert!(why.contains("read of pending GPA 0x1000000") && why.contains("#VE"), "{why}");
}

#[test]
fn port_io_before_the_ve_handler_is_a_triple_fault() {
    // mov dx, 0x3f8; mov al, 0x41; out dx, al
    let why = triple_fault(run(&[0x66, 0xBA, 0xF8, 0x03, 0xB0, 0x41, 0xEE]));
    assert!(why.contains("IN/OUT") && why.contains("#VE"), "{why}");
}
