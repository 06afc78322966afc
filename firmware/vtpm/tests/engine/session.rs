//! Authorization sessions: HMAC sessions with cpHash/rpHash and rolling nonces, bound sessions
//! (KDFa session keys), policy and trial sessions, session context save/load, and session limits.
//! Every HMAC and key is computed here from Part 1's definitions with the `hmac` crate.

use crate::common::{B, R, RH_NULL, RH_OWNER, SHA256, params_of, pw, rc_h, rc_p, rc_s, run, started};
use crate::common::{hmac_sha256 as hmac, kdfa_sha256 as kdfa};
use sha2::{Digest, Sha256};
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;

/// A session as the caller tracks it.
struct S {
    handle: u32,
    nonce_tpm: Vec<u8>,
    key: Vec<u8>,
}

fn start(t: &mut Tpm, bind: u32, kind: u8, nonce_caller: &[u8]) -> (u32, Vec<u8>) {
    let p = B::new().tpm2b(nonce_caller).tpm2b(b"").u8(kind).u16(0x10).u16(SHA256).0;
    let r = run(t, CommandCode::START_AUTH_SESSION, &[RH_NULL, bind], None, &p).ok().clone();
    let mut rd = r.reader();
    let h = rd.u32();
    let nonce = rd.tpm2b().to_vec();
    rd.done();
    assert_eq!(nonce.len(), 32);
    (h, nonce)
}

/// Sends `cc` authorized by session `s` (continueSession per `cont`), checks the response HMAC when
/// the command succeeds and rolls the nonce. `entity_auth` is the entity's authValue (None when the
/// session is bound to that entity); `resp_auth` the one the response HMAC uses.
#[allow(clippy::too_many_arguments)]
fn call(
    t: &mut Tpm,
    s: &mut S,
    cc: u32,
    handles: &[u32],
    names: &[Vec<u8>],
    params: &[u8],
    entity_auth: &[u8],
    resp_auth: &[u8],
    cont: bool,
) -> u32 {
    let nonce_caller = [0x5A; 32];
    let attrs = u8::from(cont);
    let mut cp = Sha256::new().chain_update(cc.to_be_bytes());
    for n in names {
        cp.update(n);
    }
    let cp = cp.chain_update(params).finalize();
    let key = [s.key.as_slice(), entity_auth].concat();
    let mac = hmac(&key, &[&cp, &nonce_caller, &s.nonce_tpm, &[attrs]]);
    let auth = B::new().u32(s.handle).tpm2b(&nonce_caller).u8(attrs).tpm2b(&mac).0;
    let r = run(t, CommandCode(cc), handles, Some(&auth), params);
    if r.rc != 0 {
        return r.rc;
    }
    let rp_params = params_of(&r, false);
    let mut rd = R(&r.body[4 + rp_params.len()..]);
    let nonce_tpm = rd.tpm2b().to_vec();
    assert_eq!(rd.u8(), attrs);
    let resp_mac = rd.tpm2b().to_vec();
    rd.done();
    assert_ne!(nonce_tpm, s.nonce_tpm, "nonceTPM must roll");
    let rp = Sha256::new()
        .chain_update(0u32.to_be_bytes())
        .chain_update(cc.to_be_bytes())
        .chain_update(&rp_params)
        .finalize();
    let rkey = [s.key.as_slice(), resp_auth].concat();
    assert_eq!(resp_mac, hmac(&rkey, &[&rp, &nonce_tpm, &nonce_caller, &[attrs]]), "response HMAC");
    s.nonce_tpm = nonce_tpm;
    0
}

fn owner_name() -> Vec<u8> {
    RH_OWNER.to_be_bytes().to_vec()
}

