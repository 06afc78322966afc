//! The firmware's vTPM configuration (`Tpm::firmware` with `FirmwareConfig::FIRMWARE`), run with a clock
//! the test moves: time-limited policies and tickets expire, dictionary-attack lockout heals after
//! recoveryTime, a lockoutAuth failure heals after lockoutRecovery (TPM 2.0 Part 1 §19.8; finding 3).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::common::{B, R, RH_LOCKOUT, RH_NULL, RH_OWNER, SHA256, params_of, pw, rc_p, rc_s, run};
use sha2::{Digest, Sha256};
use warden_vtpm::insecure_test_entropy::{InsecureTestClock, InsecureTestEntropy};
use warden_vtpm::{CommandCode, EndorsementSeed, FirmwareConfig, ResponseCode, Tpm};

const CONFIG: FirmwareConfig = FirmwareConfig::FIRMWARE;
/// An NV index written under a policy (POLICYWRITE | AUTHREAD | NO_DA).
const POLICY_INDEX: u32 = 0x0150_0060;
/// A DA-protected NV index written with its password (AUTHWRITE | AUTHREAD).
const DA_INDEX: u32 = 0x0150_0061;

/// The firmware's TPM after Startup(CLEAR), with the clock at 1 s.
fn firmware_tpm() -> (Tpm, Arc<AtomicU64>) {
    let now = Arc::new(AtomicU64::new(1_000));
    let mut t = Tpm::firmware(
        Box::new(InsecureTestEntropy::new(11)),
        Box::new(InsecureTestClock(now.clone())),
        &CONFIG,
        &EndorsementSeed::from_platform_key(&[3; 32], b"test"),
    );
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    (t, now)
}

fn advance(now: &AtomicU64, ms: u64) {
    now.fetch_add(ms, Ordering::Relaxed);
}

fn h(parts: &[&[u8]]) -> Vec<u8> {
    let mut d = Sha256::new();
    parts.iter().for_each(|p| d.update(p));
    d.finalize().to_vec()
}

fn define(t: &mut Tpm, index: u32, auth: &[u8], attrs: u32, policy: &[u8]) {
    let public = B::new().u32(index).u16(SHA256).u32(attrs).tpm2b(policy).u16(8).0;
    let p = B::new().tpm2b(auth).tpm2b(&public).0;
    run(t, CommandCode::NV_DEFINE_SPACE, &[RH_OWNER], Some(&pw(b"")), &p).ok();
}

/// A policy session: (handle, nonceTPM).
fn policy_session(t: &mut Tpm) -> (u32, Vec<u8>) {
    let p = B::new().tpm2b(&[9; 32]).tpm2b(b"").u8(1).u16(0x10).u16(SHA256).0;
    let r = run(t, CommandCode::START_AUTH_SESSION, &[RH_NULL, RH_NULL], None, &p).ok().clone();
    let mut rd = r.reader();
    (rd.u32(), rd.tpm2b().to_vec())
}

/// PolicySecret(owner) on session `s` with `nonce` and `expiration`; the response parameters.
fn policy_secret(t: &mut Tpm, s: u32, nonce: &[u8], expiration: i32) -> Vec<u8> {
    let p = B::new().tpm2b(nonce).tpm2b(b"").tpm2b(b"").u32(expiration as u32).0;
    params_of(run(t, CommandCode::POLICY_SECRET, &[RH_OWNER, s], Some(&pw(b"")), &p).ok(), false)
}

fn policy_write(t: &mut Tpm, s: u32) -> u32 {
    let auth = B::new().u32(s).tpm2b(&[3; 32]).u8(1).tpm2b(b"").0;
    let p = B::new().tpm2b(b"data").u16(0).0;
    run(t, CommandCode::NV_WRITE, &[POLICY_INDEX, POLICY_INDEX], Some(&auth), &p).rc
}

/// Finding 3 (firmware clock): under the firmware configuration, a PolicySecret whose expiration is 10 s
/// after the session started authorizes within those 10 s and answers TPM_RC_EXPIRED after them.
/// Threat model T5.
#[test]
fn a_policy_expiration_expires_on_the_firmware_configuration() {
    let (mut t, now) = firmware_tpm();
    let owner = RH_OWNER.to_be_bytes();
    let policy = h(&[&h(&[&[0u8; 32], &CommandCode::POLICY_SECRET.to_be_bytes(), &owner]), b""]);
    define(&mut t, POLICY_INDEX, b"", 1 << 3 | 1 << 18 | 1 << 25, &policy);
    let (s, nonce) = policy_session(&mut t);
    policy_secret(&mut t, s, &nonce, 10);
    advance(&now, 9_000);
    assert_eq!(policy_write(&mut t, s), 0, "within the 10 s");
    let (s, nonce) = policy_session(&mut t);
    policy_secret(&mut t, s, &nonce, 10);
    advance(&now, 10_001);
    assert_eq!(policy_write(&mut t, s), rc_s(ResponseCode::EXPIRED, 1), "after the 10 s");
}

