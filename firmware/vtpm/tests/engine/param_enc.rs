//! Session parameter encryption (Part 1 §21): AES-CFB on the first TPM2B parameter, keyed with KDFa
//! from the session key, the authValue and the nonces; computed here independently with `hmac`,
//! `aes` and `cfb-mode`.

use crate::common::{B, R, RH_NULL, RH_OWNER, SHA256, params_of, pw, rc_p, rc_s, run, started};
use crate::common::{hmac_sha256 as hmac, kdfa_sha256 as kdfa};
use cfb_mode::cipher::{AsyncStreamCipher, KeyIvInit};
use sha2::{Digest, Sha256};
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;

const IDX: u32 = 0x0150_0003;
const DECRYPT: u8 = 0x20;
const ENCRYPT: u8 = 0x40;

/// AES-128-CFB with KDFa(key, "CFB", newer, older, 256) = key || IV.
fn cfb(key: &[u8], newer: &[u8], older: &[u8], data: &mut [u8], encrypt: bool) {
    let m = kdfa(key, b"CFB", newer, older, 256);
    if encrypt {
        cfb_mode::Encryptor::<aes::Aes128>::new_from_slices(&m[..16], &m[16..]).unwrap().encrypt(data);
    } else {
        cfb_mode::Decryptor::<aes::Aes128>::new_from_slices(&m[..16], &m[16..]).unwrap().decrypt(data);
    }
}

/// An unbound, unsalted HMAC session with AES-128-CFB; returns (handle, nonceTPM).
fn aes_session(t: &mut Tpm) -> (u32, Vec<u8>) {
    let p = B::new().tpm2b(&[0x11; 32]).tpm2b(b"").u8(0).u16(0x06).u16(128).u16(0x43).u16(SHA256).0;
    let r = run(t, CommandCode::START_AUTH_SESSION, &[RH_NULL, RH_NULL], None, &p).ok().clone();
    let mut rd = r.reader();
    (rd.u32(), rd.tpm2b().to_vec())
}

fn define(t: &mut Tpm) {
    let public = B::new().u32(IDX).u16(SHA256).u32(1 << 2 | 1 << 17 | 1 << 18 | 1 << 25).tpm2b(b"").u16(16).0;
    run(
        t,
        CommandCode::NV_DEFINE_SPACE,
        &[RH_OWNER],
        Some(&pw(b"")),
        &B::new().tpm2b(b"nvpw").tpm2b(&public).0,
    )
    .ok();
}

#[test]
fn nv_write_decrypts_and_nv_read_encrypts() {
    let mut t = started();
    define(&mut t);
    let (h, mut nonce_tpm) = aes_session(&mut t);
    let secret = *b"sixteen byte msg";
    let name_of = |t: &mut Tpm| {
        let r = run(t, CommandCode::NV_READ_PUBLIC, &[IDX], None, &[]).ok().clone();
        let mut rd = r.reader();
        rd.tpm2b();
        rd.tpm2b().to_vec()
    };
    let name = name_of(&mut t);

    // NV_Write with the data encrypted by the caller; the HMAC covers the ciphertext.
    let caller = [0x22u8; 32];
    let mut data = secret;
    cfb(b"nvpw", &caller, &nonce_tpm, &mut data, true);
    assert_ne!(data, secret);
    let params = B::new().tpm2b(&data).u16(0).0;
    let cp = Sha256::new()
        .chain_update(CommandCode::NV_WRITE.to_be_bytes())
        .chain_update(&name)
        .chain_update(&name)
        .chain_update(&params)
        .finalize();
    let attrs = DECRYPT | 1;
    let mac = hmac(b"nvpw", &[&cp, &caller, &nonce_tpm, &[attrs]]);
    let auth = B::new().u32(h).tpm2b(&caller).u8(attrs).tpm2b(&mac).0;
    let r = run(&mut t, CommandCode::NV_WRITE, &[IDX, IDX], Some(&auth), &params).ok().clone();
    nonce_tpm = R(&r.body[4..]).tpm2b().to_vec();

    // What the TPM stored is the plaintext.
    let r = run(&mut t, CommandCode::NV_READ, &[IDX, IDX], Some(&pw(b"nvpw")), &B::new().u16(16).u16(0).0)
        .ok()
        .clone();
    assert_eq!(R(&params_of(&r, false)).tpm2b(), secret);

    // NV_Read with ENCRYPT: the response carries ciphertext under the new nonceTPM. (The write set
    // TPMA_NV_WRITTEN, so the index has a new Name.)
    let name = name_of(&mut t);
    let caller = [0x33u8; 32];
    let params = B::new().u16(16).u16(0).0;
    let cp = Sha256::new()
        .chain_update(CommandCode::NV_READ.to_be_bytes())
        .chain_update(&name)
        .chain_update(&name)
        .chain_update(&params)
        .finalize();
    let attrs = ENCRYPT | 1;
    let mac = hmac(b"nvpw", &[&cp, &caller, &nonce_tpm, &[attrs]]);
    let auth = B::new().u32(h).tpm2b(&caller).u8(attrs).tpm2b(&mac).0;
    let r = run(&mut t, CommandCode::NV_READ, &[IDX, IDX], Some(&auth), &params).ok().clone();
    let rp = params_of(&r, false);
    let mut rd = R(&r.body[4 + rp.len()..]);
    let new_nonce = rd.tpm2b().to_vec();
    assert_eq!(rd.u8(), attrs);
    let resp_mac = rd.tpm2b().to_vec();
    let rp_hash = Sha256::new()
        .chain_update(0u32.to_be_bytes())
        .chain_update(CommandCode::NV_READ.to_be_bytes())
        .chain_update(&rp)
        .finalize();
    assert_eq!(resp_mac, hmac(b"nvpw", &[&rp_hash, &new_nonce, &caller, &[attrs]]));
    let mut out = R(&rp).tpm2b().to_vec();
    assert_ne!(out, secret);
    cfb(b"nvpw", &new_nonce, &caller, &mut out, false);
    assert_eq!(out, secret);
}

