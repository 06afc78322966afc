//! Policy sessions end to end: trial sessions compute the digests Part 3 defines (recomputed here
//! with `sha2`), real sessions satisfy an NV index's authPolicy, and each policy's own checks hold.

use crate::common::{B, R, RH_NULL, RH_OWNER, SHA256, params_of, pw, rc_p, rc_s, run, started};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;

const IDX: u32 = 0x0150_0010;

fn h(parts: &[&[u8]]) -> Vec<u8> {
    let mut d = Sha256::new();
    parts.iter().for_each(|p| d.update(p));
    d.finalize().to_vec()
}

/// Starts a policy (1) or trial (3) SHA-256 session; returns (handle, nonceTPM).
fn start(t: &mut Tpm, kind: u8) -> (u32, Vec<u8>) {
    let p = B::new().tpm2b(&[9; 32]).tpm2b(b"").u8(kind).u16(0x10).u16(SHA256).0;
    let r = run(t, CommandCode::START_AUTH_SESSION, &[RH_NULL, RH_NULL], None, &p).ok().clone();
    let mut rd = r.reader();
    (rd.u32(), rd.tpm2b().to_vec())
}

fn digest(t: &mut Tpm, s: u32) -> Vec<u8> {
    run(t, CommandCode::POLICY_GET_DIGEST, &[s], None, &[]).ok().reader().tpm2b().to_vec()
}

/// Defines IDX with `policy`, POLICYWRITE | POLICYREAD | OWNERWRITE | OWNERREAD | NO_DA, auth "nvpw".
fn define(t: &mut Tpm, policy: &[u8]) {
    let attrs = 1 << 3 | 1 << 19 | 1 << 1 | 1 << 17 | 1 << 25;
    let public = B::new().u32(IDX).u16(SHA256).u32(attrs).tpm2b(policy).u16(8).0;
    run(
        t,
        CommandCode::NV_DEFINE_SPACE,
        &[RH_OWNER],
        Some(&pw(b"")),
        &B::new().tpm2b(b"nvpw").tpm2b(&public).0,
    )
    .ok();
}

fn name(t: &mut Tpm) -> Vec<u8> {
    let r = run(t, CommandCode::NV_READ_PUBLIC, &[IDX], None, &[]).ok().clone();
    let mut rd = r.reader();
    rd.tpm2b();
    rd.tpm2b().to_vec()
}

#[test]
fn trial_digests_match_part3() {
    let mut t = started();
    let zero = [0u8; 32];
    let (s, _) = start(&mut t, 3);
    run(&mut t, CommandCode::POLICY_AUTH_VALUE, &[s], None, &[]).ok();
    let auth_value = h(&[&zero, &CommandCode::POLICY_AUTH_VALUE.to_be_bytes()]);
    assert_eq!(digest(&mut t, s), auth_value);
    // PolicyPassword extends with the PolicyAuthValue code: the same digest.
    run(&mut t, CommandCode::POLICY_RESTART, &[s], None, &[]).ok();
    run(&mut t, CommandCode::POLICY_PASSWORD, &[s], None, &[]).ok();
    assert_eq!(digest(&mut t, s), auth_value);
    // PolicyCommandCode(NV_Read) on top.
    run(&mut t, CommandCode::POLICY_COMMAND_CODE, &[s], None, &CommandCode::NV_READ.to_be_bytes()).ok();
    let with_cc = h(&[
        &auth_value,
        &CommandCode::POLICY_COMMAND_CODE.to_be_bytes(),
        &CommandCode::NV_READ.to_be_bytes(),
    ]);
    assert_eq!(digest(&mut t, s), with_cc);
    // PolicyOR of two branches: in a trial session the current digest need not be listed.
    let other = [0x42u8; 32];
    let list = B::new().u32(2).tpm2b(&other).tpm2b(&zero).0;
    run(&mut t, CommandCode::POLICY_OR, &[s], None, &list).ok();
    assert_eq!(digest(&mut t, s), h(&[&zero, &CommandCode::POLICY_OR.to_be_bytes(), &other, &zero]));
}

