//! Key material: generation (from a seeded stream, so primaries are reproducible), reconstruction from
//! a sensitive area, and the signature schemes (ECDSA on P-256/P-384, RSASSA and RSAPSS on RSA-1024
//! and RSA-2048).
//! RustCrypto does the mathematics; this is the TPM glue.

use alloc::boxed::Box;
use alloc::vec::Vec;

use p256::elliptic_curve::sec1::ToEncodedPoint;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPrivateKey, RsaPublicKey};

use crate::crypto::HashAlg;
use crate::crypto::rsa_primes;
use crate::object::curve;
use crate::object::{Public, Sensitive, attr};
use crate::wire::alg_id::AlgId;
use crate::wire::marshal::{Reader, Writer};
use crate::wire::response_code::{ResponseCode, TpmResult};

pub use crate::crypto::seeded_rng::SeededRng;

const RSA_EXPONENT: u32 = 65537;

/// Loaded key material, ready to use.
#[derive(Clone)]
pub enum Material {
    P256(p256::SecretKey),
    P384(p384::SecretKey),
    Rsa(Box<RsaPrivateKey>),
    /// KEYEDHASH and SYMCIPHER: the secret is the sensitive area's `secret`.
    Symmetric,
    /// A public key alone (LoadExternal without a sensitive area): verify and encrypt only.
    PublicOnly,
}

impl core::fmt::Debug for Material {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Material(..)")
    }
}

fn rsa_err(_: rsa::Error) -> ResponseCode {
    ResponseCode::FAILURE
}

/// Fills in a new object's sensitive area and `unique` from `rng`. `data` is the caller's
/// sensitive.data (sealed data or a symmetric/HMAC key when sensitiveDataOrigin is clear).
pub fn generate(p: &mut Public, s: &mut Sensitive, data: &[u8], rng: &mut SeededRng) -> TpmResult<Material> {
    let origin = p.has(attr::SENSITIVE_DATA_ORIGIN);
    s.kind = p.kind;
    let digest_len = p.name_alg.size();
    let material = match p.kind {
        AlgId::ECC | AlgId::RSA if !data.is_empty() => return Err(ResponseCode::SIZE),
        AlgId::ECC => {
            if p.is_storage() {
                s.seed = rng.bytes(digest_len);
            }
            match p.curve {
                curve::NIST_P256 => {
                    let k = p256::SecretKey::random(rng);
                    s.secret = k.to_bytes().to_vec();
                    Material::P256(k)
                }
                curve::NIST_P384 => {
                    let k = p384::SecretKey::random(rng);
                    s.secret = k.to_bytes().to_vec();
                    Material::P384(k)
                }
                _ => return Err(ResponseCode::CURVE),
            }
        }
        AlgId::RSA => {
            if p.is_storage() {
                s.seed = rng.bytes(digest_len);
            }
            let bits = usize::from(p.rsa_bits);
            // The search's own errors (an unsupported size, a stream that is not random) are the
            // TPM's failure: the template was validated before.
            let primes = rsa_primes::generate_pair(rng, bits).map_err(|_| ResponseCode::FAILURE)?;
            let k = RsaPrivateKey::from_p_q(
                BigUint::from_bytes_be(&primes.p),
                BigUint::from_bytes_be(&primes.q),
                BigUint::from(RSA_EXPONENT),
            )
            .map_err(rsa_err)?;
            // FIPS 186-5 A.1.1: d > 2^(nlen/2). Failing it has probability below 2^-900; a template
            // that did would fail every time rather than give a weak key.
            if k.d().bits() <= bits / 2 {
                return Err(ResponseCode::FAILURE);
            }
            let prime = k.primes().first().ok_or(ResponseCode::FAILURE)?;
            s.secret = prime.to_bytes_be();
            Material::Rsa(Box::new(k))
        }
        _ => {
            let want = if p.kind == AlgId::SYMCIPHER { usize::from(p.sym.bits / 8) } else { digest_len };
            s.secret = match (origin, data.is_empty()) {
                (true, true) => rng.bytes(want),
                (false, false) if p.kind == AlgId::KEYEDHASH || data.len() == want => data.to_vec(),
                (false, false) => return Err(ResponseCode::KEY_SIZE),
                // sensitiveDataOrigin with data, or neither (Part 3 §12.1: TPM_RC_ATTRIBUTES).
                _ => return Err(ResponseCode::ATTRIBUTES),
            };
            s.seed = rng.bytes(digest_len);
            Material::Symmetric
        }
    };
    fill_unique(p, s, &material)?;
    Ok(material)
}

