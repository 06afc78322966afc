//! PCR_Read, PCR_Extend, PCR_Event, PCR_Reset and the PCR lifecycle across Startup, checked against
//! digests computed here with the `sha2` crate.

use crate::common::{
    B, RH_NULL, SHA1, SHA256, SHA384, SM3_256, command, exec, powered, pw, rc_h, rc_p, rc_s, run, started,
};
use sha2::{Digest, Sha256, Sha384};
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;

fn select(pcrs: &[usize]) -> [u8; 3] {
    let mut s = [0u8; 3];
    for &p in pcrs {
        s[p / 8] |= 1 << (p % 8);
    }
    s
}

/// Reads one PCR from one bank.
pub(crate) fn read(t: &mut Tpm, alg: u16, pcr: usize) -> Vec<u8> {
    let p = B::new().u32(1).u16(alg).u8(3).raw(&select(&[pcr])).0;
    let r = run(t, CommandCode::PCR_READ, &[], None, &p).ok().clone();
    let mut rd = r.reader();
    rd.u32(); // update counter
    assert_eq!(rd.u32(), 1);
    assert_eq!(rd.u16(), alg);
    assert_eq!(rd.u8(), 3);
    assert_eq!(rd.bytes(3), select(&[pcr]));
    assert_eq!(rd.u32(), 1);
    let v = rd.tpm2b().to_vec();
    rd.done();
    v
}

fn extend_params(digests: &[(u16, &[u8])]) -> Vec<u8> {
    let mut b = B::new().u32(digests.len() as u32);
    for (alg, d) in digests {
        b = b.u16(*alg).raw(d);
    }
    b.0
}

fn update_counter(t: &mut Tpm) -> u32 {
    let p = B::new().u32(0).0;
    run(t, CommandCode::PCR_READ, &[], None, &p).ok().reader().u32()
}

#[test]
fn extend_is_hash_of_old_value_and_digest_in_each_bank() {
    let mut t = started();
    let d256 = Sha256::digest(b"measurement");
    let d384 = Sha384::digest(b"measurement");
    let before = update_counter(&mut t);
    let p = extend_params(&[(SHA256, &d256), (SHA384, &d384)]);
    run(&mut t, CommandCode::PCR_EXTEND, &[10], Some(&pw(b"")), &p).ok();
    let e256 = Sha256::new().chain_update([0u8; 32]).chain_update(d256).finalize();
    let e384 = Sha384::new().chain_update([0u8; 48]).chain_update(d384).finalize();
    assert_eq!(read(&mut t, SHA256, 10), e256.to_vec());
    assert_eq!(read(&mut t, SHA384, 10), e384.to_vec());
    assert_eq!(update_counter(&mut t), before + 1);
    // A second extend of only the SHA-256 bank leaves SHA-384 alone.
    run(&mut t, CommandCode::PCR_EXTEND, &[10], Some(&pw(b"")), &extend_params(&[(SHA256, &d256)])).ok();
    let e256b = Sha256::new().chain_update(e256).chain_update(d256).finalize();
    assert_eq!(read(&mut t, SHA256, 10), e256b.to_vec());
    assert_eq!(read(&mut t, SHA384, 10), e384.to_vec());
}

#[test]
fn extend_errors() {
    let mut t = started();
    let d = [7u8; 32];
    // Unknown hash (SM3-256) on parameter 1.
    assert_eq!(
        run(&mut t, CommandCode::PCR_EXTEND, &[1], Some(&pw(b"")), &extend_params(&[(SM3_256, &d[..])])).rc,
        rc_p(ResponseCode::HASH, 1)
    );
    // Digest shorter than the algorithm's size.
    assert_eq!(
        run(&mut t, CommandCode::PCR_EXTEND, &[1], Some(&pw(b"")), &extend_params(&[(SHA256, &d[..31])])).rc,
        rc_p(ResponseCode::INSUFFICIENT, 1)
    );
    // More digests than banks.
    let p = B::new().u32(4).0;
    assert_eq!(
        run(&mut t, CommandCode::PCR_EXTEND, &[1], Some(&pw(b"")), &p).rc,
        rc_p(ResponseCode::SIZE, 1)
    );
    // PCR 24 does not exist.
    assert_eq!(
        run(&mut t, CommandCode::PCR_EXTEND, &[24], Some(&pw(b"")), &extend_params(&[])).rc,
        rc_h(ResponseCode::VALUE, 1)
    );
    // A wrong password for a PCR (empty authValue, not DA-protected): TPM_RC_BAD_AUTH on session 1.
    assert_eq!(
        run(&mut t, CommandCode::PCR_EXTEND, &[1], Some(&pw(b"x")), &extend_params(&[])).rc,
        rc_s(ResponseCode::BAD_AUTH, 1)
    );
    // Nothing changed PCR 1.
    assert_eq!(read(&mut t, SHA256, 1), vec![0; 32]);
}