#[test]
fn policy_pcr_digest_and_pcr_changes() {
    let mut t = started();
    let extend = B::new().u32(1).u16(SHA256).raw(&[3; 32]).0;
    run(&mut t, CommandCode::PCR_EXTEND, &[16], Some(&pw(b"")), &extend).ok();
    let pcr16 = h(&[&[0u8; 32], &[3u8; 32]]);
    let sel = B::new().u32(1).u16(SHA256).u8(3).raw(&[0, 0, 1]).0;
    let expect = h(&[&[0u8; 32], &CommandCode::POLICY_PCR.to_be_bytes(), &sel, &h(&[&pcr16])]);
    let (trial, _) = start(&mut t, 3);
    run(&mut t, CommandCode::POLICY_PCR, &[trial], None, &B::new().tpm2b(b"").raw(&sel).0).ok();
    assert_eq!(digest(&mut t, trial), expect);

    // A real session: a wrong pcrDigest is refused; the right one (or none) is accepted.
    define(&mut t, &expect);
    run(
        &mut t,
        CommandCode::NV_WRITE,
        &[RH_OWNER, IDX],
        Some(&pw(b"")),
        &B::new().tpm2b(b"12345678").u16(0).0,
    )
    .ok();
    let (s, _) = start(&mut t, 1);
    assert_eq!(
        run(&mut t, CommandCode::POLICY_PCR, &[s], None, &B::new().tpm2b(&[1; 32]).raw(&sel).0).rc,
        rc_p(ResponseCode::VALUE, 1)
    );
    run(&mut t, CommandCode::POLICY_PCR, &[s], None, &B::new().tpm2b(&h(&[&pcr16])).raw(&sel).0).ok();
    let auth = B::new().u32(s).tpm2b(&[1; 32]).u8(1).tpm2b(b"").0;
    let read = B::new().u16(8).u16(0).0;
    run(&mut t, CommandCode::NV_READ, &[IDX, IDX], Some(&auth), &read).ok();
    // The session restarted after use; satisfy it again, then change a CommandCode::POLICY_PCR: TPM_RC_PCR_CHANGED.
    run(&mut t, CommandCode::POLICY_PCR, &[s], None, &B::new().tpm2b(b"").raw(&sel).0).ok();
    run(&mut t, CommandCode::PCR_EXTEND, &[5], Some(&pw(b"")), &extend).ok();
    assert_eq!(
        run(&mut t, CommandCode::NV_READ, &[IDX, IDX], Some(&auth), &read).rc,
        ResponseCode::PCR_CHANGED.0
    );
}

#[test]
fn policy_auth_value_puts_the_auth_in_the_hmac() {
    let mut t = started();
    define(&mut t, &h(&[&[0u8; 32], &CommandCode::POLICY_AUTH_VALUE.to_be_bytes()]));
    let (s, nonce) = start(&mut t, 1);
    run(&mut t, CommandCode::POLICY_AUTH_VALUE, &[s], None, &[]).ok();
    let params = B::new().tpm2b(b"abcdefgh").u16(0).0;
    let n = name(&mut t);
    let cp = h(&[&CommandCode::NV_WRITE.to_be_bytes(), &n, &n, &params]);
    let caller = [0x10u8; 32];
    let mac = |key: &[u8], nonce: &[u8]| {
        let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
        for p in [&cp[..], &caller, nonce, &[1]] {
            m.update(p);
        }
        m.finalize().into_bytes().to_vec()
    };
    let bad = B::new().u32(s).tpm2b(&caller).u8(1).tpm2b(&mac(b"wrong", &nonce)).0;
    assert_eq!(
        run(&mut t, CommandCode::NV_WRITE, &[IDX, IDX], Some(&bad), &params).rc,
        rc_s(ResponseCode::BAD_AUTH, 1)
    );
    let good = B::new().u32(s).tpm2b(&caller).u8(1).tpm2b(&mac(b"nvpw", &nonce)).0;
    let r = run(&mut t, CommandCode::NV_WRITE, &[IDX, IDX], Some(&good), &params).ok().clone();
    assert_eq!(params_of(&r, false), b"");
    // The policy was used up: the digest is back to zero and the write authorization fails now.
    assert_eq!(digest(&mut t, s), [0u8; 32]);
}

