//! Signed reference values: the image's expected measurements and identity as an in-toto Statement in
//! a DSSE envelope, signed with ECDSA P-384 (why this format: `reference-values.md` in `docs/`).
//!
//! `build` writes `target/warden/reference-values.dsse.json` and the verifying key beside it
//! (`reference-values.pub.pem`); a verifier checks the envelope with `warden-evidence`'s
//! [`verify_reference_values`] (re-exported here) and matches an attestation report's MEASUREMENT (SNP)
//! or MRTD (TDX) against what it returns. Signing stays here: only the build signs.
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use p384::ecdsa::signature::Signer;
use p384::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use p384::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha384};

pub use warden_evidence::reference_values::{
    INSECURE_KEY_ID, ImageIdentity, PAYLOAD_TYPE, PREDICATE_TYPE, ReferenceValues, STATEMENT_TYPE, pae,
    verify_reference_values,
};

use crate::Result;
use crate::measure::{Measurements, hex};

/// The envelope's file name under `target/warden/`.
pub const ENVELOPE_FILE: &str = "reference-values.dsse.json";
/// The verifying key's file name under `target/warden/`.
pub const PUBLIC_KEY_FILE: &str = "reference-values.pub.pem";

/// The envelope's file name for an image: [`ENVELOPE_FILE`] for `warden.igvm`, else prefixed by the
/// image's stem (`warden-snp-guest.reference-values.dsse.json`).
pub fn envelope_file(image_file: &str) -> String {
    sibling_file(image_file, ENVELOPE_FILE)
}

/// `name` for `warden.igvm`, `<stem>.name` for any other image.
fn sibling_file(image_file: &str, name: &str) -> String {
    match image_file.strip_suffix(".igvm") {
        Some("warden") | None => name.to_owned(),
        Some(stem) => format!("{stem}.{name}"),
    }
}

/// Warden at the workspace's version and the commit checked out in `repo`.
pub fn workspace_identity(repo: &Path, file_name: &str) -> Result<ImageIdentity> {
    let git = |args: &[&str]| -> Result<String> {
        let out = std::process::Command::new("git").arg("-C").arg(repo).args(args).output()?;
        if !out.status.success() {
            return Err(format!("reference values: git {args:?} failed").into());
        }
        Ok(String::from_utf8(out.stdout)?.trim().to_owned())
    };
    let mut git_commit = git(&["rev-parse", "HEAD"])?;
    if !git(&["status", "--porcelain", "--untracked-files=no"])?.is_empty() {
        git_commit.push_str("-dirty");
    }
    Ok(ImageIdentity {
        name: "warden".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        git_commit,
        file_name: file_name.into(),
    })
}

/// A reference-value signing key, with how it is named in the envelope.
#[derive(Clone, Debug)]
pub struct ReferenceKey {
    signing: SigningKey,
    key_id: String,
    insecure: bool,
}

impl ReferenceKey {
    /// Reads a P-384 private key from a PEM file (PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`).
    pub fn from_pem_file(path: &Path) -> Result<Self> {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| format!("reference values: cannot read {}: {e}", path.display()))?;
        Self::from_pem(&pem).map_err(|e| format!("{e} ({})", path.display()).into())
    }

    /// Parses a P-384 private key from PEM text.
    pub fn from_pem(pem: &str) -> Result<Self> {
        let secret = p384::SecretKey::from_pkcs8_pem(pem)
            .or_else(|_| p384::SecretKey::from_sec1_pem(pem))
            .map_err(|_| "reference values: not a P-384 private key in PKCS#8 or SEC1 PEM")?;
        let signing = SigningKey::from(secret);
        let key_id = key_id(signing.verifying_key())?;
        let insecure = *signing.verifying_key() == *Self::insecure_test_key().signing.verifying_key();
        Ok(Self { signing, key_id, insecure })
    }

    /// The generated test key: derived from a fixed string, so that builds stay reproducible, and named
    /// [`INSECURE_KEY_ID`] in every envelope it signs. Anyone can recompute it: it proves nothing.
    pub fn insecure_test_key() -> Self {
        let seed = Sha384::digest(b"warden insecure-test-key: anyone can sign with this key");
        let signing = SigningKey::from_slice(&seed).expect("a SHA-384 output is a valid P-384 scalar");
        Self { signing, key_id: INSECURE_KEY_ID.into(), insecure: true }
    }

    /// The key `build` signs with: the PEM at `path`, or the insecure test key without one.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        path.map_or_else(|| Ok(Self::insecure_test_key()), Self::from_pem_file)
    }

    /// The key id written in the envelope.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Whether this is the test key (however it was loaded).
    pub fn is_insecure(&self) -> bool {
        self.insecure
    }

    /// The private half, for the other signed forms of the values (`corim.rs`).
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// The public half, for verifiers.
    pub fn verifying_key(&self) -> VerifyingKey {
        *self.signing.verifying_key()
    }

    /// The public half as SPKI PEM.
    pub fn public_key_pem(&self) -> Result<String> {
        Ok(self.verifying_key().to_public_key_pem(LineEnding::LF)?)
    }
}

