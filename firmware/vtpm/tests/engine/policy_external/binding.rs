//! PolicyCpHash, PolicyNV, PolicyAuthorize(NV), PolicyNameHash, PolicyCounterTimer and
//! PolicyDuplicationSelect: policies bound to a command, an index, an authority or the clock.

use super::{
    ATTRS, IDX, WRITTEN, define, digest, h, nv_name, nv_public, owner_write, policy_auth, signature, signer,
    start,
};
use crate::common::{B, R, RH_NULL, RH_OWNER, SHA256, pw, rc_p, rc_s, run, started};
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;

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
        ResponseCode::CPHASH.0
    );
    run(&mut t, CommandCode::POLICY_RESTART, &[trial], None, &[]).ok();
    assert_eq!(
        run(&mut t, CommandCode::POLICY_CP_HASH, &[trial], None, &B::new().tpm2b(&[1; 20]).0).rc,
        rc_p(ResponseCode::SIZE, 1)
    );

    let set = B::new().tpm2b(&policy).u16(SHA256).0;
    run(&mut t, CommandCode::SET_PRIMARY_POLICY, &[RH_OWNER], Some(&pw(b"")), &set).ok(); // SetPrimaryPolicy
    let (s, _) = start(&mut t, 1);
    run(&mut t, CommandCode::POLICY_CP_HASH, &[s], None, &B::new().tpm2b(&cp).0).ok();
    // Another index auth: the policy digest matches but the cpHash does not.
    let other = B::new().tpm2b(b"x").tpm2b(&nv_public(&[], 8, ATTRS)).0;
    assert_eq!(
        run(&mut t, CommandCode::NV_DEFINE_SPACE, &[RH_OWNER], Some(&policy_auth(s)), &other).rc,
        rc_s(ResponseCode::POLICY_FAIL, 1)
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
    assert_eq!(call(&mut t, s, &[0x01, 0x01], 6, 7), ResponseCode::POLICY.0); // 0x0100 >= 0x0101 fails
    assert_eq!(call(&mut t, s, &[0x80, 0x00], 6, 2), 0); // signed: 0x0100 > -32768
    assert_eq!(call(&mut t, s, &[0x80, 0x00], 6, 3), ResponseCode::POLICY.0); // unsigned: 0x0100 > 0x8000 fails
    assert_eq!(call(&mut t, s, &[0x01], 6, 0xA), 0); // BITSET
    assert_eq!(call(&mut t, s, &[0x01], 6, 0xB), ResponseCode::POLICY.0); // BITCLEAR fails
    // Operand past the end: TPM_RC_SIZE on operandB; offset past the end: TPM_RC_VALUE on offset;
    // an unknown operation: TPM_RC_VALUE on it.
    assert_eq!(call(&mut t, s, &[0, 0, 0], 6, 0), rc_p(ResponseCode::SIZE, 1));
    assert_eq!(call(&mut t, s, &[], 9, 0), rc_p(ResponseCode::VALUE, 2));
    assert_eq!(call(&mut t, s, &[0], 0, 0xC), rc_p(ResponseCode::VALUE, 3));
    // An index never written: TPM_RC_NV_UNINITIALIZED, but not in a trial session.
    let (t2_trial, _) = start(&mut t, 3);
    run(&mut t, CommandCode::NV_UNDEFINE_SPACE, &[RH_OWNER, IDX], Some(&pw(b"")), &[]).ok(); // NV_UndefineSpace
    define(&mut t, &[], 8);
    assert_eq!(call(&mut t, s, &[0], 0, 0), ResponseCode::NV_UNINITIALIZED.0);
    assert_eq!(call(&mut t, t2_trial, &[0], 0, 0), 0);
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
    assert_eq!(authorize(&mut t, s, &approved, b"ref", &ticket), rc_p(ResponseCode::VALUE, 1));
    run(&mut t, CommandCode::POLICY_COMMAND_CODE, &[s], None, &CommandCode::NV_READ.to_be_bytes()).ok();
    // A ticket for another policyRef, or a NULL ticket, does not verify.
    assert_eq!(authorize(&mut t, s, &approved, b"other", &ticket), rc_p(ResponseCode::VALUE, 4));
    let null_ticket = B::new().u16(0x8022).u32(RH_NULL).tpm2b(&[]).0;
    assert_eq!(authorize(&mut t, s, &approved, b"ref", &null_ticket), rc_p(ResponseCode::VALUE, 4));
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
    assert_eq!(call(&mut t, s), ResponseCode::VALUE.0);
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
    assert_eq!(call(&mut t, s), ResponseCode::NV_AUTHORIZATION.0);
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
        rc_p(ResponseCode::SIZE, 1)
    );
    run(&mut t, CommandCode::POLICY_NAME_HASH, &[trial], None, &B::new().tpm2b(&nh).0).ok();
    assert_eq!(digest(&mut t, trial), policy);
    // cpHash and nameHash exclude each other: TPM_RC_CPHASH both ways.
    assert_eq!(
        run(&mut t, CommandCode::POLICY_NAME_HASH, &[trial], None, &B::new().tpm2b(&nh).0).rc,
        ResponseCode::CPHASH.0
    );
    assert_eq!(
        run(&mut t, CommandCode::POLICY_CP_HASH, &[trial], None, &B::new().tpm2b(&nh).0).rc,
        ResponseCode::CPHASH.0
    );
    let (t2, _) = start(&mut t, 3);
    run(&mut t, CommandCode::POLICY_CP_HASH, &[t2], None, &B::new().tpm2b(&nh).0).ok();
    assert_eq!(
        run(&mut t, CommandCode::POLICY_NAME_HASH, &[t2], None, &B::new().tpm2b(&nh).0).rc,
        ResponseCode::CPHASH.0
    );

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
        rc_s(ResponseCode::POLICY_FAIL, 1)
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
    assert_eq!(call(&mut t, s, &reset, 16, 1), ResponseCode::POLICY.0); // NEQ fails: TPM_RC_POLICY
    assert_eq!(call(&mut t, s, &[1], 24, 0), 0); // safe
    assert_eq!(call(&mut t, s, &[0xFF; 8], 8, 9), 0); // clock <= max
    // Bounds: offset past the structure: TPM_RC_VALUE on offset; operand past it: TPM_RC_RANGE.
    assert_eq!(call(&mut t, s, &[], 26, 0), rc_p(ResponseCode::VALUE, 2));
    assert_eq!(call(&mut t, s, &[0; 6], 20, 0), ResponseCode::RANGE.0);
    let args = |operand: &[u8], offset: u16, op: u16| h(&[operand, &offset.to_be_bytes(), &op.to_be_bytes()]);
    let step = |d: &[u8], a: &[u8]| h(&[d, &CommandCode::POLICY_COUNTER_TIMER.to_be_bytes(), a]);
    let expected =
        step(&step(&step(&zero, &args(&reset, 16, 0)), &args(&[1], 24, 0)), &args(&[0xFF; 8], 8, 9));
    assert_eq!(digest(&mut t, s), expected);
    // A trial session skips the comparison, not the bounds.
    let (trial, _) = start(&mut t, 3);
    assert_eq!(call(&mut t, trial, &reset, 16, 1), 0);
    assert_eq!(digest(&mut t, trial), step(&zero, &args(&reset, 16, 1)));
    assert_eq!(call(&mut t, trial, &[0; 6], 20, 0), ResponseCode::RANGE.0);
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
    assert_eq!(call(&mut t, s, 1), ResponseCode::CPHASH.0);
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
    assert_eq!(call(&mut t, s, 1), ResponseCode::COMMAND_CODE.0);
}