#[test]
fn extend_of_null_handle_changes_nothing() {
    let mut t = started();
    let before = update_counter(&mut t);
    run(&mut t, CommandCode::PCR_EXTEND, &[RH_NULL], Some(&pw(b"")), &extend_params(&[(SHA256, &[1; 32])]))
        .ok();
    assert_eq!(update_counter(&mut t), before);
    for i in 0..24 {
        let expect = if (17..=22).contains(&i) { vec![0xFF; 32] } else { vec![0; 32] };
        assert_eq!(read(&mut t, SHA256, i), expect, "PCR {i}");
    }
}

#[test]
fn event_hashes_data_with_every_bank_and_extends() {
    let mut t = started();
    let r = run(&mut t, CommandCode::PCR_EVENT, &[16], Some(&pw(b"")), &B::new().tpm2b(b"event data").0)
        .ok()
        .clone();
    let p = crate::common::params_of(&r, false);
    let mut rd = crate::common::R(&p);
    assert_eq!(rd.u32(), 3);
    assert_eq!(rd.u16(), SHA1);
    assert_eq!(rd.bytes(20), &sha1::Sha1::digest(b"event data")[..]);
    assert_eq!(rd.u16(), SHA256);
    assert_eq!(rd.bytes(32), &Sha256::digest(b"event data")[..]);
    assert_eq!(rd.u16(), SHA384);
    assert_eq!(rd.bytes(48), &Sha384::digest(b"event data")[..]);
    rd.done();
    let e = Sha256::new().chain_update([0u8; 32]).chain_update(Sha256::digest(b"event data")).finalize();
    assert_eq!(read(&mut t, SHA256, 16), e.to_vec());
    // Event data beyond 1024 bytes.
    let big = vec![0u8; 1025];
    assert_eq!(
        run(&mut t, CommandCode::PCR_EVENT, &[16], Some(&pw(b"")), &B::new().tpm2b(&big).0).rc,
        rc_p(ResponseCode::SIZE, 1)
    );
}

#[test]
fn reset_follows_pc_client_locality_rules() {
    let mut t = started();
    let p = extend_params(&[(SHA256, &[3; 32])]);
    for pcr in [0u32, 16, 17, 23] {
        run(&mut t, CommandCode::PCR_EXTEND, &[pcr], Some(&pw(b"")), &p).ok_or_locality();
    }
    run(&mut t, CommandCode::PCR_RESET, &[16], Some(&pw(b"")), &[]).ok();
    run(&mut t, CommandCode::PCR_RESET, &[23], Some(&pw(b"")), &[]).ok();
    assert_eq!(read(&mut t, SHA256, 16), vec![0; 32]);
    assert_eq!(read(&mut t, SHA256, 23), vec![0; 32]);
    // PCR 0 and the DRTM PCRs are not resettable from locality 0.
    assert_eq!(run(&mut t, CommandCode::PCR_RESET, &[0], Some(&pw(b"")), &[]).rc, ResponseCode::LOCALITY.0);
    assert_eq!(run(&mut t, CommandCode::PCR_RESET, &[17], Some(&pw(b"")), &[]).rc, ResponseCode::LOCALITY.0);
    assert_ne!(read(&mut t, SHA256, 0), vec![0; 32]);
    // NULL is not a PCR for PCR_Reset.
    assert_eq!(
        run(&mut t, CommandCode::PCR_RESET, &[RH_NULL], Some(&pw(b"")), &[]).rc,
        rc_h(ResponseCode::VALUE, 1)
    );
    // From locality 4, PCR 17 resets (to zero) and can be extended.
    let c = command(CommandCode::PCR_RESET, &[17], Some(&pw(b"")), &[]);
    assert_eq!(crate::common::parse(&t.execute_at_locality(4, &c)).rc, 0);
    assert_eq!(read(&mut t, SHA256, 17), vec![0; 32]);
}