/// `sha256:` and the SHA-256 of the key's SPKI DER: the usual DSSE key id for a real key.
fn key_id(key: &VerifyingKey) -> Result<String> {
    Ok(format!("sha256:{}", hex(&Sha256::digest(key.to_public_key_der()?.as_bytes()))))
}

/// `build --release` calls this: the test key may sign development builds only.
pub fn refuse_insecure_for_release(key: &ReferenceKey) -> Result {
    if key.is_insecure() {
        return Err("a release build needs `--signing-key PATH`: the insecure test key signs anything".into());
    }
    Ok(())
}

/// The in-toto Statement for an image. Keys are sorted (serde_json's map), so the bytes are stable.
fn statement(identity: &ImageIdentity, m: &Measurements, snp_policy: u64, key: &ReferenceKey) -> Value {
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [{ "name": identity.file_name, "digest": { "sha256": hex(&m.image_sha256) } }],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "image": {
                "name": identity.name,
                "version": identity.version,
                "gitCommit": identity.git_commit,
                "sha256": hex(&m.image_sha256),
            },
            "snp": {
                "launchDigest": hex(&m.snp_launch_digest),
                "policy": format!("{snp_policy:#x}"),
                "vcpus": m.vcpus,
            },
            "tdx": { "mrtd": hex(&m.tdx_mrtd) },
            "native": { "imageDigest": m.native_image_digest.map(|digest| hex(&digest)) },
            "signer": { "keyid": key.key_id(), "insecure": key.is_insecure() },
        },
    })
}

/// The signed envelope (JSON bytes) for an image's reference values.
pub fn sign_reference_values(
    identity: &ImageIdentity,
    m: &Measurements,
    snp_policy: u64,
    key: &ReferenceKey,
) -> Result<Vec<u8>> {
    let payload = serde_json::to_vec(&statement(identity, m, snp_policy, key))?;
    // ECDSA P-384 over SHA-384, deterministic nonces (RFC 6979): the same values sign to the same bytes.
    let signature: DerSignature = key.signing.sign(&pae(PAYLOAD_TYPE, &payload));
    let envelope = json!({
        "payloadType": PAYLOAD_TYPE,
        "payload": BASE64.encode(&payload),
        "signatures": [{ "keyid": key.key_id(), "sig": BASE64.encode(signature.as_bytes()) }],
    });
    let mut bytes = serde_json::to_vec_pretty(&envelope)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The files `write_reference_values` wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferenceFiles {
    /// The DSSE envelope.
    pub envelope: PathBuf,
    /// The verifying key, SPKI PEM.
    pub public_key: PathBuf,
    /// The signed CoRIM (`corim.rs`).
    pub corim: PathBuf,
    /// Trustee's sample message (`trustee_sample.rs`).
    pub trustee_sample: PathBuf,
}

/// Writes the envelope (named for `identity.file_name`, [`envelope_file`]), the CoRIM and Trustee's
/// sample message beside it, and the verifying key into `out_dir` (normally `target/warden`).
pub fn write_reference_values(
    out_dir: &Path,
    identity: &ImageIdentity,
    m: &Measurements,
    snp_policy: u64,
    key: &ReferenceKey,
) -> Result<ReferenceFiles> {
    let name = &identity.file_name;
    let files = ReferenceFiles {
        envelope: out_dir.join(envelope_file(name)),
        public_key: out_dir.join(PUBLIC_KEY_FILE),
        corim: out_dir.join(sibling_file(name, crate::corim::CORIM_FILE)),
        trustee_sample: out_dir.join(sibling_file(name, crate::trustee_sample::SAMPLE_FILE)),
    };
    std::fs::write(&files.envelope, sign_reference_values(identity, m, snp_policy, key)?)?;
    std::fs::write(&files.corim, crate::corim::sign_corim(identity, m, key)?)?;
    std::fs::write(&files.trustee_sample, crate::trustee_sample::sample_message(m)?)?;
    std::fs::write(&files.public_key, key.public_key_pem()?)?;
    Ok(files)
}

#[cfg(test)]
#[path = "igvm/reference_values_tests.rs"]
mod tests;
