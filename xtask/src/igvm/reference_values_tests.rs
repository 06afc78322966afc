//! Signed reference values: round trip, tampering, keys, and `openssl` as an independent verifier.
use std::path::PathBuf;
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use p384::pkcs8::{EncodePrivateKey, LineEnding};

use super::*;

fn identity() -> ImageIdentity {
    ImageIdentity {
        name: "warden".into(),
        version: "0.1.0".into(),
        git_commit: "0123456789abcdef0123456789abcdef01234567".into(),
        file_name: "warden.igvm".into(),
    }
}

fn measurements() -> Measurements {
    Measurements {
        vcpus: 2,
        snp_launch_digest: [0xA5; 48],
        tdx_mrtd: [0x3C; 48],
        image_sha256: [0x77; 32],
        native_image_digest: Some([0x42; 48]),
    }
}

/// A key that is not the test key, from a fixed scalar.
fn real_key_pem() -> String {
    let secret = p384::SecretKey::from_slice(&[0x42; 48]).unwrap();
    secret.to_pkcs8_pem(LineEnding::LF).unwrap().to_string()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("warden-rv-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Threat model T9.
#[test]
fn signed_values_verify_and_read_back() {
    let key = ReferenceKey::from_pem(&real_key_pem()).unwrap();
    let bytes = sign_reference_values(&identity(), &measurements(), 0x30000, &key).unwrap();
    let values = verify_reference_values(&bytes, &key.verifying_key()).unwrap();
    assert_eq!(values.identity, identity());
    assert_eq!(values.measurements, measurements());
    assert_eq!((values.snp_policy, values.insecure), (0x30000, false));
    assert_eq!(values.key_id, key.key_id());
    assert!(key.key_id().starts_with("sha256:") && key.key_id().len() == 7 + 64);
    assert_eq!(bytes, sign_reference_values(&identity(), &measurements(), 0x30000, &key).unwrap());
}

/// Threat model T9.
#[test]
fn one_changed_byte_fails_verification() {
    let key = ReferenceKey::insecure_test_key();
    let bytes = sign_reference_values(&identity(), &measurements(), 0x30000, &key).unwrap();
    let envelope: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    // A byte of the statement itself, re-encoded so that the envelope stays well formed.
    let mut payload = BASE64.decode(envelope["payload"].as_str().unwrap()).unwrap();
    let digit = payload.windows(4).position(|w| w == b"a5a5").unwrap();
    payload[digit] = b'b';
    let mut forged = envelope.clone();
    forged["payload"] = BASE64.encode(&payload).into();
    let forged = serde_json::to_vec(&forged).unwrap();
    assert!(verify_reference_values(&forged, &key.verifying_key()).is_err());
    // Raw bytes of the file: one in the payload, one in the signature.
    let text = String::from_utf8(bytes.clone()).unwrap();
    let sig_at = text.find("\"sig\": \"").unwrap() + 20;
    let payload_at = text.find("\"payload\": \"").unwrap() + 40;
    for at in [payload_at, sig_at] {
        let mut tampered = bytes.clone();
        tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
        assert!(verify_reference_values(&tampered, &key.verifying_key()).is_err(), "byte {at}");
    }
    assert!(verify_reference_values(&bytes, &key.verifying_key()).is_ok());
    let other = ReferenceKey::from_pem(&real_key_pem()).unwrap();
    assert!(verify_reference_values(&bytes, &other.verifying_key()).is_err(), "wrong key");
}

/// Threat model T8.
#[test]
fn the_test_key_says_so_and_release_refuses_it() {
    let key = ReferenceKey::load(None).unwrap();
    assert_eq!((key.key_id(), key.is_insecure()), (INSECURE_KEY_ID, true));
    assert!(refuse_insecure_for_release(&key).is_err());
    let bytes = sign_reference_values(&identity(), &measurements(), 0x30000, &key).unwrap();
    let values = verify_reference_values(&bytes, &key.verifying_key()).unwrap();
    assert_eq!((values.key_id.as_str(), values.insecure), (INSECURE_KEY_ID, true));
    // The test key loaded from a PEM file is still the test key.
    let pem = p384::SecretKey::from_bytes(&key.signing.to_bytes()).unwrap().to_pkcs8_pem(LineEnding::LF);
    let reloaded = ReferenceKey::from_pem(&pem.unwrap()).unwrap();
    assert!(refuse_insecure_for_release(&reloaded).is_err());
    assert!(refuse_insecure_for_release(&ReferenceKey::from_pem(&real_key_pem()).unwrap()).is_ok());
}

#[test]
fn write_puts_envelope_and_public_key_in_the_directory() {
    let dir = scratch("write");
    let key = ReferenceKey::insecure_test_key();
    let files = write_reference_values(&dir, &identity(), &measurements(), 0x30000, &key).unwrap();
    assert_eq!(files.envelope, dir.join("reference-values.dsse.json"));
    let pem = std::fs::read_to_string(&files.public_key).unwrap();
    let public = <p384::ecdsa::VerifyingKey as p384::pkcs8::DecodePublicKey>::from_public_key_pem(&pem);
    let values = verify_reference_values(&std::fs::read(&files.envelope).unwrap(), &public.unwrap());
    assert_eq!(values.unwrap().measurements, measurements());
    std::fs::remove_dir_all(dir).unwrap();
}

/// `openssl` (a separate implementation) creates the key and checks the signature over the PAE.
/// Threat model T9.
#[test]
fn openssl_keys_and_signatures_interoperate() {
    let dir = scratch("openssl");
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(&dir).output().expect("openssl runs");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", "k.pem"]);
    openssl(&["ec", "-in", "k.pem", "-out", "k-sec1.pem"]);
    let key = ReferenceKey::from_pem_file(&dir.join("k.pem")).unwrap();
    let sec1 = ReferenceKey::from_pem_file(&dir.join("k-sec1.pem")).unwrap();
    assert_eq!(key.verifying_key(), sec1.verifying_key());
    let bytes = sign_reference_values(&identity(), &measurements(), 0x30000, &key).unwrap();
    let envelope: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let payload = BASE64.decode(envelope["payload"].as_str().unwrap()).unwrap();
    let sig = BASE64.decode(envelope["signatures"][0]["sig"].as_str().unwrap()).unwrap();
    std::fs::write(dir.join("pae.bin"), pae(PAYLOAD_TYPE, &payload)).unwrap();
    std::fs::write(dir.join("sig.der"), sig).unwrap();
    std::fs::write(dir.join("pub.pem"), key.public_key_pem().unwrap()).unwrap();
    let verdict = openssl(&["dgst", "-sha384", "-verify", "pub.pem", "-signature", "sig.der", "pae.bin"]);
    assert_eq!(verdict.trim(), "Verified OK");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn identity_names_the_commit_and_a_dirty_tree() {
    let dir = scratch("git");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"])
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    git(&["init", "-q"]);
    std::fs::write(dir.join("f"), "1").unwrap();
    git(&["add", "f"]);
    git(&["commit", "-q", "-m", "one"]);
    let head = git(&["rev-parse", "HEAD"]);
    let clean = workspace_identity(&dir, "warden.igvm").unwrap();
    assert_eq!((clean.git_commit.as_str(), clean.name.as_str()), (head.as_str(), "warden"));
    std::fs::write(dir.join("f"), "2").unwrap();
    let dirty = workspace_identity(&dir, "warden.igvm").unwrap();
    assert_eq!(dirty.git_commit, format!("{head}-dirty"));
    std::fs::remove_dir_all(dir).unwrap();
}
