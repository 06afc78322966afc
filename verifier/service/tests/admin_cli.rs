//! The administrator's commands end to end on an SQLite store, as an operator runs them: each refused
//! command leaves the store as it was, and the secret is in the database only sealed.
mod harness;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use p384::ecdsa::signature::Signer;
use p384::ecdsa::{DerSignature, SigningKey};
use p384::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::json;
use warden_evidence::reference_values::{PAYLOAD_TYPE, PREDICATE_TYPE, STATEMENT_TYPE, pae};
use warden_verifier::admin::reference_values_id;
use warden_verifier::store::{self, StoreKey};

const SECRET: &[u8] = b"correct horse battery staple";

/// The operator's files and the store, in one scratch directory.
struct Setup {
    dir: PathBuf,
    store: String,
}

impl Setup {
    fn new(name: &str) -> Self {
        let dir = harness::scratch_dir(&format!("admin-{name}"));
        std::fs::write(dir.join("store.key"), "5a".repeat(32)).unwrap();
        let store = format!("sqlite://{}", dir.join("verifier.db").display());
        Self { dir, store }
    }

    /// `warden-verifier ARGS --store URL --store-key FILE`.
    fn admin(&self, args: &[&str]) -> Output {
        self.admin_with_key(args, &self.dir.join("store.key"))
    }

    fn admin_with_key(&self, args: &[&str], key: &Path) -> Output {
        Command::new(env!("CARGO_BIN_EXE_warden-verifier"))
            .args(args)
            .args(["--store", &self.store, "--store-key"])
            .arg(key)
            .output()
            .unwrap()
    }

    fn file(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path.display().to_string()
    }

