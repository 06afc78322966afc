//! Salted sessions: recovering the salt a caller encrypted to a loaded key (Part 1 §11.4.10.3 and
//! Annex B/C "secret sharing"). An ECC key shares it by one-pass ECDH: salt = KDFe(nameAlg,
//! x(d·Q_eph), "SECRET", x(Q_eph), x(Q_key), digest bits); an RSA key by OAEP with label "SECRET".
//! The Linux kernel salts its sessions with a P-256 NULL-hierarchy primary (tpm.md §2.3).

use alloc::vec::Vec;

use p256::elliptic_curve::sec1::ToEncodedPoint;

use crate::Tpm;
use crate::crypto::seeded_rng::SeededRng;
use crate::crypto::{HashAlg, SecretBytes};
use crate::object::curve;
use crate::object::key_material::{Material, left_pad};
use crate::object::{MAX_ECC_BYTES, Public, attr};
use crate::state::key_store::KeyObject;
use crate::wire::alg_id::AlgId;
use crate::wire::handle::Handle;
use crate::wire::marshal::{Reader, Writer};
use crate::wire::response_code::{ResponseCode, TpmResult};

/// KDFe (Part 1 §11.4.10.3, SP 800-56A concatenation KDF): `bits` from the shared x coordinate.
pub fn kdfe(alg: HashAlg, z: &[u8], label: &[u8], u: &[u8], v: &[u8], bits: u32) -> SecretBytes {
    let bytes = bits.div_ceil(8) as usize;
    // Sized once, so the secret never moves to a larger block and leaves a copy behind.
    let mut out = SecretBytes::new(Vec::with_capacity(bytes + alg.size()));
    let mut counter: u32 = 1;
    while out.len() < bytes {
        out.extend_from_slice(alg.digest(&[&counter.to_be_bytes(), z, label, &[0], u, v]).as_slice());
        counter = counter.wrapping_add(1);
    }
    out.truncate(bytes);
    out
}

/// OAEP with the label and its terminating zero.
fn oaep(alg: HashAlg, label: &str) -> rsa::Oaep {
    let label = alloc::format!("{label}\0");
    match alg {
        HashAlg::Sha1 => rsa::Oaep::new_with_label::<sha1::Sha1, _>(label),
        HashAlg::Sha256 => rsa::Oaep::new_with_label::<sha2::Sha256, _>(label),
        HashAlg::Sha384 => rsa::Oaep::new_with_label::<sha2::Sha384, _>(label),
    }
}

/// Shares a fresh secret with the public key `p` under `label` (the sender's side of
/// `decrypt_secret`, for MakeCredential): (secret, what to send).
pub(crate) fn encrypt_secret(
    p: &Public,
    label: &str,
    rng: &mut SeededRng,
) -> TpmResult<(SecretBytes, Vec<u8>)> {
    let alg = p.name_alg;
    let bits = alg.size() as u32 * 8;
    match p.kind {
        AlgId::ECC => {
            let eph = match p.curve {
                curve::NIST_P256 => Material::P256(p256::SecretKey::random(rng)),
                _ => Material::P384(p384::SecretKey::random(rng)),
            };
            let (ex, ey) = match &eph {
                Material::P256(e) => {
                    let pt = e.public_key().to_encoded_point(false);
                    pt.x().zip(pt.y()).map(|(x, y)| (x.to_vec(), y.to_vec()))
                }
                Material::P384(e) => {
                    let pt = e.public_key().to_encoded_point(false);
                    pt.x().zip(pt.y()).map(|(x, y)| (x.to_vec(), y.to_vec()))
                }
                _ => None,
            }
            .ok_or(ResponseCode::FAILURE)?;
            // `ecdh_x` checks the key's point (coordinates left-padded to the curve's size).
            let z = ecdh_x(&eph, &p.unique, &p.unique_y)?;
            let mut w = Writer::new();
            w.tpm2b(&ex);
            w.tpm2b(&ey);
            Ok((kdfe(alg, &z, label.as_bytes(), &ex, &p.unique, bits), w.buf))
        }
        AlgId::RSA => {
            let mut seed = SecretBytes::new(alloc::vec![0u8; alg.size()]);
            rand_core::RngCore::fill_bytes(rng, &mut seed);
            let key =
                rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(&p.unique), rsa::BigUint::from(65537u32))
                    .map_err(|_| ResponseCode::KEY)?;
            let enc = key.encrypt(rng, oaep(alg, label), &seed).map_err(|_| ResponseCode::KEY)?;
            Ok((seed, enc))
        }
        _ => Err(ResponseCode::TYPE),
    }
}