/// Sets `unique` from the key: the public point, the modulus, or H(seedValue || secret).
fn fill_unique(p: &mut Public, s: &Sensitive, m: &Material) -> TpmResult<()> {
    match m {
        Material::P256(k) => {
            let pt = k.public_key().to_encoded_point(false);
            p.unique = pt.x().ok_or(ResponseCode::FAILURE)?.to_vec();
            p.unique_y = pt.y().ok_or(ResponseCode::FAILURE)?.to_vec();
        }
        Material::P384(k) => {
            let pt = k.public_key().to_encoded_point(false);
            p.unique = pt.x().ok_or(ResponseCode::FAILURE)?.to_vec();
            p.unique_y = pt.y().ok_or(ResponseCode::FAILURE)?.to_vec();
        }
        Material::Rsa(k) => p.unique = k.n().to_bytes_be(),
        Material::Symmetric => p.unique = p.name_alg.digest(&[&s.seed, &s.secret]).as_slice().to_vec(),
        Material::PublicOnly => {}
    }
    Ok(())
}

/// Rebuilds the key from a sensitive area and checks that it matches the public area (Load).
pub fn restore(p: &Public, s: &Sensitive) -> TpmResult<Material> {
    // An external public key has no sensitive area (type 0, as `Sensitive::default`).
    if s.kind == AlgId::ERROR && s.secret.is_empty() {
        return Ok(Material::PublicOnly);
    }
    if s.kind != p.kind {
        return Err(ResponseCode::TYPE);
    }
    let m = match p.kind {
        AlgId::ECC if p.curve == curve::NIST_P256 => {
            Material::P256(p256::SecretKey::from_slice(&s.secret).map_err(|_| ResponseCode::BINDING)?)
        }
        AlgId::ECC => {
            Material::P384(p384::SecretKey::from_slice(&s.secret).map_err(|_| ResponseCode::BINDING)?)
        }
        AlgId::RSA => {
            // The modulus is exactly keyBits long (its top bit set is checked by the binding below).
            if p.unique.len() != usize::from(p.rsa_bits / 8) {
                return Err(ResponseCode::KEY_SIZE);
            }
            let n = BigUint::from_bytes_be(&p.unique);
            let prime = BigUint::from_bytes_be(&s.secret);
            if prime <= BigUint::from(1u32) || &n % &prime != BigUint::from(0u32) {
                return Err(ResponseCode::BINDING);
            }
            let q = &n / &prime;
            let k = RsaPrivateKey::from_p_q(prime, q, BigUint::from(RSA_EXPONENT))
                .map_err(|_| ResponseCode::BINDING)?;
            Material::Rsa(Box::new(k))
        }
        _ => Material::Symmetric,
    };
    let mut check = p.clone();
    fill_unique(&mut check, s, &m)?;
    if check.unique != p.unique || check.unique_y != p.unique_y {
        return Err(ResponseCode::BINDING);
    }
    Ok(m)
}

/// The signing scheme to use (Part 3 §20.2): the key's, or the caller's when the key has none.
pub fn pick_scheme(p: &Public, asked: (AlgId, AlgId)) -> TpmResult<(AlgId, HashAlg)> {
    let (scheme, hash) = if p.scheme.alg == AlgId::NULL {
        asked
    } else if asked.0 == AlgId::NULL || asked == (p.scheme.alg, p.scheme.hash) {
        (p.scheme.alg, p.scheme.hash)
    } else {
        return Err(ResponseCode::SCHEME);
    };
    let ok = match p.kind {
        AlgId::ECC => matches!(scheme, AlgId::ECDSA | AlgId::ECDAA),
        AlgId::RSA => matches!(scheme, AlgId::RSASSA | AlgId::RSAPSS),
        AlgId::KEYEDHASH => scheme == AlgId::HMAC,
        _ => false,
    };
    if !ok {
        return Err(ResponseCode::SCHEME);
    }
    Ok((scheme, HashAlg::from_id(hash).ok_or(ResponseCode::HASH)?))
}

