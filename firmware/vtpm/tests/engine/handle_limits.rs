//! Error paths not covered by the per-family tests: disabled hierarchies in tickets, context
//! handles and limits, the active-session limit, events and sequences without a PCR.

use crate::common::{
    B, RH_LOCKOUT, RH_NULL, RH_OWNER, RH_PLATFORM, SHA256, command, parse, pw, rc_h, rc_p, rc_s, run, started,
};
use sha2::{Digest, Sha256};
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;

fn start_session(t: &mut Tpm) -> crate::common::Resp {
    let p = B::new().tpm2b(&[3; 16]).tpm2b(b"").u8(0).u16(0x10).u16(SHA256).0;
    run(t, CommandCode::START_AUTH_SESSION, &[RH_NULL, RH_NULL], None, &p)
}

#[test]
fn tickets_need_an_enabled_hierarchy() {
    let mut t = started();
    run(
        &mut t,
        CommandCode::HIERARCHY_CONTROL,
        &[RH_PLATFORM],
        Some(&pw(b"")),
        &B::new().u32(RH_OWNER).u8(0).0,
    )
    .ok();
    let r = run(&mut t, CommandCode::HASH, &[], None, &B::new().tpm2b(b"x").u16(SHA256).u32(RH_OWNER).0);
    assert_eq!(r.rc, rc_p(ResponseCode::HIERARCHY, 3));
    let h = run(&mut t, CommandCode::HASH_SEQUENCE_START, &[], None, &B::new().tpm2b(b"").u16(SHA256).0)
        .ok()
        .reader()
        .u32();
    let r = run(
        &mut t,
        CommandCode::SEQUENCE_COMPLETE,
        &[h],
        Some(&pw(b"")),
        &B::new().tpm2b(b"").u32(RH_OWNER).0,
    );
    assert_eq!(r.rc, rc_p(ResponseCode::HIERARCHY, 2));
    // The NULL hierarchy always works and gives the NULL ticket.
    run(&mut t, CommandCode::SEQUENCE_COMPLETE, &[h], Some(&pw(b"")), &B::new().tpm2b(b"").u32(RH_NULL).0)
        .ok();
}

#[test]
fn context_commands_check_their_handles() {
    let mut t = started();
    // ContextSave takes objects and sessions only; unloaded ones are REFERENCE_H0.
    assert_eq!(
        run(&mut t, CommandCode::CONTEXT_SAVE, &[RH_OWNER], None, &[]).rc,
        rc_h(ResponseCode::VALUE, 1)
    );
    assert_eq!(
        run(&mut t, CommandCode::CONTEXT_SAVE, &[0x8000_0001], None, &[]).rc,
        ResponseCode::REFERENCE_H0.0
    );
    assert_eq!(
        run(&mut t, CommandCode::CONTEXT_SAVE, &[0x0200_0001], None, &[]).rc,
        ResponseCode::REFERENCE_H0.0
    );
    assert_eq!(
        run(&mut t, CommandCode::CONTEXT_SAVE, &[0x8100_0001], None, &[]).rc,
        rc_h(ResponseCode::HANDLE, 1)
    );
    // ContextLoad refuses contexts for handles it never saves, or from another hierarchy.
    let h = run(&mut t, CommandCode::HASH_SEQUENCE_START, &[], None, &B::new().tpm2b(b"").u16(SHA256).0)
        .ok()
        .reader()
        .u32();
    let saved = run(&mut t, CommandCode::CONTEXT_SAVE, &[h], None, &[]).ok().body.clone();
    let mut other = saved.clone();
    other[8..12].copy_from_slice(&RH_OWNER.to_be_bytes());
    assert_eq!(run(&mut t, CommandCode::CONTEXT_LOAD, &[], None, &other).rc, rc_p(ResponseCode::HANDLE, 1));
    let mut hier = saved.clone();
    hier[12..16].copy_from_slice(&RH_OWNER.to_be_bytes());
    assert_eq!(run(&mut t, CommandCode::CONTEXT_LOAD, &[], None, &hier).rc, rc_p(ResponseCode::HIERARCHY, 1));
    // A context from another sequence number fails its integrity check.
    let mut seq = saved.clone();
    seq[7] ^= 1;
    assert_eq!(run(&mut t, CommandCode::CONTEXT_LOAD, &[], None, &seq).rc, rc_p(ResponseCode::INTEGRITY, 1));
    // Loading copies into free object slots until they run out.
    for _ in 0..7 {
        run(&mut t, CommandCode::CONTEXT_LOAD, &[], None, &saved).ok();
    }
    assert_eq!(run(&mut t, CommandCode::CONTEXT_LOAD, &[], None, &saved).rc, ResponseCode::OBJECT_MEMORY.0);
}

