//! The NV commands that need a policy or a signing key (Part 3 §31.5, §31.15, §31.16):
//! NV_UndefineSpaceSpecial, NV_ChangeAuth (the index in the ADMIN role: a policy session only) and
//! NV_Certify (checked against the index contents and verified with RustCrypto outside the engine).

use crate::common::{
    B, R, RH_NULL, RH_OWNER, RH_PLATFORM, SHA256, params_of, pw, rc_h, rc_p, rc_s, run, started,
};
use crate::key_helpers::{ECDSA, NULL, ecc_signer, p256_verify, primary};
use sha2::{Digest, Sha256};
use warden_vtpm::{CommandCode, ResponseCode, Tpm};

const IDX: u32 = 0x0150_0020;
const AUTHWRITE: u32 = 1 << 2;
const AUTHREAD: u32 = 1 << 18;
const PPWRITE: u32 = 1;
const PPREAD: u32 = 1 << 16;
const POLICY_DELETE: u32 = 1 << 10;
const PLATFORMCREATE: u32 = 1 << 30;
const NO_DA: u32 = 1 << 25;

/// H(0...0 || TPM_CC_PolicyCommandCode || code): the digest of a PolicyCommandCode(code) policy.
fn command_code_policy(code: CommandCode) -> Vec<u8> {
    Sha256::new()
        .chain_update([0u8; 32])
        .chain_update(CommandCode::POLICY_COMMAND_CODE.to_be_bytes())
        .chain_update(code.to_be_bytes())
        .finalize()
        .to_vec()
}

fn define(t: &mut Tpm, by: u32, attrs: u32, policy: &[u8], auth: &[u8], size: u16) -> u32 {
    let public = B::new().u32(IDX).u16(SHA256).u32(attrs).tpm2b(policy).u16(size).0;
    let p = B::new().tpm2b(auth).tpm2b(&public).0;
    run(t, CommandCode::NV_DEFINE_SPACE, &[by], Some(&pw(b"")), &p).rc
}

/// A policy session that has run PolicyCommandCode(code).
fn policy_for(t: &mut Tpm, code: CommandCode) -> u32 {
    let p = B::new().tpm2b(&[9; 32]).tpm2b(b"").u8(1).u16(0x10).u16(SHA256).0;
    let s = run(t, CommandCode::START_AUTH_SESSION, &[RH_NULL, RH_NULL], None, &p).ok().reader().u32();
    run(t, CommandCode::POLICY_COMMAND_CODE, &[s], None, &code.to_be_bytes()).ok();
    s
}

/// The authorization of policy session `s` (unbound, unsalted: an empty HMAC).
fn policy_auth(s: u32) -> Vec<u8> {
    B::new().u32(s).tpm2b(&[3; 32]).u8(1).tpm2b(b"").0
}

fn write(t: &mut Tpm, password: &[u8], data: &[u8]) -> u32 {
    let p = B::new().tpm2b(data).u16(0).0;
    run(t, CommandCode::NV_WRITE, &[IDX, IDX], Some(&pw(password)), &p).rc
}

#[test]
fn change_auth_takes_a_policy_session_and_replaces_the_auth_value() {
    let mut t = started();
    let policy = command_code_policy(CommandCode::NV_CHANGE_AUTH);
    assert_eq!(define(&mut t, RH_OWNER, AUTHREAD | AUTHWRITE | NO_DA, &policy, b"old", 8), 0);
    // The ADMIN role: the index's authValue cannot authorize NV_ChangeAuth, even though AUTHWRITE
    // lets it authorize writes.
    let r = run(&mut t, CommandCode::NV_CHANGE_AUTH, &[IDX], Some(&pw(b"old")), &B::new().tpm2b(b"new").0);
    assert_eq!(r.rc, ResponseCode::AUTH_UNAVAILABLE.0);
    // The policy is used although the index has neither POLICYREAD nor POLICYWRITE.
    let s = policy_for(&mut t, CommandCode::NV_CHANGE_AUTH);
    run(&mut t, CommandCode::NV_CHANGE_AUTH, &[IDX], Some(&policy_auth(s)), &B::new().tpm2b(b"new").0).ok();
    assert_eq!(write(&mut t, b"old", b"12345678"), rc_s(ResponseCode::BAD_AUTH, 1));
    assert_eq!(write(&mut t, b"new", b"12345678"), 0);
    // A policy for another command does not do.
    let s = policy_for(&mut t, CommandCode::NV_WRITE);
    let r = run(&mut t, CommandCode::NV_CHANGE_AUTH, &[IDX], Some(&policy_auth(s)), &B::new().tpm2b(b"x").0);
    assert_eq!(r.rc, rc_s(ResponseCode::POLICY_FAIL, 1));
    // An authValue longer than the index's nameAlg digest.
    let s = policy_for(&mut t, CommandCode::NV_CHANGE_AUTH);
    let r =
        run(&mut t, CommandCode::NV_CHANGE_AUTH, &[IDX], Some(&policy_auth(s)), &B::new().tpm2b(&[1; 33]).0);
    assert_eq!(r.rc, rc_p(ResponseCode::SIZE, 1));
}

