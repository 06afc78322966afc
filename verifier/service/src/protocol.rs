//! The wire types of the KBS attestation protocol as Warden speaks it: the JSON bodies of
//! `POST /kbs/v0/auth`, `POST /kbs/v0/attest` and `GET /kbs/v0/resource/...`, shared by the service and
//! the guest-side agent so that both sides serialise the same bytes.
//!
//! The shapes mirror Trustee's KBS (`kbs/docs/kbs_attestation_protocol.md` and the `kbs-types` crate's
//! `Request`, `Challenge`, `Attestation`, `RuntimeData`, `TeePubKey` and `Response`). They are mirrored
//! with serde instead of taken from `kbs-types` because its `Tee` enum has no SVSM variant: a request
//! with `"tee": "svsm"` would not even parse.
//!
//! Binding (the one Warden-specific rule): the nonce the guest hands Warden's SVSM attestation protocol
//! (SVSM spec (AMD 58019) §7) is SHA-512 of the JCS (RFC 8785) serialisation of `runtime-data`, and
//! Warden puts SHA-512(that nonce ‖ manifest) in REPORT_DATA. So the signed report proves both the
//! challenge and the key the secret will be encrypted to; see [`RuntimeData::svsm_nonce`].
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};

/// The protocol version this service speaks (Trustee's KBS protocol 0.4.0).
pub const PROTOCOL_VERSION: &str = "0.4.0";
/// The TEE type of SVSM evidence: Warden's own, Trustee has none for an SVSM.
pub const TEE_SVSM: &str = "svsm";
/// The session cookie's name (Trustee's).
pub const SESSION_COOKIE: &str = "kbs-session-id";
/// The size of an SEV-SNP attestation report (SEV-SNP ABI (AMD 56860) Table 23).
pub const REPORT_SIZE: usize = 0x4A0;

/// `POST /kbs/v0/auth` body (`kbs-types` `Request`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The protocol version the client speaks.
    pub version: String,
    /// The TEE type; this service accepts only [`TEE_SVSM`].
    pub tee: String,
    /// Unused by the SVSM TEE type (Trustee sends `""`).
    #[serde(rename = "extra-params", default)]
    pub extra_params: serde_json::Value,
}

/// `POST /kbs/v0/auth` answer (`kbs-types` `Challenge`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// 32 random bytes, standard base64.
    pub nonce: String,
    /// Always `""`.
    #[serde(rename = "extra-params", default)]
    pub extra_params: String,
}

/// An EC public key as a JWK (RFC 7518 §6.2.1), the `tee-pubkey` the secret is encrypted to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeePubKey {
    /// `"EC"`.
    pub kty: String,
    /// `"P-384"` or `"P-256"`.
    pub crv: String,
    /// Optional algorithm hint (Trustee's clients may send one); part of the bound bytes when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// The affine x coordinate, base64url without padding.
    pub x: String,
    /// The affine y coordinate, base64url without padding.
    pub y: String,
}

/// `runtime-data` of `POST /kbs/v0/attest` (`kbs-types` `RuntimeData`). Unknown fields are refused so
/// that what is bound (the JCS bytes of this struct) is exactly what the service acts on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeData {
    /// The challenge's nonce, as received.
    pub nonce: String,
    /// The key the released secrets are encrypted to.
    #[serde(rename = "tee-pubkey")]
    pub tee_pubkey: TeePubKey,
}

impl RuntimeData {
    /// The JCS (RFC 8785) bytes of this runtime data.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_jcs::to_vec(self)
    }

    /// The 64-byte nonce for Warden's SVSM attestation request: SHA-512 of [`Self::canonical_bytes`].
    pub fn svsm_nonce(&self) -> Result<[u8; 64], serde_json::Error> {
        Ok(Sha512::digest(self.canonical_bytes()?).into())
    }
}

/// `POST /kbs/v0/attest` body (`kbs-types` `Attestation`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Attestation {
    /// The challenge and the key, bound into the report.
    #[serde(rename = "runtime-data")]
    pub runtime_data: RuntimeData,
    /// The TEE's evidence; for [`TEE_SVSM`] a [`SvsmEvidence`].
    #[serde(rename = "tee-evidence")]
    pub tee_evidence: SvsmEvidence,
}

/// The `tee-evidence` of the SVSM TEE type: what Warden's attestation protocol returns (SVSM spec
/// (AMD 58019) §7.1) plus the host's certificates. Byte fields are standard base64.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SvsmEvidence {
    /// The SEV-SNP attestation report, [`REPORT_SIZE`] bytes.
    pub report: String,
    /// The services manifest the report binds.
    pub manifest: String,
    /// The SNP extended guest request's certificate table (GHCB spec (AMD 56421) §4.1.8.1); may be empty.
    #[serde(rename = "cert-table", default)]
    pub cert_table: String,
    /// The VCEK, DER; taken from the certificate table when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcek: Option<String>,
    /// The ASK, DER; taken from the certificate table when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ask: Option<String>,
}

