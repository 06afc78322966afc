//! The released secret's envelope: a JWE (RFC 7516) in the flattened JSON serialisation (§7.2.2), the
//! shape of Trustee's KBS `Response` (`{protected, encrypted_key, iv, ciphertext, tag}`), with key
//! agreement ECDH-ES+A256KW (RFC 7518 §4.6) and content encryption A256GCM (RFC 7518 §5.3).
//!
//! Encrypting: an ephemeral P-384 key agrees a secret Z with the recipient's key; Concat KDF
//! (NIST SP 800-56A §5.8.1, as RFC 7518 §4.6.2 fixes its inputs) turns Z into a 256-bit key-encryption
//! key; AES key wrap (RFC 3394) wraps a fresh content key; AES-256-GCM encrypts the secret with the
//! protected header's base64url text as additional data. Decrypting reverses it with the recipient's
//! private key, and refuses any header it did not expect rather than negotiating.
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use elliptic_curve::JwkEcKey;
use p384::{PublicKey, SecretKey};
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The key management algorithm (RFC 7518 §4.1, "alg").
pub const ALG: &str = "ECDH-ES+A256KW";
/// The content encryption algorithm (RFC 7518 §5.1, "enc").
pub const ENC: &str = "A256GCM";

/// A JWE in the flattened JSON serialisation; every member is base64url without padding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlattenedJwe {
    /// The protected header, `BASE64URL(UTF8(JSON))`.
    pub protected: String,
    /// The content key wrapped under the agreed key.
    pub encrypted_key: String,
    /// The 96-bit GCM initialisation vector.
    pub iv: String,
    /// The encrypted secret.
    pub ciphertext: String,
    /// The 128-bit GCM tag.
    pub tag: String,
}

/// The protected header this profile uses (RFC 7516 §4.1, RFC 7518 §4.6.1).
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    alg: String,
    enc: String,
    /// The sender's ephemeral public key.
    epk: JwkEcKey,
    /// Agreement PartyUInfo and PartyVInfo (base64url), empty when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    apu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    apv: Option<String>,
    /// Extensions the recipient must understand (RFC 7516 §4.1.13): this one understands none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crit: Option<serde_json::Value>,
}

/// Why a JWE could not be opened (or made).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JweError {
    /// A member is not base64url, or the header is not the JSON of this profile.
    Malformed(&'static str),
    /// The header names another algorithm, or extensions this side does not understand.
    UnsupportedHeader,
    /// The ephemeral key is not a P-384 point.
    BadEphemeralKey,
    /// The wrapped key did not unwrap under the agreed key: not encrypted to this key, or altered.
    KeyUnwrap,
    /// The ciphertext, IV, tag or header was altered, or the content key is wrong.
    Decrypt,
}

impl core::fmt::Display for JweError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Malformed(what) => write!(f, "malformed JWE: {what}"),
            Self::UnsupportedHeader => write!(f, "the JWE header is not {ALG} / {ENC} without extensions"),
            Self::BadEphemeralKey => write!(f, "the JWE's ephemeral key is not a P-384 public key"),
            Self::KeyUnwrap => write!(f, "the JWE's content key does not unwrap with this key"),
            Self::Decrypt => write!(f, "the JWE does not decrypt: altered, or sealed to another key"),
        }
    }
}

impl std::error::Error for JweError {}

/// Concat KDF with SHA-256 (RFC 7518 §4.6.2): one round (counter 1) over Z and OtherInfo =
/// AlgorithmID ‖ PartyUInfo ‖ PartyVInfo ‖ SuppPubInfo, each datum length-prefixed, SuppPubInfo the key
/// length in bits. One round gives up to 256 bits; the caller takes the first `key_bits / 8` bytes.
fn concat_kdf(z: &[u8], alg: &str, apu: &[u8], apv: &[u8], key_bits: u32) -> Zeroizing<[u8; 32]> {
    let mut hash = Sha256::new();
    hash.update(1u32.to_be_bytes());
    hash.update(z);
    for datum in [alg.as_bytes(), apu, apv] {
        hash.update(u32::try_from(datum.len()).unwrap_or(u32::MAX).to_be_bytes());
        hash.update(datum);
    }
    hash.update(key_bits.to_be_bytes());
    Zeroizing::new(hash.finalize().into())
}

fn decode(member: &str, what: &'static str) -> Result<Vec<u8>, JweError> {
    URL_SAFE_NO_PAD.decode(member).map_err(|_| JweError::Malformed(what))
}

/// Encrypts `plaintext` to `recipient`.
pub fn encrypt(recipient: &PublicKey, plaintext: &[u8], rng: &mut impl CryptoRngCore) -> FlattenedJwe {
    let ephemeral = p384::ecdh::EphemeralSecret::random(rng);
    let agreed = ephemeral.diffie_hellman(recipient);
    let kek = concat_kdf(agreed.raw_secret_bytes(), ALG, &[], &[], 256);
    let header = Header {
        alg: ALG.into(),
        enc: ENC.into(),
        epk: ephemeral.public_key().to_jwk(),
        apu: None,
        apv: None,
        crit: None,
    };
    let protected = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("the header serialises"));
    let mut content_key = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(content_key.as_mut());
    let mut wrapped = [0u8; 40];
    aes_kw::KekAes256::from(*kek).wrap(content_key.as_ref(), &mut wrapped).expect("40 = 32 + 8 bytes");
    let mut iv = [0u8; 12];
    rng.fill_bytes(&mut iv);
    let mut ciphertext = plaintext.to_vec();
    let tag = Aes256Gcm::new(content_key.as_ref().into())
        .encrypt_in_place_detached(&Nonce::from(iv), protected.as_bytes(), &mut ciphertext)
        .expect("a secret far below GCM's 64 GiB limit");
    FlattenedJwe {
        protected,
        encrypted_key: URL_SAFE_NO_PAD.encode(wrapped),
        iv: URL_SAFE_NO_PAD.encode(iv),
        ciphertext: URL_SAFE_NO_PAD.encode(ciphertext),
        tag: URL_SAFE_NO_PAD.encode(tag),
    }
}

