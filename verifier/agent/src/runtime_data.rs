//! The runtime data of the handshake and its binding into the SVSM attestation: the guest's answer to
//! the challenge carries the challenge nonce and the public half of a key made for this handshake, and
//! the SVSM attestation nonce is SHA-512 of that object's canonical JSON, so the report the verifier
//! checks speaks for both the challenge and the key the secret will be sealed to.
//!
//! Canonical JSON is the JSON Canonicalization Scheme (RFC 8785): members sorted, no whitespace, numbers
//! and strings in one spelling, so the verifier, holding the same object, computes the same bytes. The
//! object's shape is the KBS protocol's `runtime-data` (Trustee `kbs/docs/kbs_attestation_protocol.md`,
//! the `kbs-types` crate's `RuntimeData`).
use elliptic_curve::JwkEcKey;
use p384::SecretKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};

/// The attestation nonce SVSM's attestation protocol takes (SVSM spec (AMD 58019) §7.1: Linux sends
/// 64 bytes), here SHA-512 of the canonical runtime data.
pub type SvsmNonce = [u8; 64];

/// `{"nonce": <challenge>, "tee-pubkey": <JWK>}`, the guest's runtime data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeData {
    /// The challenge nonce exactly as the verifier sent it (base64 text, not decoded).
    pub nonce: String,
    /// The key the released secret is encrypted to, as an EC JWK (RFC 7517 §4, RFC 7518 §6.2).
    #[serde(rename = "tee-pubkey")]
    pub tee_pubkey: JwkEcKey,
}

/// Why runtime data has no canonical form.
#[derive(Debug)]
pub struct CanonicalError(serde_json::Error);

impl core::fmt::Display for CanonicalError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "runtime data has no canonical JSON form: {}", self.0)
    }
}

impl std::error::Error for CanonicalError {}

impl RuntimeData {
    /// The runtime data answering `challenge_nonce` with the public half of `tee_key`.
    pub fn new(challenge_nonce: &str, tee_key: &SecretKey) -> Self {
        Self { nonce: challenge_nonce.to_owned(), tee_pubkey: tee_key.public_key().to_jwk() }
    }

    /// The RFC 8785 serialisation: the bytes both sides hash.
    pub fn canonical(&self) -> Result<Vec<u8>, CanonicalError> {
        serde_jcs::to_vec(self).map_err(CanonicalError)
    }

    /// The SVSM attestation nonce for this runtime data: SHA-512 of [`Self::canonical`].
    pub fn svsm_nonce(&self) -> Result<SvsmNonce, CanonicalError> {
        Ok(Sha512::digest(self.canonical()?).into())
    }
}

#[cfg(test)]
mod tests {
    use super::RuntimeData;
    use sha2::{Digest, Sha512};

    /// A fixed public key: P-384's generator (the public key of the scalar 1), whose coordinates are
    /// published in SEC 2 §2.5.1 and FIPS 186-4 D.1.2.4, so the expected text below is written by hand.
    fn generator_jwk() -> elliptic_curve::JwkEcKey {
        let one = p384::SecretKey::from_slice(&{
            let mut one = [0u8; 48];
            one[47] = 1;
            one
        })
        .unwrap();
        one.public_key().to_jwk()
    }

    #[test]
    fn canonical_form_sorts_members_and_has_no_whitespace() {
        let data = RuntimeData { nonce: "q83vEjRWeJA=".into(), tee_pubkey: generator_jwk() };
        let expected = concat!(
            r#"{"nonce":"q83vEjRWeJA=","tee-pubkey":{"crv":"P-384","kty":"EC","#,
            r#""x":"qofKIr6LBTeOscce8yCtdG4dO2KLp5uYWfdB4IJUKjhVAvJdv1UpbDpUXjhydgq3","#,
            r#""y":"NhfeSpYmLG9dnpi_kpLcKfj0Hb0omhR86doxE7XwuMAKYLHOHX6BnXpDHXyQ6g5f"}}"#
        );
        assert_eq!(String::from_utf8(data.canonical().unwrap()).unwrap(), expected);
        assert_eq!(data.svsm_nonce().unwrap(), <[u8; 64]>::from(Sha512::digest(expected.as_bytes())));
    }

    #[test]
    fn another_key_or_challenge_is_another_nonce() {
        let key = p384::SecretKey::random(&mut rand_core::OsRng);
        let first = RuntimeData::new("bm9uY2U=", &key);
        let other_challenge = RuntimeData::new("bm9uY2Y=", &key);
        let other_key = RuntimeData::new("bm9uY2U=", &p384::SecretKey::random(&mut rand_core::OsRng));
        let nonce = first.svsm_nonce().unwrap();
        assert_ne!(nonce, other_challenge.svsm_nonce().unwrap());
        assert_ne!(nonce, other_key.svsm_nonce().unwrap());
    }

    #[test]
    fn parsed_runtime_data_has_the_same_canonical_form() {
        let data = RuntimeData::new("bm9uY2U=", &p384::SecretKey::random(&mut rand_core::OsRng));
        let spaced = serde_json::to_string_pretty(&data).unwrap();
        let parsed: RuntimeData = serde_json::from_str(&spaced).unwrap();
        assert_eq!(parsed.canonical().unwrap(), data.canonical().unwrap());
    }
}
