//! Command audit (Part 3 §21.4 SetCommandCodeAuditStatus, §18.5 GetCommandAuditDigest, Part 1 §33)
//! and audit sessions (TPMA_SESSION audit/auditExclusive/auditReset, §18.3 GetSessionAuditDigest).
//! The expected digests are recomputed here from cpHash and rpHash as Part 1 §18.7/§18.8 define
//! them, with the `sha2` crate.

use crate::common::{
    B, R, RH_ENDORSEMENT, RH_NULL, RH_OWNER, SHA256, params_of, pw, rc_h, rc_p, rc_s, run, started,
};
use sha2::{Digest, Sha256};
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;

const AUDIT: u8 = 0x80;
const AUDIT_EXCLUSIVE: u8 = 0x02;
const AUDIT_RESET: u8 = 0x04;
const CONTINUE: u8 = 0x01;

fn set_status(t: &mut Tpm, alg: u16, set: &[u32], clear: &[u32]) -> u32 {
    let mut p = B::new().u16(alg).u32(set.len() as u32);
    for &c in set {
        p = p.u32(c);
    }
    p = p.u32(clear.len() as u32);
    for &c in clear {
        p = p.u32(c);
    }
    run(t, CommandCode::SET_COMMAND_CODE_AUDIT_STATUS, &[RH_OWNER], Some(&pw(b"")), &p.0).rc
}

/// GetCommandAuditDigest unsigned: (auditCounter, digestAlg, auditDigest, commandDigest).
fn command_audit_info(t: &mut Tpm) -> (u64, u16, Vec<u8>, Vec<u8>) {
    let auth = [pw(b""), pw(b"")].concat();
    let p = B::new().tpm2b(b"").u16(0x10).0;
    let r = run(t, CommandCode::GET_COMMAND_AUDIT_DIGEST, &[RH_ENDORSEMENT, RH_NULL], Some(&auth), &p);
    let body = params_of(r.ok(), false);
    let mut rd = R(&body);
    let attest = rd.tpm2b().to_vec();
    assert_eq!(rd.u16(), 0x10, "an unsigned attestation");
    let mut a = R(&attest);
    assert_eq!((a.u32(), a.u16()), (0xff54_4347, 0x8015));
    a.tpm2b();
    a.tpm2b();
    a.bytes(17 + 8);
    (a.u64(), a.u16(), a.tpm2b().to_vec(), a.tpm2b().to_vec())
}

fn sha(parts: &[&[u8]]) -> Vec<u8> {
    let mut h = Sha256::new();
    parts.iter().for_each(|p| h.update(p));
    h.finalize().to_vec()
}

#[test]
fn audited_commands_extend_the_digest_and_the_list_is_reported() {
    let mut t = started();
    let (counter, alg, digest, list) = command_audit_info(&mut t);
    assert_eq!((counter, alg, digest.len()), (0, SHA256, 0));
    assert_eq!(list, sha(&[&0x140u32.to_be_bytes()]));
    // Adding GetRandom is itself audited (SetCommandCodeAuditStatus always is): the digest starts.
    assert_eq!(set_status(&mut t, 0x10, &[0x17B, 0x0FFF_FFFF], &[]), 0);
    let (counter, _, after_set, list) = command_audit_info(&mut t);
    assert_eq!(counter, 1);
    assert_eq!(list, sha(&[&0x140u32.to_be_bytes(), &0x17Bu32.to_be_bytes()]), "unknown codes are ignored");
    // GetRandom without sessions: digest = H(digest || cpHash || rpHash).
    let r = run(&mut t, CommandCode::GET_RANDOM, &[], None, &[0, 8]);
    let cp = sha(&[&0x17Bu32.to_be_bytes(), &[0, 8]]);
    let rp = sha(&[&0u32.to_be_bytes(), &0x17Bu32.to_be_bytes(), &r.ok().body]);
    let (counter, _, digest, _) = command_audit_info(&mut t);
    assert_eq!((counter, digest), (1, sha(&[&after_set, &cp, &rp])));
    // The list is in TPM_CAP_AUDIT_COMMANDS; SetCommandCodeAuditStatus cannot be cleared.
    assert_eq!(set_status(&mut t, 0x10, &[], &[0x17B, 0x140]), 0);
    let r = run(&mut t, CommandCode::GET_CAPABILITY, &[], None, &B::new().u32(4).u32(0).u32(10).0);
    assert_eq!(&r.ok().body[5..], &B::new().u32(1).u32(0x140).0[..]);
    // A new algorithm empties the digest, and must come without lists; the change is itself
    // audited, under the new algorithm, so a new digest (SHA-384) starts and counts.
    assert_eq!(set_status(&mut t, 0x0C, &[0x17B], &[]), rc_p(ResponseCode::VALUE, 1));
    assert_eq!(set_status(&mut t, 0x0C, &[], &[]), 0);
    let (counter, alg, digest, _) = command_audit_info(&mut t);
    assert_eq!((counter, alg, digest.len()), (2, 0x0C, 48));
    assert_eq!(set_status(&mut t, 0x0001, &[], &[]), rc_p(ResponseCode::HASH, 1));
}

/// An unbound, unsalted SHA-256 HMAC session: its key is empty, so empty HMACs pass.
fn hmac_session(t: &mut Tpm) -> u32 {
    let p = B::new().tpm2b(&[3; 32]).tpm2b(b"").u8(0).u16(0x10).u16(SHA256).0;
    let r = run(t, CommandCode::START_AUTH_SESSION, &[RH_NULL, RH_NULL], None, &p);
    r.ok().reader().u32()
}

fn session(h: u32, attrs: u8) -> Vec<u8> {
    B::new().u32(h).tpm2b(&[9; 32]).u8(attrs).tpm2b(b"").0
}

