//! The reference values as a signed CoRIM (draft-ietf-rats-corim) following the AMD SEV-SNP CoRIM
//! profile (draft-deeglaze-amd-sev-snp-corim-profile), the form Veraison's SEV-SNP scheme consumes.
//!
//! One CoMID with one reference triple: the environment is the SEV-SNP attestation-report class (OID
//! 1.3.6.1.4.1.3704.3.1), the measurement is MEASUREMENT (the profile's measurement key 641) as a
//! SHA-384 digest. The CoRIM is signed as a COSE_Sign1 (RFC 9052) with ES384 under the same key as the
//! DSSE statement, which names itself in the signer entity (insecure test key included).
use coset::cbor::value::Value;
use coset::{CoseSign1, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable, iana};
use p384::ecdsa::signature::{Signer, Verifier};
use p384::ecdsa::{Signature, VerifyingKey};

use crate::Result;
use crate::measure::Measurements;
use crate::reference_values::{ImageIdentity, ReferenceKey};

/// The file name under `target/warden/` (for `warden.igvm`).
pub const CORIM_FILE: &str = "reference-values.corim.cbor";
/// `tagged-unsigned-corim-map` (CoRIM §4.1).
const TAG_CORIM: u64 = 501;
/// `tagged-concise-mid-tag` (CoRIM §4.1).
const TAG_COMID: u64 = 506;
/// `tagged-oid-type` (RFC 9090).
const TAG_OID: u64 = 111;
/// A URI (RFC 8949 §3.4.5.3).
const TAG_URI: u64 = 32;
/// 1.3.6.1.4.1.3704.3.1, the SEV-SNP attestation report class, as BER/DER contents octets.
const SNP_REPORT_CLASS_OID: [u8; 9] = [0x2B, 0x06, 0x01, 0x04, 0x01, 0x9C, 0x78, 0x03, 0x01];
/// The profile's identifier.
const PROFILE: &str = "tag:amd.com,2024:snp-corim-profile";
/// The profile's measurement key for the report's MEASUREMENT field.
const MKEY_MEASUREMENT: u64 = 641;
/// sha-384 in the Named Information Hash Algorithm Registry (RFC 6920).
const SHA384: i64 = 7;
/// The signed CoRIM's content type (CoRIM §4.2.1).
const CONTENT_TYPE: &str = "application/rim+cbor";
/// The protected header label of the CoRIM meta map (CoRIM §4.2.1).
const HEADER_CORIM_META: i64 = 8;

fn int(i: impl Into<i128>) -> Value {
    Value::Integer(i64::try_from(i.into()).expect("small CoRIM labels").into())
}

fn map(entries: Vec<(i64, Value)>) -> Value {
    Value::Map(entries.into_iter().map(|(k, v)| (int(k), v)).collect())
}

fn to_cbor(value: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    coset::cbor::ser::into_writer(value, &mut out).map_err(|e| format!("corim: {e}"))?;
    Ok(out)
}

/// The unsigned CoRIM for an image's SNP launch measurement.
fn unsigned_corim(identity: &ImageIdentity, m: &Measurements) -> Result<Vec<u8>> {
    let measurement = map(vec![
        (0, int(MKEY_MEASUREMENT)),
        (
            1,
            map(vec![(
                2,
                Value::Array(vec![Value::Array(vec![
                    int(SHA384),
                    Value::Bytes(m.snp_launch_digest.to_vec()),
                ])]),
            )]),
        ),
    ]);
    let environment = map(vec![(
        0,
        map(vec![(0, Value::Tag(TAG_OID, Box::new(Value::Bytes(SNP_REPORT_CLASS_OID.to_vec()))))]),
    )]);
    let comid = map(vec![
        (
            1,
            map(vec![(
                0,
                Value::Text(format!("{}-{}-{}", identity.name, identity.file_name, identity.git_commit)),
            )]),
        ),
        (
            4,
            map(vec![(
                0,
                Value::Array(vec![Value::Array(vec![environment, Value::Array(vec![measurement])])]),
            )]),
        ),
    ]);
    let corim = map(vec![
        (0, Value::Text(format!("{} {} {}", identity.name, identity.version, identity.git_commit))),
        (1, Value::Array(vec![Value::Tag(TAG_COMID, Box::new(Value::Bytes(to_cbor(&comid)?)))])),
        (3, Value::Tag(TAG_URI, Box::new(Value::Text(PROFILE.into())))),
    ]);
    to_cbor(&Value::Tag(TAG_CORIM, Box::new(corim)))
}

/// The signed CoRIM (a tagged COSE_Sign1), deterministic (RFC 6979 signatures, no timestamps).
pub fn sign_corim(identity: &ImageIdentity, m: &Measurements, key: &ReferenceKey) -> Result<Vec<u8>> {
    let signer_name = if key.is_insecure() {
        format!("Warden INSECURE TEST KEY ({})", key.key_id())
    } else {
        format!("Warden reference-value signer {}", key.key_id())
    };
    let meta = map(vec![(0, map(vec![(0, Value::Text(signer_name))]))]);
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::ES384)
        .content_type(CONTENT_TYPE.into())
        .key_id(key.key_id().as_bytes().to_vec())
        .value(HEADER_CORIM_META, Value::Bytes(to_cbor(&meta)?))
        .build();
    let signed = CoseSign1Builder::new()
        .protected(protected)
        .payload(unsigned_corim(identity, m)?)
        .create_signature(b"", |to_be_signed| {
            let signature: Signature = key.signing_key().sign(to_be_signed);
            signature.to_bytes().to_vec()
        })
        .build();
    signed.to_tagged_vec().map_err(|e| format!("corim: {e}").into())
}