    /// Reads the store through the library, after the commands ran.
    fn reference_ids(&self) -> Vec<String> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let store = store::open(&self.store, StoreKey::new([0x5A; 32])).await.unwrap();
            store.reference_values().await.unwrap().into_iter().map(|v| v.id).collect()
        })
    }
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn refused(out: &Output) -> String {
    assert!(!out.status.success(), "succeeded: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A DSSE envelope of reference values for `warden-snp-guest.igvm`, signed by `key`.
fn envelope(key: &SigningKey) -> (Vec<u8>, Vec<u8>) {
    let payload = serde_json::to_vec(&json!({
        "_type": STATEMENT_TYPE,
        "subject": [{ "name": "warden-snp-guest.igvm", "digest": { "sha256": "77".repeat(32) } }],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "image": { "name": "warden", "version": "0.1.0", "gitCommit": "abc", "sha256": "77".repeat(32) },
            "snp": { "launchDigest": "4d".repeat(48), "policy": "0x30000", "vcpus": 1 },
            "tdx": { "mrtd": "3c".repeat(48) },
            "signer": { "keyid": "k", "insecure": false },
        },
    }))
    .unwrap();
    let signature: DerSignature = key.sign(&pae(PAYLOAD_TYPE, &payload));
    let envelope = json!({
        "payloadType": PAYLOAD_TYPE,
        "payload": BASE64.encode(&payload),
        "signatures": [{ "keyid": "k", "sig": BASE64.encode(signature.as_bytes()) }],
    });
    (serde_json::to_vec(&envelope).unwrap(), payload)
}

#[test]
fn reference_values_are_stored_only_with_a_good_signature() {
    let setup = Setup::new("rv");
    let signer = SigningKey::from_slice(&[0x42; 48]).unwrap();
    let public = setup.file(
        "trusted.pub.pem",
        signer.verifying_key().to_public_key_pem(LineEnding::LF).unwrap().as_bytes(),
    );
    let (good, payload) = envelope(&signer);

    // Signed by another key: refused, nothing stored.
    let (forged, _) = envelope(&SigningKey::from_slice(&[0x43; 48]).unwrap());
    let forged = setup.file("forged.json", &forged);
    let stderr = refused(&setup.admin(&["reference-values", "add", &forged, "--key", &public]));
    assert!(stderr.contains("no signature verifies") && stderr.contains("nothing stored"), "{stderr}");
    // Unsigned (no signatures at all): refused.
    let mut unsigned: serde_json::Value = serde_json::from_slice(&good).unwrap();
    unsigned["signatures"] = json!([]);
    let unsigned = setup.file("unsigned.json", &serde_json::to_vec(&unsigned).unwrap());
    refused(&setup.admin(&["reference-values", "add", &unsigned, "--key", &public]));
    // Not a key.
    let not_a_key = setup.file("not-a-key.pem", b"hello");
    refused(&setup.admin(&["reference-values", "add", &unsigned, "--key", &not_a_key]));
    assert!(setup.reference_ids().is_empty());

    let good = setup.file("good.json", &good);
    let stdout = ok(&setup.admin(&["reference-values", "add", &good, "--key", &public]));
    let id = reference_values_id("warden-snp-guest.igvm", &payload);
    assert!(stdout.contains(&id), "{stdout}");
    assert_eq!(setup.reference_ids(), vec![id.clone()]);
    // The same envelope again keeps one entry: the id is the content's.
    ok(&setup.admin(&["reference-values", "add", &good, "--key", &public]));
    assert_eq!(setup.reference_ids(), vec![id]);
}

#[test]
fn policies_and_resources_round_trip_through_the_cli() {
    let setup = Setup::new("res");
    let secret = setup.file("secret.bin", SECRET);
    // A resource under a policy that does not exist yet is refused.
    let stderr =
        refused(&setup.admin(&["resource", "put", "default/key/disk", "--file", &secret, "--policy", "p"]));
    assert!(stderr.contains("no policy named"), "{stderr}");

    let bad = setup.file("bad-policy.json", br#"{"reference-values": [], "allow-debug": "no"}"#);
    refused(&setup.admin(&["policy", "set", "p", &bad]));
    let unknown_field = setup.file("typo-policy.json", br#"{"reference-values": [], "alow-debug": true}"#);
    refused(&setup.admin(&["policy", "set", "p", &unknown_field]));
    let good = setup.file(
        "policy.json",
        br#"{"reference-values": ["x"], "minimum-tcb": {"bootloader": 1, "tee": 0, "snp": 2, "microcode": 3}, "allow-debug": false}"#,
    );
    let stdout = ok(&setup.admin(&["policy", "set", "p", &good]));
    assert!(stdout.contains("warning: policy p names reference values x"), "{stdout}");

    refused(&setup.admin(&["resource", "put", "default/../disk", "--file", &secret, "--policy", "p"]));
    ok(&setup.admin(&["resource", "put", "default/key/disk", "--file", &secret, "--policy", "p"]));
    assert_eq!(ok(&setup.admin(&["resource", "list"])), "default/key/disk\tp\n");

    // The secret is on disk only sealed (database, WAL and shared-memory files alike).
    for entry in std::fs::read_dir(&setup.dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_str().unwrap().starts_with("verifier.db") {
            let bytes = std::fs::read(&path).unwrap();
            assert!(!bytes.windows(SECRET.len()).any(|w| w == SECRET), "{} holds the secret", path.display());
        }
    }
    // Another store key is refused before anything is read.
    let wrong = setup.dir.join("wrong.key");
    std::fs::write(&wrong, "5b".repeat(32)).unwrap();
    let stderr = refused(&setup.admin_with_key(&["resource", "list"], &wrong));
    assert!(stderr.contains("store key"), "{stderr}");

    ok(&setup.admin(&["resource", "rm", "default/key/disk"]));
    let stderr = refused(&setup.admin(&["resource", "rm", "default/key/disk"]));
    assert!(stderr.contains("no resource at default/key/disk"), "{stderr}");
    assert_eq!(ok(&setup.admin(&["resource", "list"])), "");
    std::fs::remove_dir_all(&setup.dir).unwrap();
}