/// Reads a TPMT_SIG_SCHEME: (scheme, hash), hash NULL for the NULL scheme. ECDAA, whose signature
/// needs a commitment, is for TPM2_Sign only (`read_sig_scheme_with_count`).
pub fn read_sig_scheme(r: &mut Reader<'_>) -> TpmResult<(AlgId, AlgId)> {
    match read_sig_scheme_with_count(r)? {
        ((AlgId::ECDAA, _), _) => Err(ResponseCode::SCHEME),
        (scheme, _) => Ok(scheme),
    }
}

/// Reads a TPMT_SIG_SCHEME with ECDAA's commit count (TPMS_SCHEME_ECDAA, Part 2 Table 155; 0 for
/// the other schemes).
pub fn read_sig_scheme_with_count(r: &mut Reader<'_>) -> TpmResult<((AlgId, AlgId), u16)> {
    let scheme = r.alg()?;
    if scheme == AlgId::NULL {
        return Ok(((scheme, AlgId::NULL), 0));
    }
    if !matches!(scheme, AlgId::ECDSA | AlgId::ECDAA | AlgId::RSASSA | AlgId::RSAPSS | AlgId::HMAC) {
        return Err(ResponseCode::SCHEME);
    }
    let hash = r.alg()?;
    HashAlg::from_id(hash).ok_or(ResponseCode::HASH)?;
    let count = if scheme == AlgId::ECDAA { r.u16()? } else { 0 };
    Ok(((scheme, hash), count))
}

fn rsa_padding_sign(scheme: AlgId, hash: HashAlg) -> Result<Pkcs1v15Sign, Pss> {
    match (scheme, hash) {
        (AlgId::RSAPSS, HashAlg::Sha1) => Err(Pss::new::<sha1::Sha1>()),
        (AlgId::RSAPSS, HashAlg::Sha256) => Err(Pss::new::<sha2::Sha256>()),
        (AlgId::RSAPSS, HashAlg::Sha384) => Err(Pss::new::<sha2::Sha384>()),
        (_, HashAlg::Sha1) => Ok(Pkcs1v15Sign::new::<sha1::Sha1>()),
        (_, HashAlg::Sha256) => Ok(Pkcs1v15Sign::new::<sha2::Sha256>()),
        (_, HashAlg::Sha384) => Ok(Pkcs1v15Sign::new::<sha2::Sha384>()),
    }
}

/// Signs `digest` and writes a TPMT_SIGNATURE. `rng` blinds RSA and salts PSS.
pub fn sign(
    m: &Material,
    s: &Sensitive,
    scheme: (AlgId, HashAlg),
    digest: &[u8],
    rng: &mut SeededRng,
    w: &mut Writer,
) -> TpmResult<()> {
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    let (alg_id, hash) = scheme;
    // ECDAA signs only with a commitment (TPM2_Sign, `object::ecdaa`).
    if alg_id == AlgId::ECDAA {
        return Err(ResponseCode::SCHEME);
    }
    if digest.len() != hash.size() {
        return Err(ResponseCode::SIZE);
    }
    w.alg(alg_id);
    w.alg(hash.id());
    match m {
        Material::P256(k) => {
            let sig: p256::ecdsa::Signature =
                p256::ecdsa::SigningKey::from(k).sign_prehash(digest).map_err(|_| ResponseCode::FAILURE)?;
            let (r, s) = sig.split_bytes();
            w.tpm2b(&r);
            w.tpm2b(&s);
        }
        Material::P384(k) => {
            let sig: p384::ecdsa::Signature =
                p384::ecdsa::SigningKey::from(k).sign_prehash(digest).map_err(|_| ResponseCode::FAILURE)?;
            let (r, s) = sig.split_bytes();
            w.tpm2b(&r);
            w.tpm2b(&s);
        }
        Material::Rsa(k) => {
            let sig = match rsa_padding_sign(alg_id, hash) {
                Ok(pkcs) => k.sign_with_rng(rng, pkcs, digest),
                Err(pss) => k.sign_with_rng(rng, pss, digest),
            }
            .map_err(rsa_err)?;
            w.tpm2b(&sig);
        }
        Material::PublicOnly => return Err(ResponseCode::KEY),
        Material::Symmetric => {
            let mac = hash.hmac(&s.secret, &[digest])?;
            w.bytes(mac.as_slice());
        }
    }
    Ok(())
}

