//! The firmware `cargo xtask build` produced, on the emulated TDX machine: the release image boots to
//! its ready line through the acceptance engine, with no #VE on the way, and reports the MRTD the
//! loader measured; an instruction the TD intercepts before the #VE handler exists stops the TD; the test
//! image's suite passes, and a VMM that lies in MapGPA is refused.
use std::path::PathBuf;

use warden_machine::cpu;
use warden_machine::machine::{Config, Outcome};
use warden_machine::tdx::loader::{TdImage, load};
use warden_machine::tdx::machine::TdxMachine;
use warden_sim::tdx::MapGpaBehavior;

fn image(name: &str) -> TdImage {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/warden").join(name);
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask build` first)", path.display()));
    load(&bytes).unwrap_or_else(|e| panic!("the TDX loader refuses {name}: {e}"))
}

/// Runs `machine` and returns the outcome and Warden's console.
fn run(machine: &mut TdxMachine<'_>) -> (Outcome, String) {
    let outcome = machine.run();
    (outcome, machine.uc.get_data().vmm.hv.warden.lines.join("\n"))
}

#[test]
fn warden_igvm_boots_to_ready_on_tdx_and_reports_the_loaders_mrtd() {
    let image = image("warden.igvm");
    let config = Config { echo: false, until_ready: true, max_seconds: 300.0, ..Config::default() };
    let mut machine = TdxMachine::launch(&image, config).expect("launch");
    let (outcome, console) = run(&mut machine);
    assert!(matches!(outcome, Outcome::Passed(_)), "no ready line on TDX: {outcome}\nconsole:\n{console}");
    let mrtd: String = image.mrtd.finalize().iter().map(|b| format!("{b:02x}")).collect();
    assert!(
        console.contains(&format!("warden: launch measurement: TDX MRTD {mrtd}")),
        "Warden's TDG.MR.REPORT MRTD is not the loader's {mrtd}:\n{console}"
    );
    let data = machine.uc.get_data();
    let accepts = data.module.sept.counters;
    assert!(
        accepts.accepts > 0 && accepts.already_accepted == 0,
        "the heap was not accepted once: {accepts:?}"
    );
    // Nothing on the boot path is an instruction the TD intercepts (the #VE cases are the test image's).
    assert_eq!(data.module.counters.ves, 0, "the boot to ready took #VEs");
}

/// The boot stub writes EFER only when the TD's start value lacks LME or NXE; a TD started without
/// NXE makes it write, and the WRMSR raises #VE before Warden has an IDT: the TD must stop there (a
/// triple fault), not run on with the VMM answering.
#[test]
fn an_intercepted_instruction_before_the_ve_handler_stops_the_td() {
    let image = image("warden.igvm");
    let config = Config { echo: false, until_ready: true, max_seconds: 120.0, ..Config::default() };
    let mut machine = TdxMachine::launch(&image, config).expect("launch");
    // The TD's start state (`tdx::reset`) but EFER = SCE | LME: the stub must set NXE itself.
    cpu::write_efer(&mut machine.uc, 0x101).expect("EFER");
    let (outcome, console) = run(&mut machine);
    match &outcome {
        Outcome::TripleFault(why) => assert!(why.contains("before an IDT"), "{why}"),
        other => panic!("the TD ran on after an intercepted WRMSR with no #VE handler: {other}\n{console}"),
    }
    assert!(!console.contains("warden: ready"), "{console}");
}

/// The test image's verdicts: each `test NAME ... RESULT` line.
fn verdicts(console: &str) -> Vec<&str> {
    console.lines().filter(|line| line.starts_with("test ")).collect()
}

#[test]
fn the_test_image_passes_on_tdx_with_its_tdx_cases() {
    let image = image("warden-test.igvm");
    let config = Config { echo: false, max_seconds: 1200.0, ..Config::default() };
    let mut machine = TdxMachine::launch(&image, config).expect("launch");
    let (outcome, console) = run(&mut machine);
    assert!(matches!(outcome, Outcome::Passed(_)), "the suite failed on TDX: {outcome}\n{console}");
    let tdx_cases: Vec<&str> =
        verdicts(&console).into_iter().filter(|line| line.starts_with("test tdx_")).collect();
    assert!(tdx_cases.len() >= 4 && tdx_cases.iter().all(|line| line.ends_with("... ok")), "{tdx_cases:?}");
}

/// MapGPA answered "retry from" a GPA before the range's start: the acceptance engine refuses the
/// resume (`AcceptError::MapGpaResume`), the case fails, and every other case still passes.
#[test]
fn a_vmm_that_lies_in_map_gpa_is_refused() {
    let image = image("warden-test.igvm");
    let config = Config { echo: false, max_seconds: 1200.0, ..Config::default() };
    let mut machine = TdxMachine::launch(&image, config).expect("launch");
    machine.uc.get_data_mut().module.sept.map_gpa_behavior = MapGpaBehavior::RetryAt(0x1000);
    let (outcome, console) = run(&mut machine);
    assert!(!matches!(outcome, Outcome::Passed(_)), "a lying MapGPA passed the suite:\n{console}");
    let failed: Vec<&str> = verdicts(&console).into_iter().filter(|line| line.contains("FAILED")).collect();
    assert!(
        failed.len() == 1
            && failed[0].starts_with("test tdx_map_gpa_round_trip")
            && failed[0].contains("MapGpaResume { gpa: 4096 }"),
        "expected only the MapGPA case to fail, on the resume GPA: {failed:?}\n{console}"
    );
}
