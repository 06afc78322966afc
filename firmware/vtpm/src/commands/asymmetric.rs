//! Asymmetric primitives (Part 3 ch. 14): RSA_Encrypt and RSA_Decrypt with RSAES-PKCS1-v1_5, OAEP or
//! no padding (scheme TPM_ALG_NULL: the raw RSAEP/RSADP of PKCS #1 §5.1), ECDH_KeyGen and ECDH_ZGen.

use alloc::vec::Vec;

use p256::elliptic_curve::sec1::ToEncodedPoint;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Oaep, Pkcs1v15Encrypt, RsaPrivateKey, RsaPublicKey};

use crate::Tpm;
use crate::crypto::HashAlg;
use crate::crypto::seeded_rng::SeededRng;
use crate::engine::command::Cmd;
use crate::object::creation::MAX_DATA;
use crate::object::curve;
use crate::object::key_material::{Material, left_pad};
use crate::object::{MAX_ECC_BYTES, MAX_RSA_BYTES, attr};
use crate::state::key_store::KeyObject;
use crate::wire::alg_id::AlgId;
use crate::wire::handle::Handle;
use crate::wire::marshal::{Reader, Writer};
use crate::wire::response_code::{At, ResponseCode, TpmResult};

fn fresh_rng(tpm: &mut Tpm) -> TpmResult<SeededRng> {
    let mut seed = [0u8; 32];
    tpm.random(&mut seed);
    SeededRng::new(HashAlg::Sha256, &seed, b"CRYPT", &[], &[])
}

/// Reads a TPMT_RSA_DECRYPT and settles it with the key's scheme: (RSAES, OAEP or NULL for raw RSA,
/// hash for OAEP).
fn rsa_scheme(r: &mut Reader<'_>, k: &KeyObject) -> TpmResult<(AlgId, Option<HashAlg>)> {
    let asked = match r.alg().p(2)? {
        AlgId::NULL => (AlgId::NULL, AlgId::NULL),
        AlgId::RSAES => (AlgId::RSAES, AlgId::NULL),
        AlgId::OAEP => (AlgId::OAEP, r.alg().p(2)?),
        _ => return Err(ResponseCode::SCHEME.param(2)),
    };
    let chosen = match (k.public.scheme.alg, asked.0) {
        (AlgId::NULL, _) => asked,
        (key, AlgId::NULL) => (key, k.public.scheme.hash),
        (key, a) if key == a && k.public.scheme.hash == asked.1 => asked,
        _ => return Err(ResponseCode::SCHEME.param(2)),
    };
    match chosen.0 {
        AlgId::NULL => Ok((AlgId::NULL, None)),
        AlgId::RSAES => Ok((AlgId::RSAES, None)),
        AlgId::OAEP => {
            Ok((AlgId::OAEP, Some(HashAlg::from_id(chosen.1).ok_or(ResponseCode::HASH.param(2))?)))
        }
        _ => Err(ResponseCode::SCHEME.param(2)),
    }
}

/// An OAEP padding with `label` (Part 1 §B.4: the label is used with a terminating zero). The
/// `rsa` crate takes labels as strings, so non-UTF-8 labels are refused (TPM_RC_VALUE).
fn oaep(hash: HashAlg, label: &[u8]) -> TpmResult<Oaep> {
    let mut l = label.to_vec();
    if !l.is_empty() && l.last() != Some(&0) {
        l.push(0);
    }
    let l = alloc::string::String::from_utf8(l).map_err(|_| ResponseCode::VALUE.param(3))?;
    let empty = l.is_empty();
    Ok(match (hash, empty) {
        (HashAlg::Sha1, true) => Oaep::new::<sha1::Sha1>(),
        (HashAlg::Sha1, false) => Oaep::new_with_label::<sha1::Sha1, _>(l),
        (HashAlg::Sha256, true) => Oaep::new::<sha2::Sha256>(),
        (HashAlg::Sha384, true) => Oaep::new::<sha2::Sha384>(),
        (HashAlg::Sha256, false) => Oaep::new_with_label::<sha2::Sha256, _>(l),
        (HashAlg::Sha384, false) => Oaep::new_with_label::<sha2::Sha384, _>(l),
    })
}

fn rsa_key(tpm: &Tpm, h: Handle) -> TpmResult<&KeyObject> {
    let k = tpm.key(h).ok_or(ResponseCode::HANDLE.handle(1))?;
    if k.public.kind != AlgId::RSA {
        return Err(ResponseCode::KEY.handle(1));
    }
    if !k.public.has(attr::DECRYPT) {
        return Err(ResponseCode::ATTRIBUTES.handle(1));
    }
    Ok(k)
}