/// Finding 3: a PolicySecret ticket (expiration -10 with the nonce: good until start + 10 s) replays
/// through PolicyTicket before its timeout and answers TPM_RC_EXPIRED after it.
/// Threat model T5.
#[test]
fn a_ticket_expires_on_the_firmware_configuration() {
    let (mut t, now) = firmware_tpm();
    let (s, nonce) = policy_session(&mut t);
    let out = policy_secret(&mut t, s, &nonce, -10);
    let mut rd = R(&out);
    let timeout = rd.tpm2b().to_vec();
    assert_eq!((rd.u16(), rd.u32()), (0x8023, RH_OWNER), "an AUTH_SECRET ticket for the owner");
    let ticket = rd.tpm2b().to_vec();
    let replay = |t: &mut Tpm| {
        let (s, _) = policy_session(t);
        let p = B::new()
            .tpm2b(&timeout)
            .tpm2b(b"")
            .tpm2b(b"")
            .tpm2b(&RH_OWNER.to_be_bytes())
            .u16(0x8023)
            .u32(RH_OWNER)
            .tpm2b(&ticket)
            .0;
        run(t, CommandCode::POLICY_TICKET, &[s], None, &p).rc
    };
    advance(&now, 5_000);
    assert_eq!(replay(&mut t), 0, "before the timeout");
    advance(&now, 5_001);
    assert_eq!(replay(&mut t), rc_p(ResponseCode::EXPIRED, 1), "after the timeout");
}

fn da_write(t: &mut Tpm, pass: &[u8]) -> u32 {
    run(t, CommandCode::NV_WRITE, &[DA_INDEX, DA_INDEX], Some(&pw(pass)), &B::new().tpm2b(b"x").u16(0).0).rc
}

/// Finding 3, Part 1 §19.8: under the firmware configuration, maxTries failures lock DA-protected
/// entities out; one recoveryTime later one failure is forgiven and the right password works again.
/// Threat model T5.
#[test]
fn dictionary_attack_lockout_heals_after_recovery_time() {
    let (mut t, now) = firmware_tpm();
    define(&mut t, DA_INDEX, b"pw", 1 << 2 | 1 << 18, &[]);
    for _ in 0..CONFIG.da.max_tries {
        assert_eq!(da_write(&mut t, b"bad"), rc_s(ResponseCode::AUTH_FAIL, 1));
    }
    assert_eq!(da_write(&mut t, b"pw"), ResponseCode::LOCKOUT.0, "locked out after maxTries");
    advance(&now, u64::from(CONFIG.da.recovery_time) * 1000 - 1);
    assert_eq!(da_write(&mut t, b"pw"), ResponseCode::LOCKOUT.0, "not before recoveryTime");
    advance(&now, 1);
    assert_eq!(da_write(&mut t, b"pw"), 0, "one failure forgiven after recoveryTime");
}

/// Finding 3, Part 1 §19.8.3: a wrong lockoutAuth blocks lockoutAuth, and it heals after
/// lockoutRecovery instead of staying blocked until the next boot.
/// Threat model T5.
#[test]
fn a_lockout_auth_failure_heals_after_lockout_recovery() {
    let (mut t, now) = firmware_tpm();
    let reset =
        |t: &mut Tpm, pass: &[u8]| run(t, CommandCode::DA_LOCK_RESET, &[RH_LOCKOUT], Some(&pw(pass)), &[]).rc;
    assert_eq!(reset(&mut t, b"wrong"), rc_s(ResponseCode::AUTH_FAIL, 1));
    assert_eq!(reset(&mut t, b""), ResponseCode::LOCKOUT.0, "lockoutAuth is blocked");
    advance(&now, u64::from(CONFIG.da.lockout_recovery) * 1000 - 1);
    assert_eq!(reset(&mut t, b""), ResponseCode::LOCKOUT.0, "not before lockoutRecovery");
    advance(&now, 1);
    assert_eq!(reset(&mut t, b""), 0, "usable again after lockoutRecovery");
}

/// The firmware configuration is what a TPM2_GetCapability(TPM_PT_MAX_AUTH_FAIL...) reports, and
/// TPM2_Clear restores it (not the reference simulator's defaults).
#[test]
fn the_firmware_da_parameters_are_reported_and_survive_clear() {
    let (mut t, _) = firmware_tpm();
    let read = |t: &mut Tpm| {
        let r =
            run(t, CommandCode::GET_CAPABILITY, &[], None, &B::new().u32(6).u32(0x20F).u32(3).0).ok().clone();
        let mut rd = R(&r.body[1..]);
        assert_eq!((rd.u32(), rd.u32()), (6, 3));
        [(rd.u32(), rd.u32()), (rd.u32(), rd.u32()), (rd.u32(), rd.u32())]
    };
    let expect =
        [(0x20F, CONFIG.da.max_tries), (0x210, CONFIG.da.recovery_time), (0x211, CONFIG.da.lockout_recovery)];
    assert_eq!(read(&mut t), expect);
    run(&mut t, CommandCode::DA_PARAMETERS, &[RH_LOCKOUT], Some(&pw(b"")), &B::new().u32(1).u32(1).u32(1).0)
        .ok();
    run(&mut t, CommandCode::CLEAR, &[RH_LOCKOUT], Some(&pw(b"")), &[]).ok();
    assert_eq!(read(&mut t), expect);
}
