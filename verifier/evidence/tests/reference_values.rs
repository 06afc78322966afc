//! Signed reference values as a relying party sees them: a good envelope reads back, and a changed
//! payload byte, another key, or another payloadType is refused before the statement is trusted.
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use p384::ecdsa::signature::Signer;
use p384::ecdsa::{DerSignature, SigningKey};
use serde_json::{Value, json};

use warden_evidence::reference_values::{
    INSECURE_KEY_ID, PAYLOAD_TYPE, PREDICATE_TYPE, ReferenceValuesError, STATEMENT_TYPE, pae,
    verify_reference_values,
};

/// A signing key from a fixed scalar (a test key: anyone can recompute it).
fn key(byte: u8) -> SigningKey {
    SigningKey::from_slice(&[byte; 48]).unwrap()
}

fn statement(image_digest: &str, subject_digest: &str) -> Value {
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [{ "name": "warden.igvm", "digest": { "sha256": subject_digest } }],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "image": { "name": "warden", "version": "0.1.0", "gitCommit": "0123abcd", "sha256": image_digest },
            "snp": { "launchDigest": "a5".repeat(48), "policy": "0x30000", "vcpus": 2 },
            "tdx": { "mrtd": "3c".repeat(48) },
            "signer": { "keyid": "k1", "insecure": false },
        },
    })
}

/// The envelope the build writes, for `payload` signed by `signer` as `payload_type`.
fn envelope(payload: &[u8], payload_type: &str, signer: &SigningKey) -> Vec<u8> {
    let signature: DerSignature = signer.sign(&pae(payload_type, payload));
    let envelope = json!({
        "payloadType": payload_type,
        "payload": BASE64.encode(payload),
        "signatures": [{ "keyid": "k1", "sig": BASE64.encode(signature.as_bytes()) }],
    });
    serde_json::to_vec_pretty(&envelope).unwrap()
}

fn good_payload() -> Vec<u8> {
    serde_json::to_vec(&statement(&"77".repeat(32), &"77".repeat(32))).unwrap()
}

/// Threat model T9.
#[test]
fn a_good_envelope_reads_back() {
    let signer = key(0x42);
    let bytes = envelope(&good_payload(), PAYLOAD_TYPE, &signer);
    let values = verify_reference_values(&bytes, signer.verifying_key()).unwrap();
    assert_eq!(values.measurements.snp_launch_digest, [0xA5; 48]);
    assert_eq!(values.measurements.tdx_mrtd, [0x3C; 48]);
    assert_eq!(values.measurements.image_sha256, [0x77; 32]);
    assert_eq!(values.measurements.vcpus, 2);
    assert_eq!((values.snp_policy, values.insecure, values.key_id.as_str()), (0x30000, false, "k1"));
    assert_eq!(
        (values.identity.name.as_str(), values.identity.file_name.as_str()),
        ("warden", "warden.igvm")
    );
}

/// Threat model T9: one byte of the signed statement changed, the envelope otherwise well formed.
#[test]
fn a_flipped_payload_byte_is_refused() {
    let signer = key(0x42);
    let payload = good_payload();
    let bytes = envelope(&payload, PAYLOAD_TYPE, &signer);
    let mut forged: Value = serde_json::from_slice(&bytes).unwrap();
    let mut changed = payload.clone();
    let at = changed.windows(4).position(|w| w == b"a5a5").unwrap();
    changed[at] = b'b';
    forged["payload"] = BASE64.encode(&changed).into();
    let forged = serde_json::to_vec(&forged).unwrap();
    assert_eq!(
        verify_reference_values(&forged, signer.verifying_key()),
        Err(ReferenceValuesError::NoValidSignature)
    );
    assert!(verify_reference_values(&bytes, signer.verifying_key()).is_ok(), "the original still verifies");
}

#[test]
fn another_key_is_refused() {
    let bytes = envelope(&good_payload(), PAYLOAD_TYPE, &key(0x42));
    assert_eq!(
        verify_reference_values(&bytes, key(0x43).verifying_key()),
        Err(ReferenceValuesError::NoValidSignature)
    );
}

/// A payload signed under another type must not be read as reference values, even with a good signature.
#[test]
fn a_wrong_payload_type_is_refused() {
    let signer = key(0x42);
    let bytes = envelope(&good_payload(), "application/json", &signer);
    assert_eq!(
        verify_reference_values(&bytes, signer.verifying_key()),
        Err(ReferenceValuesError::PayloadType)
    );
}

#[test]
fn signed_but_inconsistent_statements_are_refused() {
    let signer = key(0x42);
    let mismatch = serde_json::to_vec(&statement(&"77".repeat(32), &"78".repeat(32))).unwrap();
    let bytes = envelope(&mismatch, PAYLOAD_TYPE, &signer);
    assert_eq!(
        verify_reference_values(&bytes, signer.verifying_key()),
        Err(ReferenceValuesError::SubjectMismatch)
    );
    let mut other = statement(&"77".repeat(32), &"77".repeat(32));
    other["predicateType"] = "https://example.invalid/other".into();
    let bytes = envelope(&serde_json::to_vec(&other).unwrap(), PAYLOAD_TYPE, &signer);
    assert_eq!(
        verify_reference_values(&bytes, signer.verifying_key()),
        Err(ReferenceValuesError::NotReferenceValues)
    );
}

#[test]
fn malformed_envelopes_are_errors_not_panics() {
    let signer = key(0x42);
    for bytes in [&b""[..], b"[]", b"{\"payloadType\": \"application/vnd.in-toto+json\"}", b"\xff\xfe"] {
        assert!(verify_reference_values(bytes, signer.verifying_key()).is_err());
    }
}

#[test]
fn the_test_key_id_marks_values_insecure() {
    let signer = key(0x42);
    let mut bytes: Value = serde_json::from_slice(&envelope(&good_payload(), PAYLOAD_TYPE, &signer)).unwrap();
    bytes["signatures"][0]["keyid"] = INSECURE_KEY_ID.into();
    let values =
        verify_reference_values(&serde_json::to_vec(&bytes).unwrap(), signer.verifying_key()).unwrap();
    assert!(values.insecure);
}

#[test]
fn pae_follows_the_dsse_spec_example() {
    // DSSE protocol.md: PAE("http://example.com/HelloWorld", "hello world").
    assert_eq!(
        pae("http://example.com/HelloWorld", b"hello world"),
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    );
}
