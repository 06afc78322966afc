//! Released secrets as JWEs (RFC 7516, flattened JSON serialisation) with alg `ECDH-ES+A256KW` and enc
//! `A256GCM` (RFC 7518 §4.6 and §5.3), encrypted to the `tee-pubkey` the attested guest bound into its
//! report: only the holder of that key's private half can read what the service releases.
//!
//! The service encrypts ([`encrypt`]); the guest side decrypts with a [`RecipientKey`], which lives here
//! too so that both halves are tested against each other in one place.
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use aes_kw::KekAes256;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::protocol::{Response, TeePubKey};

/// The key-management algorithm (RFC 7518 §4.6): ECDH-ES, the result wrapping a random CEK.
pub const ALG: &str = "ECDH-ES+A256KW";
/// The content encryption (RFC 7518 §5.3).
pub const ENC: &str = "A256GCM";

/// Why a JWE could not be made or opened.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JweError {
    /// The recipient's JWK is not a point of P-384 or P-256.
    #[error("tee-pubkey is not a valid EC P-384 or P-256 public key")]
    InvalidKey,
    /// The JWE's header, encoding or sizes are not what this module makes.
    #[error("malformed JWE: {0}")]
    Malformed(&'static str),
    /// The key unwrap or the GCM tag failed: another key, or a changed message.
    #[error("the JWE does not decrypt with this key")]
    Decrypt,
}

/// The protected header this module writes and accepts.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    alg: String,
    enc: String,
    epk: TeePubKey,
}

/// The private key a guest generates for one handshake; its public half is the `tee-pubkey`.
#[derive(Clone, Debug)]
pub enum RecipientKey {
    /// NIST P-384.
    P384(p384::SecretKey),
    /// NIST P-256.
    P256(p256::SecretKey),
}

impl RecipientKey {
    /// A fresh P-384 key.
    pub fn generate_p384() -> Self {
        Self::P384(p384::SecretKey::random(&mut OsRng))
    }

    /// A fresh P-256 key.
    pub fn generate_p256() -> Self {
        Self::P256(p256::SecretKey::random(&mut OsRng))
    }

    /// The public half as the JWK the runtime data carries.
    pub fn public_jwk(&self) -> TeePubKey {
        let jwk = match self {
            Self::P384(key) => key.public_key().to_jwk_string(),
            Self::P256(key) => key.public_key().to_jwk_string(),
        };
        serde_json::from_str(&jwk).expect("elliptic-curve writes kty, crv, x and y")
    }

    /// Opens a JWE made by [`encrypt`] for this key.
    pub fn decrypt(&self, jwe: &Response) -> Result<Zeroizing<Vec<u8>>, JweError> {
        let header_json = decode(&jwe.protected, "protected")?;
        let header: Header =
            serde_json::from_slice(&header_json).map_err(|_| JweError::Malformed("protected header"))?;
        if header.alg != ALG || header.enc != ENC {
            return Err(JweError::Malformed("alg or enc"));
        }
        let z = match self {
            Self::P384(key) => {
                let epk = p384_public(&header.epk).map_err(|_| JweError::Malformed("epk"))?;
                let shared = p384::ecdh::diffie_hellman(key.to_nonzero_scalar(), epk.as_affine());
                Zeroizing::new(shared.raw_secret_bytes().to_vec())
            }
            Self::P256(key) => {
                let epk = p256_public(&header.epk).map_err(|_| JweError::Malformed("epk"))?;
                let shared = p256::ecdh::diffie_hellman(key.to_nonzero_scalar(), epk.as_affine());
                Zeroizing::new(shared.raw_secret_bytes().to_vec())
            }
        };
        let kek = key_encryption_key(&z)?;
        let wrapped = decode(&jwe.encrypted_key, "encrypted_key")?;
        let mut cek = Zeroizing::new([0u8; 32]);
        if wrapped.len() != 40 {
            return Err(JweError::Malformed("encrypted_key length"));
        }
        kek.unwrap(&wrapped, cek.as_mut()).map_err(|_| JweError::Decrypt)?;
        let iv: [u8; 12] = decode(&jwe.iv, "iv")?.try_into().map_err(|_| JweError::Malformed("iv length"))?;
        let tag: [u8; 16] =
            decode(&jwe.tag, "tag")?.try_into().map_err(|_| JweError::Malformed("tag length"))?;
        let mut plaintext = Zeroizing::new(decode(&jwe.ciphertext, "ciphertext")?);
        Aes256Gcm::new(cek.as_ref().into())
            .decrypt_in_place_detached(
                &Nonce::from(iv),
                jwe.protected.as_bytes(),
                plaintext.as_mut(),
                &tag.into(),
            )
            .map_err(|_| JweError::Decrypt)?;
        Ok(plaintext)
    }
}

