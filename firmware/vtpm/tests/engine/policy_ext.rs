//! PolicyCpHash, PolicyNV, PolicyAuthorize, PolicyAuthorizeNV and PolicySigned: each policyDigest is
//! recomputed here from Part 3's formulas with `sha2`, trial and real sessions agree, and each
//! policy's own check (the cpHash, the NV comparison, the ticket, the index contents, the signature)
//! refuses what it must.

use crate::common::{B, R, RH_NULL, RH_OWNER, SHA256, params_of, pw, rc_h, rc_p, rc_s, run, started};
use crate::key_helpers::{ECDSA, ecc_signer, primary, sign};
use sha2::{Digest, Sha256};
use warden_vtpm::CommandCode;
use warden_vtpm::Tpm;

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

#[test]
fn policy_cp_hash_binds_the_session_to_one_exact_command() {
    let mut t = started();
    let zero = [0u8; 32];
    // The owner's policy (SetPrimaryPolicy) allows exactly one NV_DefineSpace: a hierarchy's Name is
    // its handle, so the cpHash does not depend on the policy itself.
    let good = B::new().tpm2b(b"").tpm2b(&nv_public(&[], 8, ATTRS)).0;
    let cp = h(&[&CommandCode::NV_DEFINE_SPACE.to_be_bytes(), &RH_OWNER.to_be_bytes(), &good]);
    let policy = h(&[&zero, &CommandCode::POLICY_CP_HASH.to_be_bytes(), &cp]);
    // Trial: H(0 || TPM_CC_PolicyCpHash || cpHashA).
    let (trial, _) = start(&mut t, 3);
    run(&mut t, CommandCode::POLICY_CP_HASH, &[trial], None, &B::new().tpm2b(&cp).0).ok();
    assert_eq!(digest(&mut t, trial), policy);
    // A second, different cpHash: TPM_RC_CPHASH; a short one: TPM_RC_SIZE.
    assert_eq!(
        run(&mut t, CommandCode::POLICY_CP_HASH, &[trial], None, &B::new().tpm2b(&[1; 32]).0).rc,
        0x151
    );
    run(&mut t, CommandCode::POLICY_RESTART, &[trial], None, &[]).ok();
    assert_eq!(
        run(&mut t, CommandCode::POLICY_CP_HASH, &[trial], None, &B::new().tpm2b(&[1; 20]).0).rc,
        rc_p(0x095, 1)
    );

    let set = B::new().tpm2b(&policy).u16(SHA256).0;
    run(&mut t, CommandCode::SET_PRIMARY_POLICY, &[RH_OWNER], Some(&pw(b"")), &set).ok(); // SetPrimaryPolicy
    let (s, _) = start(&mut t, 1);
    run(&mut t, CommandCode::POLICY_CP_HASH, &[s], None, &B::new().tpm2b(&cp).0).ok();
    // Another index auth: the policy digest matches but the cpHash does not.
    let other = B::new().tpm2b(b"x").tpm2b(&nv_public(&[], 8, ATTRS)).0;
    assert_eq!(
        run(&mut t, CommandCode::NV_DEFINE_SPACE, &[RH_OWNER], Some(&policy_auth(s)), &other).rc,
        rc_s(0x09D, 1)
    );
    run(&mut t, CommandCode::NV_DEFINE_SPACE, &[RH_OWNER], Some(&policy_auth(s)), &good).ok();
    let r = run(&mut t, CommandCode::NV_READ_PUBLIC, &[IDX], None, &[]).ok().clone(); // NV_ReadPublic
    assert_eq!(R(&r.body).tpm2b(), nv_public(&[], 8, ATTRS));
}

