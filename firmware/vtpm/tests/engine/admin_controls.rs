//! ClockSet/ClockRateAdjust, HierarchyControl, SetPrimaryPolicy, NV_GlobalWriteLock, PolicyLocality
//! and PolicyNvWritten.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::common::{
    B, RH_ENDORSEMENT, RH_NULL, RH_OWNER, RH_PLATFORM, SHA256, command, parse, pw, rc_h, rc_p, rc_s, run,
    started,
};
use sha2::{Digest, Sha256};
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;
use warden_vtpm::insecure_test_entropy::{InsecureTestClock, InsecureTestEntropy};

const IDX: u32 = 0x0150_0020;

fn h(parts: &[&[u8]]) -> Vec<u8> {
    let mut d = Sha256::new();
    parts.iter().for_each(|p| d.update(p));
    d.finalize().to_vec()
}

fn policy_session(t: &mut Tpm) -> u32 {
    let p = B::new().tpm2b(&[9; 32]).tpm2b(b"").u8(1).u16(0x10).u16(SHA256).0;
    run(t, CommandCode::START_AUTH_SESSION, &[RH_NULL, RH_NULL], None, &p).ok().reader().u32()
}

#[test]
fn clock_set_only_moves_forward() {
    let now = Arc::new(AtomicU64::new(1_000));
    let mut t = Tpm::new(Box::new(InsecureTestEntropy::new(5)));
    t.set_clock(Box::new(InsecureTestClock(now.clone())));
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    now.store(2_000, Ordering::Relaxed);
    let clock = |t: &mut Tpm| run(t, CommandCode::READ_CLOCK, &[], None, &[]).ok().body[8..16].to_vec();
    assert_eq!(clock(&mut t), 1_000u64.to_be_bytes());
    assert_eq!(
        run(&mut t, CommandCode::CLOCK_SET, &[RH_OWNER], Some(&pw(b"")), &999u64.to_be_bytes()).rc,
        rc_p(ResponseCode::VALUE, 1)
    );
    run(&mut t, CommandCode::CLOCK_SET, &[RH_OWNER], Some(&pw(b"")), &50_000u64.to_be_bytes()).ok();
    now.store(2_500, Ordering::Relaxed);
    assert_eq!(clock(&mut t), 50_500u64.to_be_bytes());
    let far = 0xFFFF_0000_0000_0001u64;
    assert_eq!(
        run(&mut t, CommandCode::CLOCK_SET, &[RH_OWNER], Some(&pw(b"")), &far.to_be_bytes()).rc,
        rc_p(ResponseCode::VALUE, 1)
    );
    // ClockRateAdjust takes -3..=3.
    run(&mut t, CommandCode::CLOCK_RATE_ADJUST, &[RH_PLATFORM], Some(&pw(b"")), &[0xFD]).ok();
    assert_eq!(
        run(&mut t, CommandCode::CLOCK_RATE_ADJUST, &[RH_PLATFORM], Some(&pw(b"")), &[4]).rc,
        rc_p(ResponseCode::VALUE, 1)
    );
}

