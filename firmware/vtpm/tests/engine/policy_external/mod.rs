//! PolicyCpHash, PolicyNV, PolicyAuthorize, PolicyAuthorizeNV and PolicySigned: each policyDigest is
//! recomputed here from Part 3's formulas with `sha2`, trial and real sessions agree, and each
//! policy's own check (the cpHash, the NV comparison, the ticket, the index contents, the signature)
//! refuses what it must.
//!
//! The helpers all of them use live here; `binding` and `signed` hold the tests.

use crate::common::{B, RH_NULL, RH_OWNER, SHA256, params_of, pw, run};
use crate::key_helpers::{ECDSA, ecc_signer, primary, sign};
use sha2::{Digest, Sha256};
use warden_vtpm::CommandCode;
use warden_vtpm::Tpm;

mod binding;
mod signed;

const IDX: u32 = 0x0150_0020;

/// POLICYWRITE | POLICYREAD | OWNERWRITE | OWNERREAD | NO_DA.
const ATTRS: u32 = 1 << 3 | 1 << 19 | 1 << 1 | 1 << 17 | 1 << 25;

const WRITTEN: u32 = 1 << 29;

fn h(parts: &[&[u8]]) -> Vec<u8> {
    let mut d = Sha256::new();
    parts.iter().for_each(|p| d.update(p));
    d.finalize().to_vec()
}

/// Starts a policy (1) or trial (3) SHA-256 session; returns (handle, nonceTPM).
fn start(t: &mut Tpm, kind: u8) -> (u32, Vec<u8>) {
    let p = B::new().tpm2b(&[9; 32]).tpm2b(b"").u8(kind).u16(0x10).u16(SHA256).0;
    let r = run(t, CommandCode::START_AUTH_SESSION, &[RH_NULL, RH_NULL], None, &p).ok().clone();
    let mut rd = r.reader();
    (rd.u32(), rd.tpm2b().to_vec())
}

fn digest(t: &mut Tpm, s: u32) -> Vec<u8> {
    run(t, CommandCode::POLICY_GET_DIGEST, &[s], None, &[]).ok().reader().tpm2b().to_vec()
}

fn nv_public(policy: &[u8], size: u16, attrs: u32) -> Vec<u8> {
    B::new().u32(IDX).u16(SHA256).u32(attrs).tpm2b(policy).u16(size).0
}

/// The Name of IDX: nameAlg || SHA256(TPMS_NV_PUBLIC).
fn nv_name(policy: &[u8], size: u16, attrs: u32) -> Vec<u8> {
    [&SHA256.to_be_bytes()[..], &h(&[&nv_public(policy, size, attrs)])].concat()
}

fn define(t: &mut Tpm, policy: &[u8], size: u16) {
    let public = nv_public(policy, size, ATTRS);
    run(t, CommandCode::NV_DEFINE_SPACE, &[RH_OWNER], Some(&pw(b"")), &B::new().tpm2b(b"").tpm2b(&public).0)
        .ok();
}

fn owner_write(t: &mut Tpm, data: &[u8]) {
    run(t, CommandCode::NV_WRITE, &[RH_OWNER, IDX], Some(&pw(b"")), &B::new().tpm2b(data).u16(0).0).ok();
}

/// A policy session's authorization with an empty HMAC (unbound, unsalted, no PolicyAuthValue:
/// the HMAC key is empty).
fn policy_auth(s: u32) -> Vec<u8> {
    B::new().u32(s).tpm2b(&[3; 32]).u8(1).tpm2b(b"").0
}

/// An ECC P-256 signing key in the owner hierarchy: (handle, Name).
fn signer(t: &mut Tpm) -> (u32, Vec<u8>) {
    let (k, public, name) = primary(t, RH_OWNER, &ecc_signer(3)).unwrap();
    assert_eq!(name, [&SHA256.to_be_bytes()[..], &h(&[&public])].concat());
    (k, name)
}

/// TPM2_Sign of `digest` with the key; the TPMT_SIGNATURE bytes.
fn signature(t: &mut Tpm, k: u32, digest: &[u8]) -> Vec<u8> {
    params_of(sign(t, k, digest, (ECDSA, SHA256)).ok(), false)
}
