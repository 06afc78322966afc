//! The TDX machine's loader MRTD equals `cargo xtask measure --json`'s `tdx_mrtd` for the same file:
//! the TD build as the machine performs it (TDH.MEM.PAGE.ADD / TDH.MR.EXTEND per page placed) against
//! the `igvm` crate's measurement rules.
use std::path::PathBuf;
use std::process::Command;

use warden_machine::tdx::loader::load;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn check(name: &str) {
    let image = workspace().join("target/warden").join(name);
    let bytes = std::fs::read(&image)
        .unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask build` first)", image.display()));
    let td = load(&bytes).unwrap_or_else(|e| panic!("{}: {e}", image.display()));
    let out = Command::new(env!("CARGO"))
        .current_dir(workspace())
        .args(["xtask", "measure", "--json", "--image"])
        .arg(&image)
        .output()
        .expect("cargo xtask measure runs");
    assert!(out.status.success(), "measure failed: {}", String::from_utf8_lossy(&out.stderr));
    let json = String::from_utf8_lossy(&out.stdout);
    let expected = json
        .split("\"tdx_mrtd\": \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no tdx_mrtd in {json}"));
    assert_eq!(
        hex(&td.mrtd.finalize()),
        expected,
        "{name}: the TDX machine's MRTD differs from `measure --json` ({} adds, {} extends)",
        td.mrtd.adds,
        td.mrtd.extends
    );
    assert!(td.mrtd.adds > 0 && td.mrtd.extends == 16 * (td.mrtd.adds - 2), "two unmeasured parameter pages");
}

#[test]
fn the_loader_mrtd_equals_measure_for_warden_igvm() {
    check("warden.igvm");
}

#[test]
fn the_loader_mrtd_equals_measure_for_the_test_image() {
    check("warden-test.igvm");
}

#[test]
fn the_loader_mrtd_equals_measure_for_the_image_with_the_test_guest() {
    check("warden-snp-guest.igvm");
}