#[test]
fn hmac_session_authorizes_checks_response_and_rolls_nonces() {
    let mut t = started();
    let (h, nonce) = start(&mut t, RH_NULL, 0, &[1; 32]);
    assert_eq!(h >> 24, 0x02);
    let mut s = S { handle: h, nonce_tpm: nonce, key: vec![] };
    let names = [owner_name()];
    // Change the owner auth: the response HMAC already uses the new value.
    let p = B::new().tpm2b(b"newpass").0;
    assert_eq!(
        call(
            &mut t,
            &mut s,
            CommandCode::HIERARCHY_CHANGE_AUTH.0,
            &[RH_OWNER],
            &names,
            &p,
            b"",
            b"newpass",
            true
        ),
        0
    );
    // The old auth now fails (owner is DA-exempt: BAD_AUTH), the new one works.
    let p2 = B::new().tpm2b(b"").0;
    assert_eq!(
        call(&mut t, &mut s, CommandCode::HIERARCHY_CHANGE_AUTH.0, &[RH_OWNER], &names, &p2, b"", b"", true),
        rc_s(ResponseCode::BAD_AUTH, 1)
    );
    assert_eq!(
        call(
            &mut t,
            &mut s,
            CommandCode::HIERARCHY_CHANGE_AUTH.0,
            &[RH_OWNER],
            &names,
            &p2,
            b"newpass",
            b"",
            true
        ),
        0
    );
    // A stale nonce is a wrong HMAC.
    let old = s.nonce_tpm.clone();
    assert_eq!(
        call(&mut t, &mut s, CommandCode::HIERARCHY_CHANGE_AUTH.0, &[RH_OWNER], &names, &p2, b"", b"", true),
        0
    );
    s.nonce_tpm = old;
    assert_eq!(
        call(&mut t, &mut s, CommandCode::HIERARCHY_CHANGE_AUTH.0, &[RH_OWNER], &names, &p2, b"", b"", true),
        rc_s(ResponseCode::BAD_AUTH, 1)
    );
}

#[test]
fn empty_key_allows_empty_hmac_and_continue_session_clear_flushes() {
    let mut t = started();
    let (h, _) = start(&mut t, RH_NULL, 0, &[2; 16]);
    let extend = B::new().u32(0).0;
    let auth = B::new().u32(h).tpm2b(&[3; 16]).u8(0).tpm2b(b"").0;
    let r = run(&mut t, CommandCode::PCR_EXTEND, &[16], Some(&auth), &extend).ok().clone();
    assert_eq!(r.tag, 0x8002);
    // continueSession was clear: the session is gone.
    assert_eq!(
        run(&mut t, CommandCode::PCR_EXTEND, &[16], Some(&auth), &extend).rc,
        ResponseCode::REFERENCE_S0.0
    );
    assert_eq!(
        run(&mut t, CommandCode::FLUSH_CONTEXT, &[], None, &h.to_be_bytes()).rc,
        rc_p(ResponseCode::HANDLE, 1)
    );
}

#[test]
fn bound_session_key_comes_from_kdfa_and_drops_the_bound_auth() {
    let mut t = started();
    run(
        &mut t,
        CommandCode::HIERARCHY_CHANGE_AUTH,
        &[RH_OWNER],
        Some(&pw(b"")),
        &B::new().tpm2b(b"ownerpw").0,
    )
    .ok();
    let caller = [7u8; 32];
    let (h, nonce_tpm) = start(&mut t, RH_OWNER, 0, &caller);
    let key = kdfa(b"ownerpw", b"ATH", &nonce_tpm, &caller, 256);
    let mut s = S { handle: h, nonce_tpm, key };
    // For the bound entity the authValue is not in the HMAC key...
    let p = B::new().tpm2b(b"ownerpw").0;
    assert_eq!(
        call(
            &mut t,
            &mut s,
            CommandCode::HIERARCHY_CHANGE_AUTH.0,
            &[RH_OWNER],
            &[owner_name()],
            &p,
            b"",
            b"",
            true
        ),
        0
    );
    // ...for another entity (PCR 16, empty auth) it is appended (here empty, so the key is unchanged),
    let e = B::new().u32(0).0;
    assert_eq!(
        call(
            &mut t,
            &mut s,
            CommandCode::PCR_EXTEND.0,
            &[16],
            &[16u32.to_be_bytes().to_vec()],
            &e,
            b"",
            b"",
            true
        ),
        0
    );
    // and the key is not empty, so an empty HMAC is refused.
    let auth = B::new().u32(h).tpm2b(&[1; 16]).u8(1).tpm2b(b"").0;
    assert_eq!(
        run(&mut t, CommandCode::PCR_EXTEND, &[16], Some(&auth), &e).rc,
        rc_s(ResponseCode::BAD_AUTH, 1)
    );
}