/// Checks the COSE_Sign1 with `key` and returns the signed SNP launch measurement.
pub fn verify_corim(bytes: &[u8], key: &VerifyingKey) -> Result<[u8; 48]> {
    let signed =
        CoseSign1::from_tagged_slice(bytes).map_err(|e| format!("corim: not a tagged COSE_Sign1: {e}"))?;
    let header = &signed.protected.header;
    if header.alg != Some(coset::RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES384)) {
        return Err("corim: not signed with ES384".into());
    }
    signed.verify_signature(b"", |signature, to_be_signed| -> Result {
        let signature = Signature::from_slice(signature).map_err(|_| "corim: malformed ES384 signature")?;
        key.verify(to_be_signed, &signature)
            .map_err(|_| "corim: the signature does not verify with this key")?;
        Ok(())
    })?;
    let payload: Value = coset::cbor::de::from_reader(signed.payload.as_deref().ok_or("corim: no payload")?)
        .map_err(|e| format!("corim: {e}"))?;
    measurement_of(&payload).ok_or_else(|| "corim: no SEV-SNP MEASUREMENT reference value".into())
}

/// MEASUREMENT from a tagged unsigned CoRIM laid out as [`unsigned_corim`] writes it.
fn measurement_of(corim: &Value) -> Option<[u8; 48]> {
    let get = |v: &Value, key: i64| -> Option<Value> {
        v.as_map()?.iter().find(|(k, _)| k.as_integer() == Some(key.into())).map(|(_, v)| v.clone())
    };
    let tagged = |v: Value, tag: u64| -> Option<Value> {
        match v {
            Value::Tag(t, inner) if t == tag => Some(*inner),
            _ => None,
        }
    };
    let corim = tagged(corim.clone(), TAG_CORIM)?;
    let comid_bytes = tagged(get(&corim, 1)?.as_array()?.first()?.clone(), TAG_COMID)?;
    let comid: Value = coset::cbor::de::from_reader(comid_bytes.as_bytes()?.as_slice()).ok()?;
    for triple in get(&get(&comid, 4)?, 0)?.as_array()? {
        let [environment, measurements] = triple.as_array()?.as_slice() else { return None };
        let class_id = tagged(get(&get(environment, 0)?, 0)?, TAG_OID)?;
        if class_id.as_bytes()? != &SNP_REPORT_CLASS_OID {
            continue;
        }
        for m in measurements.as_array()? {
            if get(m, 0)?.as_integer() != Some(MKEY_MEASUREMENT.into()) {
                continue;
            }
            let digests = get(&get(m, 1)?, 2)?;
            let [alg, value] = digests.as_array()?.first()?.as_array()?.as_slice() else { return None };
            if alg.as_integer() == Some(SHA384.into()) {
                return value.as_bytes()?.as_slice().try_into().ok();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{sign_corim, verify_corim};
    use crate::measure::Measurements;
    use crate::reference_values::{ImageIdentity, ReferenceKey};

    fn identity() -> ImageIdentity {
        ImageIdentity {
            name: "warden".into(),
            version: "0.1.0".into(),
            git_commit: "0123".into(),
            file_name: "warden.igvm".into(),
        }
    }

    fn measurements() -> Measurements {
        Measurements {
            vcpus: 1,
            snp_launch_digest: [0x5A; 48],
            tdx_mrtd: [0x7D; 48],
            image_sha256: [0x11; 32],
            native_image_digest: None,
        }
    }

    #[test]
    fn the_corim_decodes_and_its_signature_verifies() {
        let key = ReferenceKey::insecure_test_key();
        let corim = sign_corim(&identity(), &measurements(), &key).unwrap();
        assert_eq!(corim[..2], [0xD2, 0x84], "tag 18 (COSE_Sign1), a 4-element array");
        assert_eq!(verify_corim(&corim, &key.verifying_key()).unwrap(), [0x5A; 48]);
        assert_eq!(corim, sign_corim(&identity(), &measurements(), &key).unwrap(), "deterministic");
    }

    #[test]
    fn another_key_or_a_changed_byte_fails() {
        let key = ReferenceKey::insecure_test_key();
        let corim = sign_corim(&identity(), &measurements(), &key).unwrap();
        let other = p384::ecdsa::SigningKey::from_slice(&[0x42; 48]).unwrap();
        assert!(verify_corim(&corim, other.verifying_key()).is_err());
        let digest_at = corim.windows(48).position(|w| w == [0x5A; 48]).unwrap();
        let mut changed = corim.clone();
        changed[digest_at] ^= 1;
        assert!(verify_corim(&changed, &key.verifying_key()).is_err());
    }
}