#[test]
fn an_encrypt_only_session_can_ride_along_on_get_random() {
    let mut t = started();
    let (h, nonce_tpm) = aes_session(&mut t);
    let caller = [0x44u8; 16];
    let auth = B::new().u32(h).tpm2b(&caller).u8(ENCRYPT | 1).tpm2b(b"").0;
    let r = run(&mut t, CommandCode::GET_RANDOM, &[], Some(&auth), &[0, 16]).ok().clone();
    let rp = params_of(&r, false);
    let mut rd = R(&r.body[4 + rp.len()..]);
    let new_nonce = rd.tpm2b().to_vec();
    assert_ne!(new_nonce, nonce_tpm);
    assert_eq!(rd.u8(), ENCRYPT | 1);
    // Empty session key and an empty command HMAC: the response HMAC is empty too.
    assert_eq!(rd.tpm2b(), b"");
    assert_eq!(R(&rp).tpm2b().len(), 16);

    // With an HMAC sent (keyed with the empty string), one comes back, over the ciphertext.
    let cp =
        Sha256::new().chain_update(CommandCode::GET_RANDOM.to_be_bytes()).chain_update([0, 16]).finalize();
    let mac = hmac(b"", &[&cp, &caller, &new_nonce, &[ENCRYPT | 1]]);
    let auth = B::new().u32(h).tpm2b(&caller).u8(ENCRYPT | 1).tpm2b(&mac).0;
    let r = run(&mut t, CommandCode::GET_RANDOM, &[], Some(&auth), &[0, 16]).ok().clone();
    let rp = params_of(&r, false);
    let mut rd = R(&r.body[4 + rp.len()..]);
    let nonce2 = rd.tpm2b().to_vec();
    rd.u8();
    let rp_hash = Sha256::new()
        .chain_update(0u32.to_be_bytes())
        .chain_update(CommandCode::GET_RANDOM.to_be_bytes())
        .chain_update(&rp)
        .finalize();
    assert_eq!(rd.tpm2b(), hmac(b"", &[&rp_hash, &nonce2, &caller, &[ENCRYPT | 1]]));
    // The same HMAC again is stale (the nonce rolled): refused, BAD_AUTH as no entity is involved.
    let auth = B::new().u32(h).tpm2b(&caller).u8(ENCRYPT | 1).tpm2b(&mac).0;
    assert_eq!(
        run(&mut t, CommandCode::GET_RANDOM, &[], Some(&auth), &[0, 16]).rc,
        rc_s(ResponseCode::BAD_AUTH, 1)
    );
}

