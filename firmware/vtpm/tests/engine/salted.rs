//! A session both salted (RSA-OAEP to an RSA storage primary, label "SECRET\0") and bound (to the
//! owner): sessionKey = KDFa(SHA256, ownerAuth || salt, "ATH", nonceTPM, nonceCaller, 256), with the
//! salt encrypted here by the `rsa` crate and every HMAC computed with `hmac`.

use crate::common::hmac_sha256 as hmac;
use crate::common::{B, R, RH_NULL, RH_OWNER, SHA256, TestRng, params_of, pw, rc_p, rc_s, run, started};
use sha2::{Digest, Sha256};
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;

/// An RSA-2048 restricted decryption primary (the TCG SRK template); returns (handle, modulus).
fn rsa_storage(t: &mut Tpm) -> (u32, Vec<u8>) {
    let template = B::new()
        .u16(0x0001)
        .u16(SHA256)
        .u32(0x0003_0472)
        .tpm2b(&[])
        .u16(0x0006)
        .u16(128)
        .u16(0x0043)
        .u16(0x0010)
        .u16(2048)
        .u32(0)
        .tpm2b(&[])
        .0;
    let p = B::new().tpm2b(&B::new().tpm2b(b"").tpm2b(b"").0).tpm2b(&template).tpm2b(&[]).u32(0).0;
    let r = run(t, CommandCode::CREATE_PRIMARY, &[RH_OWNER], Some(&pw(b"")), &p).ok().clone();
    let mut rd = r.reader();
    let h = rd.u32();
    rd.u32();
    let public = rd.tpm2b().to_vec();
    // The modulus is the last TPM2B of the public area.
    let n = public[public.len() - 256..].to_vec();
    assert_eq!(&public[public.len() - 258..public.len() - 256], &[1, 0]);
    (h, n)
}

fn oaep(n: &[u8], label: &str, salt: &[u8]) -> Vec<u8> {
    let key = rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(n), rsa::BigUint::from(65537u32)).unwrap();
    key.encrypt(&mut TestRng(1), rsa::Oaep::new_with_label::<Sha256, _>(label), salt).unwrap()
}

fn start(t: &mut Tpm, key: u32, bind: u32, caller: &[u8], secret: &[u8]) -> crate::common::Resp {
    let p = B::new().tpm2b(caller).tpm2b(secret).u8(0).u16(0x0010).u16(SHA256).0;
    run(t, CommandCode::START_AUTH_SESSION, &[key, bind], None, &p)
}

#[test]
fn rsa_salted_session_bound_to_the_owner_derives_its_key_from_both() {
    let mut t = started();
    let (k, n) = rsa_storage(&mut t);
    run(
        &mut t,
        CommandCode::HIERARCHY_CHANGE_AUTH,
        &[RH_OWNER],
        Some(&pw(b"")),
        &B::new().tpm2b(b"ownerpw").0,
    )
    .ok();
    let salt = [0x5Cu8; 32];
    let caller = [0x21u8; 32];

    // Another OAEP label, or no key for a salt: TPM_RC_VALUE on encryptedSalt.
    let wrong_label = oaep(&n, "OTHER\0", &salt);
    assert_eq!(start(&mut t, k, RH_OWNER, &caller, &wrong_label).rc, rc_p(ResponseCode::VALUE, 2));
    assert_eq!(start(&mut t, RH_NULL, RH_OWNER, &caller, &wrong_label).rc, rc_p(ResponseCode::VALUE, 2));

    let r = start(&mut t, k, RH_OWNER, &caller, &oaep(&n, "SECRET\0", &salt)).ok().clone();
    let mut rd = r.reader();
    let s = rd.u32();
    let nonce_tpm = rd.tpm2b().to_vec();
    let secret = [&b"ownerpw"[..], &salt].concat();
    let ath = |secret: &[u8]| {
        hmac(secret, &[&1u32.to_be_bytes(), b"ATH\0", &nonce_tpm, &caller, &256u32.to_be_bytes()])
    };
    let key = ath(&secret);

    // NV_DefineSpace by the owner through the bound session: the owner is the bind entity, so the
    // HMAC key is the session key alone (Part 1 §19.6.10).
    let public = B::new().u32(0x0150_0030).u16(SHA256).u32(1 << 1 | 1 << 17).tpm2b(&[]).u16(8).0;
    let params = B::new().tpm2b(b"").tpm2b(&public).0;
    let cp = Sha256::new()
        .chain_update(CommandCode::NV_DEFINE_SPACE.to_be_bytes())
        .chain_update(RH_OWNER.to_be_bytes())
        .chain_update(&params)
        .finalize();
    let call = |t: &mut Tpm, key: &[u8]| {
        let mac = hmac(key, &[&cp, &caller, &nonce_tpm, &[1]]);
        let auth = B::new().u32(s).tpm2b(&caller).u8(1).tpm2b(&mac).0;
        run(t, CommandCode::NV_DEFINE_SPACE, &[RH_OWNER], Some(&auth), &params)
    };
    // A key without the salt, or without the bind authValue, is refused (the owner is DA-exempt).
    assert_eq!(call(&mut t, &ath(&salt)).rc, rc_s(ResponseCode::BAD_AUTH, 1));
    assert_eq!(call(&mut t, &ath(b"ownerpw")).rc, rc_s(ResponseCode::BAD_AUTH, 1));
    let r = call(&mut t, &key).ok().clone();
    let rp_params = params_of(&r, false);
    let mut rd = R(&r.body[4 + rp_params.len()..]);
    let new_nonce = rd.tpm2b().to_vec();
    assert_eq!(rd.u8(), 1);
    let rp = Sha256::new()
        .chain_update(0u32.to_be_bytes())
        .chain_update(CommandCode::NV_DEFINE_SPACE.to_be_bytes())
        .finalize();
    assert_eq!(rd.tpm2b(), hmac(&key, &[&rp, &new_nonce, &caller, &[1]]));
}