impl FlattenedJwe {
    /// The plaintext, with `recipient` the private key the JWE was encrypted to.
    pub fn decrypt(&self, recipient: &SecretKey) -> Result<Zeroizing<Vec<u8>>, JweError> {
        let header: Header = serde_json::from_slice(&decode(&self.protected, "protected header")?)
            .map_err(|_| JweError::Malformed("protected header JSON"))?;
        if header.alg != ALG || header.enc != ENC || header.crit.is_some() {
            return Err(JweError::UnsupportedHeader);
        }
        let epk = PublicKey::from_jwk(&header.epk).map_err(|_| JweError::BadEphemeralKey)?;
        let apu = header.apu.as_deref().map(|a| decode(a, "apu")).transpose()?.unwrap_or_default();
        let apv = header.apv.as_deref().map(|a| decode(a, "apv")).transpose()?.unwrap_or_default();
        let agreed = p384::ecdh::diffie_hellman(recipient.to_nonzero_scalar(), epk.as_affine());
        let kek = concat_kdf(agreed.raw_secret_bytes(), ALG, &apu, &apv, 256);

        let wrapped = decode(&self.encrypted_key, "encrypted_key")?;
        let mut content_key = Zeroizing::new([0u8; 32]);
        if wrapped.len() != 40 {
            return Err(JweError::KeyUnwrap);
        }
        aes_kw::KekAes256::from(*kek)
            .unwrap(&wrapped, content_key.as_mut())
            .map_err(|_| JweError::KeyUnwrap)?;
        let iv: [u8; 12] = decode(&self.iv, "iv")?.try_into().map_err(|_| JweError::Malformed("IV size"))?;
        let tag: [u8; 16] =
            decode(&self.tag, "tag")?.try_into().map_err(|_| JweError::Malformed("tag size"))?;
        let mut plaintext = Zeroizing::new(decode(&self.ciphertext, "ciphertext")?);
        Aes256Gcm::new(content_key.as_ref().into())
            .decrypt_in_place_detached(
                &Nonce::from(iv),
                self.protected.as_bytes(),
                &mut plaintext,
                &Tag::from(tag),
            )
            .map_err(|_| JweError::Decrypt)?;
        Ok(plaintext)
    }
}

#[cfg(test)]
mod tests {
    use super::{FlattenedJwe, JweError, concat_kdf, encrypt};
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use p384::SecretKey;
    use rand_core::OsRng;

    #[test]
    fn a_secret_encrypted_to_a_key_decrypts_with_it_and_only_it() {
        let key = SecretKey::random(&mut OsRng);
        let jwe = encrypt(&key.public_key(), b"the disk key", &mut OsRng);
        assert_eq!(jwe.decrypt(&key).unwrap().as_slice(), b"the disk key");
        let other = SecretKey::random(&mut OsRng);
        assert_eq!(jwe.decrypt(&other), Err(JweError::KeyUnwrap));
    }

    #[test]
    fn every_altered_member_is_refused() {
        let key = SecretKey::random(&mut OsRng);
        let jwe = encrypt(&key.public_key(), b"0123456789abcdef", &mut OsRng);
        let flip = |member: &str| {
            let mut bytes = URL_SAFE_NO_PAD.decode(member).unwrap();
            bytes[0] ^= 1;
            URL_SAFE_NO_PAD.encode(bytes)
        };
        let cases = [
            FlattenedJwe { encrypted_key: flip(&jwe.encrypted_key), ..jwe.clone() },
            FlattenedJwe { iv: flip(&jwe.iv), ..jwe.clone() },
            FlattenedJwe { ciphertext: flip(&jwe.ciphertext), ..jwe.clone() },
            FlattenedJwe { tag: flip(&jwe.tag), ..jwe.clone() },
            FlattenedJwe { protected: format!("{} ", jwe.protected), ..jwe.clone() },
        ];
        for altered in cases {
            assert!(altered.decrypt(&key).is_err(), "{altered:?} was accepted");
        }
    }

    #[test]
    fn another_algorithm_in_the_header_is_refused() {
        let key = SecretKey::random(&mut OsRng);
        let jwe = encrypt(&key.public_key(), b"x", &mut OsRng);
        let header = String::from_utf8(URL_SAFE_NO_PAD.decode(&jwe.protected).unwrap()).unwrap();
        for (from, to) in [("A256GCM", "A128GCM"), ("ECDH-ES+A256KW", "ECDH-ES")] {
            let changed = URL_SAFE_NO_PAD.encode(header.replace(from, to));
            let jwe = FlattenedJwe { protected: changed, ..jwe.clone() };
            assert_eq!(jwe.decrypt(&key), Err(JweError::UnsupportedHeader));
        }
    }

    /// RFC 7518 Appendix C: ECDH-ES with A128GCM, PartyUInfo "Alice", PartyVInfo "Bob", whose derived
    /// key the RFC prints as `VqqN6vgjbSBcIijNcacQGg`.
    #[test]
    fn concat_kdf_gives_rfc_7518_appendix_c() {
        let z = [
            158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49, 110, 163,
            218, 128, 106, 72, 246, 218, 167, 121, 140, 254, 144, 196,
        ];
        let derived = concat_kdf(&z, "A128GCM", b"Alice", b"Bob", 128);
        assert_eq!(URL_SAFE_NO_PAD.encode(&derived[..16]), "VqqN6vgjbSBcIijNcacQGg");
    }
}
