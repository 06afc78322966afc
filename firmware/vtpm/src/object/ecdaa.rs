//! ECDAA, the anonymous split signing scheme (TPM 2.0 Part 1 §C.2 and annex C.4; Part 3 §19.2
//! TPM2_Commit and §20.2 TPM2_Sign with TPM_ALG_ECDAA), on P-256 and P-384:
//! - commit: with a fresh r, K = [d]P2 and L = [r]P2 when P2 = (H_nameAlg(s2) mod p, y2) is given,
//!   and E = [r]P1, or E = [r]G when neither point is given (ms-tpm-20-ref CryptEccCommitCompute);
//! - sign: with the committed r and a random nonceK, s = r + T·d mod n where
//!   T = H(nonceK || digest) mod n; the signature is (nonceK, s) (ms-tpm-20-ref BnSignEcdaa).
//!
//! The caller owns the commit bookkeeping (`state::commit`); this file is the curve arithmetic.

use alloc::vec::Vec;

use p256::elliptic_curve::PrimeField;
use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use rsa::BigUint;

use crate::crypto::HashAlg;
use crate::crypto::seeded_rng::SeededRng;
use crate::object::key_material::{Material, left_pad};
use crate::wire::alg_id::AlgId;
use crate::wire::marshal::Writer;
use crate::wire::response_code::{ResponseCode, TpmResult};

/// The field prime p and group order n of each curve (SEC 2 v2 §2.4.2 and §2.5.1; FIPS 186-4 D.1.2).
const P256_P: &str = "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff";
const P256_N: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
const P384_P: &str =
    "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff";
const P384_N: &str =
    "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973";

fn big(hex: &str) -> BigUint {
    BigUint::parse_bytes(hex.as_bytes(), 16).unwrap_or_default()
}

/// A point as (x, y), each exactly the curve's coordinate size; empty for "no point".
pub type Point = (Vec<u8>, Vec<u8>);

/// The three points of TPM2_Commit (each may be empty).
pub struct Commitment {
    pub k: Point,
    pub l: Point,
    pub e: Point,
}

/// P2 = (H_nameAlg(s2) mod p, y2) as SEC1 bytes, or TPM_RC_ECC_POINT if it is not on the curve.
pub fn p2_point(m: &Material, name_alg: HashAlg, s2: &[u8], y2: &[u8]) -> TpmResult<Vec<u8>> {
    let (p, size) = match m {
        Material::P256(_) => (big(P256_P), 32),
        Material::P384(_) => (big(P384_P), 48),
        _ => return Err(ResponseCode::KEY),
    };
    let x = BigUint::from_bytes_be(name_alg.digest(&[s2]).as_slice()) % p;
    let x = left_pad(&x.to_bytes_be(), size).ok_or(ResponseCode::ECC_POINT)?;
    let y = left_pad(y2, size).ok_or(ResponseCode::ECC_POINT)?;
    let sec1 = [&[4u8][..], &x, &y].concat();
    let on_curve = match m {
        Material::P256(_) => p256::PublicKey::from_sec1_bytes(&sec1).is_ok(),
        _ => p384::PublicKey::from_sec1_bytes(&sec1).is_ok(),
    };
    if on_curve { Ok(sec1) } else { Err(ResponseCode::ECC_POINT) }
}

/// TPM2_Commit's arithmetic with the key `m`, r drawn from `r_stream`, and the optional SEC1
/// points P1 and P2 (both already checked to be on the curve).
pub fn commit(
    m: &Material,
    r_stream: &mut SeededRng,
    p1: Option<&[u8]>,
    p2: Option<&[u8]>,
) -> TpmResult<Commitment> {
    macro_rules! run {
        ($curve:ident, $key:expr) => {{
            let r = $curve::NonZeroScalar::random(r_stream);
            let d = $key.to_nonzero_scalar();
            let point = |sec1: &[u8]| -> TpmResult<$curve::ProjectivePoint> {
                let ep = $curve::EncodedPoint::from_bytes(sec1).map_err(|_| ResponseCode::ECC_POINT)?;
                let a: Option<$curve::AffinePoint> = $curve::AffinePoint::from_encoded_point(&ep).into();
                Ok(a.ok_or(ResponseCode::ECC_POINT)?.into())
            };
            let out = |q: $curve::ProjectivePoint| -> TpmResult<Point> {
                let e = q.to_affine().to_encoded_point(false);
                // The point at infinity has no coordinates: TPM_RC_NO_RESULT as the reference gives.
                Ok((
                    e.x().ok_or(ResponseCode::NO_RESULT)?.to_vec(),
                    e.y().ok_or(ResponseCode::NO_RESULT)?.to_vec(),
                ))
            };
            let mut c = Commitment { k: Point::default(), l: Point::default(), e: Point::default() };
            if let Some(b) = p2 {
                let b = point(b)?;
                c.k = out(b * *d)?;
                c.l = out(b * *r)?;
            }
            match p1 {
                Some(m) => c.e = out(point(m)? * *r)?,
                None if p2.is_none() => c.e = out($curve::ProjectivePoint::GENERATOR * *r)?,
                None => {}
            }
            c
        }};
    }
    Ok(match m {
        Material::P256(k) => run!(p256, k),
        Material::P384(k) => run!(p384, k),
        _ => return Err(ResponseCode::KEY),
    })
}