/// Part 1 §19.6.11: once the bind entity's authValue changes, the session is no longer bound to it,
/// so its (new) authValue goes into the HMAC key again.
#[test]
fn a_changed_auth_value_unbinds_the_session() {
    let mut t = started();
    run(&mut t, CommandCode::HIERARCHY_CHANGE_AUTH, &[RH_OWNER], Some(&pw(b"")), &B::new().tpm2b(b"first").0)
        .ok();
    let caller = [0x33u8; 32];
    let r = start(&mut t, RH_NULL, RH_OWNER, &caller, b"").ok().clone();
    let mut rd = r.reader();
    let s = rd.u32();
    let mut nonce_tpm = rd.tpm2b().to_vec();
    let key = hmac(b"first", &[&1u32.to_be_bytes(), b"ATH\0", &nonce_tpm, &caller, &256u32.to_be_bytes()]);
    // ClockSet(owner) through the session, HMAC keyed with `hmac_key`; returns (rc, next nonceTPM).
    let clock_set = |t: &mut Tpm, nonce_tpm: &[u8], hmac_key: &[u8], value: u64| {
        let params = value.to_be_bytes();
        let cp = Sha256::new()
            .chain_update(CommandCode::CLOCK_SET.to_be_bytes())
            .chain_update(RH_OWNER.to_be_bytes())
            .chain_update(params)
            .finalize();
        let mac = hmac(hmac_key, &[&cp, &caller, nonce_tpm, &[1]]);
        let r = run(
            t,
            CommandCode::CLOCK_SET,
            &[RH_OWNER],
            Some(&B::new().u32(s).tpm2b(&caller).u8(1).tpm2b(&mac).0),
            &params,
        );
        let next = if r.rc == 0 { R(&r.body[4..]).tpm2b().to_vec() } else { nonce_tpm.to_vec() };
        (r.rc, next)
    };
    // Bound: the session key alone.
    let (rc, next) = clock_set(&mut t, &nonce_tpm, &key, 1_000_000);
    assert_eq!(rc, 0);
    nonce_tpm = next;
    run(
        &mut t,
        CommandCode::HIERARCHY_CHANGE_AUTH,
        &[RH_OWNER],
        Some(&pw(b"first")),
        &B::new().tpm2b(b"second").0,
    )
    .ok();
    assert_eq!(clock_set(&mut t, &nonce_tpm, &key, 2_000_000).0, rc_s(ResponseCode::BAD_AUTH, 1));
    let (rc, _) = clock_set(&mut t, &nonce_tpm, &[key.as_slice(), b"second"].concat(), 2_000_000);
    assert_eq!(rc, 0);
}