/// Encrypts `secret` to `recipient` (a P-384 or P-256 JWK).
pub fn encrypt(recipient: &TeePubKey, secret: &[u8]) -> Result<Response, JweError> {
    let (epk, z) = match recipient.crv.as_str() {
        "P-384" => {
            let public = p384_public(recipient)?;
            let ephemeral = p384::ecdh::EphemeralSecret::random(&mut OsRng);
            let z = Zeroizing::new(ephemeral.diffie_hellman(&public).raw_secret_bytes().to_vec());
            (ephemeral.public_key().to_jwk_string(), z)
        }
        "P-256" => {
            let public = p256_public(recipient)?;
            let ephemeral = p256::ecdh::EphemeralSecret::random(&mut OsRng);
            let z = Zeroizing::new(ephemeral.diffie_hellman(&public).raw_secret_bytes().to_vec());
            (ephemeral.public_key().to_jwk_string(), z)
        }
        _ => return Err(JweError::InvalidKey),
    };
    let epk: TeePubKey = serde_json::from_str(&epk).map_err(|_| JweError::InvalidKey)?;
    let header = Header { alg: ALG.into(), enc: ENC.into(), epk };
    let protected =
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).map_err(|_| JweError::Malformed("header"))?);
    let mut cek = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(cek.as_mut());
    let mut wrapped = [0u8; 40];
    key_encryption_key(&z)?.wrap(cek.as_ref(), &mut wrapped).map_err(|_| JweError::Decrypt)?;
    let mut iv = [0u8; 12];
    OsRng.fill_bytes(&mut iv);
    // RFC 7516 §5.1 step 14: the AAD is the ASCII of the encoded protected header.
    let mut ciphertext = secret.to_vec();
    let tag = Aes256Gcm::new(cek.as_ref().into())
        .encrypt_in_place_detached(&Nonce::from(iv), protected.as_bytes(), &mut ciphertext)
        .map_err(|_| JweError::Malformed("plaintext too long"))?;
    Ok(Response {
        protected,
        encrypted_key: URL_SAFE_NO_PAD.encode(wrapped),
        iv: URL_SAFE_NO_PAD.encode(iv),
        ciphertext: URL_SAFE_NO_PAD.encode(&ciphertext),
        tag: URL_SAFE_NO_PAD.encode(tag),
    })
}

/// The KEK from the shared secret (RFC 7518 §4.6.2, no PartyUInfo or PartyVInfo).
fn key_encryption_key(z: &[u8]) -> Result<KekAes256, JweError> {
    let mut kek = Zeroizing::new([0u8; 32]);
    concat_kdf(z, ALG, b"", b"", kek.as_mut())?;
    Ok(KekAes256::from(*kek))
}

/// Concat KDF with SHA-256 (NIST SP 800-56A §5.8.1) with RFC 7518 §4.6.2's OtherInfo: AlgorithmID,
/// PartyUInfo and PartyVInfo each length-prefixed, SuppPubInfo the key length in bits.
fn concat_kdf(z: &[u8], alg: &str, apu: &[u8], apv: &[u8], key: &mut [u8]) -> Result<(), JweError> {
    let mut other_info = Vec::with_capacity(16 + alg.len() + apu.len() + apv.len());
    for field in [alg.as_bytes(), apu, apv] {
        let length = u32::try_from(field.len()).map_err(|_| JweError::Malformed("KDF input"))?;
        other_info.extend_from_slice(&length.to_be_bytes());
        other_info.extend_from_slice(field);
    }
    let bits = u32::try_from(key.len() * 8).map_err(|_| JweError::Malformed("KDF length"))?;
    other_info.extend_from_slice(&bits.to_be_bytes());
    concat_kdf::derive_key_into::<Sha256>(z, &other_info, key).map_err(|_| JweError::Malformed("KDF"))
}

