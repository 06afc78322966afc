//! Warden's release firmware, unmodified, as the TD's L1 on the TDX machine: the boot reaches the
//! ready line, the MRTD the firmware reads from its TDREPORT is the loader's, and the heap is accepted
//! with the fewest TDG.MEM.PAGE.ACCEPTs (the 8 MiB heap is 2 MiB aligned: four 2 MiB accepts).
use std::path::PathBuf;

use warden_machine::machine::{Config, Outcome};
use warden_machine::tdx::loader::load;
use warden_machine::tdx::machine::TdxMachine;

#[test]
fn warden_reaches_ready_on_the_tdx_machine() {
    let image = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/warden/warden.igvm");
    let bytes = std::fs::read(&image)
        .unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask build` first)", image.display()));
    let td = load(&bytes).expect("the TDX platform loads");
    let mrtd: String = td.mrtd.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let config = Config { until_ready: true, echo: false, max_seconds: 300.0, ..Config::default() };
    let mut machine = TdxMachine::launch(&td, config).expect("launch");
    let outcome = machine.run();
    assert!(matches!(outcome, Outcome::Passed(_)), "{outcome}");
    let s = machine.uc.get_data();
    let lines = &s.vmm.hv.warden.lines;
    assert!(
        lines.iter().any(|l| l.contains("TDX MRTD") && l.contains(&mrtd)),
        "the firmware's MRTD (from TDG.MR.REPORT) is the loader's {mrtd}: {lines:#?}"
    );
    assert_eq!(s.module.sept.counters.accepts_by_level, [0, 4, 0], "one 2 MiB accept per 2 MiB of heap");
    assert_eq!(s.module.sept.counters.already_accepted, 0);
}
