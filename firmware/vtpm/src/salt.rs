//! Salted sessions: recovering the salt a caller encrypted to a loaded key (Part 1 §11.4.10.3 and
//! Annex B/C "secret sharing"). An ECC key shares it by one-pass ECDH: salt = KDFe(nameAlg,
//! x(d·Q_eph), "SECRET", x(Q_eph), x(Q_key), digest bits); an RSA key by OAEP with label "SECRET".
//! The Linux kernel salts its sessions with a P-256 NULL-hierarchy primary (tpm.md §2.3).

use alloc::vec::Vec;

use p256::elliptic_curve::sec1::ToEncodedPoint;

use crate::Tpm;
use crate::consts::handle;
use crate::crypto::HashAlg;
use crate::key_store::KeyObject;
use crate::keys::Material;
use crate::marshal::Reader;
use crate::object::{MAX_ECC_BYTES, attr, rcx};
use crate::rc::{Rc, TpmResult};

/// KDFe (Part 1 §11.4.10.3, SP 800-56A concatenation KDF): `bits` from the shared x coordinate.
pub fn kdfe(alg: HashAlg, z: &[u8], label: &[u8], u: &[u8], v: &[u8], bits: u32) -> Vec<u8> {
    let bytes = bits.div_ceil(8) as usize;
    let mut out = Vec::with_capacity(bytes + alg.size());
    let mut counter: u32 = 1;
    while out.len() < bytes {
        out.extend_from_slice(alg.digest(&[&counter.to_be_bytes(), z, label, &[0], u, v]).as_slice());
        counter = counter.wrapping_add(1);
    }
    out.truncate(bytes);
    out
}

/// The shared x coordinate d·Q for the caller's point (x, y); TPM_RC_ECC_POINT if not on the curve.
fn ecdh_x(m: &Material, x: &[u8], y: &[u8]) -> TpmResult<Vec<u8>> {
    let mut sec1 = alloc::vec![4u8];
    let n = match m {
        Material::P256(_) => 32,
        Material::P384(_) => 48,
        _ => return Err(Rc::KEY),
    };
    if x.len() != n || y.len() != n {
        return Err(rcx::ECC_POINT);
    }
    sec1.extend_from_slice(x);
    sec1.extend_from_slice(y);
    match m {
        Material::P256(k) => {
            let q = p256::PublicKey::from_sec1_bytes(&sec1).map_err(|_| rcx::ECC_POINT)?;
            let z = p256::ecdh::diffie_hellman(k.to_nonzero_scalar(), q.as_affine());
            Ok(z.raw_secret_bytes().to_vec())
        }
        Material::P384(k) => {
            let q = p384::PublicKey::from_sec1_bytes(&sec1).map_err(|_| rcx::ECC_POINT)?;
            let z = p384::ecdh::diffie_hellman(k.to_nonzero_scalar(), q.as_affine());
            Ok(z.raw_secret_bytes().to_vec())
        }
        _ => Err(Rc::KEY),
    }
}

fn decrypt_with(k: &KeyObject, secret: &[u8]) -> TpmResult<Vec<u8>> {
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
            .ok_or(Rc::FAILURE)?;
            Ok(kdfe(alg, &z, b"SECRET", x, &own_x, bits))
        }
        Material::Rsa(key) => {
            let padding = match alg {
                HashAlg::Sha256 => rsa::Oaep::new_with_label::<sha2::Sha256, _>("SECRET\0"),
                HashAlg::Sha384 => rsa::Oaep::new_with_label::<sha2::Sha384, _>("SECRET\0"),
            };
            key.decrypt(padding, secret).map_err(|_| Rc::VALUE)
        }
        Material::Symmetric | Material::PublicOnly => Err(Rc::KEY),
    }
}

/// The salt of a StartAuthSession: empty without a tpmKey; otherwise the decrypted secret.
/// Errors: TPM_RC_VALUE (parameter 2) for a salt without a key or one that does not decrypt,
/// TPM_RC_KEY (handle 1) for a key that cannot decrypt, TPM_RC_ECC_POINT for a bad point.
pub(crate) fn session_salt(tpm: &Tpm, tpm_key: u32, encrypted: &[u8]) -> TpmResult<Vec<u8>> {
    if tpm_key == handle::RH_NULL {
        return if encrypted.is_empty() { Ok(Vec::new()) } else { Err(Rc::VALUE.param(2)) };
    }
    let k = tpm.keys.get(tpm_key).ok_or(Rc::KEY.handle(1))?;
    if !k.public.has(attr::DECRYPT) || matches!(k.material, Material::Symmetric | Material::PublicOnly) {
        return Err(Rc::KEY.handle(1));
    }
    if encrypted.is_empty() {
        return Err(Rc::VALUE.param(2));
    }
    decrypt_with(k, encrypted).map_err(|e| if e == Rc::KEY { Rc::KEY.handle(1) } else { e.param(2) })
}