/// RSAEP (PKCS #1 §5.1.1) of `message` as a big-endian integer, which may carry leading zeros but
/// must be below the modulus (ms-tpm-20-ref CryptRsaEncrypt, scheme TPM_ALG_NULL); the result is as
/// long as the modulus. An `Ok(Err)` is TPM_RC_VALUE for the caller's message.
fn raw_encrypt(key: &RsaPublicKey, message: &[u8]) -> TpmResult<Result<Vec<u8>, rsa::Error>> {
    let k = key.size();
    let m = BigUint::from_bytes_be(message);
    if &m >= key.n() {
        return Ok(Err(rsa::Error::MessageTooLong));
    }
    let c = rsa::hazmat::rsa_encrypt(key, &m).map_err(|_| ResponseCode::FAILURE)?;
    Ok(left_pad(&c.to_bytes_be(), k).ok_or(rsa::Error::Internal))
}

/// RSADP (PKCS #1 §5.1.2), blinded, of a ciphertext exactly as long as the modulus and below it;
/// the plaintext comes back as long as the modulus.
fn raw_decrypt(
    key: &RsaPrivateKey,
    rng: &mut SeededRng,
    cipher: &[u8],
) -> TpmResult<Result<Vec<u8>, rsa::Error>> {
    let k = key.size();
    if cipher.len() != k {
        return Err(ResponseCode::SIZE.param(1));
    }
    let c = BigUint::from_bytes_be(cipher);
    if &c >= key.n() {
        return Ok(Err(rsa::Error::Decryption));
    }
    let m = zeroize::Zeroizing::new(
        rsa::hazmat::rsa_decrypt_and_check(key, Some(rng), &c).map_err(|_| ResponseCode::FAILURE)?,
    );
    let bytes = zeroize::Zeroizing::new(m.to_bytes_be());
    Ok(left_pad(&bytes, k).ok_or(rsa::Error::Internal))
}

/// TPM2_RSA_Encrypt (Part 3 §14.2): public-key operation, no authorization.
pub(crate) fn rsa_encrypt(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let message = c.params.tpm2b(MAX_RSA_BYTES).p(1)?;
    let mut rng = fresh_rng(tpm)?;
    let k = rsa_key(tpm, c.handles[0])?;
    let scheme = rsa_scheme(&mut c.params, k)?;
    let label = c.params.tpm2b(MAX_DATA).p(3)?;
    c.params.finish()?;
    let key = RsaPublicKey::new(BigUint::from_bytes_be(&k.public.unique), BigUint::from(65537u32))
        .map_err(|_| ResponseCode::KEY.handle(1))?;
    let out = match scheme {
        (AlgId::NULL, _) => raw_encrypt(&key, message)?,
        (_, Some(h)) => key.encrypt(&mut rng, oaep(h, label)?, message),
        _ => key.encrypt(&mut rng, Pkcs1v15Encrypt, message),
    }
    .map_err(|_| ResponseCode::VALUE.param(1))?;
    c.out.tpm2b(&out);
    Ok(())
}

/// TPM2_RSA_Decrypt (Part 3 §14.3): needs an unrestricted decryption key.
pub(crate) fn rsa_decrypt(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let cipher = c.params.tpm2b(MAX_RSA_BYTES).p(1)?;
    let mut rng = fresh_rng(tpm)?;
    let k = rsa_key(tpm, c.handles[0])?;
    if k.public.has(attr::RESTRICTED) {
        return Err(ResponseCode::ATTRIBUTES.handle(1));
    }
    let scheme = rsa_scheme(&mut c.params, k)?;
    let label = c.params.tpm2b(MAX_DATA).p(3)?;
    c.params.finish()?;
    let Material::Rsa(key) = &k.material else { return Err(ResponseCode::KEY.handle(1)) };
    let out = match scheme {
        (AlgId::NULL, _) => raw_decrypt(key, &mut rng, cipher)?,
        (_, Some(h)) => key.decrypt_blinded(&mut rng, oaep(h, label)?, cipher),
        _ => key.decrypt_blinded(&mut rng, Pkcs1v15Encrypt, cipher),
    }
    .map_err(|_| ResponseCode::VALUE.param(1))?;
    // Raw RSA output is plaintext the size of the modulus: wiped when dropped.
    let out = zeroize::Zeroizing::new(out);
    c.out.tpm2b(&out);
    Ok(())
}

