//! The attestation token: a JWT (RFC 7519) signed ES384 (RFC 7518 §3.4: ECDSA P-384 with SHA-384, the
//! signature as the 96-byte R ‖ S) by the verifier's token key, carrying the claims of a passing
//! verdict ([`TokenClaims`]).
//!
//! The JWS is assembled here over `p384` rather than with a JWT crate: the common ones bring a second
//! crypto library (ring or aws-lc) into a tree whose ECDSA is RustCrypto's, and one algorithm is all
//! this service signs or accepts. Verification refuses every `alg` but ES384, so there is no `none` or
//! HMAC confusion to get wrong.
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p384::ecdsa::signature::{Signer, Verifier};
use p384::ecdsa::{Signature, SigningKey, VerifyingKey};
use p384::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rand_core::OsRng;
use serde::{Deserialize, Serialize};

use crate::protocol::TokenClaims;

/// The `iss` of every token.
pub const ISSUER: &str = "warden-verifier";

/// Why a token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts, not ES384, not our claims, or the signature does not verify.
    #[error("the token is malformed or not signed by this verifier")]
    Invalid,
    /// Signed by us, but past its `exp`.
    #[error("the token expired")]
    Expired,
}

/// Why the token key could not be loaded or written.
#[derive(Debug, thiserror::Error)]
pub enum TokenKeyError {
    /// Reading or writing the file.
    #[error("token key {0}: {1}")]
    Io(String, std::io::Error),
    /// The file is not a P-384 PKCS#8 PEM key.
    #[error("token key {0}: not a P-384 PKCS#8 PEM private key")]
    Format(String),
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    typ: String,
}

/// The verifier's token signing key.
#[derive(Clone, Debug)]
pub struct TokenKey(SigningKey);

impl TokenKey {
    /// A fresh key (a server without `--token-key`; its tokens die with it).
    pub fn generate() -> Self {
        Self(SigningKey::random(&mut OsRng))
    }

    /// Loads the PKCS#8 PEM key at `path`, or generates one and writes it there (mode 0600) if the file
    /// does not exist, so restarts and replicas given the same file keep accepting each other's tokens.
    pub fn load_or_create(path: &Path) -> Result<Self, TokenKeyError> {
        let name = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(pem) => SigningKey::from_pkcs8_pem(&pem).map(Self).map_err(|_| TokenKeyError::Format(name)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                let pem =
                    key.0.to_pkcs8_pem(LineEnding::LF).map_err(|_| TokenKeyError::Format(name.clone()))?;
                write_private(path, pem.as_bytes()).map_err(|e| TokenKeyError::Io(name, e))?;
                Ok(key)
            }
            Err(e) => Err(TokenKeyError::Io(name, e)),
        }
    }

    /// The public half, for whoever checks tokens.
    pub fn verifying_key(&self) -> VerifyingKey {
        *self.0.verifying_key()
    }

    /// The compact JWS of `claims`.
    pub fn sign(&self, claims: &TokenClaims) -> String {
        let header = Header { alg: "ES384".into(), typ: "JWT".into() };
        let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("a header serialises"));
        let claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialise"));
        let signing_input = format!("{header}.{claims}");
        let signature: Signature = self.0.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

/// Checks a compact JWS signed by `key` and returns its claims if unexpired at `now`.
pub fn verify(token: &str, key: &VerifyingKey, now: u64) -> Result<TokenClaims, TokenError> {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Invalid);
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| TokenError::Invalid);
    let parsed: Header = serde_json::from_slice(&decode(header)?).map_err(|_| TokenError::Invalid)?;
    if parsed.alg != "ES384" {
        return Err(TokenError::Invalid);
    }
    let signature = Signature::from_slice(&decode(signature)?).map_err(|_| TokenError::Invalid)?;
    let signing_input = &token[..header.len() + 1 + claims.len()];
    key.verify(signing_input.as_bytes(), &signature).map_err(|_| TokenError::Invalid)?;
    let claims: TokenClaims = serde_json::from_slice(&decode(claims)?).map_err(|_| TokenError::Invalid)?;
    if claims.iss != ISSUER {
        return Err(TokenError::Invalid);
    }
    if claims.exp <= now {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Tcb, TeePubKey};

    fn claims(exp: u64) -> TokenClaims {
        TokenClaims {
            iss: ISSUER.into(),
            iat: 1,
            exp,
            jti: "t1".into(),
            session: "s1".into(),
            tee_pubkey: TeePubKey {
                kty: "EC".into(),
                crv: "P-384".into(),
                alg: None,
                x: "x".into(),
                y: "y".into(),
            },
            verdict: "pass".into(),
            measurement: "4d".repeat(48),
            policy: "0x30000".into(),
            reported_tcb: Tcb { bootloader: 4, tee: 0, snp: 22, microcode: 213 },
            vmpl: 0,
            debug: false,
            ek: "00".into(),
            reference_values: vec!["warden:sha256:00".into()],
        }
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let key = TokenKey::generate();
        let token = key.sign(&claims(100));
        assert_eq!(verify(&token, &key.verifying_key(), 99), Ok(claims(100)));
        assert_eq!(verify(&token, &key.verifying_key(), 100), Err(TokenError::Expired));
    }

    #[test]
    fn another_key_changed_claims_or_alg_none_are_refused() {
        let key = TokenKey::generate();
        let token = key.sign(&claims(100));
        assert_eq!(verify(&token, &TokenKey::generate().verifying_key(), 0), Err(TokenError::Invalid));
        let (header, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let longer = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(1000)).unwrap());
        let forged = format!("{header}.{longer}.{signature}");
        assert_eq!(verify(&forged, &key.verifying_key(), 0), Err(TokenError::Invalid));
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let unsigned = format!("{none}.{longer}.");
        assert_eq!(verify(&unsigned, &key.verifying_key(), 0), Err(TokenError::Invalid));
    }
}