#[test]
fn hierarchy_control_rules() {
    let mut t = started();
    let ctl = |t: &mut Tpm, auth: u32, enable: u32, state: u8| {
        run(t, CommandCode::HIERARCHY_CONTROL, &[auth], Some(&pw(b"")), &B::new().u32(enable).u8(state).0).rc
    };
    // The owner may turn its own hierarchy off, not the platform's, and not back on.
    assert_eq!(ctl(&mut t, RH_OWNER, RH_PLATFORM, 0), ResponseCode::AUTH_TYPE.0);
    assert_eq!(ctl(&mut t, RH_OWNER, RH_ENDORSEMENT, 0), ResponseCode::AUTH_TYPE.0);
    const NVIDX: u32 = 0x0150_0030;
    let public = B::new().u32(NVIDX).u16(SHA256).u32(1 << 1 | 1 << 17).tpm2b(b"").u16(4).0;
    run(
        &mut t,
        CommandCode::NV_DEFINE_SPACE,
        &[RH_OWNER],
        Some(&pw(b"")),
        &B::new().tpm2b(b"").tpm2b(&public).0,
    )
    .ok();
    assert_eq!(ctl(&mut t, RH_OWNER, RH_OWNER, 0), 0);
    // Owner authorization is gone, and so are the owner's NV indices.
    assert_eq!(ctl(&mut t, RH_OWNER, RH_OWNER, 1), rc_h(ResponseCode::HIERARCHY, 1));
    assert_eq!(
        run(&mut t, CommandCode::NV_READ_PUBLIC, &[NVIDX], None, &[]).rc,
        rc_h(ResponseCode::HANDLE, 1)
    );
    // The platform turns it back on; invalid enables are VALUE errors.
    assert_eq!(ctl(&mut t, RH_PLATFORM, RH_OWNER, 1), 0);
    run(&mut t, CommandCode::NV_READ_PUBLIC, &[NVIDX], None, &[]).ok();
    assert_eq!(ctl(&mut t, RH_PLATFORM, 0x4000_000A, 1), rc_p(ResponseCode::VALUE, 1));
    // Once the platform disables itself, only Startup(CLEAR) brings it back.
    assert_eq!(ctl(&mut t, RH_PLATFORM, RH_PLATFORM, 0), 0);
    assert_eq!(ctl(&mut t, RH_PLATFORM, RH_PLATFORM, 1), rc_h(ResponseCode::HIERARCHY, 1));
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    assert_eq!(ctl(&mut t, RH_PLATFORM, RH_OWNER, 1), 0);
}

#[test]
fn set_primary_policy_lets_a_policy_authorize_the_owner() {
    let mut t = started();
    let policy = h(&[&[0u8; 32], &CommandCode::POLICY_AUTH_VALUE.to_be_bytes()]); // PolicyAuthValue / PolicyPassword
    let set = |t: &mut Tpm, p: &[u8], alg: u16| {
        run(t, CommandCode::SET_PRIMARY_POLICY, &[RH_OWNER], Some(&pw(b"")), &B::new().tpm2b(p).u16(alg).0).rc
    };
    assert_eq!(set(&mut t, &policy[..31], SHA256), rc_p(ResponseCode::SIZE, 1));
    assert_eq!(set(&mut t, &policy, crate::common::SM3_256), rc_p(ResponseCode::HASH, 2));
    assert_eq!(set(&mut t, &policy, SHA256), 0);
    let s = policy_session(&mut t);
    run(&mut t, CommandCode::POLICY_PASSWORD, &[s], None, &[]).ok(); // PolicyPassword
    let auth = B::new().u32(s).tpm2b(&[1; 32]).u8(1).tpm2b(b"").0;
    run(&mut t, CommandCode::HIERARCHY_CHANGE_AUTH, &[RH_OWNER], Some(&auth), &B::new().tpm2b(b"").0).ok();
    // Clear removes the owner policy again.
    run(&mut t, CommandCode::CLEAR, &[0x4000_000A], Some(&pw(b"")), &[]).ok();
    run(&mut t, CommandCode::POLICY_PASSWORD, &[s], None, &[]).ok();
    assert_eq!(
        run(&mut t, CommandCode::HIERARCHY_CHANGE_AUTH, &[RH_OWNER], Some(&auth), &B::new().tpm2b(b"").0).rc,
        ResponseCode::AUTH_UNAVAILABLE.0
    );
}

#[test]
fn global_write_lock_locks_globallock_indices_until_startup() {
    let mut t = started();
    let attrs = 1 << 1 | 1 << 17 | 1 << 15; // OWNERWRITE | OWNERREAD | GLOBALLOCK
    let public = B::new().u32(IDX).u16(SHA256).u32(attrs).tpm2b(b"").u16(4).0;
    run(
        &mut t,
        CommandCode::NV_DEFINE_SPACE,
        &[RH_OWNER],
        Some(&pw(b"")),
        &B::new().tpm2b(b"").tpm2b(&public).0,
    )
    .ok();
    let write = |t: &mut Tpm| {
        run(t, CommandCode::NV_WRITE, &[RH_OWNER, IDX], Some(&pw(b"")), &B::new().tpm2b(b"abcd").u16(0).0).rc
    };
    assert_eq!(write(&mut t), 0);
    run(&mut t, CommandCode::NV_GLOBAL_WRITE_LOCK, &[RH_OWNER], Some(&pw(b"")), &[]).ok();
    assert_eq!(write(&mut t), ResponseCode::NV_LOCKED.0);
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    assert_eq!(write(&mut t), 0);
}

