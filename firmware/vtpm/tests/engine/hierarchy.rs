//! Hierarchy authorization and the dictionary-attack logic: HierarchyChangeAuth, Clear,
//! ClearControl, DictionaryAttackParameters/LockReset, lockout-auth blocking and timed recovery.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::common::{
    B, RH_ENDORSEMENT, RH_LOCKOUT, RH_NULL, RH_OWNER, RH_PLATFORM, pw, rc_h, rc_p, rc_s, run, started,
};
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;
use warden_vtpm::insecure_test_entropy::{InsecureTestClock, InsecureTestEntropy};

fn change(t: &mut Tpm, h: u32, old: &[u8], new: &[u8]) -> u32 {
    run(t, CommandCode::HIERARCHY_CHANGE_AUTH, &[h], Some(&pw(old)), &B::new().tpm2b(new).0).rc
}

fn permanent(t: &mut Tpm) -> u32 {
    let r = run(t, CommandCode::GET_CAPABILITY, &[], None, &B::new().u32(6).u32(0x200).u32(1).0).ok().clone();
    u32::from_be_bytes(r.body[13..17].try_into().unwrap())
}

fn lockout_counter(t: &mut Tpm) -> u32 {
    let r = run(t, CommandCode::GET_CAPABILITY, &[], None, &B::new().u32(6).u32(0x20E).u32(1).0).ok().clone();
    u32::from_be_bytes(r.body[13..17].try_into().unwrap())
}

#[test]
fn change_auth_per_hierarchy() {
    let mut t = started();
    for (h, bit) in [(RH_OWNER, 1), (RH_ENDORSEMENT, 2), (RH_LOCKOUT, 4)] {
        assert_eq!(change(&mut t, h, b"", b"pw"), 0);
        assert_eq!(permanent(&mut t) & bit, bit, "authSet bit for {h:#x}");
        // Owner and endorsement are DA-exempt: BAD_AUTH. Lockout: AUTH_FAIL.
        let expect =
            if h == RH_LOCKOUT { rc_s(ResponseCode::AUTH_FAIL, 1) } else { rc_s(ResponseCode::BAD_AUTH, 1) };
        assert_eq!(change(&mut t, h, b"", b""), expect);
        if h == RH_LOCKOUT {
            // The lockout auth is now blocked, even with the right value.
            assert_eq!(change(&mut t, h, b"pw", b""), ResponseCode::LOCKOUT.0);
        } else {
            assert_eq!(change(&mut t, h, b"pw", b""), 0);
        }
    }
    // Platform works too; the auth is bounded by the largest digest.
    assert_eq!(change(&mut t, RH_PLATFORM, b"", b"p"), 0);
    assert_eq!(change(&mut t, RH_OWNER, b"", &[1; 49]), rc_p(ResponseCode::SIZE, 1));
    assert_eq!(
        run(
            &mut t,
            CommandCode::HIERARCHY_CHANGE_AUTH,
            &[0x4000_0007],
            Some(&pw(b"")),
            &B::new().tpm2b(b"").0
        )
        .rc,
        rc_h(ResponseCode::VALUE, 1)
    );
    // Startup(CommandCode::CLEAR) resets the platform auth.
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    assert_eq!(change(&mut t, RH_PLATFORM, b"", b""), 0);
}

#[test]
fn clear_resets_auths_and_clear_control_can_forbid_it() {
    let mut t = started();
    assert_eq!(change(&mut t, RH_OWNER, b"", b"o"), 0);
    assert_eq!(change(&mut t, RH_LOCKOUT, b"", b"l"), 0);
    run(&mut t, CommandCode::CLEAR, &[RH_LOCKOUT], Some(&pw(b"l")), &[]).ok();
    assert_eq!(permanent(&mut t) & 7, 0);
    assert_eq!(change(&mut t, RH_OWNER, b"", b""), 0);
    // Owner cannot Clear.
    assert_eq!(
        run(&mut t, CommandCode::CLEAR, &[RH_OWNER], Some(&pw(b"")), &[]).rc,
        rc_h(ResponseCode::VALUE, 1)
    );
    // disableClear: lockout can set it but not clear it; then Clear via lockout is DISABLED.
    run(&mut t, CommandCode::CLEAR_CONTROL, &[RH_LOCKOUT], Some(&pw(b"")), &[1]).ok();
    assert_eq!(permanent(&mut t) & 1 << 8, 1 << 8);
    assert_eq!(
        run(&mut t, CommandCode::CLEAR_CONTROL, &[RH_LOCKOUT], Some(&pw(b"")), &[0]).rc,
        ResponseCode::AUTH_FAIL.0
    );
    assert_eq!(
        run(&mut t, CommandCode::CLEAR, &[RH_LOCKOUT], Some(&pw(b"")), &[]).rc,
        ResponseCode::DISABLED.0
    );
    assert_eq!(
        run(&mut t, CommandCode::CLEAR_CONTROL, &[RH_LOCKOUT], Some(&pw(b"")), &[2]).rc,
        rc_p(ResponseCode::VALUE, 1)
    );
    // Platform can clear it again.
    run(&mut t, CommandCode::CLEAR_CONTROL, &[RH_PLATFORM], Some(&pw(b"")), &[0]).ok();
    run(&mut t, CommandCode::CLEAR, &[RH_LOCKOUT], Some(&pw(b"")), &[]).ok();
}