#[test]
fn undefine_space_special_needs_policy_delete_the_policy_and_the_platform() {
    let mut t = started();
    let policy = command_code_policy(CommandCode::NV_UNDEFINE_SPACE_SPECIAL);
    let attrs = PPREAD | PPWRITE | PLATFORMCREATE | POLICY_DELETE;
    assert_eq!(define(&mut t, RH_PLATFORM, attrs, &policy, b"", 8), 0);
    // NV_UndefineSpace refuses a POLICY_DELETE index.
    let r = run(&mut t, CommandCode::NV_UNDEFINE_SPACE, &[RH_PLATFORM, IDX], Some(&pw(b"")), &[]);
    assert_eq!(r.rc, rc_h(ResponseCode::ATTRIBUTES, 2));
    // Handle 2 must be the platform.
    let s = policy_for(&mut t, CommandCode::NV_UNDEFINE_SPACE_SPECIAL);
    let two = [policy_auth(s), pw(b"")].concat();
    let r = run(&mut t, CommandCode::NV_UNDEFINE_SPACE_SPECIAL, &[IDX, RH_OWNER], Some(&two), &[]);
    assert_eq!(r.rc, rc_h(ResponseCode::VALUE, 2));
    // A password for the index is refused (ADMIN role).
    let both_pw = [pw(b""), pw(b"")].concat();
    let r = run(&mut t, CommandCode::NV_UNDEFINE_SPACE_SPECIAL, &[IDX, RH_PLATFORM], Some(&both_pw), &[]);
    assert_eq!(r.rc, ResponseCode::AUTH_UNAVAILABLE.0);
    run(&mut t, CommandCode::NV_UNDEFINE_SPACE_SPECIAL, &[IDX, RH_PLATFORM], Some(&two), &[]).ok();
    let r = run(&mut t, CommandCode::NV_READ_PUBLIC, &[IDX], None, &[]);
    assert_eq!(r.rc, rc_h(ResponseCode::HANDLE, 1));

    // Without POLICY_DELETE the command does not apply.
    assert_eq!(define(&mut t, RH_PLATFORM, PPREAD | PPWRITE | PLATFORMCREATE, &policy, b"", 8), 0);
    let s = policy_for(&mut t, CommandCode::NV_UNDEFINE_SPACE_SPECIAL);
    let two = [policy_auth(s), pw(b"")].concat();
    let r = run(&mut t, CommandCode::NV_UNDEFINE_SPACE_SPECIAL, &[IDX, RH_PLATFORM], Some(&two), &[]);
    assert_eq!(r.rc, rc_h(ResponseCode::ATTRIBUTES, 1));
}

/// NV_Certify of `size` bytes at `offset`, signed by `key` (or TPM_RH_NULL): (attest, signature).
fn certify(t: &mut Tpm, key: u32, size: u16, offset: u16) -> Result<(Vec<u8>, Vec<u8>), u32> {
    let p = B::new().tpm2b(b"qualifying").u16(NULL).u16(size).u16(offset).0;
    let r = run(t, CommandCode::NV_CERTIFY, &[key, IDX, IDX], Some(&[pw(b""), pw(b"")].concat()), &p);
    if r.rc != 0 {
        return Err(r.rc);
    }
    let out = params_of(&r, false);
    let mut rd = R(&out);
    let attest = rd.tpm2b().to_vec();
    Ok((attest, rd.0.to_vec()))
}

/// The fields of a TPMS_ATTEST after its header, checking the header's magic, type and extraData.
fn attested(attest: &[u8], kind: u16) -> Vec<u8> {
    let mut rd = R(attest);
    assert_eq!(rd.u32(), 0xFF54_4347, "TPM_GENERATED_VALUE");
    assert_eq!(rd.u16(), kind);
    rd.tpm2b();
    assert_eq!(rd.tpm2b(), b"qualifying");
    rd.bytes(17 + 8);
    rd.0.to_vec()
}

#[test]
fn nv_certify_attests_a_range_or_a_digest_of_the_index() {
    let mut t = started();
    let (key, public, _) = primary(&mut t, RH_OWNER, &ecc_signer(0x0003)).unwrap();
    assert_eq!(define(&mut t, RH_OWNER, AUTHREAD | AUTHWRITE | NO_DA, &[], b"", 16), 0);
    let data: Vec<u8> = (0x40..0x50).collect();
    assert_eq!(write(&mut t, b"", &data), 0);
    let name = {
        let r = run(&mut t, CommandCode::NV_READ_PUBLIC, &[IDX], None, &[]).ok().clone();
        let mut rd = r.reader();
        rd.tpm2b();
        rd.tpm2b().to_vec()
    };

    // A range: TPMS_NV_CERTIFY_INFO (TPM_ST_ATTEST_NV), signed with ECDSA-SHA256 over the attest.
    let (attest, sig) = certify(&mut t, key, 8, 4).unwrap();
    let rest = attested(&attest, 0x8014);
    let mut rd = R(&rest);
    assert_eq!(rd.tpm2b(), name.as_slice());
    assert_eq!(rd.u16(), 4);
    assert_eq!(rd.tpm2b(), &data[4..12]);
    rd.done();
    let mut rd = R(&sig);
    assert_eq!((rd.u16(), rd.u16()), (ECDSA, SHA256));
    let (r, s) = (rd.tpm2b().to_vec(), rd.tpm2b().to_vec());
    assert!(p256_verify(&public, &Sha256::digest(&attest), &r, &s));

    // Size and offset 0: TPMS_NV_DIGEST_CERTIFY_INFO over all the data, with the scheme's hash.
    let (attest, _) = certify(&mut t, key, 0, 0).unwrap();
    let rest = attested(&attest, 0x801C);
    let mut rd = R(&rest);
    assert_eq!(rd.tpm2b(), name.as_slice());
    assert_eq!(rd.tpm2b(), &Sha256::digest(&data)[..]);
    rd.done();

    // Unsigned, out of range, too large for a response.
    let (_, sig) = certify(&mut t, RH_NULL, 2, 0).unwrap();
    assert_eq!(sig, NULL.to_be_bytes());
    assert_eq!(certify(&mut t, key, 8, 10), Err(ResponseCode::NV_RANGE.0));
}