/// Writes a TPM2B_ECC_POINT from an uncompressed SEC1 encoding.
fn write_point(w: &mut Writer, x: &[u8], y: &[u8]) {
    let mut p = Writer::new();
    p.tpm2b(x);
    p.tpm2b(y);
    w.tpm2b(&p.buf);
}

/// Reads a TPM2B_ECC_POINT as SEC1 bytes (0x04 || x || y) of coordinates `n` bytes long.
fn read_point(r: &mut Reader<'_>, n: usize) -> TpmResult<Vec<u8>> {
    let mut p = Reader::new(r.tpm2b(4 + 2 * MAX_ECC_BYTES)?);
    let x = p.tpm2b(MAX_ECC_BYTES)?;
    let y = p.tpm2b(MAX_ECC_BYTES)?;
    p.finish()?;
    let (Some(x), Some(y)) =
        (crate::object::key_material::left_pad(x, n), crate::object::key_material::left_pad(y, n))
    else {
        return Err(ResponseCode::ECC_POINT);
    };
    let mut sec1 = alloc::vec![4u8];
    sec1.extend_from_slice(&x);
    sec1.extend_from_slice(&y);
    Ok(sec1)
}

/// d·Q for the key's private scalar and the caller's SEC1 point: (x, y).
fn multiply(m: &Material, sec1: &[u8]) -> TpmResult<(Vec<u8>, Vec<u8>)> {
    macro_rules! mul {
        ($curve:ident, $k:expr) => {{
            let q = $curve::PublicKey::from_sec1_bytes(sec1).map_err(|_| ResponseCode::ECC_POINT)?;
            let p = (q.to_projective() * *$k.to_nonzero_scalar()).to_affine().to_encoded_point(false);
            (p.x().ok_or(ResponseCode::FAILURE)?.to_vec(), p.y().ok_or(ResponseCode::FAILURE)?.to_vec())
        }};
    }
    Ok(match m {
        Material::P256(k) => mul!(p256, k),
        Material::P384(k) => mul!(p384, k),
        _ => return Err(ResponseCode::KEY),
    })
}

fn ecc_key(tpm: &Tpm, h: Handle) -> TpmResult<(&KeyObject, usize)> {
    let k = tpm.key(h).ok_or(ResponseCode::HANDLE.handle(1))?;
    let n = match (k.public.kind, k.public.curve) {
        (AlgId::ECC, curve::NIST_P256) => 32,
        (AlgId::ECC, _) => 48,
        _ => return Err(ResponseCode::KEY.handle(1)),
    };
    if !k.public.has(attr::DECRYPT) {
        return Err(ResponseCode::ATTRIBUTES.handle(1));
    }
    Ok((k, n))
}

/// TPM2_ECDH_KeyGen (Part 3 §14.4): an ephemeral key pair and the shared point with the key.
pub(crate) fn ecdh_keygen(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    let mut rng = fresh_rng(tpm)?;
    let (k, n) = ecc_key(tpm, c.handles[0])?;
    let mut public = alloc::vec![4u8];
    public.extend_from_slice(&k.public.unique);
    public.extend_from_slice(&k.public.unique_y);
    let (eph, eph_pub) = if n == 32 {
        let e = p256::SecretKey::random(&mut rng);
        let p = e.public_key().to_encoded_point(false).as_bytes().to_vec();
        (Material::P256(e), p)
    } else {
        let e = p384::SecretKey::random(&mut rng);
        let p = e.public_key().to_encoded_point(false).as_bytes().to_vec();
        (Material::P384(e), p)
    };
    let (zx, zy) = multiply(&eph, &public).map_err(|_| ResponseCode::KEY.handle(1))?;
    write_point(&mut c.out, &zx, &zy);
    let (ex, ey) = eph_pub.get(1..).and_then(|p| p.split_at_checked(n)).ok_or(ResponseCode::FAILURE)?;
    write_point(&mut c.out, ex, ey);
    Ok(())
}

/// TPM2_ECDH_ZGen (Part 3 §14.5): d·inPoint with an unrestricted decryption key.
pub(crate) fn ecdh_zgen(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let (k, n) = ecc_key(tpm, c.handles[0])?;
    if k.public.has(attr::RESTRICTED) {
        return Err(ResponseCode::ATTRIBUTES.handle(1));
    }
    let point = read_point(&mut c.params, n).p(1)?;
    c.params.finish()?;
    let (x, y) = multiply(&k.material, &point).p(1)?;
    write_point(&mut c.out, &x, &y);
    Ok(())
}