#[test]
fn policy_nv_compares_index_contents() {
    let mut t = started();
    let zero = [0u8; 32];
    define(&mut t, &[], 8);
    owner_write(&mut t, &[0, 0, 0, 0, 0, 0, 0x01, 0x00]);
    let name = nv_name(&[], 8, ATTRS | WRITTEN);
    // UNSIGNED_GE (7) of the last two bytes (offset 6) against 0x00FF: 0x0100 >= 0x00FF holds.
    let call = |t: &mut Tpm, s: u32, operand: &[u8], offset: u16, op: u16| {
        let p = B::new().tpm2b(operand).u16(offset).u16(op).0;
        run(t, CommandCode::POLICY_NV, &[RH_OWNER, IDX, s], Some(&pw(b"")), &p).rc
    };
    let args = h(&[&[0x00, 0xFF], &6u16.to_be_bytes(), &7u16.to_be_bytes()]);
    let expected = h(&[&zero, &CommandCode::POLICY_NV.to_be_bytes(), &args, &name]);
    let (trial, _) = start(&mut t, 3);
    assert_eq!(call(&mut t, trial, &[0x00, 0xFF], 6, 7), 0);
    assert_eq!(digest(&mut t, trial), expected);
    let (s, _) = start(&mut t, 1);
    assert_eq!(call(&mut t, s, &[0x00, 0xFF], 6, 7), 0);
    assert_eq!(digest(&mut t, s), expected);
    // Comparisons that do not hold: TPM_RC_POLICY; the digest is unchanged.
    assert_eq!(call(&mut t, s, &[0x01, 0x01], 6, 7), 0x126); // 0x0100 >= 0x0101 fails
    assert_eq!(call(&mut t, s, &[0x80, 0x00], 6, 2), 0); // signed: 0x0100 > -32768
    assert_eq!(call(&mut t, s, &[0x80, 0x00], 6, 3), 0x126); // unsigned: 0x0100 > 0x8000 fails
    assert_eq!(call(&mut t, s, &[0x01], 6, 0xA), 0); // BITSET
    assert_eq!(call(&mut t, s, &[0x01], 6, 0xB), 0x126); // BITCLEAR fails
    // Operand past the end: TPM_RC_SIZE on operandB; offset past the end: TPM_RC_VALUE on offset;
    // an unknown operation: TPM_RC_VALUE on it.
    assert_eq!(call(&mut t, s, &[0, 0, 0], 6, 0), rc_p(0x095, 1));
    assert_eq!(call(&mut t, s, &[], 9, 0), rc_p(0x084, 2));
    assert_eq!(call(&mut t, s, &[0], 0, 0xC), rc_p(0x084, 3));
    // An index never written: TPM_RC_NV_UNINITIALIZED, but not in a trial session.
    let (t2_trial, _) = start(&mut t, 3);
    run(&mut t, CommandCode::NV_UNDEFINE_SPACE, &[RH_OWNER, IDX], Some(&pw(b"")), &[]).ok(); // NV_UndefineSpace
    define(&mut t, &[], 8);
    assert_eq!(call(&mut t, s, &[0], 0, 0), 0x14A);
    assert_eq!(call(&mut t, t2_trial, &[0], 0, 0), 0);
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

#[test]
fn policy_authorize_accepts_a_policy_signed_by_the_authority() {
    let mut t = started();
    let zero = [0u8; 32];
    let (k, key_name) = signer(&mut t);
    // The authority approves PolicyCommandCode(NV_Read) under policyRef "ref".
    let approved =
        h(&[&zero, &CommandCode::POLICY_COMMAND_CODE.to_be_bytes(), &CommandCode::NV_READ.to_be_bytes()]);
    let a_hash = h(&[&approved, b"ref"]);
    let sig = signature(&mut t, k, &a_hash);
    let r = run(&mut t, CommandCode::VERIFY_SIGNATURE, &[k], None, &B::new().tpm2b(&a_hash).raw(&sig).0)
        .ok()
        .clone();
    let ticket = r.body.clone();
    assert_eq!(&ticket[..6], &[0x80, 0x22, 0x40, 0, 0, 1], "TPMT_TK_VERIFIED of the owner hierarchy");
    let authorize = |t: &mut Tpm, s: u32, approved: &[u8], policy_ref: &[u8], ticket: &[u8]| {
        let p = B::new().tpm2b(approved).tpm2b(policy_ref).tpm2b(&key_name).raw(ticket).0;
        run(t, CommandCode::POLICY_AUTHORIZE, &[s], None, &p).rc
    };
    let expected = h(&[&h(&[&zero, &CommandCode::POLICY_AUTHORIZE.to_be_bytes(), &key_name]), b"ref"]);

    let (s, _) = start(&mut t, 1);
    // Before the approved policy ran, the current digest is not the approved one.
    assert_eq!(authorize(&mut t, s, &approved, b"ref", &ticket), rc_p(0x084, 1));
    run(&mut t, CommandCode::POLICY_COMMAND_CODE, &[s], None, &CommandCode::NV_READ.to_be_bytes()).ok();
    // A ticket for another policyRef, or a NULL ticket, does not verify.
    assert_eq!(authorize(&mut t, s, &approved, b"other", &ticket), rc_p(0x084, 4));
    let null_ticket = B::new().u16(0x8022).u32(RH_NULL).tpm2b(&[]).0;
    assert_eq!(authorize(&mut t, s, &approved, b"ref", &null_ticket), rc_p(0x084, 4));
    assert_eq!(authorize(&mut t, s, &approved, b"ref", &ticket), 0);
    assert_eq!(digest(&mut t, s), expected);
    // A trial session gets the same digest without any check.
    let (trial, _) = start(&mut t, 3);
    assert_eq!(authorize(&mut t, trial, &[7; 32], b"ref", &null_ticket), 0);
    assert_eq!(digest(&mut t, trial), expected);
}

#[test]
fn policy_authorize_nv_takes_the_policy_from_an_index() {
    let mut t = started();
    let zero = [0u8; 32];
    let approved =
        h(&[&zero, &CommandCode::POLICY_COMMAND_CODE.to_be_bytes(), &CommandCode::NV_READ.to_be_bytes()]);
    define(&mut t, &[], 34);
    owner_write(&mut t, &[&SHA256.to_be_bytes()[..], &approved].concat());
    let name = nv_name(&[], 34, ATTRS | WRITTEN);
    let expected = h(&[&zero, &CommandCode::POLICY_AUTHORIZE_NV.to_be_bytes(), &name]);
    let call = |t: &mut Tpm, s: u32| {
        run(t, CommandCode::POLICY_AUTHORIZE_NV, &[RH_OWNER, IDX, s], Some(&pw(b"")), &[]).rc
    };
    let (s, _) = start(&mut t, 1);
    // The current digest (zero) is not the one in the index: TPM_RC_VALUE.
    assert_eq!(call(&mut t, s), 0x084);
    run(&mut t, CommandCode::POLICY_COMMAND_CODE, &[s], None, &CommandCode::NV_READ.to_be_bytes()).ok();
    assert_eq!(call(&mut t, s), 0);
    assert_eq!(digest(&mut t, s), expected);
    let (trial, _) = start(&mut t, 3);
    assert_eq!(call(&mut t, trial), 0);
    assert_eq!(digest(&mut t, trial), expected);
    // The owner cannot read an index without OWNERREAD: TPM_RC_NV_AUTHORIZATION.
    let (s, _) = start(&mut t, 1);
    run(&mut t, CommandCode::NV_UNDEFINE_SPACE, &[RH_OWNER, IDX], Some(&pw(b"")), &[]).ok();
    let public = B::new().u32(IDX).u16(SHA256).u32(1 << 1 | 1 << 18 | 1 << 25).tpm2b(&[]).u16(34).0;
    run(
        &mut t,
        CommandCode::NV_DEFINE_SPACE,
        &[RH_OWNER],
        Some(&pw(b"")),
        &B::new().tpm2b(b"").tpm2b(&public).0,
    )
    .ok();
    assert_eq!(call(&mut t, s), 0x149);
}

#[test]
fn policy_signed_checks_a_signature_over_the_session_nonce() {
    let mut t = started();
    let zero = [0u8; 32];
    let (k, key_name) = signer(&mut t);
    let (s, nonce) = start(&mut t, 1);
    let a_hash = |nonce: &[u8]| h(&[nonce, &0u32.to_be_bytes(), b"", b"pref"]);
    let signed = |t: &mut Tpm, s: u32, nonce: &[u8], sig: &[u8]| {
        let p = B::new().tpm2b(nonce).tpm2b(b"").tpm2b(b"pref").u32(0).raw(sig).0;
        run(t, CommandCode::POLICY_SIGNED, &[k, s], None, &p)
    };
    let expected = h(&[&h(&[&zero, &CommandCode::POLICY_SIGNED.to_be_bytes(), &key_name]), b"pref"]);
    // A signature over another nonce: TPM_RC_SIGNATURE on auth; another session's nonce: NONCE.
    let wrong = signature(&mut t, k, &a_hash(&[1; 32]));
    assert_eq!(signed(&mut t, s, &nonce, &wrong).rc, rc_p(0x09B, 5));
    assert_eq!(signed(&mut t, s, &[1; 32], &wrong).rc, rc_p(0x08F, 1));
    let sig = signature(&mut t, k, &a_hash(&nonce));
    let r = signed(&mut t, s, &nonce, &sig).ok().clone();
    // timeout empty, a NULL TPMT_TK_AUTH.
    assert_eq!(r.body, B::new().u16(0).u16(0x8025).u32(RH_NULL).u16(0).0);
    assert_eq!(digest(&mut t, s), expected);
    // The expiration is part of what is signed: the same signature with an expiration fails.
    let p = B::new().tpm2b(&nonce).tpm2b(b"").tpm2b(b"pref").u32(60).raw(&sig).0;
    assert_eq!(run(&mut t, CommandCode::POLICY_SIGNED, &[k, s], None, &p).rc, rc_p(0x09B, 5));
    // A trial session takes any well-formed signature and gives the same digest.
    let (trial, _) = start(&mut t, 3);
    assert_eq!(signed(&mut t, trial, b"", &wrong).rc, 0);
    assert_eq!(digest(&mut t, trial), expected);
    // Not a signing key: a restricted decryption primary gets TPM_RC_ATTRIBUTES on handle 1.
    let (d, _, _) = primary(&mut t, RH_OWNER, &crate::key_helpers::ecc_storage()).unwrap();
    let p = B::new().tpm2b(b"").tpm2b(b"").tpm2b(b"").u32(0).raw(&sig).0;
    assert_eq!(run(&mut t, CommandCode::POLICY_SIGNED, &[d, s], None, &p).rc, rc_h(0x082, 1));
}

#[test]
fn policy_secret_with_cp_hash_a_allows_only_that_command() {
    let mut t = started();
    let zero = [0u8; 32];
    let good = B::new().tpm2b(b"").tpm2b(&nv_public(&[], 8, ATTRS)).0;
    let cp = h(&[&CommandCode::NV_DEFINE_SPACE.to_be_bytes(), &RH_OWNER.to_be_bytes(), &good]);
    // cpHashA is not part of the digest: H(H(0 || TPM_CC_PolicySecret || ownerName) || policyRef).
    let policy = h(&[&h(&[&zero, &CommandCode::POLICY_SECRET.to_be_bytes(), &RH_OWNER.to_be_bytes()]), b""]);
    run(
        &mut t,
        CommandCode::SET_PRIMARY_POLICY,
        &[RH_OWNER],
        Some(&pw(b"")),
        &B::new().tpm2b(&policy).u16(SHA256).0,
    )
    .ok();
    let secret = |t: &mut Tpm, s: u32, cp: &[u8]| {
        let p = B::new().tpm2b(b"").tpm2b(cp).tpm2b(b"").u32(0).0;
        run(t, CommandCode::POLICY_SECRET, &[RH_OWNER, s], Some(&pw(b"")), &p).rc
    };
    let (s, _) = start(&mut t, 1);
    // A cpHashA of the wrong size: TPM_RC_SIZE on it.
    assert_eq!(secret(&mut t, s, &[1; 20]), rc_p(0x095, 2));
    assert_eq!(secret(&mut t, s, &cp), 0);
    assert_eq!(digest(&mut t, s), policy);
    let other = B::new().tpm2b(b"x").tpm2b(&nv_public(&[], 8, ATTRS)).0;
    assert_eq!(
        run(&mut t, CommandCode::NV_DEFINE_SPACE, &[RH_OWNER], Some(&policy_auth(s)), &other).rc,
        rc_s(0x09D, 1)
    );
    run(&mut t, CommandCode::NV_DEFINE_SPACE, &[RH_OWNER], Some(&policy_auth(s)), &good).ok();
}

#[test]
fn policy_name_hash_binds_the_session_to_the_handles_named() {
    let mut t = started();
    let zero = [0u8; 32];
    define(&mut t, &[], 8);
    let other = 0x0150_0021;
    let public = B::new().u32(other).u16(SHA256).u32(ATTRS).tpm2b(&[]).u16(8).0;
    run(
        &mut t,
        CommandCode::NV_DEFINE_SPACE,
        &[RH_OWNER],
        Some(&pw(b"")),
        &B::new().tpm2b(b"").tpm2b(&public).0,
    )
    .ok();
    // NV_Write(owner, IDX): nameHash = H(Name(owner) || Name(IDX)).
    let nh = h(&[&RH_OWNER.to_be_bytes(), &nv_name(&[], 8, ATTRS)]);
    let policy = h(&[&zero, &CommandCode::POLICY_NAME_HASH.to_be_bytes(), &nh]);
    let (trial, _) = start(&mut t, 3);
    assert_eq!(
        run(&mut t, CommandCode::POLICY_NAME_HASH, &[trial], None, &B::new().tpm2b(&nh[..20]).0).rc,
        rc_p(0x095, 1)
    );
    run(&mut t, CommandCode::POLICY_NAME_HASH, &[trial], None, &B::new().tpm2b(&nh).0).ok();
    assert_eq!(digest(&mut t, trial), policy);
    // cpHash and nameHash exclude each other: TPM_RC_CPHASH both ways.
    assert_eq!(run(&mut t, CommandCode::POLICY_NAME_HASH, &[trial], None, &B::new().tpm2b(&nh).0).rc, 0x151);
    assert_eq!(run(&mut t, CommandCode::POLICY_CP_HASH, &[trial], None, &B::new().tpm2b(&nh).0).rc, 0x151);
    let (t2, _) = start(&mut t, 3);
    run(&mut t, CommandCode::POLICY_CP_HASH, &[t2], None, &B::new().tpm2b(&nh).0).ok();
    assert_eq!(run(&mut t, CommandCode::POLICY_NAME_HASH, &[t2], None, &B::new().tpm2b(&nh).0).rc, 0x151);

    run(
        &mut t,
        CommandCode::SET_PRIMARY_POLICY,
        &[RH_OWNER],
        Some(&pw(b"")),
        &B::new().tpm2b(&policy).u16(SHA256).0,
    )
    .ok();
    let (s, _) = start(&mut t, 1);
    run(&mut t, CommandCode::POLICY_NAME_HASH, &[s], None, &B::new().tpm2b(&nh).0).ok();
    let data = B::new().tpm2b(b"12345678").u16(0).0;
    // The other index: the policy digest matches, the Names do not.
    assert_eq!(
        run(&mut t, CommandCode::NV_WRITE, &[RH_OWNER, other], Some(&policy_auth(s)), &data).rc,
        rc_s(0x09D, 1)
    );
    run(&mut t, CommandCode::NV_WRITE, &[RH_OWNER, IDX], Some(&policy_auth(s)), &data).ok();
}

#[test]
fn policy_counter_timer_compares_time_info() {
    let mut t = started();
    let zero = [0u8; 32];
    // TPMS_TIME_INFO from ReadClock: time(8) clock(8) resetCount(4) restartCount(4) safe(1).
    let info = run(&mut t, CommandCode::READ_CLOCK, &[], None, &[]).ok().body.clone();
    assert_eq!(info.len(), 25);
    let reset = info[16..20].to_vec();
    let call = |t: &mut Tpm, s: u32, operand: &[u8], offset: u16, op: u16| {
        run(t, CommandCode::POLICY_COUNTER_TIMER, &[s], None, &B::new().tpm2b(operand).u16(offset).u16(op).0)
            .rc
    };
    let (s, _) = start(&mut t, 1);
    assert_eq!(call(&mut t, s, &reset, 16, 0), 0); // resetCount EQ
    assert_eq!(call(&mut t, s, &reset, 16, 1), 0x126); // NEQ fails: TPM_RC_POLICY
    assert_eq!(call(&mut t, s, &[1], 24, 0), 0); // safe
    assert_eq!(call(&mut t, s, &[0xFF; 8], 8, 9), 0); // clock <= max
    // Bounds: offset past the structure: TPM_RC_VALUE on offset; operand past it: TPM_RC_RANGE.
    assert_eq!(call(&mut t, s, &[], 26, 0), rc_p(0x084, 2));
    assert_eq!(call(&mut t, s, &[0; 6], 20, 0), 0x08D);
    let args = |operand: &[u8], offset: u16, op: u16| h(&[operand, &offset.to_be_bytes(), &op.to_be_bytes()]);
    let step = |d: &[u8], a: &[u8]| h(&[d, &CommandCode::POLICY_COUNTER_TIMER.to_be_bytes(), a]);
    let expected =
        step(&step(&step(&zero, &args(&reset, 16, 0)), &args(&[1], 24, 0)), &args(&[0xFF; 8], 8, 9));
    assert_eq!(digest(&mut t, s), expected);
    // A trial session skips the comparison, not the bounds.
    let (trial, _) = start(&mut t, 3);
    assert_eq!(call(&mut t, trial, &reset, 16, 1), 0);
    assert_eq!(digest(&mut t, trial), step(&zero, &args(&reset, 16, 1)));
    assert_eq!(call(&mut t, trial, &[0; 6], 20, 0), 0x08D);
}

#[test]
fn policy_signed_expiration_limits_the_session_in_time() {
    use std::sync::atomic::Ordering;
    use warden_vtpm::insecure_test_entropy::{InsecureTestClock, InsecureTestEntropy};
    let clock = InsecureTestClock::default();
    let mut t = Tpm::new(Box::new(InsecureTestEntropy::new(42)));
    t.set_clock(Box::new(clock.clone()));
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    let set_time = |ms: u64| clock.0.store(ms, Ordering::Relaxed);
    let zero = [0u8; 32];
    let (k, key_name) = signer(&mut t);
    // The owner's policy: PolicySigned(k, policyRef "") — the expiration is not in the digest.
    let policy = h(&[&h(&[&zero, &CommandCode::POLICY_SIGNED.to_be_bytes(), &key_name]), b""]);
    run(
        &mut t,
        CommandCode::SET_PRIMARY_POLICY,
        &[RH_OWNER],
        Some(&pw(b"")),
        &B::new().tpm2b(&policy).u16(SHA256).0,
    )
    .ok();
    // aHash = H(nonceTPM || expiration || cpHashA || policyRef).
    let signed = |t: &mut Tpm, s: u32, nonce: &[u8], expiration: u32| {
        let sig = signature(t, k, &h(&[nonce, &expiration.to_be_bytes(), b"", b""]));
        let p = B::new().tpm2b(nonce).tpm2b(b"").tpm2b(b"").u32(expiration).raw(&sig).0;
        run(t, CommandCode::POLICY_SIGNED, &[k, s], None, &p).rc
    };
    let define = |t: &mut Tpm, s: u32, index: u32| {
        let public = B::new().u32(index).u16(SHA256).u32(ATTRS).tpm2b(&[]).u16(8).0;
        run(
            t,
            CommandCode::NV_DEFINE_SPACE,
            &[RH_OWNER],
            Some(&policy_auth(s)),
            &B::new().tpm2b(b"").tpm2b(&public).0,
        )
        .rc
    };

    // Session started at 1 s, valid 10 s after its start: used at 12 s it has expired.
    set_time(1_000);
    let (s, nonce) = start(&mut t, 1);
    assert_eq!(signed(&mut t, s, &nonce, 10), 0);
    set_time(12_000);
    assert_eq!(define(&mut t, s, 0x0150_0040), rc_s(0x0A3, 1));
    // Started at 12 s, used at 20 s: within its 10 s.
    let (s, nonce) = start(&mut t, 1);
    assert_eq!(signed(&mut t, s, &nonce, 10), 0);
    set_time(20_000);
    assert_eq!(define(&mut t, s, 0x0150_0041), 0);
    // A signature whose time had passed when it was presented: TPM_RC_EXPIRED on expiration.
    let (s, nonce) = start(&mut t, 1);
    set_time(31_000);
    assert_eq!(signed(&mut t, s, &nonce, 10), rc_p(0x0A3, 4));
    // Without a nonce the expiration is absolute Time in seconds (plus the current milliseconds):
    // 40 s is in the future at 31 s, 30 s is not.
    assert_eq!(signed(&mut t, s, b"", 30), rc_p(0x0A3, 4));
    assert_eq!(signed(&mut t, s, b"", 40), 0);
    assert_eq!(define(&mut t, s, 0x0150_0042), 0);
}

#[test]
fn policy_tickets_replay_a_signed_or_secret_authorization_until_the_timeout() {
    use std::sync::atomic::Ordering;
    use warden_vtpm::insecure_test_entropy::{InsecureTestClock, InsecureTestEntropy};
    let clock = InsecureTestClock::default();
    let mut t = Tpm::new(Box::new(InsecureTestEntropy::new(42)));
    t.set_clock(Box::new(clock.clone()));
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    let set_time = |ms: u64| clock.0.store(ms, Ordering::Relaxed);
    let zero = [0u8; 32];
    let (k, key_name) = signer(&mut t);
    set_time(2_000);
    let (s, nonce) = start(&mut t, 1);
    // Expiration -10 with the nonce: valid until start + 10 s, and a ticket is returned.
    let expiration = (-10i32) as u32;
    let sig = signature(&mut t, k, &h(&[&nonce, &expiration.to_be_bytes(), b"", b"ref"]));
    let p = B::new().tpm2b(&nonce).tpm2b(b"").tpm2b(b"ref").u32(expiration).raw(&sig).0;
    let r = run(&mut t, CommandCode::POLICY_SIGNED, &[k, s], None, &p).ok().clone();
    let mut rd = r.reader();
    let timeout = rd.tpm2b().to_vec();
    assert_eq!(timeout, 12_000u64.to_be_bytes());
    assert_eq!((rd.u16(), rd.u32()), (0x8025, RH_OWNER));
    let ticket = rd.tpm2b().to_vec();
    rd.done();
    assert_eq!(ticket.len(), 32);
    let signed_policy = h(&[&h(&[&zero, &CommandCode::POLICY_SIGNED.to_be_bytes(), &key_name]), b"ref"]);
    assert_eq!(digest(&mut t, s), signed_policy);

    let replay =
        |t: &mut Tpm, s: u32, policy_ref: &[u8], tag: u16, name: &[u8], timeout: &[u8], tk: &[u8]| {
            let p = B::new()
                .tpm2b(timeout)
                .tpm2b(b"")
                .tpm2b(policy_ref)
                .tpm2b(name)
                .u16(tag)
                .u32(RH_OWNER)
                .tpm2b(tk)
                .0;
            run(t, CommandCode::POLICY_TICKET, &[s], None, &p).rc
        };
    // Another session replays the ticket and gets the PolicySigned digest.
    let (s2, _) = start(&mut t, 1);
    assert_eq!(replay(&mut t, s2, b"ref", 0x8025, &key_name, &timeout, &ticket), 0);
    assert_eq!(digest(&mut t, s2), signed_policy);
    // A changed policyRef, tag or timeout does not match the ticket: TPM_RC_TICKET.
    let (s3, _) = start(&mut t, 1);
    assert_eq!(replay(&mut t, s3, b"other", 0x8025, &key_name, &timeout, &ticket), rc_p(0x0A0, 5));
    assert_eq!(replay(&mut t, s3, b"ref", 0x8023, &key_name, &timeout, &ticket), rc_p(0x0A0, 5));
    let later = 13_000u64.to_be_bytes();
    assert_eq!(replay(&mut t, s3, b"ref", 0x8025, &key_name, &later, &ticket), rc_p(0x0A0, 5));
    assert_eq!(replay(&mut t, s3, b"ref", 0x8025, &key_name, &[0; 4], &ticket), rc_p(0x095, 1));
    // After the timeout: TPM_RC_EXPIRED on the timeout.
    set_time(12_001);
    assert_eq!(replay(&mut t, s3, b"ref", 0x8025, &key_name, &timeout, &ticket), rc_p(0x0A3, 1));

    // PolicySecret(owner) with expiration -20 and no nonce: absolute Time (20 s plus the current
    // milliseconds), an AUTH_SECRET ticket.
    let p = B::new().tpm2b(b"").tpm2b(b"").tpm2b(b"").u32((-20i32) as u32).0;
    let r = run(&mut t, CommandCode::POLICY_SECRET, &[RH_OWNER, s3], Some(&pw(b"")), &p).ok().clone();
    let out = params_of(&r, false);
    let mut rd = R(&out);
    let timeout = rd.tpm2b().to_vec();
    assert_eq!(timeout, (20_000u64 + 12_001 % 1000).to_be_bytes());
    assert_eq!((rd.u16(), rd.u32()), (0x8023, RH_OWNER));
    let ticket = rd.tpm2b().to_vec();
    set_time(15_000);
    let (s4, _) = start(&mut t, 1);
    let owner = RH_OWNER.to_be_bytes();
    assert_eq!(replay(&mut t, s4, b"", 0x8023, &owner, &timeout, &ticket), 0);
    let secret_policy = h(&[&h(&[&zero, &CommandCode::POLICY_SECRET.to_be_bytes(), &owner]), b""]);
    assert_eq!(digest(&mut t, s4), secret_policy);
    // A trial session gets no ticket.
    let (trial, _) = start(&mut t, 3);
    let r = run(&mut t, CommandCode::POLICY_SECRET, &[RH_OWNER, trial], Some(&pw(b"")), &p).ok().clone();
    assert_eq!(params_of(&r, false), B::new().u16(0).u16(0x8023).u32(RH_NULL).u16(0).0);
}

#[test]
fn policy_duplication_select_digests() {
    let mut t = started();
    let zero = [0u8; 32];
    let object = [&[0u8, 0x0B][..], &[0x11; 32]].concat();
    let parent = [&[0u8, 0x0B][..], &[0x22; 32]].concat();
    let call = |t: &mut Tpm, s: u32, include: u8| {
        run(
            t,
            CommandCode::POLICY_DUPLICATION_SELECT,
            &[s],
            None,
            &B::new().tpm2b(&object).tpm2b(&parent).u8(include).0,
        )
        .rc
    };
    // includeObject YES: H(0 || CC || objectName || newParentName || 1).
    let (s, _) = start(&mut t, 3);
    assert_eq!(call(&mut t, s, 1), 0);
    assert_eq!(
        digest(&mut t, s),
        h(&[&zero, &CommandCode::POLICY_DUPLICATION_SELECT.to_be_bytes(), &object, &parent, &[1]])
    );
    // The nameHash slot is now taken: a second one is TPM_RC_CPHASH.
    assert_eq!(call(&mut t, s, 1), 0x151);
    // includeObject NO leaves the object's Name out of the digest.
    let (s, _) = start(&mut t, 3);
    assert_eq!(call(&mut t, s, 0), 0);
    assert_eq!(
        digest(&mut t, s),
        h(&[&zero, &CommandCode::POLICY_DUPLICATION_SELECT.to_be_bytes(), &parent, &[0]])
    );
    // The session is for TPM2_Duplicate: after PolicyCommandCode(NV_Read), TPM_RC_COMMAND_CODE.
    let (s, _) = start(&mut t, 3);
    run(&mut t, CommandCode::POLICY_COMMAND_CODE, &[s], None, &CommandCode::NV_READ.to_be_bytes()).ok();
    assert_eq!(call(&mut t, s, 1), 0x143);
}
