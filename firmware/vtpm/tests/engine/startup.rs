//! Startup/Shutdown sequencing, self tests, GetRandom, StirRandom and ReadClock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::common::{B, powered, rc_p, run, started};
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;
use warden_vtpm::insecure_test_entropy::{InsecureTestClock, InsecureTestEntropy};

/// (time, clock, resetCount, restartCount, safe)
fn read_clock(t: &mut Tpm) -> (u64, u64, u32, u32, u8) {
    let r = run(t, CommandCode::READ_CLOCK, &[], None, &[]).ok().clone();
    let mut rd = r.reader();
    let v = (rd.u64(), rd.u64(), rd.u32(), rd.u32(), rd.u8());
    rd.done();
    v
}

#[test]
fn startup_argument_errors() {
    let mut t = powered();
    assert_eq!(run(&mut t, CommandCode::STARTUP, &[], None, &[0, 2]).rc, rc_p(ResponseCode::VALUE, 1));
    // STATE without a preceding Shutdown(STATE) is refused, and the TPM still wants Startup.
    assert_eq!(run(&mut t, CommandCode::STARTUP, &[], None, &[0, 1]).rc, rc_p(ResponseCode::VALUE, 1));
    assert_eq!(run(&mut t, CommandCode::GET_RANDOM, &[], None, &[0, 1]).rc, ResponseCode::INITIALIZE.0);
    assert_eq!(run(&mut t, CommandCode::STARTUP, &[], None, &[0]).rc, rc_p(ResponseCode::INSUFFICIENT, 1));
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    assert_eq!(run(&mut t, CommandCode::SHUTDOWN, &[], None, &[0, 7]).rc, rc_p(ResponseCode::VALUE, 1));
    // Shutdown(CLEAR) then Startup(STATE) is refused too.
    run(&mut t, CommandCode::SHUTDOWN, &[], None, &[0, 0]).ok();
    t.power_on();
    assert_eq!(run(&mut t, CommandCode::STARTUP, &[], None, &[0, 1]).rc, rc_p(ResponseCode::VALUE, 1));
}

#[test]
fn reset_and_restart_counters() {
    let mut t = started();
    let (_, _, reset0, restart0, safe) = read_clock(&mut t);
    assert_eq!((restart0, safe), (0, 1));
    run(&mut t, CommandCode::SHUTDOWN, &[], None, &[0, 1]).ok();
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 1]).ok(); // Resume
    assert_eq!(read_clock(&mut t).2, reset0);
    assert_eq!(read_clock(&mut t).3, 1);
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok(); // Reset (no orderly shutdown)
    assert_eq!((read_clock(&mut t).2, read_clock(&mut t).3), (reset0 + 1, 0));
}

#[test]
fn clock_follows_the_time_source() {
    let now = Arc::new(AtomicU64::new(5_000));
    let mut t = Tpm::new(Box::new(InsecureTestEntropy::new(3)));
    t.set_clock(Box::new(InsecureTestClock(now.clone())));
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    now.store(7_500, Ordering::Relaxed);
    let (time, clock, ..) = read_clock(&mut t);
    assert_eq!((time, clock), (2_500, 2_500));
    // _TPM_Init restarts `time` but not `clock`.
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    now.store(8_000, Ordering::Relaxed);
    let (time, clock, ..) = read_clock(&mut t);
    assert_eq!((time, clock), (500, 3_000));
    // TPM2_Clear sets Clock back to zero (and the counters), not Time.
    run(&mut t, CommandCode::CLEAR, &[crate::common::RH_LOCKOUT], Some(&crate::common::pw(b"")), &[]).ok();
    now.store(8_100, Ordering::Relaxed);
    assert_eq!(read_clock(&mut t), (600, 100, 0, 0, 1));
}

#[test]
fn self_tests_pass() {
    let mut t = started();
    run(&mut t, CommandCode::SELF_TEST, &[], None, &[1]).ok();
    assert_eq!(run(&mut t, CommandCode::SELF_TEST, &[], None, &[2]).rc, rc_p(ResponseCode::VALUE, 1));
    let r =
        run(&mut t, CommandCode::INCREMENTAL_SELF_TEST, &[], None, &B::new().u32(2).u16(0x0B).u16(0x0C).0)
            .ok()
            .clone();
    assert_eq!(r.body, 0u32.to_be_bytes()); // nothing left to test
    assert_eq!(
        run(&mut t, CommandCode::INCREMENTAL_SELF_TEST, &[], None, &B::new().u32(65).0).rc,
        rc_p(ResponseCode::SIZE, 1)
    );
    let r = run(&mut t, CommandCode::GET_TEST_RESULT, &[], None, &[]).ok().clone();
    assert_eq!(r.body, [0, 0, 0, 0, 0, 0]); // empty outData, TPM_RC_SUCCESS
}

#[test]
fn get_random_sizes_and_freshness() {
    let mut t = started();
    let get = |t: &mut Tpm, n: u16| {
        run(t, CommandCode::GET_RANDOM, &[], None, &n.to_be_bytes()).ok().reader().tpm2b().to_vec()
    };
    assert_eq!(get(&mut t, 0).len(), 0);
    assert_eq!(get(&mut t, 17).len(), 17);
    // At most one largest digest (48 bytes) per call; never more than asked.
    assert_eq!(get(&mut t, 4096).len(), 48);
    let a = get(&mut t, 32);
    let b = get(&mut t, 32);
    assert_ne!(a, b);
    assert_ne!(a, vec![0; 32]);
}

#[test]
fn stir_random_changes_the_stream_and_bounds_its_input() {
    // Two TPMs from the same seed give the same bytes until one is stirred.
    let mut a = started();
    let mut b = started();
    let get =
        |t: &mut Tpm| run(t, CommandCode::GET_RANDOM, &[], None, &[0, 32]).ok().reader().tpm2b().to_vec();
    assert_eq!(get(&mut a), get(&mut b));
    run(&mut b, CommandCode::STIR_RANDOM, &[], None, &B::new().tpm2b(b"extra entropy").0).ok();
    assert_ne!(get(&mut a), get(&mut b));
    assert_eq!(
        run(&mut a, CommandCode::STIR_RANDOM, &[], None, &B::new().tpm2b(&[0; 129]).0).rc,
        rc_p(ResponseCode::SIZE, 1)
    );
}

#[test]
fn a_fork_starts_identical_and_then_lives_apart() {
    let mut a = started();
    let mut b = a.insecure_fork(Box::new(InsecureTestEntropy::new(77)));
    let get =
        |t: &mut Tpm| run(t, CommandCode::GET_RANDOM, &[], None, &[0, 32]).ok().reader().tpm2b().to_vec();
    // Same DRBG state: the same bytes come out of both.
    assert_eq!(get(&mut a), get(&mut b));
    // A change in the fork (an extend of PCR 16) does not reach the original.
    let p = B::new().u32(1).u16(0x0B).raw(&[5; 32]).0;
    run(&mut b, CommandCode::PCR_EXTEND, &[16], Some(&crate::common::pw(b"")), &p).ok();
    let sel = B::new().u32(1).u16(0x0B).u8(3).raw(&[0, 0, 1]).0;
    let pcr = |t: &mut Tpm| run(t, CommandCode::PCR_READ, &[], None, &sel).ok().body.clone();
    assert_ne!(pcr(&mut a), pcr(&mut b));
}