/// Pads a big-endian integer on the left to `n` bytes (signature halves may come shorter).
/// `v` as exactly `n` big-endian bytes: leading zeros added or dropped (a TPM2B coordinate may come
/// shorter than its field, as tpm2-tss sends one whose top byte is zero); `None` if it does not fit.
pub(crate) fn left_pad(v: &[u8], n: usize) -> Option<Vec<u8>> {
    let v = &v[v.iter().position(|&b| b != 0).unwrap_or(v.len())..];
    (v.len() <= n).then(|| {
        let mut out = alloc::vec![0u8; n - v.len()];
        out.extend_from_slice(v);
        out
    })
}

/// Checks a TPMT_SIGNATURE read from `r` over `digest` with the public key in `p` (or, for HMAC, the
/// secret in `s`). Ok(false) means the signature is well-formed but wrong.
pub fn verify(p: &Public, s: &Sensitive, r: &mut Reader<'_>, digest: &[u8]) -> TpmResult<bool> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let sig_alg = r.alg()?;
    let hash = HashAlg::from_id(r.alg()?).ok_or(ResponseCode::HASH)?;
    match (p.kind, sig_alg) {
        (AlgId::ECC, AlgId::ECDSA) => {
            let n = if p.curve == curve::NIST_P256 { 32 } else { 48 };
            let rr = left_pad(r.tpm2b(n)?, n).ok_or(ResponseCode::SIZE)?;
            let ss = left_pad(r.tpm2b(n)?, n).ok_or(ResponseCode::SIZE)?;
            let x = left_pad(&p.unique, n).ok_or(ResponseCode::ECC_POINT)?;
            let y = left_pad(&p.unique_y, n).ok_or(ResponseCode::ECC_POINT)?;
            let mut sec1 = alloc::vec![4u8];
            sec1.extend_from_slice(&x);
            sec1.extend_from_slice(&y);
            let mut rs = rr;
            rs.extend_from_slice(&ss);
            Ok(if n == 32 {
                let key =
                    p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| ResponseCode::ECC_POINT)?;
                p256::ecdsa::Signature::from_slice(&rs)
                    .is_ok_and(|sig| key.verify_prehash(digest, &sig).is_ok())
            } else {
                let key =
                    p384::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| ResponseCode::ECC_POINT)?;
                p384::ecdsa::Signature::from_slice(&rs)
                    .is_ok_and(|sig| key.verify_prehash(digest, &sig).is_ok())
            })
        }
        (AlgId::RSA, AlgId::RSASSA | AlgId::RSAPSS) => {
            let sig = r.tpm2b(crate::object::MAX_RSA_BYTES)?;
            let key = RsaPublicKey::new(BigUint::from_bytes_be(&p.unique), BigUint::from(RSA_EXPONENT))
                .map_err(|_| ResponseCode::KEY)?;
            Ok(match rsa_padding_sign(sig_alg, hash) {
                Ok(pkcs) => key.verify(pkcs, digest, sig).is_ok(),
                Err(pss) => key.verify(pss, digest, sig).is_ok(),
            })
        }
        (AlgId::KEYEDHASH, AlgId::HMAC) => {
            let mac = r.bytes(hash.size())?;
            let expect = hash.hmac(&s.secret, &[digest])?;
            Ok(crate::crypto::ct_eq(mac, expect.as_slice()))
        }
        _ => Err(ResponseCode::SCHEME),
    }
}
