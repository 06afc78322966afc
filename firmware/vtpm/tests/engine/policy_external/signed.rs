//! PolicySigned, PolicySecret and PolicyTicket: authorizations by another key or entity, their
//! expirations and the tickets that replay them.

use super::{ATTRS, digest, h, nv_public, policy_auth, signature, signer, start};
use crate::common::{B, R, RH_NULL, RH_OWNER, SHA256, params_of, pw, rc_h, rc_p, rc_s, run, started};
use crate::key_helpers::primary;
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;

#[test]
fn policy_signed_checks_a_signature_over_the_session_nonce() {
    let mut t = started();
    let zero = [0u8; 32];
    let (k, key_name) = signer(&mut t);
    let (s, nonce) = start(&mut t, 1);
    let a_hash = |nonce: &[u8]| h(&[nonce, &0u32.to_be_bytes(), b"", b"pref"]);
    let signed = |t: &mut Tpm, s: u32, nonce: &[u8], sig: &[u8]| {
        let p = B::new().tpm2b(nonce).tpm2b(b"").tpm2b(b"pref").u32(0).raw(sig).0;
        run(t, CommandCode::POLICY_SIGNED, &[k, s], None, &p)
    };
    let expected = h(&[&h(&[&zero, &CommandCode::POLICY_SIGNED.to_be_bytes(), &key_name]), b"pref"]);
    // A signature over another nonce: TPM_RC_SIGNATURE on auth; another session's nonce: NONCE.
    let wrong = signature(&mut t, k, &a_hash(&[1; 32]));
    assert_eq!(signed(&mut t, s, &nonce, &wrong).rc, rc_p(ResponseCode::SIGNATURE, 5));
    assert_eq!(signed(&mut t, s, &[1; 32], &wrong).rc, rc_p(ResponseCode::NONCE, 1));
    let sig = signature(&mut t, k, &a_hash(&nonce));
    let r = signed(&mut t, s, &nonce, &sig).ok().clone();
    // timeout empty, a NULL TPMT_TK_AUTH.
    assert_eq!(r.body, B::new().u16(0).u16(0x8025).u32(RH_NULL).u16(0).0);
    assert_eq!(digest(&mut t, s), expected);
    // The expiration is part of what is signed: the same signature with an expiration fails.
    let p = B::new().tpm2b(&nonce).tpm2b(b"").tpm2b(b"pref").u32(60).raw(&sig).0;
    assert_eq!(
        run(&mut t, CommandCode::POLICY_SIGNED, &[k, s], None, &p).rc,
        rc_p(ResponseCode::SIGNATURE, 5)
    );
    // A trial session takes any well-formed signature and gives the same digest.
    let (trial, _) = start(&mut t, 3);
    assert_eq!(signed(&mut t, trial, b"", &wrong).rc, 0);
    assert_eq!(digest(&mut t, trial), expected);
    // Not a signing key: a restricted decryption primary gets TPM_RC_ATTRIBUTES on handle 1.
    let (d, _, _) = primary(&mut t, RH_OWNER, &crate::key_helpers::ecc_storage()).unwrap();
    let p = B::new().tpm2b(b"").tpm2b(b"").tpm2b(b"").u32(0).raw(&sig).0;
    assert_eq!(
        run(&mut t, CommandCode::POLICY_SIGNED, &[d, s], None, &p).rc,
        rc_h(ResponseCode::ATTRIBUTES, 1)
    );
}

#[test]
fn policy_secret_with_cp_hash_a_allows_only_that_command() {
    let mut t = started();
    let zero = [0u8; 32];
    let good = B::new().tpm2b(b"").tpm2b(&nv_public(&[], 8, ATTRS)).0;
    let cp = h(&[&CommandCode::NV_DEFINE_SPACE.to_be_bytes(), &RH_OWNER.to_be_bytes(), &good]);
    // cpHashA is not part of the digest: H(H(0 || TPM_CC_PolicySecret || ownerName) || policyRef).
    let policy = h(&[&h(&[&zero, &CommandCode::POLICY_SECRET.to_be_bytes(), &RH_OWNER.to_be_bytes()]), b""]);
    run(
        &mut t,
        CommandCode::SET_PRIMARY_POLICY,
        &[RH_OWNER],
        Some(&pw(b"")),
        &B::new().tpm2b(&policy).u16(SHA256).0,
    )
    .ok();
    let secret = |t: &mut Tpm, s: u32, cp: &[u8]| {
        let p = B::new().tpm2b(b"").tpm2b(cp).tpm2b(b"").u32(0).0;
        run(t, CommandCode::POLICY_SECRET, &[RH_OWNER, s], Some(&pw(b"")), &p).rc
    };
    let (s, _) = start(&mut t, 1);
    // A cpHashA of the wrong size: TPM_RC_SIZE on it.
    assert_eq!(secret(&mut t, s, &[1; 20]), rc_p(ResponseCode::SIZE, 2));
    assert_eq!(secret(&mut t, s, &cp), 0);
    assert_eq!(digest(&mut t, s), policy);
    let other = B::new().tpm2b(b"x").tpm2b(&nv_public(&[], 8, ATTRS)).0;
    assert_eq!(
        run(&mut t, CommandCode::NV_DEFINE_SPACE, &[RH_OWNER], Some(&policy_auth(s)), &other).rc,
        rc_s(ResponseCode::POLICY_FAIL, 1)
    );
    run(&mut t, CommandCode::NV_DEFINE_SPACE, &[RH_OWNER], Some(&policy_auth(s)), &good).ok();
}