/// A field of [`SvsmEvidence`] that is not standard base64.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("tee-evidence field {0} is not standard base64")]
pub struct EvidenceEncodingError(pub &'static str);

impl SvsmEvidence {
    /// Encodes raw evidence (the guest side).
    pub fn encode(report: &[u8], manifest: &[u8], cert_table: &[u8]) -> Self {
        Self {
            report: STANDARD.encode(report),
            manifest: STANDARD.encode(manifest),
            cert_table: STANDARD.encode(cert_table),
            vcek: None,
            ask: None,
        }
    }

    /// Decodes into `warden-evidence`'s input, with the nonce the service derived from runtime data.
    pub fn decode(&self, nonce: &[u8; 64]) -> Result<warden_evidence::Evidence, EvidenceEncodingError> {
        let field = |name, text: &str| STANDARD.decode(text).map_err(|_| EvidenceEncodingError(name));
        let optional = |name, text: &Option<String>| text.as_deref().map(|t| field(name, t)).transpose();
        Ok(warden_evidence::Evidence {
            report: field("report", &self.report)?,
            manifest: field("manifest", &self.manifest)?,
            nonce: nonce.to_vec(),
            cert_table: field("cert-table", &self.cert_table)?,
            vcek: optional("vcek", &self.vcek)?,
            ask: optional("ask", &self.ask)?,
        })
    }
}

/// `POST /kbs/v0/attest` answer: the attestation token (a JWT, see [`TokenClaims`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationToken {
    /// The compact JWS (RFC 7515 §7.1).
    pub token: String,
}

/// The TCB components of a token's `reported-tcb` and of a policy's `minimum-tcb` (SEV-SNP ABI
/// (AMD 56860) Table 3, TCB_VERSION).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tcb {
    /// BOOT_LOADER security version.
    pub bootloader: u8,
    /// TEE (PSP OS) security version.
    pub tee: u8,
    /// SNP firmware security version.
    pub snp: u8,
    /// Microcode patch level.
    pub microcode: u8,
}

/// The claims of the attestation token (RFC 7519 registered claims plus what the verdict matched).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    /// `"warden-verifier"`.
    pub iss: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// Expires at, seconds since the Unix epoch.
    pub exp: u64,
    /// The token's id (the session cookie names it after attestation).
    pub jti: String,
    /// The session the token was issued in.
    pub session: String,
    /// The key released secrets are encrypted to.
    #[serde(rename = "tee-pubkey")]
    pub tee_pubkey: TeePubKey,
    /// `"pass"`: a token is only issued for a passing verdict.
    pub verdict: String,
    /// The report's MEASUREMENT, hex.
    pub measurement: String,
    /// The report's GUEST_POLICY, hex (`0x…`).
    pub policy: String,
    /// The report's REPORTED_TCB.
    #[serde(rename = "reported-tcb")]
    pub reported_tcb: Tcb,
    /// The report's VMPL.
    pub vmpl: u32,
    /// Whether the guest policy allows debugging.
    pub debug: bool,
    /// The manifest's vTPM EK (marshaled TPMT_PUBLIC, TPM 2.0 Library Part 2 Table 191), hex.
    pub ek: String,
    /// The ids of the stored reference values whose measurement matched.
    #[serde(rename = "reference-values")]
    pub reference_values: Vec<String>,
}

/// A released secret: a JWE in the flattened JSON serialisation (RFC 7516 §7.2.2), `kbs-types`'
/// `Response` shape, alg `ECDH-ES+A256KW`, enc `A256GCM` (RFC 7518 §4.6, §5.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The protected header, base64url of its JSON.
    pub protected: String,
    /// The wrapped content-encryption key, base64url.
    pub encrypted_key: String,
    /// The GCM nonce, base64url.
    pub iv: String,
    /// The encrypted secret, base64url.
    pub ciphertext: String,
    /// The GCM tag, base64url.
    pub tag: String,
}

/// Every error answer: an HTTP status and this body. `type` is a stable kebab-case reason (for evidence
/// the failed check's name, e.g. `report-data-binds-nonce-and-manifest`), `detail` says more.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// The reason, kebab-case.
    #[serde(rename = "type")]
    pub kind: String,
    /// A human-readable explanation.
    pub detail: String,
}
