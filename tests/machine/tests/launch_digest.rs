//! The machine's loader digest equals `cargo xtask measure --json`'s `snp_launch_digest` for the same
//! file: two independent computations of what the PSP reports.
use std::path::PathBuf;
use std::process::Command;

use warden_machine::cpuid_model::CpuidModel;
use warden_machine::loader::load;

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
    let loaded = load(&bytes, &CpuidModel::probe()).unwrap_or_else(|e| panic!("{}: {e}", image.display()));
    let out = Command::new(env!("CARGO"))
        .current_dir(workspace())
        .args(["xtask", "measure", "--json", "--image"])
        .arg(&image)
        .output()
        .expect("cargo xtask measure runs");
    assert!(out.status.success(), "measure failed: {}", String::from_utf8_lossy(&out.stderr));
    let json = String::from_utf8_lossy(&out.stdout);
    let expected = json
        .split("\"snp_launch_digest\": \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no snp_launch_digest in {json}"));
    assert_eq!(
        hex(&loaded.digest.value()),
        expected,
        "{name}: the machine's launch digest differs from `measure --json` ({} pages)",
        loaded.digest.pages
    );
}

#[test]
fn the_loader_digest_equals_measure_for_warden_igvm() {
    check("warden.igvm");
}

#[test]
fn the_loader_digest_equals_measure_for_the_test_image() {
    check("warden-test.igvm");
}

#[test]
fn the_loader_digest_equals_measure_for_the_image_with_the_test_guest() {
    check("warden-snp-guest.igvm");
}
