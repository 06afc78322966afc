//! The firmware binary `cargo xtask build` produced boots on the emulated SNP machine to its ready line.
use std::path::PathBuf;

use warden_machine::cpuid_model::CpuidModel;
use warden_machine::loader::load;
use warden_machine::machine::{Config, Machine, Outcome};

fn image(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/warden").join(name)
}

#[test]
fn warden_with_the_test_guest_serves_every_guest_step_on_the_emulated_snp_machine() {
    let image = image("warden-snp-guest.igvm");
    let bytes = std::fs::read(&image)
        .unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask build` first)", image.display()));
    let loaded = load(&bytes, &CpuidModel::probe()).expect("the loader takes warden-snp-guest.igvm");
    // The boot derives the vTPM's RSA-2048 EK under emulation: minutes on a busy host.
    let config = Config { echo: false, smoke: true, max_seconds: 900.0, ..Config::default() };
    let mut machine = Machine::launch(&loaded, config).expect("launch");
    let outcome = machine.run();
    let hv = &machine.uc.get_data().hv;
    let consoles = [hv.warden.lines.join("\n"), hv.guest.lines.join("\n")].join("\n");
    assert!(matches!(outcome, Outcome::Passed(_)), "no PASS verdict: {outcome}\nthe consoles:\n{consoles}");
}

#[test]
fn warden_igvm_boots_to_its_ready_line_on_the_emulated_snp_machine() {
    let image = image("warden.igvm");
    let bytes = std::fs::read(&image)
        .unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask build` first)", image.display()));
    let loaded = load(&bytes, &CpuidModel::probe()).expect("the loader takes warden.igvm");
    let config = Config { echo: false, until_ready: true, max_seconds: 120.0, ..Config::default() };
    let mut machine = Machine::launch(&loaded, config).expect("launch");
    let outcome = machine.run();
    let console = machine.uc.get_data().hv.warden.lines.join("\n");
    assert!(
        matches!(outcome, Outcome::Passed(_)),
        "warden.igvm did not reach `warden: ready:` on the machine: {outcome}\nits console:\n{console}"
    );
    let counters = machine.uc.get_data().snp.counters;
    assert!(
        counters.pvalidate > 0 && counters.psc_exits > 0,
        "the heap was accepted through PSC + PVALIDATE"
    );
}

/// warden.igvm under a hypervisor that answers page-state changes with `behavior`: the outcome and
/// whether Warden printed its ready line.
fn boot_with_lying_hypervisor(behavior: warden_sim::snp::PscBehavior) -> (Outcome, bool) {
    let bytes = std::fs::read(image("warden.igvm")).expect("run `cargo xtask build` first");
    let loaded = load(&bytes, &CpuidModel::probe()).expect("the loader takes warden.igvm");
    let config = Config {
        echo: false,
        until_ready: true,
        max_seconds: 120.0,
        psc_behavior: behavior,
        ..Config::default()
    };
    let mut machine = Machine::launch(&loaded, config).expect("launch");
    let outcome = machine.run();
    let ready = machine.uc.get_data().hv.warden.lines.iter().any(|l| l.starts_with("warden: ready:"));
    (outcome, ready)
}

#[test]
fn a_hypervisor_refusing_page_state_changes_stops_the_boot() {
    let (outcome, ready) = boot_with_lying_hypervisor(warden_sim::snp::PscBehavior::Fail(0x100 << 32));
    assert!(!ready && matches!(outcome, Outcome::Terminated(..)), "Warden must terminate, got {outcome}");
}

#[test]
fn a_hypervisor_over_reporting_page_state_changes_never_gets_a_ready_boot() {
    let lie = warden_sim::snp::PscBehavior::OverReport { per_exit: 1, claimed: 4 };
    let (outcome, ready) = boot_with_lying_hypervisor(lie);
    assert!(!ready && !outcome.is_success(), "Warden reached ready on memory never assigned: {outcome}");
}