#[test]
fn policy_locality_and_nv_written() {
    let mut t = started();
    // A trial digest for PolicyLocality(locality 3 | 4) then PolicyNvWritten(NO).
    let p = B::new().tpm2b(&[9; 32]).tpm2b(b"").u8(3).u16(0x10).u16(SHA256).0;
    let trial =
        run(&mut t, CommandCode::START_AUTH_SESSION, &[RH_NULL, RH_NULL], None, &p).ok().reader().u32();
    run(&mut t, CommandCode::POLICY_LOCALITY, &[trial], None, &[0x18]).ok();
    run(&mut t, CommandCode::POLICY_NV_WRITTEN, &[trial], None, &[0]).ok();
    let d1 = h(&[&[0u8; 32], &CommandCode::POLICY_LOCALITY.to_be_bytes(), &[0x18]]);
    let expect = h(&[&d1, &CommandCode::POLICY_NV_WRITTEN.to_be_bytes(), &[0]]);
    assert_eq!(
        run(&mut t, CommandCode::POLICY_GET_DIGEST, &[trial], None, &[]).ok().reader().tpm2b(),
        expect
    );
    // Narrowing to nothing, mixing normal and extended, zero: TPM_RC_RANGE.
    assert_eq!(
        run(&mut t, CommandCode::POLICY_LOCALITY, &[trial], None, &[0x01]).rc,
        rc_p(ResponseCode::RANGE, 1)
    );
    assert_eq!(
        run(&mut t, CommandCode::POLICY_LOCALITY, &[trial], None, &[0x40]).rc,
        rc_p(ResponseCode::RANGE, 1)
    );
    assert_eq!(
        run(&mut t, CommandCode::POLICY_LOCALITY, &[trial], None, &[0]).rc,
        rc_p(ResponseCode::RANGE, 1)
    );
    assert_eq!(
        run(&mut t, CommandCode::POLICY_NV_WRITTEN, &[trial], None, &[1]).rc,
        rc_p(ResponseCode::VALUE, 1)
    );

    // An index with that policy: writable once, from locality 3 or 4 only.
    let attrs = 1 << 3 | 1 << 17 | 1 << 1 | 1 << 25; // POLICYWRITE | OWNERREAD | OWNERWRITE | NO_DA
    let public = B::new().u32(IDX).u16(SHA256).u32(attrs).tpm2b(&expect).u16(4).0;
    run(
        &mut t,
        CommandCode::NV_DEFINE_SPACE,
        &[RH_OWNER],
        Some(&pw(b"")),
        &B::new().tpm2b(b"").tpm2b(&public).0,
    )
    .ok();
    let s = policy_session(&mut t);
    let satisfy = |t: &mut Tpm| {
        run(t, CommandCode::POLICY_LOCALITY, &[s], None, &[0x18]).ok();
        run(t, CommandCode::POLICY_NV_WRITTEN, &[s], None, &[0]).ok();
    };
    let auth = B::new().u32(s).tpm2b(&[1; 32]).u8(1).tpm2b(b"").0;
    let w = B::new().tpm2b(b"once").u16(0).0;
    satisfy(&mut t);
    assert_eq!(run(&mut t, CommandCode::NV_WRITE, &[IDX, IDX], Some(&auth), &w).rc, ResponseCode::LOCALITY.0);
    let at3 = |t: &mut Tpm| {
        parse(&t.execute_at_locality(3, &command(CommandCode::NV_WRITE, &[IDX, IDX], Some(&auth), &w))).rc
    };
    assert_eq!(at3(&mut t), 0);
    satisfy(&mut t);
    assert_eq!(at3(&mut t), rc_s(ResponseCode::POLICY_FAIL, 1)); // now written: the policy no longer holds
}
