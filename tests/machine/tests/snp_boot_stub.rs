//! The boot stub's C-bit on the emulated SNP machine: it takes the position from the measured CPUID
//! page only, and a page that names none in 32..=51 stops the VM before paging is on, with Warden's
//! termination reason (set 0xF, code 5), before a single line is printed.
use std::path::PathBuf;

use warden_defs::ghcb::msr::{REASON_SET_WARDEN, REASON_WARDEN_NO_C_BIT};
use warden_defs::snp_cpuid::LEAF_ENCRYPTED_MEMORY;
use warden_machine::cpuid_model::CpuidModel;
use warden_machine::loader::load;
use warden_machine::machine::{Config, Machine, Outcome};

/// warden.igvm on a machine whose CPUID page says `cpuid` for Fn8000_001F: the outcome and what Warden
/// printed.
fn boot_with_encrypted_memory_leaf(cpuid: Option<[u32; 4]>) -> (Outcome, Vec<String>) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/warden/warden.igvm");
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask build` first)", path.display()));
    let model = CpuidModel::probe().with_entry(LEAF_ENCRYPTED_MEMORY, 0, cpuid);
    let loaded = load(&bytes, &model).expect("the loader takes warden.igvm");
    let config = Config { echo: false, until_ready: true, max_seconds: 60.0, ..Config::default() };
    let mut machine = Machine::launch(&loaded, config).expect("launch");
    let outcome = machine.run();
    (outcome, machine.uc.get_data().hv.warden.lines.clone())
}

/// SEV, SEV-ES, SNP and VMPLs advertised (AMD64 APM vol. 3, CPUID Fn8000_001F EAX), four VMPLs.
const SEV_EAX: u32 = 0b11_1011;

#[test]
fn a_cpuid_page_with_a_c_bit_below_32_stops_the_stub() {
    let (outcome, lines) = boot_with_encrypted_memory_leaf(Some([SEV_EAX, 20 | (4 << 12), 0, 0]));
    assert!(
        matches!(outcome, Outcome::Terminated(set, code) if (set, code) == (REASON_SET_WARDEN, REASON_WARDEN_NO_C_BIT)),
        "the stub must refuse C-bit 20 with its reason, got {outcome}"
    );
    assert!(lines.is_empty(), "Warden ran: {lines:?}");
}

#[test]
fn a_cpuid_page_without_the_encrypted_memory_leaf_stops_the_stub() {
    let (outcome, lines) = boot_with_encrypted_memory_leaf(None);
    assert!(
        matches!(outcome, Outcome::Terminated(set, code) if (set, code) == (REASON_SET_WARDEN, REASON_WARDEN_NO_C_BIT)),
        "the stub must refuse a page without Fn8000_001F, got {outcome}"
    );
    assert!(lines.is_empty(), "Warden ran: {lines:?}");
}