#[test]
fn policy_signed_expiration_limits_the_session_in_time() {
    use std::sync::atomic::Ordering;
    use warden_vtpm::insecure_test_entropy::{InsecureTestClock, InsecureTestEntropy};
    let clock = InsecureTestClock::default();
    let mut t = Tpm::new(Box::new(InsecureTestEntropy::new(42)));
    t.set_clock(Box::new(clock.clone()));
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    let set_time = |ms: u64| clock.0.store(ms, Ordering::Relaxed);
    let zero = [0u8; 32];
    let (k, key_name) = signer(&mut t);
    // The owner's policy: PolicySigned(k, policyRef "") — the expiration is not in the digest.
    let policy = h(&[&h(&[&zero, &CommandCode::POLICY_SIGNED.to_be_bytes(), &key_name]), b""]);
    run(
        &mut t,
        CommandCode::SET_PRIMARY_POLICY,
        &[RH_OWNER],
        Some(&pw(b"")),
        &B::new().tpm2b(&policy).u16(SHA256).0,
    )
    .ok();
    // aHash = H(nonceTPM || expiration || cpHashA || policyRef).
    let signed = |t: &mut Tpm, s: u32, nonce: &[u8], expiration: u32| {
        let sig = signature(t, k, &h(&[nonce, &expiration.to_be_bytes(), b"", b""]));
        let p = B::new().tpm2b(nonce).tpm2b(b"").tpm2b(b"").u32(expiration).raw(&sig).0;
        run(t, CommandCode::POLICY_SIGNED, &[k, s], None, &p).rc
    };
    let define = |t: &mut Tpm, s: u32, index: u32| {
        let public = B::new().u32(index).u16(SHA256).u32(ATTRS).tpm2b(&[]).u16(8).0;
        run(
            t,
            CommandCode::NV_DEFINE_SPACE,
            &[RH_OWNER],
            Some(&policy_auth(s)),
            &B::new().tpm2b(b"").tpm2b(&public).0,
        )
        .rc
    };

    // Session started at 1 s, valid 10 s after its start: used at 12 s it has expired.
    set_time(1_000);
    let (s, nonce) = start(&mut t, 1);
    assert_eq!(signed(&mut t, s, &nonce, 10), 0);
    set_time(12_000);
    assert_eq!(define(&mut t, s, 0x0150_0040), rc_s(ResponseCode::EXPIRED, 1));
    // Started at 12 s, used at 20 s: within its 10 s.
    let (s, nonce) = start(&mut t, 1);
    assert_eq!(signed(&mut t, s, &nonce, 10), 0);
    set_time(20_000);
    assert_eq!(define(&mut t, s, 0x0150_0041), 0);
    // A signature whose time had passed when it was presented: TPM_RC_EXPIRED on expiration.
    let (s, nonce) = start(&mut t, 1);
    set_time(31_000);
    assert_eq!(signed(&mut t, s, &nonce, 10), rc_p(ResponseCode::EXPIRED, 4));
    // Without a nonce the expiration is absolute Time in seconds (plus the current milliseconds):
    // 40 s is in the future at 31 s, 30 s is not.
    assert_eq!(signed(&mut t, s, b"", 30), rc_p(ResponseCode::EXPIRED, 4));
    assert_eq!(signed(&mut t, s, b"", 40), 0);
    assert_eq!(define(&mut t, s, 0x0150_0042), 0);
}

