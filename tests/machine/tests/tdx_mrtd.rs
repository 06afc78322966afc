//! The TDX machine's loader MRTD equals `cargo xtask measure --json`'s `tdx_mrtd` for the same file:
//! the TD build as the machine performs it (TDH.MEM.PAGE.ADD / TDH.MR.EXTEND per page placed) against
//! the `igvm` crate's measurement rules. For the image with the test guest as the TD's L2, it also
//! equals the `tdx_guest_mrtd` that `measure --json` publishes beside Warden's own values.
use std::path::PathBuf;
use std::process::Command;

use warden_machine::tdx::loader::load;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The loader's MRTD of `target/warden/<name>`, with its ADD and EXTEND counts.
fn loader_mrtd(name: &str) -> (String, u64, u64) {
    let image = workspace().join("target/warden").join(name);
    let bytes = std::fs::read(&image)
        .unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask build` first)", image.display()));
    let td = load(&bytes).unwrap_or_else(|e| panic!("{}: {e}", image.display()));
    (hex(&td.mrtd.finalize()), td.mrtd.adds, td.mrtd.extends)
}

/// `cargo xtask measure --json` with `args`; the value of `key` in its line.
fn measured(args: &[&str], key: &str) -> String {
    let out = Command::new(env!("CARGO"))
        .current_dir(workspace())
        .args(["xtask", "measure", "--json"])
        .args(args)
        .output()
        .expect("cargo xtask measure runs");
    assert!(out.status.success(), "measure failed: {}", String::from_utf8_lossy(&out.stderr));
    let json = String::from_utf8_lossy(&out.stdout);
    json.split(&format!("\"{key}\": \""))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no {key} in {json}"))
        .to_owned()
}

fn check(name: &str) {
    let (mrtd, adds, extends) = loader_mrtd(name);
    let image = workspace().join("target/warden").join(name);
    let expected = measured(&["--image", &image.display().to_string()], "tdx_mrtd");
    assert_eq!(
        mrtd, expected,
        "{name}: the TDX machine's MRTD differs from `measure --json` ({adds} adds, {extends} extends)"
    );
    assert!(adds > 0 && extends == 16 * (adds - 2), "two unmeasured parameter pages");
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

#[test]
fn the_loader_mrtd_equals_measure_for_the_image_with_the_tdx_guest() {
    check("warden-tdx-guest.igvm");
}

/// The published `tdx_guest_mrtd` is the guest image's MRTD, and the guest is in it: Warden's own
/// MRTD differs, and so does the SNP guest image's (which loads its guest on SNP only).
#[test]
fn measure_publishes_the_tdx_guest_image_s_mrtd() {
    let (guest, guest_adds, _) = loader_mrtd("warden-tdx-guest.igvm");
    assert_eq!(measured(&[], "tdx_guest_mrtd"), guest);
    let (plain, plain_adds, _) = loader_mrtd("warden.igvm");
    let (snp_guest, _, _) = loader_mrtd("warden-snp-guest.igvm");
    assert_ne!(guest, plain);
    assert_eq!(snp_guest, plain, "the SNP guest image adds nothing to the TD");
    assert!(guest_adds > plain_adds, "the guest's pages are added to the TD");
}
