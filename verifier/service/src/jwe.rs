//! The released secret's envelope, both directions: the service encrypts to the `tee-pubkey` the
//! attested guest bound into its report, the guest-side agent decrypts with its private half. A JWE
//! (RFC 7516) in the flattened JSON serialisation (§7.2.2), the shape of Trustee's KBS `Response`
//! ([`crate::protocol::Response`]), with key agreement ECDH-ES+A256KW (RFC 7518 §4.6) and content
//! encryption A256GCM (RFC 7518 §5.3); the keys are P-384.
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
use p384::elliptic_curve::JwkEcKey;
use p384::{PublicKey, SecretKey};
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::protocol::{Response, TeePubKey};

/// The key management algorithm (RFC 7518 §4.1, "alg").
pub const ALG: &str = "ECDH-ES+A256KW";
/// The content encryption algorithm (RFC 7518 §5.1, "enc").
pub const ENC: &str = "A256GCM";

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
    /// The ephemeral key, or the recipient's `tee-pubkey`, is not a P-384 point.
    BadKey,
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
            Self::BadKey => write!(f, "not a P-384 public key (JWK kty EC, crv P-384)"),
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

/// `key` as the `tee-pubkey` JWK (RFC 7518 §6.2.1), spelled by the `elliptic-curve` crate.
pub fn tee_pubkey(key: &PublicKey) -> TeePubKey {
    serde_json::from_str(&key.to_jwk_string()).expect("an EC JWK has kty, crv, x and y")
}

/// The P-384 key a `tee-pubkey` names; refused unless it is an EC P-384 point on the curve.
pub fn recipient_key(jwk: &TeePubKey) -> Result<PublicKey, JweError> {
    if jwk.kty != "EC" || jwk.crv != "P-384" {
        return Err(JweError::BadKey);
    }
    let x = URL_SAFE_NO_PAD.decode(&jwk.x).map_err(|_| JweError::BadKey)?;
    let y = URL_SAFE_NO_PAD.decode(&jwk.y).map_err(|_| JweError::BadKey)?;
    if x.len() != 48 || y.len() != 48 {
        return Err(JweError::BadKey);
    }
    let sec1 = [&[4u8][..], &x, &y].concat();
    PublicKey::from_sec1_bytes(&sec1).map_err(|_| JweError::BadKey)
}

fn decode(member: &str, what: &'static str) -> Result<Vec<u8>, JweError> {
    URL_SAFE_NO_PAD.decode(member).map_err(|_| JweError::Malformed(what))
}

/// Encrypts `plaintext` to `recipient`.
pub fn encrypt(recipient: &PublicKey, plaintext: &[u8], rng: &mut impl CryptoRngCore) -> Response {
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
    Response {
        protected,
        encrypted_key: URL_SAFE_NO_PAD.encode(wrapped),
        iv: URL_SAFE_NO_PAD.encode(iv),
        ciphertext: URL_SAFE_NO_PAD.encode(ciphertext),
        tag: URL_SAFE_NO_PAD.encode(tag),
    }
}

