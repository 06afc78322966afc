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
    for field in ["snp_launch_digest", "tdx_mrtd", "image_sha256"] {
        let value = measured[field].as_str().unwrap();
        assert!(
            value.len() >= 64 && payload.contains(value),
            "{field} {value} is not in the signed statement:\n{payload}"
        );
    }
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
    assert!(String::from_utf8_lossy(&good.stdout).starts_with("verified: "));

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