/// A TPM with a hand-driven clock and a DA-protected NV index with password "pw".
fn da_tpm() -> (Tpm, Arc<AtomicU64>) {
    let now = Arc::new(AtomicU64::new(0));
    let mut t = Tpm::new(Box::new(InsecureTestEntropy::new(9)));
    t.set_clock(Box::new(InsecureTestClock(now.clone())));
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    let public = B::new().u32(0x0150_0000).u16(0x0B).u32(1 << 2 | 1 << 18).tpm2b(b"").u16(4).0;
    run(
        &mut t,
        CommandCode::NV_DEFINE_SPACE,
        &[RH_OWNER],
        Some(&pw(b"")),
        &B::new().tpm2b(b"pw").tpm2b(&public).0,
    )
    .ok();
    (t, now)
}

fn nv_write(t: &mut Tpm, pass: &[u8]) -> u32 {
    let h = 0x0150_0000;
    run(t, CommandCode::NV_WRITE, &[h, h], Some(&pw(pass)), &B::new().tpm2b(b"x").u16(0).0).rc
}

#[test]
fn failures_are_forgiven_one_per_recovery_interval() {
    let (mut t, now) = da_tpm();
    run(
        &mut t,
        CommandCode::DA_PARAMETERS,
        &[RH_LOCKOUT],
        Some(&pw(b"")),
        &B::new().u32(2).u32(10).u32(60).0,
    )
    .ok();
    assert_eq!(nv_write(&mut t, b"bad"), rc_s(ResponseCode::AUTH_FAIL, 1));
    assert_eq!(nv_write(&mut t, b"bad"), rc_s(ResponseCode::AUTH_FAIL, 1));
    assert_eq!(lockout_counter(&mut t), 2);
    assert_eq!(nv_write(&mut t, b"pw"), ResponseCode::LOCKOUT.0);
    assert_eq!(permanent(&mut t) & 1 << 9, 1 << 9); // inLockout
    now.store(9_999, Ordering::Relaxed);
    assert_eq!(nv_write(&mut t, b"pw"), ResponseCode::LOCKOUT.0);
    now.store(10_000, Ordering::Relaxed);
    assert_eq!(nv_write(&mut t, b"pw"), 0);
    assert_eq!(lockout_counter(&mut t), 1);
    now.store(20_000, Ordering::Relaxed);
    assert_eq!(lockout_counter(&mut t), 0);
}

/// Threat model T5.
#[test]
fn lockout_auth_failure_blocks_lockout_until_recovery() {
    let (mut t, now) = da_tpm();
    assert_eq!(
        run(&mut t, CommandCode::DA_LOCK_RESET, &[RH_LOCKOUT], Some(&pw(b"wrong")), &[]).rc,
        rc_s(ResponseCode::AUTH_FAIL, 1)
    );
    assert_eq!(
        run(&mut t, CommandCode::DA_LOCK_RESET, &[RH_LOCKOUT], Some(&pw(b"")), &[]).rc,
        ResponseCode::LOCKOUT.0
    );
    now.store(999_999, Ordering::Relaxed);
    assert_eq!(
        run(&mut t, CommandCode::DA_LOCK_RESET, &[RH_LOCKOUT], Some(&pw(b"")), &[]).rc,
        ResponseCode::LOCKOUT.0
    );
    now.store(1_000_000, Ordering::Relaxed); // default lockoutRecovery: 1000 s
    run(&mut t, CommandCode::DA_LOCK_RESET, &[RH_LOCKOUT], Some(&pw(b"")), &[]).ok();
    // With lockoutRecovery 0, only a TPM Reset releases it.
    run(&mut t, CommandCode::DA_PARAMETERS, &[RH_LOCKOUT], Some(&pw(b"")), &B::new().u32(3).u32(10).u32(0).0)
        .ok();
    assert_eq!(
        run(&mut t, CommandCode::DA_LOCK_RESET, &[RH_LOCKOUT], Some(&pw(b"x")), &[]).rc,
        rc_s(ResponseCode::AUTH_FAIL, 1)
    );
    now.store(100_000_000, Ordering::Relaxed);
    assert_eq!(
        run(&mut t, CommandCode::DA_LOCK_RESET, &[RH_LOCKOUT], Some(&pw(b"")), &[]).rc,
        ResponseCode::LOCKOUT.0
    );
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    run(&mut t, CommandCode::DA_LOCK_RESET, &[RH_LOCKOUT], Some(&pw(b"")), &[]).ok();
}