/// The plaintext of `jwe`, with `recipient` the private key it was encrypted to.
pub fn decrypt(jwe: &Response, recipient: &SecretKey) -> Result<Zeroizing<Vec<u8>>, JweError> {
    let header: Header = serde_json::from_slice(&decode(&jwe.protected, "protected header")?)
        .map_err(|_| JweError::Malformed("protected header JSON"))?;
    if header.alg != ALG || header.enc != ENC || header.crit.is_some() {
        return Err(JweError::UnsupportedHeader);
    }
    let epk = PublicKey::from_jwk(&header.epk).map_err(|_| JweError::BadKey)?;
    let apu = header.apu.as_deref().map(|a| decode(a, "apu")).transpose()?.unwrap_or_default();
    let apv = header.apv.as_deref().map(|a| decode(a, "apv")).transpose()?.unwrap_or_default();
    let agreed = p384::ecdh::diffie_hellman(recipient.to_nonzero_scalar(), epk.as_affine());
    let kek = concat_kdf(agreed.raw_secret_bytes(), ALG, &apu, &apv, 256);

    let wrapped = decode(&jwe.encrypted_key, "encrypted_key")?;
    let mut content_key = Zeroizing::new([0u8; 32]);
    if wrapped.len() != 40 {
        return Err(JweError::KeyUnwrap);
    }
    aes_kw::KekAes256::from(*kek).unwrap(&wrapped, content_key.as_mut()).map_err(|_| JweError::KeyUnwrap)?;
    let iv: [u8; 12] = decode(&jwe.iv, "iv")?.try_into().map_err(|_| JweError::Malformed("IV size"))?;
    let tag: [u8; 16] = decode(&jwe.tag, "tag")?.try_into().map_err(|_| JweError::Malformed("tag size"))?;
    let mut plaintext = Zeroizing::new(decode(&jwe.ciphertext, "ciphertext")?);
    Aes256Gcm::new(content_key.as_ref().into())
        .decrypt_in_place_detached(
            &Nonce::from(iv),
            jwe.protected.as_bytes(),
            &mut plaintext,
            &Tag::from(tag),
        )
        .map_err(|_| JweError::Decrypt)?;
    Ok(plaintext)
}

#[cfg(test)]
mod tests {
    use super::{JweError, Response, concat_kdf, decrypt, encrypt, recipient_key, tee_pubkey};
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use p384::SecretKey;
    use rand_core::OsRng;

    #[test]
    fn a_secret_encrypted_to_a_key_decrypts_with_it_and_only_it() {
        let key = SecretKey::random(&mut OsRng);
        let jwe = encrypt(&key.public_key(), b"the disk key", &mut OsRng);
        assert_eq!(decrypt(&jwe, &key).unwrap().as_slice(), b"the disk key");
        let other = SecretKey::random(&mut OsRng);
        assert_eq!(decrypt(&jwe, &other), Err(JweError::KeyUnwrap));
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
            Response { encrypted_key: flip(&jwe.encrypted_key), ..jwe.clone() },
            Response { iv: flip(&jwe.iv), ..jwe.clone() },
            Response { ciphertext: flip(&jwe.ciphertext), ..jwe.clone() },
            Response { tag: flip(&jwe.tag), ..jwe.clone() },
            Response { protected: format!("{} ", jwe.protected), ..jwe.clone() },
        ];
        for altered in cases {
            assert!(decrypt(&altered, &key).is_err(), "{altered:?} was accepted");
        }
    }

    #[test]
    fn another_algorithm_in_the_header_is_refused() {
        let key = SecretKey::random(&mut OsRng);
        let jwe = encrypt(&key.public_key(), b"x", &mut OsRng);
        let header = String::from_utf8(URL_SAFE_NO_PAD.decode(&jwe.protected).unwrap()).unwrap();
        for (from, to) in [("A256GCM", "A128GCM"), ("ECDH-ES+A256KW", "ECDH-ES")] {
            let changed = URL_SAFE_NO_PAD.encode(header.replace(from, to));
            let jwe = Response { protected: changed, ..jwe.clone() };
            assert_eq!(decrypt(&jwe, &key), Err(JweError::UnsupportedHeader));
        }
    }

    #[test]
    fn a_tee_pubkey_names_its_key_and_off_curve_points_are_refused() {
        let key = SecretKey::random(&mut OsRng).public_key();
        let jwk = tee_pubkey(&key);
        assert_eq!(recipient_key(&jwk), Ok(key));
        let as_elliptic_curve_spells_it: serde_json::Value =
            serde_json::from_str(&key.to_jwk_string()).unwrap();
        assert_eq!(serde_json::to_value(&jwk).unwrap(), as_elliptic_curve_spells_it);
        let mut off_curve = jwk.clone();
        off_curve.y = URL_SAFE_NO_PAD.encode([1u8; 48]);
        assert_eq!(recipient_key(&off_curve), Err(JweError::BadKey));
        let p256 = super::TeePubKey { crv: "P-256".into(), ..jwk };
        assert_eq!(recipient_key(&p256), Err(JweError::BadKey));
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