#[test]
fn policy_sessions_need_a_matching_policy() {
    let mut t = started();
    let (h, _) = start(&mut t, RH_NULL, 1, &[4; 32]);
    assert_eq!(h >> 24, 0x03);
    let r = run(&mut t, CommandCode::POLICY_GET_DIGEST, &[h], None, &[]).ok().clone();
    assert_eq!(r.reader().tpm2b(), [0u8; 32]);
    // The owner has no authPolicy, so policy authorization is unavailable.
    let auth = B::new().u32(h).tpm2b(&[1; 32]).u8(1).tpm2b(b"").0;
    let r = run(&mut t, CommandCode::HIERARCHY_CHANGE_AUTH, &[RH_OWNER], Some(&auth), &B::new().tpm2b(b"").0);
    assert_eq!(r.rc, ResponseCode::AUTH_UNAVAILABLE.0);
    // An NV index whose authPolicy is the empty policy (32 zero bytes) with POLICYWRITE.
    const IDX: u32 = 0x0150_0002;
    let public = B::new().u32(IDX).u16(SHA256).u32(1 << 3 | 1 << 17 | 1 << 25).tpm2b(&[0; 32]).u16(4).0;
    run(
        &mut t,
        CommandCode::NV_DEFINE_SPACE,
        &[RH_OWNER],
        Some(&pw(b"")),
        &B::new().tpm2b(b"").tpm2b(&public).0,
    )
    .ok();
    let w = B::new().tpm2b(b"data").u16(0).0;
    run(&mut t, CommandCode::NV_WRITE, &[IDX, IDX], Some(&auth), &w).ok();
    // An index whose policy is some other digest: TPM_RC_POLICY_FAIL.
    let public = B::new().u32(IDX + 1).u16(SHA256).u32(1 << 3 | 1 << 17 | 1 << 25).tpm2b(&[7; 32]).u16(4).0;
    run(
        &mut t,
        CommandCode::NV_DEFINE_SPACE,
        &[RH_OWNER],
        Some(&pw(b"")),
        &B::new().tpm2b(b"").tpm2b(&public).0,
    )
    .ok();
    assert_eq!(
        run(&mut t, CommandCode::NV_WRITE, &[IDX + 1, IDX + 1], Some(&auth), &w).rc,
        rc_s(ResponseCode::POLICY_FAIL, 1)
    );
    // A trial session may not appear in a session area; PolicyRestart accepts it.
    let (trial, _) = start(&mut t, RH_NULL, 3, &[5; 32]);
    let tauth = B::new().u32(trial).tpm2b(&[1; 32]).u8(1).tpm2b(b"").0;
    assert_eq!(
        run(&mut t, CommandCode::NV_WRITE, &[IDX, IDX], Some(&tauth), &w).rc,
        rc_s(ResponseCode::ATTRIBUTES, 1)
    );
    run(&mut t, CommandCode::POLICY_RESTART, &[trial], None, &[]).ok();
    // Policy commands refuse HMAC sessions.
    let (hm, _) = start(&mut t, RH_NULL, 0, &[6; 32]);
    assert_eq!(
        run(&mut t, CommandCode::POLICY_GET_DIGEST, &[hm], None, &[]).rc,
        rc_h(ResponseCode::VALUE, 1)
    );
}

#[test]
fn start_auth_session_errors() {
    let mut t = started();
    let go = |t: &mut Tpm, key: u32, nonce: &[u8], salt: &[u8], kind: u8, sym: u16, hash: u16| {
        let p = B::new().tpm2b(nonce).tpm2b(salt).u8(kind).u16(sym).u16(hash).0;
        run(t, CommandCode::START_AUTH_SESSION, &[key, RH_NULL], None, &p).rc
    };
    assert_eq!(go(&mut t, RH_NULL, &[0; 15], b"", 0, 0x10, SHA256), rc_p(ResponseCode::SIZE, 1));
    assert_eq!(go(&mut t, RH_NULL, &[0; 16], b"s", 0, 0x10, SHA256), rc_p(ResponseCode::VALUE, 2));
    assert_eq!(go(&mut t, RH_NULL, &[0; 16], b"", 2, 0x10, SHA256), rc_p(ResponseCode::VALUE, 3));
    assert_eq!(go(&mut t, RH_NULL, &[0; 16], b"", 0, 0x0A, SHA256), rc_p(ResponseCode::SYMMETRIC, 4)); // XOR
    let aes = |bits: u16, mode: u16| {
        B::new().tpm2b(&[0; 16]).tpm2b(b"").u8(0).u16(0x06).u16(bits).u16(mode).u16(SHA256).0
    };
    assert_eq!(
        run(&mut t, CommandCode::START_AUTH_SESSION, &[RH_NULL, RH_NULL], None, &aes(100, 0x43)).rc,
        rc_p(ResponseCode::VALUE, 4)
    );
    assert_eq!(
        run(&mut t, CommandCode::START_AUTH_SESSION, &[RH_NULL, RH_NULL], None, &aes(128, 0x44)).rc,
        rc_p(ResponseCode::MODE, 4)
    );
    run(&mut t, CommandCode::START_AUTH_SESSION, &[RH_NULL, RH_NULL], None, &aes(128, 0x43)).ok();
    assert_eq!(go(&mut t, RH_NULL, &[0; 16], b"", 0, 0x10, 0x10), rc_p(ResponseCode::HASH, 5));
    assert_eq!(go(&mut t, 0x8000_0003, &[0; 16], b"", 0, 0x10, SHA256), ResponseCode::REFERENCE_H0.0);
    let p = B::new().tpm2b(&[0; 16]).tpm2b(b"").u8(0).u16(0x10).u16(SHA256).0;
    assert_eq!(
        run(&mut t, CommandCode::START_AUTH_SESSION, &[RH_NULL, 0x0150_0000], None, &p).rc,
        rc_h(ResponseCode::HANDLE, 2)
    );
}