#[test]
fn encryption_attribute_errors() {
    let mut t = started();
    define(&mut t);
    let (h, _) = aes_session(&mut t);
    let sess = |attrs: u8| B::new().u32(h).tpm2b(&[1; 16]).u8(attrs).tpm2b(b"").0;
    // GetRandom's parameter is a u16, not a TPM2B: it cannot be decrypted.
    assert_eq!(
        run(&mut t, CommandCode::GET_RANDOM, &[], Some(&sess(DECRYPT | 1)), &[0, 8]).rc,
        rc_s(ResponseCode::ATTRIBUTES, 1)
    );
    // A session that neither authorizes nor encrypts has no purpose here.
    assert_eq!(
        run(&mut t, CommandCode::GET_RANDOM, &[], Some(&sess(1)), &[0, 8]).rc,
        rc_s(ResponseCode::ATTRIBUTES, 1)
    );
    // A session without a symmetric algorithm cannot encrypt.
    let p = B::new().tpm2b(&[0; 16]).tpm2b(b"").u8(0).u16(0x10).u16(SHA256).0;
    let plain =
        run(&mut t, CommandCode::START_AUTH_SESSION, &[RH_NULL, RH_NULL], None, &p).ok().reader().u32();
    let s2 = B::new().u32(plain).tpm2b(&[1; 16]).u8(ENCRYPT | 1).tpm2b(b"").0;
    assert_eq!(
        run(&mut t, CommandCode::GET_RANDOM, &[], Some(&s2), &[0, 8]).rc,
        rc_s(ResponseCode::SYMMETRIC, 1)
    );
    // Two sessions may not both encrypt.
    let (h2, _) = aes_session(&mut t);
    let two = [sess(ENCRYPT | 1), B::new().u32(h2).tpm2b(&[1; 16]).u8(ENCRYPT | 1).tpm2b(b"").0].concat();
    assert_eq!(
        run(&mut t, CommandCode::GET_RANDOM, &[], Some(&two), &[0, 8]).rc,
        rc_s(ResponseCode::ATTRIBUTES, 2)
    );
    // A decrypt whose TPM2B size runs past the parameters: TPM_RC_SIZE on parameter 1.
    let pwd = B::new().u32(0x4000_0009).u16(0).u8(1).tpm2b(b"nvpw").0;
    let both = [pwd, sess(DECRYPT | 1)].concat();
    let bad = B::new().u16(40).raw(&[0; 4]).0;
    assert_eq!(
        run(&mut t, CommandCode::NV_WRITE, &[IDX, IDX], Some(&both), &bad).rc,
        rc_p(ResponseCode::SIZE, 1)
    );
}

#[test]
fn the_authorizing_hmac_covers_a_separate_decrypt_sessions_nonce() {
    let mut t = started();
    run(&mut t, CommandCode::HIERARCHY_CHANGE_AUTH, &[RH_OWNER], Some(&pw(b"")), &B::new().tpm2b(b"opw").0)
        .ok();
    let p = B::new().tpm2b(&[0x11; 32]).tpm2b(b"").u8(0).u16(0x10).u16(SHA256).0;
    let r = run(&mut t, CommandCode::START_AUTH_SESSION, &[RH_NULL, RH_NULL], None, &p).ok().clone();
    let mut rd = r.reader();
    let (hs, nonce_auth) = (rd.u32(), rd.tpm2b().to_vec());
    let (he, nonce_enc) = aes_session(&mut t);
    // Session 1 (HMAC, owner) authorizes; session 2 (AES) decrypts newAuth.
    let (c1, c2) = ([0x61u8; 32], [0x62u8; 32]);
    let mut new_auth = *b"secret";
    cfb(b"", &c2, &nonce_enc, &mut new_auth, true);
    let params = B::new().tpm2b(&new_auth).0;
    let cp = Sha256::new()
        .chain_update(CommandCode::HIERARCHY_CHANGE_AUTH.to_be_bytes())
        .chain_update(RH_OWNER.to_be_bytes())
        .chain_update(&params)
        .finalize();
    let bad = hmac(b"opw", &[&cp, &c1, &nonce_auth, &[1]]);
    let good = hmac(b"opw", &[&cp, &c1, &nonce_auth, &nonce_enc, &[1]]);
    let second = B::new().u32(he).tpm2b(&c2).u8(DECRYPT | 1).tpm2b(b"").0;
    let with = |mac: &[u8]| [B::new().u32(hs).tpm2b(&c1).u8(1).tpm2b(mac).0, second.clone()].concat();
    assert_eq!(
        run(&mut t, CommandCode::HIERARCHY_CHANGE_AUTH, &[RH_OWNER], Some(&with(&bad)), &params).rc,
        rc_s(ResponseCode::BAD_AUTH, 1)
    );
    run(&mut t, CommandCode::HIERARCHY_CHANGE_AUTH, &[RH_OWNER], Some(&with(&good)), &params).ok();
    // The owner auth is now the decrypted value.
    run(
        &mut t,
        CommandCode::HIERARCHY_CHANGE_AUTH,
        &[RH_OWNER],
        Some(&pw(b"secret")),
        &B::new().tpm2b(b"").0,
    )
    .ok();
}
