//! PCR 0 on the emulated SNP machine holds exactly the launch: the test guest fetches Warden's event
//! log and prints the PCR 0 launch event's text (after checking its digests are the hashes of its
//! data), and reads PCR 0 through the vTPM. The event must name the launch digest the machine's loader
//! computed, which must be `cargo xtask measure --json`'s for the same file; and PCR 0 must be what
//! replaying the PFP's rule gives from that value alone (start at locality 4, extend the event's
//! SHA-256): a PCR 0 extended with anything else, or a log naming another digest, fails the values.
use std::path::PathBuf;
use std::process::Command;

use sha2::{Digest, Sha256};
use warden_machine::cpuid_model::CpuidModel;
use warden_machine::loader::load;
use warden_machine::machine::{Config, Machine, Outcome};
use warden_vtpm::measured_boot::{LaunchMeasurement, LaunchRoot};

const IMAGE: &str = "warden-snp-guest.igvm";

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `measure --json --image <IMAGE>`'s `snp_launch_digest`.
fn measured_digest(image: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO"))
        .current_dir(workspace())
        .args(["xtask", "measure", "--json", "--image"])
        .arg(image)
        .output()
        .expect("cargo xtask measure runs");
    assert!(out.status.success(), "measure failed: {}", String::from_utf8_lossy(&out.stderr));
    let json = String::from_utf8_lossy(&out.stdout);
    json.split("\"snp_launch_digest\": \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no snp_launch_digest in {json}"))
        .to_owned()
}

/// The text after `guest: <step>: PASS ` on the guest's console.
fn passed<'a>(lines: &'a [String], step: &str, consoles: &str) -> &'a str {
    let prefix = format!("guest: {step}: PASS ");
    lines
        .iter()
        .find_map(|line| line.trim().strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no passed `{step}` line:\n{consoles}"))
}

#[test]
fn pcr0_holds_exactly_the_launch_digest_measure_predicts() {
    let image = workspace().join("target/warden").join(IMAGE);
    let bytes = std::fs::read(&image)
        .unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask build` first)", image.display()));
    let loaded = load(&bytes, &CpuidModel::probe()).expect("the loader takes the image");
    let launch_digest: [u8; 48] = loaded.digest.value();
    assert_eq!(hex(&launch_digest), measured_digest(&image), "the loader's digest against `measure --json`");

    let config = Config { echo: false, smoke: true, max_seconds: 900.0, ..Config::default() };
    let mut machine = Machine::launch(&loaded, config).expect("launch");
    let outcome = machine.run();
    let hv = &machine.uc.get_data().hv;
    let consoles = [hv.warden.lines.join("\n"), hv.guest.lines.join("\n")].join("\n");
    assert!(matches!(outcome, Outcome::Passed(_)), "no PASS verdict: {outcome}\nthe consoles:\n{consoles}");

    // The event Warden logged, against the one a verifier predicts from the launch digest.
    let expected =
        LaunchMeasurement { root: LaunchRoot::SnpLaunchDigest, digest: launch_digest }.event_data();
    let printed = passed(&hv.guest.lines, "event-log launch event", &consoles);
    let logged: Vec<u8> = printed.encode_utf16().chain([0]).flat_map(u16::to_le_bytes).collect();
    assert!(logged == expected, "the launch event names another value: {printed}");

    // PCR 0 in the SHA-256 bank: locality 4, then that one event, and nothing else.
    let mut start = [0u8; 32];
    start[31] = 4;
    let pcr0 = Sha256::new().chain_update(start).chain_update(Sha256::digest(&expected)).finalize();
    let read = passed(&hv.guest.lines, "vtpm pcr-read", &consoles);
    assert_eq!(read, format!("PCR 0 (SHA-256) {}", hex(&pcr0)), "PCR 0 against the replay of the launch");
}