#[test]
fn at_most_64_sessions_exist_loaded_or_saved() {
    let mut t = started();
    for _ in 0..8 {
        let handles: Vec<u32> = (0..8).map(|_| start_session(&mut t).ok().reader().u32()).collect();
        for h in handles {
            run(&mut t, CommandCode::CONTEXT_SAVE, &[h], None, &[]).ok();
        }
    }
    assert_eq!(start_session(&mut t).rc, ResponseCode::SESSION_HANDLES.0);
    let cap = run(&mut t, CommandCode::GET_CAPABILITY, &[], None, &B::new().u32(6).u32(0x205).u32(2).0)
        .ok()
        .clone();
    assert_eq!(&cap.body[9..], &B::new().u32(0x205).u32(64).u32(0x206).u32(0).0[..]);
}

#[test]
fn events_without_a_pcr_still_report_digests() {
    let mut t = started();
    let r = run(&mut t, CommandCode::PCR_EVENT, &[RH_NULL], Some(&pw(b"")), &B::new().tpm2b(b"ev").0)
        .ok()
        .clone();
    let p = crate::common::params_of(&r, false);
    // The SHA-1 digest comes first (banks in TPM_ALG_ID order): count, alg, 20 bytes, then alg.
    assert_eq!(&p[28..60], &Sha256::digest(b"ev")[..]);
    // PCR_Event on a DRTM PCR from locality 0: TPM_RC_LOCALITY; EventSequenceComplete likewise.
    assert_eq!(
        run(&mut t, CommandCode::PCR_EVENT, &[17], Some(&pw(b"")), &B::new().tpm2b(b"ev").0).rc,
        ResponseCode::LOCALITY.0
    );
    let e = run(&mut t, CommandCode::HASH_SEQUENCE_START, &[], None, &B::new().tpm2b(b"").u16(0x10).0)
        .ok()
        .reader()
        .u32();
    let two = [pw(b""), pw(b"")].concat();
    assert_eq!(
        run(&mut t, CommandCode::EVENT_SEQUENCE_COMPLETE, &[17, e], Some(&two), &B::new().tpm2b(b"").0).rc,
        ResponseCode::LOCALITY.0
    );
    let c = command(CommandCode::EVENT_SEQUENCE_COMPLETE, &[17, e], Some(&two), &B::new().tpm2b(b"").0);
    assert_eq!(parse(&t.execute_at_locality(2, &c)).rc, 0);
}

#[test]
fn a_session_bound_to_lockout_blocks_lockout_when_it_fails() {
    let mut t = started();
    let p = B::new().tpm2b(&[1; 16]).tpm2b(b"").u8(0).u16(0x10).u16(SHA256).0;
    let h =
        run(&mut t, CommandCode::START_AUTH_SESSION, &[RH_NULL, RH_LOCKOUT], None, &p).ok().reader().u32();
    let auth = B::new().u32(h).tpm2b(&[2; 16]).u8(1).tpm2b(&[0; 32]).0;
    // A wrong HMAC for the owner through a lockout-bound session counts against lockout.
    let r = run(&mut t, CommandCode::HIERARCHY_CHANGE_AUTH, &[RH_OWNER], Some(&auth), &B::new().tpm2b(b"").0);
    assert_eq!(r.rc, rc_s(ResponseCode::AUTH_FAIL, 1));
    assert_eq!(
        run(&mut t, CommandCode::DA_LOCK_RESET, &[RH_LOCKOUT], Some(&pw(b"")), &[]).rc,
        ResponseCode::LOCKOUT.0
    );
    // And the bound session itself is now refused before any HMAC check.
    assert_eq!(
        run(&mut t, CommandCode::HIERARCHY_CHANGE_AUTH, &[RH_OWNER], Some(&auth), &B::new().tpm2b(b"").0).rc,
        ResponseCode::LOCKOUT.0
    );
}