#[test]
fn da_parameters_reports_and_zero_max_tries_locks_out() {
    let (mut t, _) = da_tpm();
    run(&mut t, CommandCode::DA_PARAMETERS, &[RH_LOCKOUT], Some(&pw(b"")), &B::new().u32(0).u32(5).u32(6).0)
        .ok();
    assert_eq!(nv_write(&mut t, b"pw"), ResponseCode::LOCKOUT.0);
    let r = run(&mut t, CommandCode::GET_CAPABILITY, &[], None, &B::new().u32(6).u32(0x20F).u32(3).0)
        .ok()
        .clone();
    assert_eq!(&r.body[9..], &B::new().u32(0x20F).u32(0).u32(0x210).u32(5).u32(0x211).u32(6).0[..]);
    assert_eq!(
        run(&mut t, CommandCode::DA_PARAMETERS, &[RH_LOCKOUT], Some(&pw(b"")), &B::new().u32(0).u32(5).0).rc,
        rc_p(ResponseCode::INSUFFICIENT, 3)
    );
    // Only the lockout hierarchy may set DA parameters.
    assert_eq!(
        run(
            &mut t,
            CommandCode::DA_PARAMETERS,
            &[RH_OWNER],
            Some(&pw(b"")),
            &B::new().u32(1).u32(1).u32(1).0
        )
        .rc,
        rc_h(ResponseCode::VALUE, 1)
    );
}

#[test]
fn non_orderly_restart_after_da_use_counts_as_a_failure() {
    let (mut t, _) = da_tpm();
    assert_eq!(nv_write(&mut t, b"pw"), 0); // a DA-protected authValue was used
    assert_eq!(lockout_counter(&mut t), 0);
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok(); // no Shutdown: not orderly
    assert_eq!(lockout_counter(&mut t), 1);
    // With an orderly shutdown, or without DA use, nothing is counted.
    run(&mut t, CommandCode::SHUTDOWN, &[], None, &[0, 0]).ok();
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    assert_eq!(lockout_counter(&mut t), 1);
}

#[test]
fn zero_recovery_time_disables_counting_and_clear_restores_defaults() {
    let (mut t, _) = da_tpm();
    run(&mut t, CommandCode::DA_PARAMETERS, &[RH_LOCKOUT], Some(&pw(b"")), &B::new().u32(1).u32(0).u32(0).0)
        .ok();
    for _ in 0..3 {
        assert_eq!(nv_write(&mut t, b"bad"), rc_s(ResponseCode::AUTH_FAIL, 1));
    }
    assert_eq!(lockout_counter(&mut t), 0);
    assert_eq!(nv_write(&mut t, b"pw"), 0);
    run(&mut t, CommandCode::CLEAR, &[RH_LOCKOUT], Some(&pw(b"")), &[]).ok();
    let r = run(&mut t, CommandCode::GET_CAPABILITY, &[], None, &B::new().u32(6).u32(0x20F).u32(3).0)
        .ok()
        .clone();
    assert_eq!(&r.body[9..], &B::new().u32(0x20F).u32(3).u32(0x210).u32(1000).u32(0x211).u32(1000).0[..]);
}

#[test]
fn a_session_bound_to_a_protected_index_counts_its_failures() {
    let (mut t, _) = da_tpm();
    let p = B::new().tpm2b(&[1; 16]).tpm2b(b"").u8(0).u16(0x10).u16(0x0B).0;
    let h =
        run(&mut t, CommandCode::START_AUTH_SESSION, &[RH_NULL, 0x0150_0000], None, &p).ok().reader().u32();
    // Used for the owner (exempt) with a wrong HMAC, the failure still counts: the session is DA-bound.
    let auth = B::new().u32(h).tpm2b(&[2; 16]).u8(1).tpm2b(&[0; 32]).0;
    let r = run(&mut t, CommandCode::HIERARCHY_CHANGE_AUTH, &[RH_OWNER], Some(&auth), &B::new().tpm2b(b"").0);
    assert_eq!(r.rc, rc_s(ResponseCode::AUTH_FAIL, 1));
    assert_eq!(lockout_counter(&mut t), 1);
}