#[test]
fn session_contexts_save_load_once_and_limits_hold() {
    let mut t = started();
    let handles: Vec<u32> = (0..8).map(|i| start(&mut t, RH_NULL, 0, &[i as u8; 16]).0).collect();
    let p = B::new().tpm2b(&[9; 16]).tpm2b(b"").u8(0).u16(0x10).u16(SHA256).0;
    assert_eq!(
        run(&mut t, CommandCode::START_AUTH_SESSION, &[RH_NULL, RH_NULL], None, &p).rc,
        ResponseCode::SESSION_MEMORY.0
    );
    // Saving one frees a loaded slot; its handle stays reserved.
    let saved = run(&mut t, CommandCode::CONTEXT_SAVE, &[handles[0]], None, &[]).ok().body.clone();
    let mut rd = R(&saved);
    rd.u64();
    assert_eq!(rd.u32(), handles[0]);
    let extra =
        run(&mut t, CommandCode::START_AUTH_SESSION, &[RH_NULL, RH_NULL], None, &p).ok().reader().u32();
    assert_ne!(extra, handles[0]);
    // Loading needs a free loaded slot.
    assert_eq!(run(&mut t, CommandCode::CONTEXT_LOAD, &[], None, &saved).rc, ResponseCode::SESSION_MEMORY.0);
    run(&mut t, CommandCode::FLUSH_CONTEXT, &[], None, &extra.to_be_bytes()).ok();
    assert_eq!(run(&mut t, CommandCode::CONTEXT_LOAD, &[], None, &saved).ok().reader().u32(), handles[0]);
    // The same context cannot be loaded again, nor after a re-save with a newer sequence.
    assert_eq!(run(&mut t, CommandCode::CONTEXT_LOAD, &[], None, &saved).rc, rc_p(ResponseCode::HANDLE, 1));
    run(&mut t, CommandCode::CONTEXT_SAVE, &[handles[0]], None, &[]).ok();
    assert_eq!(run(&mut t, CommandCode::CONTEXT_LOAD, &[], None, &saved).rc, rc_p(ResponseCode::HANDLE, 1));
    // A saved session cannot authorize, and a saved session's handle is listed as saved.
    let auth = B::new().u32(handles[0]).tpm2b(&[1; 16]).u8(1).tpm2b(b"").0;
    assert_eq!(
        run(&mut t, CommandCode::PCR_EXTEND, &[16], Some(&auth), &B::new().u32(0).0).rc,
        ResponseCode::REFERENCE_S0.0
    );
    let cap =
        run(&mut t, CommandCode::GET_CAPABILITY, &[], None, &B::new().u32(1).u32(0x0300_0000).u32(10).0)
            .ok()
            .clone();
    assert_eq!(&cap.body[5..13], &[&1u32.to_be_bytes()[..], &handles[0].to_be_bytes()[..]].concat()[..]);
    // Flushing a saved session frees its handle; flushing a permanent handle is a VALUE error.
    run(&mut t, CommandCode::FLUSH_CONTEXT, &[], None, &handles[0].to_be_bytes()).ok();
    assert_eq!(
        run(&mut t, CommandCode::FLUSH_CONTEXT, &[], None, &RH_OWNER.to_be_bytes()).rc,
        rc_p(ResponseCode::VALUE, 1)
    );
}

#[test]
fn saved_session_survives_restart_but_not_reset() {
    let mut t = started();
    let (h, _) = start(&mut t, RH_NULL, 0, &[1; 16]);
    let saved = run(&mut t, CommandCode::CONTEXT_SAVE, &[h], None, &[]).ok().body.clone();
    run(&mut t, CommandCode::SHUTDOWN, &[], None, &[0, 1]).ok();
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok(); // TPM Restart
    run(&mut t, CommandCode::CONTEXT_LOAD, &[], None, &saved).ok();
    let saved = run(&mut t, CommandCode::CONTEXT_SAVE, &[h], None, &[]).ok().body.clone();
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok(); // TPM Reset
    assert_ne!(run(&mut t, CommandCode::CONTEXT_LOAD, &[], None, &saved).rc, 0);
}