#[test]
fn policy_tickets_replay_a_signed_or_secret_authorization_until_the_timeout() {
    use std::sync::atomic::Ordering;
    use warden_vtpm::insecure_test_entropy::{InsecureTestClock, InsecureTestEntropy};
    let clock = InsecureTestClock::default();
    let mut t = Tpm::new(Box::new(InsecureTestEntropy::new(42)));
    t.set_clock(Box::new(clock.clone()));
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    let set_time = |ms: u64| clock.0.store(ms, Ordering::Relaxed);
    let zero = [0u8; 32];
    let (k, key_name) = signer(&mut t);
    set_time(2_000);
    let (s, nonce) = start(&mut t, 1);
    // Expiration -10 with the nonce: valid until start + 10 s, and a ticket is returned.
    let expiration = (-10i32) as u32;
    let sig = signature(&mut t, k, &h(&[&nonce, &expiration.to_be_bytes(), b"", b"ref"]));
    let p = B::new().tpm2b(&nonce).tpm2b(b"").tpm2b(b"ref").u32(expiration).raw(&sig).0;
    let r = run(&mut t, CommandCode::POLICY_SIGNED, &[k, s], None, &p).ok().clone();
    let mut rd = r.reader();
    let timeout = rd.tpm2b().to_vec();
    assert_eq!(timeout, 12_000u64.to_be_bytes());
    assert_eq!((rd.u16(), rd.u32()), (0x8025, RH_OWNER));
    let ticket = rd.tpm2b().to_vec();
    rd.done();
    assert_eq!(ticket.len(), 32);
    let signed_policy = h(&[&h(&[&zero, &CommandCode::POLICY_SIGNED.to_be_bytes(), &key_name]), b"ref"]);
    assert_eq!(digest(&mut t, s), signed_policy);

    let replay =
        |t: &mut Tpm, s: u32, policy_ref: &[u8], tag: u16, name: &[u8], timeout: &[u8], tk: &[u8]| {
            let p = B::new()
                .tpm2b(timeout)
                .tpm2b(b"")
                .tpm2b(policy_ref)
                .tpm2b(name)
                .u16(tag)
                .u32(RH_OWNER)
                .tpm2b(tk)
                .0;
            run(t, CommandCode::POLICY_TICKET, &[s], None, &p).rc
        };
    // Another session replays the ticket and gets the PolicySigned digest.
    let (s2, _) = start(&mut t, 1);
    assert_eq!(replay(&mut t, s2, b"ref", 0x8025, &key_name, &timeout, &ticket), 0);
    assert_eq!(digest(&mut t, s2), signed_policy);
    // A changed policyRef, tag or timeout does not match the ticket: TPM_RC_TICKET.
    let (s3, _) = start(&mut t, 1);
    assert_eq!(
        replay(&mut t, s3, b"other", 0x8025, &key_name, &timeout, &ticket),
        rc_p(ResponseCode::TICKET, 5)
    );
    assert_eq!(
        replay(&mut t, s3, b"ref", 0x8023, &key_name, &timeout, &ticket),
        rc_p(ResponseCode::TICKET, 5)
    );
    let later = 13_000u64.to_be_bytes();
    assert_eq!(replay(&mut t, s3, b"ref", 0x8025, &key_name, &later, &ticket), rc_p(ResponseCode::TICKET, 5));
    assert_eq!(replay(&mut t, s3, b"ref", 0x8025, &key_name, &[0; 4], &ticket), rc_p(ResponseCode::SIZE, 1));
    // After the timeout: TPM_RC_EXPIRED on the timeout.
    set_time(12_001);
    assert_eq!(
        replay(&mut t, s3, b"ref", 0x8025, &key_name, &timeout, &ticket),
        rc_p(ResponseCode::EXPIRED, 1)
    );

    // PolicySecret(owner) with expiration -20 and no nonce: absolute Time (20 s plus the current
    // milliseconds), an AUTH_SECRET ticket.
    let p = B::new().tpm2b(b"").tpm2b(b"").tpm2b(b"").u32((-20i32) as u32).0;
    let r = run(&mut t, CommandCode::POLICY_SECRET, &[RH_OWNER, s3], Some(&pw(b"")), &p).ok().clone();
    let out = params_of(&r, false);
    let mut rd = R(&out);
    let timeout = rd.tpm2b().to_vec();
    assert_eq!(timeout, (20_000u64 + 12_001 % 1000).to_be_bytes());
    assert_eq!((rd.u16(), rd.u32()), (0x8023, RH_OWNER));
    let ticket = rd.tpm2b().to_vec();
    set_time(15_000);
    let (s4, _) = start(&mut t, 1);
    let owner = RH_OWNER.to_be_bytes();
    assert_eq!(replay(&mut t, s4, b"", 0x8023, &owner, &timeout, &ticket), 0);
    let secret_policy = h(&[&h(&[&zero, &CommandCode::POLICY_SECRET.to_be_bytes(), &owner]), b""]);
    assert_eq!(digest(&mut t, s4), secret_policy);
    // A trial session gets no ticket.
    let (trial, _) = start(&mut t, 3);
    let r = run(&mut t, CommandCode::POLICY_SECRET, &[RH_OWNER, trial], Some(&pw(b"")), &p).ok().clone();
    assert_eq!(params_of(&r, false), B::new().u16(0).u16(0x8023).u32(RH_NULL).u16(0).0);
}