/// A P-384 public key from a JWK; rejects points off the curve.
pub fn p384_public(jwk: &TeePubKey) -> Result<p384::PublicKey, JweError> {
    p384::PublicKey::from_jwk_str(&plain_jwk(jwk, "P-384")?).map_err(|_| JweError::InvalidKey)
}

/// A P-256 public key from a JWK; rejects points off the curve.
pub fn p256_public(jwk: &TeePubKey) -> Result<p256::PublicKey, JweError> {
    p256::PublicKey::from_jwk_str(&plain_jwk(jwk, "P-256")?).map_err(|_| JweError::InvalidKey)
}

/// Whether a JWK is a usable recipient key.
pub fn validate_recipient(jwk: &TeePubKey) -> Result<(), JweError> {
    match jwk.crv.as_str() {
        "P-384" => p384_public(jwk).map(drop),
        "P-256" => p256_public(jwk).map(drop),
        _ => Err(JweError::InvalidKey),
    }
}

/// The JWK as elliptic-curve parses it (kty, crv, x, y only), after checking kty and crv.
fn plain_jwk(jwk: &TeePubKey, crv: &str) -> Result<String, JweError> {
    if jwk.kty != "EC" || jwk.crv != crv {
        return Err(JweError::InvalidKey);
    }
    serde_json::to_string(&TeePubKey { alg: None, ..jwk.clone() }).map_err(|_| JweError::InvalidKey)
}

fn decode(text: &str, what: &'static str) -> Result<Vec<u8>, JweError> {
    URL_SAFE_NO_PAD.decode(text).map_err(|_| JweError::Malformed(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_kdf_matches_rfc_7518_appendix_c() {
        let z = [
            158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49, 110, 163,
            218, 128, 106, 72, 246, 218, 167, 121, 140, 254, 144, 196,
        ];
        let mut key = [0u8; 16];
        concat_kdf(&z, "A128GCM", b"Alice", b"Bob", &mut key).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.encode(key), "VqqN6vgjbSBcIijNcacQGg");
    }

    #[test]
    fn round_trips_on_both_curves_and_only_for_the_key() {
        for key in [RecipientKey::generate_p384(), RecipientKey::generate_p256()] {
            let jwe = encrypt(&key.public_jwk(), b"the disk key").unwrap();
            assert_eq!(key.decrypt(&jwe).unwrap().as_slice(), b"the disk key");
            let other = match key {
                RecipientKey::P384(_) => RecipientKey::generate_p384(),
                RecipientKey::P256(_) => RecipientKey::generate_p256(),
            };
            assert_eq!(other.decrypt(&jwe), Err(JweError::Decrypt));
        }
    }

    #[test]
    fn a_changed_ciphertext_or_header_is_refused() {
        let key = RecipientKey::generate_p384();
        let jwe = encrypt(&key.public_jwk(), b"secret").unwrap();
        let mut changed = jwe.clone();
        changed.ciphertext = URL_SAFE_NO_PAD.encode(b"sEcret");
        assert_eq!(key.decrypt(&changed), Err(JweError::Decrypt));
        let mut changed = jwe;
        changed.protected.push('A');
        assert!(key.decrypt(&changed).is_err());
    }

    #[test]
    fn points_off_the_curve_and_other_curves_are_refused() {
        let mut jwk = RecipientKey::generate_p384().public_jwk();
        jwk.y = jwk.x.clone();
        assert_eq!(encrypt(&jwk, b"s"), Err(JweError::InvalidKey));
        let jwk = TeePubKey { crv: "P-521".into(), ..RecipientKey::generate_p384().public_jwk() };
        assert_eq!(encrypt(&jwk, b"s"), Err(JweError::InvalidKey));
    }
}
