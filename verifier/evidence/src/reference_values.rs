//! Signed reference values: the image's expected measurements and identity as an in-toto Statement
//! (in-toto Attestation Framework, Statement v1) in a DSSE envelope (secure-systems-lab DSSE
//! `envelope.md`, `protocol.md`), signed with ECDSA P-384 over SHA-384.
//!
//! The build signs (the xtask); every relying party checks the envelope here, with a key it already
//! trusts, before it reads a byte of the statement: `cargo xtask verify` and the verifier service's
//! `reference-values add` share [`verify_reference_values`].
use core::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use p384::ecdsa::signature::Verifier;
use p384::ecdsa::{Signature, VerifyingKey};
use serde_json::Value;

/// DSSE `payloadType` of an in-toto Statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The in-toto Statement version.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// Warden's predicate. `.invalid` (RFC 2606) until the project has a home: it can never name anyone
/// else's type.
pub const PREDICATE_TYPE: &str = "https://warden.invalid/reference-values/v1";
/// The key id that marks values signed with the generated test key.
pub const INSECURE_KEY_ID: &str = "insecure-test-key";

/// What the image is, besides its measurements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageIdentity {
    /// The product, `warden`.
    pub name: String,
    /// The workspace version.
    pub version: String,
    /// The git commit the image was built from (`-dirty` appended when the tree had changes).
    pub git_commit: String,
    /// The IGVM file's name (no directory: the values must not depend on where the build ran).
    pub file_name: String,
}

/// An image's launch measurements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Measurements {
    /// How many vCPUs the SNP digest assumes.
    pub vcpus: u32,
    /// The SNP launch digest (the report's MEASUREMENT, SEV-SNP ABI (AMD 56860) Table 23).
    pub snp_launch_digest: [u8; 48],
    /// The TDX MRTD (the TD report's MRTD).
    pub tdx_mrtd: [u8; 48],
    /// SHA-256 of the IGVM file itself: the image's identity.
    pub image_sha256: [u8; 32],
    /// What Warden extends into PCR 0 when it boots natively (no hardware root): SHA-384 of its text
    /// and rodata, predicted from the firmware ELF; `None` when the ELF was not at hand.
    pub native_image_digest: Option<[u8; 48]>,
}

/// Reference values whose signature checked out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferenceValues {
    /// What was measured.
    pub identity: ImageIdentity,
    /// The expected measurements.
    pub measurements: Measurements,
    /// The SNP guest policy the image was built for.
    pub snp_policy: u64,
    /// The signer's key id.
    pub key_id: String,
    /// Signed with the test key: fine for development, never for a decision that matters.
    pub insecure: bool,
    /// The signed statement's bytes, as they were signed (for an audit trail or a content id).
    pub payload: Vec<u8>,
}

/// Why an envelope was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReferenceValuesError {
    /// The envelope or the statement is not JSON of the expected shape.
    Malformed(&'static str),
    /// `payloadType` is not an in-toto Statement.
    PayloadType,
    /// No signature in the envelope verifies with the trusted key.
    NoValidSignature,
    /// Signed, but not a Warden reference-values statement.
    NotReferenceValues,
    /// The subject and the predicate name different image digests.
    SubjectMismatch,
}

impl fmt::Display for ReferenceValuesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(what) => write!(f, "reference values: malformed: {what}"),
            Self::PayloadType => f.write_str("reference values: payloadType is not an in-toto statement"),
            Self::NoValidSignature => f.write_str("reference values: no signature verifies with this key"),
            Self::NotReferenceValues => {
                f.write_str("reference values: not a Warden reference-values statement")
            }
            Self::SubjectMismatch => {
                f.write_str("reference values: the subject and the predicate name different images")
            }
        }
    }
}

impl std::error::Error for ReferenceValuesError {}

use ReferenceValuesError::Malformed;