#[test]
fn policy_password_takes_the_password_in_the_hmac_field() {
    let mut t = started();
    define(&mut t, &h(&[&[0u8; 32], &CommandCode::POLICY_AUTH_VALUE.to_be_bytes()]));
    let (s, _) = start(&mut t, 1);
    run(&mut t, CommandCode::POLICY_PASSWORD, &[s], None, &[]).ok();
    let params = B::new().tpm2b(b"abcdefgh").u16(0).0;
    let auth = B::new().u32(s).tpm2b(&[1; 32]).u8(1).tpm2b(b"nvpw").0;
    let r = run(&mut t, CommandCode::NV_WRITE, &[IDX, IDX], Some(&auth), &params).ok().clone();
    let mut rd = R(&r.body[4..]);
    rd.tpm2b();
    rd.u8();
    assert_eq!(rd.tpm2b(), b""); // no response HMAC for a password policy
    run(&mut t, CommandCode::POLICY_PASSWORD, &[s], None, &[]).ok();
    let auth = B::new().u32(s).tpm2b(&[1; 32]).u8(1).tpm2b(b"nope").0;
    assert_eq!(
        run(&mut t, CommandCode::NV_WRITE, &[IDX, IDX], Some(&auth), &params).rc,
        rc_s(ResponseCode::BAD_AUTH, 1)
    );
}

#[test]
fn command_code_and_or_checks() {
    let mut t = started();
    let cc_read = h(&[
        &[0u8; 32],
        &CommandCode::POLICY_COMMAND_CODE.to_be_bytes(),
        &CommandCode::NV_READ.to_be_bytes(),
    ]);
    define(&mut t, &cc_read);
    run(
        &mut t,
        CommandCode::NV_WRITE,
        &[RH_OWNER, IDX],
        Some(&pw(b"")),
        &B::new().tpm2b(b"12345678").u16(0).0,
    )
    .ok();
    let (s, _) = start(&mut t, 1);
    assert_eq!(
        run(&mut t, CommandCode::POLICY_COMMAND_CODE, &[s], None, &0x199u32.to_be_bytes()).rc,
        rc_p(ResponseCode::POLICY_CC, 1)
    );
    run(&mut t, CommandCode::POLICY_COMMAND_CODE, &[s], None, &CommandCode::NV_READ.to_be_bytes()).ok();
    assert_eq!(
        run(&mut t, CommandCode::POLICY_COMMAND_CODE, &[s], None, &CommandCode::NV_WRITE.to_be_bytes()).rc,
        rc_p(ResponseCode::VALUE, 1)
    );
    let auth = B::new().u32(s).tpm2b(&[1; 32]).u8(1).tpm2b(b"").0;
    // The digest matches, but the session is limited to NV_Read.
    let w = B::new().tpm2b(b"x").u16(0).0;
    assert_eq!(
        run(&mut t, CommandCode::NV_WRITE, &[IDX, IDX], Some(&auth), &w).rc,
        rc_s(ResponseCode::POLICY_CC, 1)
    );
    run(&mut t, CommandCode::NV_READ, &[IDX, IDX], Some(&auth), &B::new().u16(8).u16(0).0).ok();
    // PolicyOR in a real session needs the current digest in the list, and at least two entries.
    let list = B::new().u32(2).tpm2b(&[1; 32]).tpm2b(&[2; 32]).0;
    assert_eq!(run(&mut t, CommandCode::POLICY_OR, &[s], None, &list).rc, rc_p(ResponseCode::VALUE, 1));
    assert_eq!(
        run(&mut t, CommandCode::POLICY_OR, &[s], None, &B::new().u32(1).tpm2b(&[0; 32]).0).rc,
        rc_p(ResponseCode::SIZE, 1)
    );
    let list = B::new().u32(2).tpm2b(&[1; 32]).tpm2b(&[0; 32]).0;
    run(&mut t, CommandCode::POLICY_OR, &[s], None, &list).ok();
}
