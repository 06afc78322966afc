//! The image as a build output (issue 3): a second checkout of the same commit builds byte-identical
//! files, the published reference values carry exactly what `measure` computes, and a release build
//! refuses the insecure test key (threat model T8, T9).
#![forbid(unsafe_code)]
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Clones the committed HEAD into `dir` and builds it there with the same xtask binary (and a cargo
/// cache of its own: cargo hashes path crates relative to the workspace, so two checkouts sharing one
/// cache would overwrite each other's build-script outputs).
fn build_checkout(dir: &Path) -> PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    git(
        &workspace(),
        &["clone", "--quiet", "--no-hardlinks", workspace().to_str().unwrap(), dir.to_str().unwrap()],
    );
    let status = warden_tests::xtask()
        .arg("build")
        .env("WARDEN_WORKSPACE", dir)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("the xtask binary runs");
    assert!(status.success(), "building the checkout in {} failed", dir.display());
    dir.join("target/warden")
}

const OUTPUTS: [&str; 3] = ["warden.igvm", "warden.rom", "reference-values.dsse.json"];

/// Threat model T9.
#[test]
fn a_checkout_elsewhere_builds_identical_files() {
    let scratch = std::env::temp_dir().join(format!("warden-repro-{}", std::process::id()));
    let first = build_checkout(&scratch.join("a"));
    // The working tree may differ from HEAD while developing; in CI it is HEAD, so one clone suffices.
    let dirty = !git(&workspace(), &["status", "--porcelain", "--untracked-files=no"]).is_empty();
    let second = if dirty {
        build_checkout(&scratch.join("a-second-checkout-with-a-longer-path"))
    } else {
        warden_tests::out_dir()
    };
    for name in OUTPUTS {
        let a = std::fs::read(first.join(name)).unwrap();
        let b = std::fs::read(second.join(name)).unwrap();
        assert!(a == b, "{name} differs between {} and {}", first.display(), second.display());
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
fn the_reference_values_publish_what_measure_computes() {
    let measured = warden_tests::xtask()
        .args(["measure", "--json"])
        .env("WARDEN_WORKSPACE", workspace())
        .output()
        .unwrap();
    assert!(measured.status.success(), "{}", String::from_utf8_lossy(&measured.stderr));
    let measured: serde_json::Value = serde_json::from_slice(&measured.stdout).unwrap();
    let envelope: serde_json::Value = serde_json::from_slice(
        &std::fs::read(warden_tests::out_dir().join("reference-values.dsse.json")).unwrap(),
    )
    .unwrap();
    let payload =
        base64::engine::general_purpose::STANDARD.decode(envelope["payload"].as_str().unwrap()).unwrap();
    let payload = String::from_utf8(payload).unwrap();
    for field in ["snp_launch_digest", "tdx_mrtd", "image_sha256", "native_image_digest"] {
        let value = measured[field].as_str().unwrap();
        assert!(
            value.len() >= 64 && payload.contains(value),
            "{field} {value} is not in the signed statement:\n{payload}"
        );
    }
}

/// The CoRIM and Trustee's sample message carry the same SNP launch digest as `measure --json`. The CoRIM
/// is read as bytes here (a reader independent of the xtask's): the digest must sit in a
/// `[7, h'<48 bytes>']` digest entry, sha-384 per the CoRIM profile; `verify` checks its signature.
#[test]
fn the_corim_and_the_trustee_sample_carry_what_measure_computes() {
    let measured = warden_tests::xtask()
        .args(["measure", "--json"])
        .env("WARDEN_WORKSPACE", workspace())
        .output()
        .unwrap();
    assert!(measured.status.success(), "{}", String::from_utf8_lossy(&measured.stderr));
    let measured: serde_json::Value = serde_json::from_slice(&measured.stdout).unwrap();
    let digest_hex = measured["snp_launch_digest"].as_str().unwrap();
    let digest: Vec<u8> = (0..digest_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digest_hex[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(digest.len(), 48);

    let corim = std::fs::read(warden_tests::out_dir().join("reference-values.corim.cbor")).unwrap();
    assert_eq!(corim[..2], [0xD2, 0x84], "a tagged COSE_Sign1");
    let entry: Vec<u8> = [&[0x82, 0x07, 0x58, 0x30][..], &digest].concat();
    assert!(
        corim.windows(entry.len()).any(|w| w == entry),
        "the CoRIM has no sha-384 digest entry for {digest_hex}"
    );

    let sample: serde_json::Value = serde_json::from_slice(
        &std::fs::read(warden_tests::out_dir().join("reference-values.trustee-sample.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(sample["type"], "sample");
    let payload =
        base64::engine::general_purpose::STANDARD.decode(sample["payload"].as_str().unwrap()).unwrap();
    let provenance: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(provenance["snp_launch_measurement"], serde_json::json!([digest_hex]));
}

/// Threat model T8.
#[test]
fn a_release_build_refuses_the_insecure_test_key() {
    let out = warden_tests::xtask().args(["build", "--release"]).output().unwrap();
    assert!(!out.status.success(), "a release build with the test key succeeded");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--signing-key"), "{stderr}");
}

/// Threat model T9.
#[test]
fn verify_accepts_the_build_and_refuses_a_tampered_image() {
    let verify =
        |image: &Path| warden_tests::xtask().args(["verify", "--image"]).arg(image).output().unwrap();
    let good = verify(&warden_tests::out_dir().join("warden.igvm"));
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    let stdout = String::from_utf8_lossy(&good.stdout);
    assert!(stdout.starts_with("verified: "));
    assert!(stdout.contains("CoRIM agrees, Trustee sample agrees"), "{stdout}");

    let mut image = std::fs::read(warden_tests::out_dir().join("warden.igvm")).unwrap();
    let last = image.len() - 1;
    image[last] ^= 1; // file data: a page's contents, not a header
    let tampered = std::env::temp_dir().join(format!("warden-tampered-{}.igvm", std::process::id()));
    std::fs::write(&tampered, &image).unwrap();
    let bad = verify(&tampered);
    let _ = std::fs::remove_file(&tampered);
    assert!(!bad.status.success(), "a tampered image verified");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("does not match the signed reference values"));
}
