//! Helpers the key tests share: templates, CreatePrimary/Create/Load/Sign wrappers, Names, and
//! signature checks with RustCrypto outside the engine.
#![allow(dead_code)] // each test file uses a different subset of these helpers

use p256::ecdsa::signature::hazmat::PrehashVerifier;
use sha2::{Digest, Sha256};
use warden_vtpm::CommandCode;
use warden_vtpm::{AlgId, Tpm};

use crate::common::{self, B, R, RH_NULL, pw, run};

pub const NULL: u16 = AlgId::NULL.0;
pub const ECC: u16 = AlgId::ECC.0;
pub const RSA: u16 = AlgId::RSA.0;
pub const ECDSA: u16 = AlgId::ECDSA.0;
pub const RSASSA: u16 = AlgId::RSASSA.0;
pub const RSAPSS: u16 = AlgId::RSAPSS.0;

/// ECC signing key template: fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|sign.
pub fn ecc_signer(curve: u16) -> Vec<u8> {
    B::new()
        .u16(ECC)
        .u16(0x000B)
        .u32(0x0004_0072)
        .tpm2b(&[])
        .u16(NULL)
        .u16(ECDSA)
        .u16(0x000B)
        .u16(curve)
        .u16(NULL)
        .tpm2b(&[])
        .tpm2b(&[])
        .0
}

/// The kernel's storage template (tpm.md §2.3).
pub fn ecc_storage() -> Vec<u8> {
    B::new()
        .u16(ECC)
        .u16(0x000B)
        .u32(0x0003_0472)
        .tpm2b(&[])
        .u16(0x0006)
        .u16(128)
        .u16(0x0043)
        .u16(NULL)
        .u16(0x0003)
        .u16(NULL)
        .tpm2b(&[])
        .tpm2b(&[])
        .0
}

pub fn rsa_signer(scheme: u16, bits: u16) -> Vec<u8> {
    B::new()
        .u16(RSA)
        .u16(0x000B)
        .u32(0x0004_0072)
        .tpm2b(&[])
        .u16(NULL)
        .u16(scheme)
        .u16(0x000B)
        .u16(bits)
        .u32(0)
        .tpm2b(&[])
        .0
}

/// Sealed data: fixedTPM|fixedParent|userWithAuth|noDA, optional policy.
pub fn sealed(policy: &[u8], attrs: u32) -> Vec<u8> {
    B::new().u16(0x0008).u16(0x000B).u32(attrs).tpm2b(policy).u16(NULL).tpm2b(&[]).0
}

pub fn create_params(auth: &[u8], data: &[u8], template: &[u8]) -> Vec<u8> {
    let sens = B::new().tpm2b(auth).tpm2b(data).0;
    B::new().tpm2b(&sens).tpm2b(template).tpm2b(&[]).u32(0).0
}

/// CreatePrimary; returns (handle, outPublic, name) or the rc.
pub fn primary(t: &mut Tpm, h: u32, template: &[u8]) -> Result<(u32, Vec<u8>, Vec<u8>), u32> {
    let r = run(t, CommandCode::CREATE_PRIMARY, &[h], Some(&pw(b"")), &create_params(b"", b"", template));
    if r.rc != 0 {
        return Err(r.rc);
    }
    let mut rd = r.reader();
    let handle = rd.u32();
    rd.u32();
    let public = rd.tpm2b().to_vec();
    let creation = rd.tpm2b().to_vec();
    let creation_hash = rd.tpm2b().to_vec();
    assert_eq!(creation_hash, Sha256::digest(&creation).to_vec());
    assert_eq!(rd.u16(), 0x8021);
    assert_eq!(rd.u32(), h);
    assert_eq!(rd.tpm2b().len(), 32);
    let name = rd.tpm2b().to_vec();
    Ok((handle, public, name))
}

pub fn name_of(public: &[u8]) -> Vec<u8> {
    let mut n = vec![0x00, 0x0B];
    n.extend_from_slice(&Sha256::digest(public));
    n
}

/// The ECC point (x, y) at the end of a public area.
pub fn ecc_point(public: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let ylen = u16::from_be_bytes([public[public.len() - 34], public[public.len() - 33]]) as usize;
    assert_eq!(ylen, 32);
    let y = public[public.len() - 32..].to_vec();
    let x = public[public.len() - 66..public.len() - 34].to_vec();
    (x, y)
}

pub fn sign(t: &mut Tpm, h: u32, digest: &[u8], scheme: (u16, u16)) -> common::Resp {
    let mut p = B::new().tpm2b(digest).u16(scheme.0);
    if scheme.0 != NULL {
        p = p.u16(scheme.1);
    }
    let p = p.u16(0x8024).u32(RH_NULL).tpm2b(&[]).0;
    run(t, CommandCode::SIGN, &[h], Some(&pw(b"")), &p)
}

pub fn p256_verify(public: &[u8], digest: &[u8], r: &[u8], s: &[u8]) -> bool {
    let (x, y) = ecc_point(public);
    let mut sec1 = vec![4u8];
    sec1.extend_from_slice(&x);
    sec1.extend_from_slice(&y);
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).unwrap();
    let sig = p256::ecdsa::Signature::from_slice(&[r, s].concat()).unwrap();
    key.verify_prehash(digest, &sig).is_ok()
}

/// Create under `parent`, returning (private, public).
pub fn create(t: &mut Tpm, parent: u32, auth: &[u8], data: &[u8], template: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let r = run(t, CommandCode::CREATE, &[parent], Some(&pw(b"")), &create_params(auth, data, template));
    let p = common::params_of(r.ok(), false);
    let mut rd = R(&p);
    (rd.tpm2b().to_vec(), rd.tpm2b().to_vec())
}

pub fn load(t: &mut Tpm, parent: u32, private: &[u8], public: &[u8]) -> Result<u32, u32> {
    let r = run(t, CommandCode::LOAD, &[parent], Some(&pw(b"")), &B::new().tpm2b(private).tpm2b(public).0);
    if r.rc != 0 {
        return Err(r.rc);
    }
    let mut rd = r.reader();
    let h = rd.u32();
    rd.u32();
    assert_eq!(rd.tpm2b(), name_of(public));
    Ok(h)
}

pub fn hmac256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    common::hmac_sha256(key, parts)
}

pub fn sign_pw(t: &mut Tpm, h: u32, password: &[u8]) -> u32 {
    let p = B::new().tpm2b(&[5; 32]).u16(NULL).u16(0x8024).u32(RH_NULL).tpm2b(&[]).0;
    run(t, CommandCode::SIGN, &[h], Some(&pw(password)), &p).rc
}
