//! Attestation end to end on the emulated SEV-SNP machine: `cargo xtask attest` writes evidence whose
//! every check passes under `cargo xtask verify --evidence` (with the machine's test ARK), and each
//! tampering fails the check that names it. Verifiers Warden did not write accept the same evidence:
//! the virtee `sev` crate and `snpguest`.
//!
//! A debug policy and a VMPL other than 0 cannot be produced by the machine's honest PSP: the library's
//! tests (`verifier/evidence/tests/evidence_checks.rs`) sign such reports with a test hierarchy.
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

/// One `attest` run per test binary (a boot takes seconds); the tests copy it before changing it.
fn evidence() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("warden-attest-{}", std::process::id()));
        let nonce = "5a".repeat(64);
        let out = warden_tests::xtask()
            .args(["attest", "--no-build", "--nonce", &nonce, "--out"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "attest failed:\n{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(std::fs::read(dir.join("nonce.bin")).unwrap(), vec![0x5a; 64]);
        dir
    })
}

/// A copy of the evidence with `change` applied.
fn tampered(name: &str, change: impl FnOnce(&Path)) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("warden-attest-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(evidence()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    change(&dir);
    dir
}

fn verify(dir: &Path, extra: &[&str]) -> Output {
    let ark = dir.join("ark.pem");
    let mut command = warden_tests::xtask();
    command.args(["verify", "--evidence"]).arg(dir);
    if !extra.contains(&"--no-ark") {
        command.arg("--ark").arg(ark);
    }
    command.args(extra.iter().filter(|a| **a != "--no-ark")).output().unwrap()
}

/// Asserts the run failed, and that `check` is among the failing lines.
fn assert_fails_at(out: &Output, check: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "verified anyway:\n{stdout}");
    assert!(
        stdout.lines().any(|l| l.trim_start().starts_with(&format!("FAIL  {check}:"))),
        "{check} did not fail:\n{stdout}"
    );
}

fn flip(dir: &Path, file: &str, at: usize) {
    let mut bytes = std::fs::read(dir.join(file)).unwrap();
    bytes[at] ^= 1;
    std::fs::write(dir.join(file), bytes).unwrap();
}

#[test]
fn attested_evidence_passes_every_check() {
    let out = verify(evidence(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.lines().filter(|l| l.trim_start().starts_with("pass  ")).count(), 13, "{stdout}");
}

#[test]
fn a_flipped_report_byte_fails() {
    assert_fails_at(
        &verify(&tampered("flip", |d| flip(d, "report.bin", 0x1F0)), &[]),
        "report-signed-by-vcek",
    );
}

#[test]
fn a_different_nonce_fails() {
    assert_fails_at(
        &verify(&tampered("nonce", |d| flip(d, "nonce.bin", 0)), &[]),
        "report-data-binds-nonce-and-manifest",
    );
}

#[test]
fn a_manifest_whose_ek_is_not_the_vtpms_fails() {
    // The EK's modulus is the manifest's last bytes.
    let swapped = tampered("ek", |d| {
        let len = std::fs::read(d.join("manifest.bin")).unwrap().len();
        flip(d, "manifest.bin", len - 1);
    });
    assert_fails_at(&verify(&swapped, &[]), "report-data-binds-nonce-and-manifest");
    // Bound by the report, but not the EK the relying party read from the vTPM.
    let other_ek = tampered("ek-read", |d| {
        let manifest = std::fs::read(d.join("manifest.bin")).unwrap();
        let mut ek = manifest[manifest.len() - 314..].to_vec();
        ek[313] ^= 1;
        std::fs::write(d.join("vtpm-ek.bin"), ek).unwrap();
    });
    let ek = other_ek.join("vtpm-ek.bin");
    assert_fails_at(&verify(&other_ek, &["--ek", ek.to_str().unwrap()]), "manifest-ek");
}

#[test]
fn a_measurement_not_in_the_reference_values_fails() {
    // The values of the guest-less image: signed, valid, and for another measurement.
    let other = warden_tests::out_dir().join("reference-values.dsse.json");
    assert_fails_at(
        &verify(evidence(), &["--reference-values", other.to_str().unwrap()]),
        "measurement-referenced",
    );
}

#[test]
fn a_chain_outside_amds_roots_fails() {
    assert_fails_at(&verify(evidence(), &["--no-ark"]), "ask-signed-by-ark");
}

#[test]
fn the_sev_crate_verifies_the_evidence() {
    use sev::certs::snp::{Chain, Verifiable};
    use sev::firmware::guest::AttestationReport;
    use sev::parser::ByteParser;
    let read = |f: &str| std::fs::read(evidence().join(f)).unwrap();
    let chain = Chain::from_pem(&read("ark.pem"), &read("ask.pem"), &read("vcek.pem")).unwrap();
    let report = AttestationReport::from_bytes(&read("report.bin")).unwrap();
    (&chain, &report).verify().expect("the sev crate verifies chain and report");
}

/// `snpguest` from crates.io, installed into the user's cache (not the tree) when missing.
fn snpguest() -> Option<PathBuf> {
    let root = std::env::var_os("HOME").map(PathBuf::from)?.join(".cache/warden/snpguest");
    let binary = root.join("bin/snpguest");
    if !binary.exists() {
        let install = std::process::Command::new("cargo")
            .args(["install", "--locked", "snpguest", "--root"])
            .arg(&root)
            .output()
            .ok()?;
        if !install.status.success() {
            let why = String::from_utf8_lossy(&install.stderr);
            assert!(
                why.contains("failed to fetch") || why.contains("download") || why.contains("network"),
                "cargo install snpguest failed for another reason than the registry:\n{why}"
            );
            eprintln!("SKIPPED: crates.io is unreachable, snpguest cannot be installed:\n{why}");
            return None;
        }
    }
    Some(binary)
}

#[test]
fn snpguest_verifies_the_certificates_and_the_report() {
    let Some(snpguest) = snpguest() else { return };
    let dir = evidence();
    let certs = std::process::Command::new(&snpguest).args(["verify", "certs"]).arg(dir).output().unwrap();
    assert!(
        certs.status.success(),
        "snpguest verify certs:\n{}{}",
        String::from_utf8_lossy(&certs.stdout),
        String::from_utf8_lossy(&certs.stderr)
    );
    let report = std::process::Command::new(&snpguest)
        .args(["verify", "attestation"])
        .arg(dir)
        .arg(dir.join("report.bin"))
        .output()
        .unwrap();
    assert!(
        report.status.success(),
        "snpguest verify attestation:\n{}{}",
        String::from_utf8_lossy(&report.stdout),
        String::from_utf8_lossy(&report.stderr)
    );
}