/// GetRandom(8) with the sessions in `auth`; (rc, response parameters, first session's attributes).
fn get_random(t: &mut Tpm, auth: &[u8]) -> (u32, Vec<u8>, u8) {
    let r = run(t, CommandCode::GET_RANDOM, &[], Some(auth), &[0, 8]);
    if r.rc != 0 {
        return (r.rc, Vec::new(), 0);
    }
    let rp = params_of(&r, false);
    let mut rd = R(&r.body[4 + rp.len()..]);
    rd.tpm2b();
    (0, rp, rd.u8())
}

/// GetSessionAuditDigest unsigned: (exclusiveSession, sessionDigest), or the code.
fn session_audit_info(t: &mut Tpm, h: u32) -> Result<(u8, Vec<u8>), u32> {
    let auth = [pw(b""), pw(b"")].concat();
    let p = B::new().tpm2b(b"").u16(0x10).0;
    let r = run(t, CommandCode::GET_SESSION_AUDIT_DIGEST, &[RH_ENDORSEMENT, RH_NULL, h], Some(&auth), &p);
    if r.rc != 0 {
        return Err(r.rc);
    }
    let body = params_of(&r, false);
    let attest = R(&body).tpm2b().to_vec();
    let mut a = R(&attest);
    assert_eq!((a.u32(), a.u16()), (0xff54_4347, 0x8016));
    a.tpm2b();
    a.tpm2b();
    a.bytes(17 + 8);
    Ok((a.u8(), a.tpm2b().to_vec()))
}

#[test]
fn an_audit_session_chains_cp_and_rp_hashes_and_tracks_exclusivity() {
    let mut t = started();
    let h = hmac_session(&mut t);
    // Not yet an audit session: TPM_RC_TYPE on the session handle.
    assert_eq!(session_audit_info(&mut t, h), Err(rc_h(ResponseCode::TYPE, 3)));
    let cp = sha(&[&0x17Bu32.to_be_bytes(), &[0, 8]]);
    let rp_of = |rp: &[u8]| sha(&[&0u32.to_be_bytes(), &0x17Bu32.to_be_bytes(), rp]);
    let (rc, rp1, attrs) = get_random(&mut t, &session(h, AUDIT | CONTINUE));
    assert_eq!(rc, 0);
    // Its first audit makes it the exclusive audit session, reported in the response.
    assert_eq!(attrs, AUDIT | AUDIT_EXCLUSIVE | CONTINUE);
    let first = sha(&[&[0; 32], &cp, &rp_of(&rp1)]);
    // Still exclusive: auditExclusive is accepted.
    let (rc, rp2, attrs) = get_random(&mut t, &session(h, AUDIT | AUDIT_EXCLUSIVE | CONTINUE));
    assert_eq!((rc, attrs), (0, AUDIT | AUDIT_EXCLUSIVE | CONTINUE));
    let second = sha(&[&first, &cp, &rp_of(&rp2)]);
    assert_eq!(session_audit_info(&mut t, h), Ok((1, second.clone())));
    // GetSessionAuditDigest ran without the session: exclusivity is gone.
    assert_eq!(
        get_random(&mut t, &session(h, AUDIT | AUDIT_EXCLUSIVE | CONTINUE)).0,
        ResponseCode::EXCLUSIVE.0,
        "TPM_RC_EXCLUSIVE is a format-zero code: no session number"
    );
    let (rc, rp3, attrs) = get_random(&mut t, &session(h, AUDIT | CONTINUE));
    assert_eq!((rc, attrs), (0, AUDIT | CONTINUE));
    assert_eq!(session_audit_info(&mut t, h), Ok((0, sha(&[&second, &cp, &rp_of(&rp3)]))));
    // auditReset starts the digest over and makes the session exclusive again.
    let (_, rp3, attrs) = get_random(&mut t, &session(h, AUDIT | AUDIT_RESET | CONTINUE));
    assert_eq!(attrs, AUDIT | AUDIT_EXCLUSIVE | CONTINUE);
    assert_eq!(session_audit_info(&mut t, h), Ok((1, sha(&[&[0; 32], &cp, &rp_of(&rp3)]))));
}

#[test]
fn audit_attribute_errors() {
    let mut t = started();
    let a = hmac_session(&mut t);
    let b = hmac_session(&mut t);
    // auditExclusive or auditReset without audit; two audit sessions; audit on a password.
    assert_eq!(get_random(&mut t, &session(a, AUDIT_RESET | CONTINUE)).0, rc_s(ResponseCode::ATTRIBUTES, 1));
    assert_eq!(
        get_random(&mut t, &session(a, AUDIT_EXCLUSIVE | CONTINUE)).0,
        rc_s(ResponseCode::ATTRIBUTES, 1)
    );
    let two = [session(a, AUDIT | CONTINUE), session(b, AUDIT | CONTINUE)].concat();
    assert_eq!(get_random(&mut t, &two).0, rc_s(ResponseCode::ATTRIBUTES, 2));
    let pw_audit = B::new().u32(crate::common::RS_PW).u16(0).u8(AUDIT | CONTINUE).tpm2b(b"").0;
    assert_eq!(get_random(&mut t, &pw_audit).0, rc_s(ResponseCode::ATTRIBUTES, 1));
    // Flushing the exclusive audit session ends its exclusivity with it.
    assert_eq!(get_random(&mut t, &session(a, AUDIT | CONTINUE)).0, 0);
    run(&mut t, CommandCode::FLUSH_CONTEXT, &[], None, &B::new().u32(a).0).ok();
    assert_eq!(session_audit_info(&mut t, a), Err(ResponseCode::REFERENCE_H0.0 + 2));
}