trait OkOrLocality {
    fn ok_or_locality(&self);
}
impl OkOrLocality for crate::common::Resp {
    /// PCR 17 cannot be extended from locality 0; everything else here can.
    fn ok_or_locality(&self) {
        assert!(self.rc == 0 || self.rc == ResponseCode::LOCALITY.0, "rc {:#x}", self.rc);
    }
}

#[test]
fn drtm_pcr_extend_needs_locality() {
    let mut t = started();
    let p = extend_params(&[(SHA256, &[3; 32])]);
    assert_eq!(run(&mut t, CommandCode::PCR_EXTEND, &[17], Some(&pw(b"")), &p).rc, ResponseCode::LOCALITY.0);
    let c = command(CommandCode::PCR_EXTEND, &[17], Some(&pw(b"")), &p);
    assert_eq!(crate::common::parse(&t.execute_at_locality(2, &c)).rc, 0);
}

#[test]
fn read_returns_at_most_eight_and_clears_the_rest() {
    let mut t = started();
    let all = B::new().u32(2).u16(SHA256).u8(3).raw(&[0xFF; 3]).u16(SHA384).u8(3).raw(&[0xFF; 3]).0;
    let r = run(&mut t, CommandCode::PCR_READ, &[], None, &all).ok().clone();
    let mut rd = r.reader();
    rd.u32();
    assert_eq!(rd.u32(), 2);
    assert_eq!((rd.u16(), rd.u8(), rd.bytes(3)), (SHA256, 3, &[0xFF, 0, 0][..]));
    assert_eq!((rd.u16(), rd.u8(), rd.bytes(3)), (SHA384, 3, &[0, 0, 0][..]));
    assert_eq!(rd.u32(), 8);
    for _ in 0..8 {
        assert_eq!(rd.tpm2b().len(), 32);
    }
    rd.done();
    // Selection errors: unknown bank, wrong sizeofSelect, too many banks.
    let p = B::new().u32(1).u16(SM3_256).u8(3).raw(&[1, 0, 0]).0;
    assert_eq!(run(&mut t, CommandCode::PCR_READ, &[], None, &p).rc, rc_p(ResponseCode::HASH, 1));
    let p = B::new().u32(1).u16(SHA256).u8(4).raw(&[1, 0, 0, 0]).0;
    assert_eq!(run(&mut t, CommandCode::PCR_READ, &[], None, &p).rc, rc_p(ResponseCode::VALUE, 1));
    let p = B::new().u32(4).0;
    assert_eq!(run(&mut t, CommandCode::PCR_READ, &[], None, &p).rc, rc_p(ResponseCode::SIZE, 1));
}

#[test]
fn shutdown_state_and_resume_keep_static_pcrs_only() {
    let mut t = started();
    let p = extend_params(&[(SHA256, &[9; 32])]);
    run(&mut t, CommandCode::PCR_EXTEND, &[5], Some(&pw(b"")), &p).ok();
    run(&mut t, CommandCode::PCR_EXTEND, &[16], Some(&pw(b"")), &p).ok();
    let pcr5 = read(&mut t, SHA256, 5);
    run(&mut t, CommandCode::SHUTDOWN, &[], None, &[0, 1]).ok(); // Shutdown(STATE)
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 1]).ok(); // Startup(STATE): TPM Resume
    assert_eq!(read(&mut t, SHA256, 5), pcr5);
    assert_eq!(read(&mut t, SHA256, 16), vec![0; 32]);
    // Startup(CLEAR) after Shutdown(STATE) is a Restart: PCRs start over.
    run(&mut t, CommandCode::SHUTDOWN, &[], None, &[0, 1]).ok();
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    assert_eq!(read(&mut t, SHA256, 5), vec![0; 32]);
}

#[test]
fn startup_from_locality_3_marks_pcr0() {
    let mut t = powered();
    let c = command(CommandCode::STARTUP, &[], None, &[0, 0]);
    assert_eq!(crate::common::parse(&t.execute_at_locality(3, &c)).rc, 0);
    let mut expect = vec![0u8; 32];
    expect[31] = 3;
    assert_eq!(read(&mut t, SHA256, 0), expect);
    let _ = exec;
}