/// The ECDAA signature of `digest` with the key `m`: r from the commitment's `r_stream`, nonceK from
/// `rng`; writes the TPMT_SIGNATURE (sigAlg, hash, TPMS_SIGNATURE_ECC with R = nonceK, S = s).
pub fn sign(
    m: &Material,
    r_stream: &mut SeededRng,
    rng: &mut SeededRng,
    hash: HashAlg,
    digest: &[u8],
    w: &mut Writer,
) -> TpmResult<()> {
    macro_rules! run {
        ($curve:ident, $key:expr, $n:expr) => {{
            let r = $curve::NonZeroScalar::random(r_stream);
            let d = $key.to_nonzero_scalar();
            let nonce_k = $curve::NonZeroScalar::random(rng);
            // nonceK as the reference marshals it: the minimal big-endian bytes.
            let nk = nonce_k.to_repr();
            let nk = &nk[nk.iter().position(|&b| b != 0).unwrap_or(nk.len())..];
            let t = BigUint::from_bytes_be(hash.digest(&[nk, digest]).as_slice()) % big($n);
            let size = nonce_k.to_repr().len();
            let t = left_pad(&t.to_bytes_be(), size).ok_or(ResponseCode::FAILURE)?;
            let mut bytes = $curve::FieldBytes::default();
            bytes.copy_from_slice(&t);
            let t: Option<$curve::Scalar> = $curve::Scalar::from_repr(bytes).into();
            let s = *r + t.ok_or(ResponseCode::FAILURE)? * *d;
            w.alg(AlgId::ECDAA);
            w.alg(hash.id());
            w.tpm2b(nk);
            w.tpm2b(&s.to_repr());
        }};
    }
    match m {
        Material::P256(k) => run!(p256, k, P256_N),
        Material::P384(k) => run!(p384, k, P384_N),
        _ => return Err(ResponseCode::KEY),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{P256_N, P256_P, P384_N, P384_P, big};
    use p256::elliptic_curve::PrimeField;
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    use rsa::BigUint;

    fn repr(v: &BigUint, size: usize) -> alloc::vec::Vec<u8> {
        let b = v.to_bytes_be();
        [alloc::vec![0u8; size - b.len()], b].concat()
    }

    /// y² - x³ + 3x mod p, which is the curve's b for every point on it.
    fn b_of(x: &[u8], y: &[u8], p: &BigUint) -> BigUint {
        let (x, y) = (BigUint::from_bytes_be(x), BigUint::from_bytes_be(y));
        let three = BigUint::from(3u32);
        (&y * &y + &three * &x * p + p * p * p - (&x * &x * &x) % p + &three * &x) % p
    }

    /// The hard-coded orders are the crates' own (n is no scalar, n - 1 is one), and with the
    /// hard-coded primes G and 2G satisfy the same curve equation.
    #[test]
    fn curve_constants_match_the_curve_crates() {
        let one = BigUint::from(1u32);
        let mut bytes = p256::FieldBytes::default();
        let mut s256 = |v: &BigUint| {
            bytes.copy_from_slice(&repr(v, 32));
            bool::from(p256::Scalar::from_repr(bytes).is_some())
        };
        let n = big(P256_N);
        assert!(!s256(&n) && s256(&(&n - &one)));
        let mut bytes = p384::FieldBytes::default();
        let mut s384 = |v: &BigUint| {
            bytes.copy_from_slice(&repr(v, 48));
            bool::from(p384::Scalar::from_repr(bytes).is_some())
        };
        let n = big(P384_N);
        assert!(!s384(&n) && s384(&(&n - &one)));
        let g = p256::ProjectivePoint::GENERATOR;
        let (a, b) = (g.to_affine().to_encoded_point(false), (g + g).to_affine().to_encoded_point(false));
        let p = big(P256_P);
        assert_eq!(b_of(a.x().unwrap(), a.y().unwrap(), &p), b_of(b.x().unwrap(), b.y().unwrap(), &p));
        let g = p384::ProjectivePoint::GENERATOR;
        let (a, b) = (g.to_affine().to_encoded_point(false), (g + g).to_affine().to_encoded_point(false));
        let p = big(P384_P);
        assert_eq!(b_of(a.x().unwrap(), a.y().unwrap(), &p), b_of(b.x().unwrap(), b.y().unwrap(), &p));
    }
}