/// The shared x coordinate d·Q for the caller's point (x, y); TPM_RC_ECC_POINT if not on the curve.
fn ecdh_x(m: &Material, x: &[u8], y: &[u8]) -> TpmResult<SecretBytes> {
    let mut sec1 = alloc::vec![4u8];
    let n = match m {
        Material::P256(_) => 32,
        Material::P384(_) => 48,
        _ => return Err(ResponseCode::KEY),
    };
    let (Some(x), Some(y)) = (left_pad(x, n), left_pad(y, n)) else {
        return Err(ResponseCode::ECC_POINT);
    };
    sec1.extend_from_slice(&x);
    sec1.extend_from_slice(&y);
    match m {
        Material::P256(k) => {
            let q = p256::PublicKey::from_sec1_bytes(&sec1).map_err(|_| ResponseCode::ECC_POINT)?;
            let z = p256::ecdh::diffie_hellman(k.to_nonzero_scalar(), q.as_affine());
            Ok(SecretBytes::new(z.raw_secret_bytes().to_vec()))
        }
        Material::P384(k) => {
            let q = p384::PublicKey::from_sec1_bytes(&sec1).map_err(|_| ResponseCode::ECC_POINT)?;
            let z = p384::ecdh::diffie_hellman(k.to_nonzero_scalar(), q.as_affine());
            Ok(SecretBytes::new(z.raw_secret_bytes().to_vec()))
        }
        _ => Err(ResponseCode::KEY),
    }
}

/// Recovers a secret shared with key `k` under `label` ("SECRET" for salts, "IDENTITY" for
/// credentials, "DUPLICATE" for Import; Part 1 Annex B.10 and C.6). An RSA key decrypts with
/// blinding drawn from `blinding` (a DRBG stream): the ciphertext is the caller's, and an unblinded
/// private-key operation on chosen ciphertext leaks timing (RUSTSEC-2023-0071, threat model T5).
/// This is the one place the engine decrypts a shared secret; `RSA_Decrypt` blinds the same way.
pub(crate) fn decrypt_secret(
    k: &KeyObject,
    secret: &[u8],
    label: &str,
    blinding: &mut SeededRng,
) -> TpmResult<SecretBytes> {
    let alg = k.public.name_alg;
    let bits = alg.size() as u32 * 8;
    match &k.material {
        Material::P256(_) | Material::P384(_) => {
            let mut r = Reader::new(secret);
            let x = r.tpm2b(MAX_ECC_BYTES)?;
            let y = r.tpm2b(MAX_ECC_BYTES)?;
            r.finish()?;
            let z = ecdh_x(&k.material, x, y)?;
            let own_x = match &k.material {
                Material::P256(s) => s.public_key().to_encoded_point(false).x().map(|v| v.to_vec()),
                Material::P384(s) => s.public_key().to_encoded_point(false).x().map(|v| v.to_vec()),
                _ => None,
            }
            .ok_or(ResponseCode::FAILURE)?;
            Ok(kdfe(alg, &z, label.as_bytes(), x, &own_x, bits))
        }
        Material::Rsa(key) => key
            .decrypt_blinded(blinding, oaep(alg, label), secret)
            .map(SecretBytes::new)
            .map_err(|_| ResponseCode::VALUE),
        Material::Symmetric | Material::PublicOnly => Err(ResponseCode::KEY),
    }
}

/// The salt of a StartAuthSession: empty without a tpmKey; otherwise the decrypted secret.
/// Errors: TPM_RC_VALUE (parameter 2) for a salt without a key or one that does not decrypt,
/// TPM_RC_KEY (handle 1) for a key that cannot decrypt, TPM_RC_ECC_POINT for a bad point.
pub(crate) fn session_salt(tpm: &mut Tpm, tpm_key: Handle, encrypted: &[u8]) -> TpmResult<SecretBytes> {
    if tpm_key == Handle::RH_NULL {
        return if encrypted.is_empty() {
            Ok(SecretBytes::default())
        } else {
            Err(ResponseCode::VALUE.param(2))
        };
    }
    let mut blinding = crate::object::signing::fresh_rng(tpm)?;
    let k = tpm.key(tpm_key).ok_or(ResponseCode::KEY.handle(1))?;
    if !k.public.has(attr::DECRYPT) || matches!(k.material, Material::Symmetric | Material::PublicOnly) {
        return Err(ResponseCode::KEY.handle(1));
    }
    if encrypted.is_empty() {
        return Err(ResponseCode::VALUE.param(2));
    }
    decrypt_secret(k, encrypted, "SECRET", &mut blinding)
        .map_err(|e| if e == ResponseCode::KEY { ResponseCode::KEY.handle(1) } else { e.param(2) })
}

#[cfg(test)]
mod tests {
    use super::ecdh_x;
    use crate::object::key_material::Material;
    use p256::elliptic_curve::sec1::ToEncodedPoint;

    /// A coordinate whose top byte is zero may arrive one byte short (tpm2-tss sends it so): the shared
    /// secret must be the same as for the full-length coordinate.
    #[test]
    fn a_short_coordinate_is_the_same_point() {
        let ours = Material::P256(p256::SecretKey::from_slice(&[7u8; 32]).unwrap());
        let (x, y) = (1u8..=255)
            .flat_map(|a| (1u8..=255).map(move |b| [a, b]))
            .find_map(|seed| {
                let mut scalar = [1u8; 32];
                scalar[..2].copy_from_slice(&seed);
                let point = p256::SecretKey::from_slice(&scalar).ok()?.public_key().to_encoded_point(false);
                let (x, y) = (point.x()?.to_vec(), point.y()?.to_vec());
                (x[0] == 0).then_some((x, y))
            })
            .expect("some point has a zero top byte");
        let full = ecdh_x(&ours, &x, &y).unwrap();
        assert_eq!(*ecdh_x(&ours, &x[1..], &y).unwrap(), *full);
        assert!(ecdh_x(&ours, &[x.as_slice(), &[0]].concat(), &y).is_err(), "a coordinate too long");
    }
}
