//! HMAC-session authorization of hash and event sequence objects: a sequence object's nameAlg is
//! TPM_ALG_NULL, so its Name is empty and the caller's cpHash is H(commandCode || parameters)
//! with no Name at all (ms-tpm-20-ref EntityGetName; what tpm2-tss computes for `tpm2_pcrevent`).
//! Every HMAC is computed here with the `hmac` and `sha2` crates.

use crate::common::hmac_sha256 as hmac;
use crate::common::{B, R, RH_NULL, SHA256, params_of, pw, rc_s, run, started};
use sha2::{Digest, Sha256};
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;

/// An unbound, unsalted HMAC session: (handle, nonceTPM).
fn hmac_session(t: &mut Tpm) -> (u32, Vec<u8>) {
    let p = B::new().tpm2b(&[7; 32]).tpm2b(b"").u8(0).u16(0x10).u16(SHA256).0;
    let r = run(t, CommandCode::START_AUTH_SESSION, &[RH_NULL, RH_NULL], None, &p).ok().clone();
    let mut rd = r.reader();
    let h = rd.u32();
    let nonce = rd.tpm2b().to_vec();
    rd.done();
    (h, nonce)
}

/// SequenceUpdate authorized by the HMAC session, its cpHash over `names`; returns the rc and, on
/// success, checks the response HMAC and returns the new nonceTPM.
fn update(t: &mut Tpm, seq: u32, s: u32, nonce_tpm: &[u8], names: &[&[u8]], data: &[u8]) -> (u32, Vec<u8>) {
    let params = B::new().tpm2b(data).0;
    let mut cp = Sha256::new().chain_update(CommandCode::SEQUENCE_UPDATE.to_be_bytes());
    names.iter().for_each(|n| cp.update(n));
    let cp = cp.chain_update(&params).finalize();
    let nonce_caller = [0x33; 32];
    // Unbound, unsalted: the HMAC key is the sequence's authValue alone.
    let mac = hmac(b"seqauth", &[&cp, &nonce_caller, nonce_tpm, &[1]]);
    let auth = B::new().u32(s).tpm2b(&nonce_caller).u8(1).tpm2b(&mac).0;
    let r = run(t, CommandCode::SEQUENCE_UPDATE, &[seq], Some(&auth), &params);
    if r.rc != 0 {
        return (r.rc, Vec::new());
    }
    let rp_params = params_of(&r, false);
    let mut rd = R(&r.body[4 + rp_params.len()..]);
    let new_nonce = rd.tpm2b().to_vec();
    assert_eq!(rd.u8(), 1);
    let resp_mac = rd.tpm2b().to_vec();
    rd.done();
    let rp = Sha256::new()
        .chain_update(0u32.to_be_bytes())
        .chain_update(CommandCode::SEQUENCE_UPDATE.to_be_bytes())
        .chain_update(&rp_params)
        .finalize();
    assert_eq!(resp_mac, hmac(b"seqauth", &[&rp, &new_nonce, &nonce_caller, &[1]]), "response HMAC");
    (0, new_nonce)
}

#[test]
fn a_sequence_is_authorized_with_an_empty_name_in_cphash() {
    let mut t = started();
    let seq =
        run(&mut t, CommandCode::HASH_SEQUENCE_START, &[], None, &B::new().tpm2b(b"seqauth").u16(SHA256).0)
            .ok()
            .reader()
            .u32();
    let (s, nonce) = hmac_session(&mut t);
    // A cpHash that names the sequence by its handle (the old, wrong Name) is refused ...
    let handle_name = seq.to_be_bytes();
    assert_eq!(
        update(&mut t, seq, s, &nonce, &[&handle_name], b"part one").0,
        rc_s(ResponseCode::BAD_AUTH, 1)
    );
    // ... and the one over the empty Name is accepted, twice with rolling nonces.
    let (rc, nonce) = update(&mut t, seq, s, &nonce, &[], b"part one,");
    assert_eq!(rc, 0);
    let (rc, _) = update(&mut t, seq, s, &nonce, &[], b" part two");
    assert_eq!(rc, 0);
    let r = run(
        &mut t,
        CommandCode::SEQUENCE_COMPLETE,
        &[seq],
        Some(&pw(b"seqauth")),
        &B::new().tpm2b(b"").u32(RH_NULL).0,
    );
    let r = r.ok().clone();
    let mut rd = R(&r.body[4..]);
    assert_eq!(rd.tpm2b(), &Sha256::digest(b"part one, part two")[..]);
}

/// A session bound to one sequence object is not bound to another: every sequence has the empty
/// Name, so the bind entity is told apart by its authValue (ms-tpm-20-ref binds Name and
/// authValue), and the other sequence's authValue must be in the HMAC key.
#[test]
fn a_session_bound_to_one_sequence_does_not_skip_another_sequences_auth() {
    let mut t = started();
    let seq = |t: &mut Tpm, auth: &[u8]| {
        run(t, CommandCode::HASH_SEQUENCE_START, &[], None, &B::new().tpm2b(auth).u16(SHA256).0)
            .ok()
            .reader()
            .u32()
    };
    let a = seq(&mut t, b"alpha");
    let b = seq(&mut t, b"bravo");
    let caller = [7u8; 32];
    let p = B::new().tpm2b(&caller).tpm2b(b"").u8(0).u16(0x10).u16(SHA256).0;
    let r = run(&mut t, CommandCode::START_AUTH_SESSION, &[RH_NULL, a], None, &p).ok().clone();
    let mut rd = r.reader();
    let s = rd.u32();
    let mut nonce_tpm = rd.tpm2b().to_vec();
    // sessionKey = KDFa(SHA256, authValue(a), "ATH", nonceTPM, nonceCaller, 256): one HMAC block.
    let key = hmac(b"alpha", &[&1u32.to_be_bytes(), b"ATH\0", &nonce_tpm, &caller, &256u32.to_be_bytes()]);
    let update = |t: &mut Tpm, h: u32, nonce_tpm: &[u8], hmac_key: &[u8]| {
        let params = B::new().tpm2b(b"data").0;
        let cp = Sha256::new()
            .chain_update(CommandCode::SEQUENCE_UPDATE.to_be_bytes())
            .chain_update(&params)
            .finalize();
        let nc = [9u8; 32];
        let mac = hmac(hmac_key, &[&cp, &nc, nonce_tpm, &[1]]);
        let auth = B::new().u32(s).tpm2b(&nc).u8(1).tpm2b(&mac).0;
        let r = run(t, CommandCode::SEQUENCE_UPDATE, &[h], Some(&auth), &params);
        let rc = r.rc;
        let next = if rc == 0 {
            let rp = params_of(&r, false);
            R(&r.body[4 + rp.len()..]).tpm2b().to_vec()
        } else {
            nonce_tpm.to_vec()
        };
        (rc, next)
    };
    // The bind entity: the session key alone.
    let (rc, next) = update(&mut t, a, &nonce_tpm, &key);
    assert_eq!(rc, 0);
    nonce_tpm = next;
    // The other sequence: the session key alone is refused, with its authValue it is accepted.
    let (rc, _) = update(&mut t, b, &nonce_tpm, &key);
    assert_eq!(rc, rc_s(ResponseCode::BAD_AUTH, 1));
    let (rc, _) = update(&mut t, b, &nonce_tpm, &[key.as_slice(), b"bravo"].concat());
    assert_eq!(rc, 0);
}