/// DSSE's pre-authentication encoding: `DSSEv1 <len> <type> <len> <body>` (what is signed).
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Checks an envelope's signature with `public_key` and returns the values it carries.
///
/// The signature is checked over the PAE of the payload bytes before a byte of the payload is parsed:
/// the statement's parser never sees unsigned input.
pub fn verify_reference_values(
    bytes: &[u8],
    public_key: &VerifyingKey,
) -> Result<ReferenceValues, ReferenceValuesError> {
    let envelope: Value = serde_json::from_slice(bytes).map_err(|_| Malformed("the envelope is not JSON"))?;
    if envelope["payloadType"] != PAYLOAD_TYPE {
        return Err(ReferenceValuesError::PayloadType);
    }
    let payload = BASE64
        .decode(envelope["payload"].as_str().ok_or(Malformed("no payload"))?)
        .map_err(|_| Malformed("the payload is not base64"))?;
    let message = pae(PAYLOAD_TYPE, &payload);
    let signatures = envelope["signatures"].as_array().ok_or(Malformed("no signatures"))?;
    let signed_by = signatures.iter().find_map(|s| {
        let der = BASE64.decode(s["sig"].as_str()?).ok()?;
        let signature = Signature::from_der(&der).ok()?;
        public_key.verify(&message, &signature).ok()?;
        Some(s["keyid"].as_str().unwrap_or_default().to_owned())
    });
    let key_id = signed_by.ok_or(ReferenceValuesError::NoValidSignature)?;
    let values = parse_statement(&payload, key_id)?;
    Ok(ReferenceValues { payload, ..values })
}

/// Reads the signed statement (the returned `payload` is left empty for the caller to fill).
fn parse_statement(payload: &[u8], key_id: String) -> Result<ReferenceValues, ReferenceValuesError> {
    let s: Value = serde_json::from_slice(payload).map_err(|_| Malformed("the statement is not JSON"))?;
    if s["_type"] != STATEMENT_TYPE || s["predicateType"] != PREDICATE_TYPE {
        return Err(ReferenceValuesError::NotReferenceValues);
    }
    let p = &s["predicate"];
    let text = |v: &Value| Ok(v.as_str().ok_or(Malformed("a field is missing or not text"))?.to_owned());
    let image_sha256 = unhex::<32>(&p["image"]["sha256"])?;
    if unhex::<32>(&s["subject"][0]["digest"]["sha256"])? != image_sha256 {
        return Err(ReferenceValuesError::SubjectMismatch);
    }
    let policy = text(&p["snp"]["policy"])?;
    let snp_policy = policy
        .strip_prefix("0x")
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .ok_or(Malformed("the SNP policy is not 0x-prefixed hex"))?;
    let vcpus = p["snp"]["vcpus"].as_u64().and_then(|v| u32::try_from(v).ok());
    Ok(ReferenceValues {
        identity: ImageIdentity {
            name: text(&p["image"]["name"])?,
            version: text(&p["image"]["version"])?,
            git_commit: text(&p["image"]["gitCommit"])?,
            file_name: text(&s["subject"][0]["name"])?,
        },
        measurements: Measurements {
            vcpus: vcpus.ok_or(Malformed("vcpus is not a u32"))?,
            snp_launch_digest: unhex::<48>(&p["snp"]["launchDigest"])?,
            tdx_mrtd: unhex::<48>(&p["tdx"]["mrtd"])?,
            image_sha256,
            native_image_digest: match &p["native"]["imageDigest"] {
                Value::Null => None,
                digest => Some(unhex::<48>(digest)?),
            },
        },
        snp_policy,
        insecure: p["signer"]["insecure"].as_bool().ok_or(Malformed("signer.insecure is not a bool"))?
            || key_id == INSECURE_KEY_ID,
        key_id,
        payload: Vec::new(),
    })
}

/// N bytes from hex text.
fn unhex<const N: usize>(v: &Value) -> Result<[u8; N], ReferenceValuesError> {
    let text = v.as_str().ok_or(Malformed("a digest is missing"))?;
    let mut out = [0u8; N];
    if text.len() != 2 * N || !text.is_ascii() {
        return Err(Malformed("a digest has the wrong length"));
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte =
            u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| Malformed("a digest is not hex"))?;
    }
    Ok(out)
}
