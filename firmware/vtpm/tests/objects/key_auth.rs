//! Keys in authorization: sessions salted to a key (the kernel's ECDH flow) and PolicySecret (the
//! EK policy).

use crate::common::{B, RH_NULL, pw, rc_h, rc_p, rc_s, run, started};
use crate::key_helpers::{ECC, NULL, create_params, ecc_point, ecc_signer, ecc_storage, hmac256, primary};
use sha2::{Digest, Sha256};
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;

/// The kernel's salted session (tpm.md §2.3): ECDH to a NULL-hierarchy P-256 primary, salt by KDFe,
/// sessionKey by KDFa; a command HMAC computed here with that key is accepted, one with a key
/// from another salt is not.
#[test]
fn ecdh_salted_session_authorizes_with_the_shared_key() {
    let mut t = started();
    let (h, public, _) = primary(&mut t, RH_NULL, &ecc_storage()).unwrap();
    let (tx, ty) = ecc_point(&public);
    let mut tpm_point = vec![4u8];
    tpm_point.extend_from_slice(&tx);
    tpm_point.extend_from_slice(&ty);
    let tpm_key = p256::PublicKey::from_sec1_bytes(&tpm_point).unwrap();
    let eph = p256::SecretKey::from_slice(&[0x42; 32]).unwrap();
    let eph_point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&eph.public_key(), false);
    let (ex, ey) = (eph_point.x().unwrap().to_vec(), eph_point.y().unwrap().to_vec());
    let z = p256::ecdh::diffie_hellman(eph.to_nonzero_scalar(), tpm_key.as_affine());
    // KDFe: SHA256(counter=1 || Z || "SECRET\0" || x_eph || x_tpm).
    let salt = Sha256::new()
        .chain_update(1u32.to_be_bytes())
        .chain_update(z.raw_secret_bytes())
        .chain_update(b"SECRET\0")
        .chain_update(&ex)
        .chain_update(&tx)
        .finalize()
        .to_vec();

    let caller = [0x11u8; 32];
    let secret = B::new().tpm2b(&ex).tpm2b(&ey).0;
    let p = B::new().tpm2b(&caller).tpm2b(&secret).u8(0).u16(NULL).u16(0x000B).0;
    let r = run(&mut t, CommandCode::START_AUTH_SESSION, &[h, RH_NULL], None, &p);
    let mut rd = r.ok().reader();
    let session = rd.u32();
    let nonce_tpm = rd.tpm2b().to_vec();
    // KDFa(salt, "ATH", nonceTPM, nonceCaller, 256): one HMAC block.
    let key = hmac256(&salt, &[&1u32.to_be_bytes(), b"ATH\0", &nonce_tpm, &caller, &256u32.to_be_bytes()]);

    let extend = |t: &mut Tpm, key: &[u8], nonce_tpm: &[u8]| {
        let params = B::new().u32(1).u16(0x000B).raw(&[9; 32]).0;
        let cp = Sha256::new()
            .chain_update(CommandCode::PCR_EXTEND.to_be_bytes())
            .chain_update(16u32.to_be_bytes())
            .chain_update(&params)
            .finalize();
        let mac = hmac256(key, &[&cp, &caller, nonce_tpm, &[1]]);
        let auth = B::new().u32(session).tpm2b(&caller).u8(1).tpm2b(&mac).0;
        run(t, CommandCode::PCR_EXTEND, &[16], Some(&auth), &params)
    };
    // A key from a different salt: BAD_AUTH on session 1 (PCRs are DA-exempt).
    let wrong =
        hmac256(&[0u8; 32], &[&1u32.to_be_bytes(), b"ATH\0", &nonce_tpm, &caller, &256u32.to_be_bytes()]);
    assert_eq!(extend(&mut t, &wrong, &nonce_tpm).rc, rc_s(ResponseCode::BAD_AUTH, 1));
    let r = extend(&mut t, &key, &nonce_tpm);
    r.ok();
    // A point not on the curve: TPM_RC_ECC_POINT on the salt.
    let bad = B::new().tpm2b(&ex).tpm2b(&[1; 32]).0;
    let p = B::new().tpm2b(&caller).tpm2b(&bad).u8(0).u16(NULL).u16(0x000B).0;
    assert_eq!(
        run(&mut t, CommandCode::START_AUTH_SESSION, &[h, RH_NULL], None, &p).rc,
        rc_p(ResponseCode::ECC_POINT, 2)
    );
    // A signing key cannot take a salt: TPM_RC_KEY on handle 1.
    let (s, _, _) = primary(&mut t, RH_NULL, &ecc_signer(3)).unwrap();
    let p = B::new().tpm2b(&caller).tpm2b(&secret).u8(0).u16(NULL).u16(0x000B).0;
    assert_eq!(
        run(&mut t, CommandCode::START_AUTH_SESSION, &[s, RH_NULL], None, &p).rc,
        rc_h(ResponseCode::KEY, 1)
    );
}

/// PolicySecret(TPM_RH_ENDORSEMENT) gives the TCG EK Credential Profile's PolicyA digest, and a
/// session that ran it authorizes a child of an EK-like primary (adminWithPolicy, userWithAuth clear).
#[test]
fn policy_secret_satisfies_the_ek_policy() {
    const POLICY_A: &str = "837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa";
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut t = started();
    let policy_a: Vec<u8> =
        (0..32).map(|i| u8::from_str_radix(&POLICY_A[2 * i..2 * i + 2], 16).unwrap()).collect();
    // The L-2 EK template: attributes 0x000300B2, PolicyA, AES-128-CFB, P-256, 32-byte zero x and y.
    let ek = B::new()
        .u16(ECC)
        .u16(0x000B)
        .u32(0x0003_00B2)
        .tpm2b(&policy_a)
        .u16(0x0006)
        .u16(128)
        .u16(0x0043)
        .u16(NULL)
        .u16(0x0003)
        .u16(NULL)
        .tpm2b(&[0; 32])
        .tpm2b(&[0; 32])
        .0;
    let (ek, _, _) = primary(&mut t, 0x4000_000B, &ek).unwrap();
    // userWithAuth is clear: a password cannot authorize Create under the EK.
    let r = run(&mut t, CommandCode::CREATE, &[ek], Some(&pw(b"")), &create_params(b"", b"", &ecc_signer(3)));
    assert_eq!(r.rc, ResponseCode::AUTH_UNAVAILABLE.0); // TPM_RC_AUTH_UNAVAILABLE

    let start = |t: &mut Tpm| {
        let p = B::new().tpm2b(&[7; 32]).tpm2b(&[]).u8(1).u16(NULL).u16(0x000B).0;
        run(t, CommandCode::START_AUTH_SESSION, &[RH_NULL, RH_NULL], None, &p).ok().reader().u32()
    };
    let secret = |t: &mut Tpm, s: u32, password: &[u8]| {
        let p = B::new().tpm2b(&[]).tpm2b(&[]).tpm2b(&[]).u32(0).0;
        run(t, CommandCode::POLICY_SECRET, &[0x4000_000B, s], Some(&pw(password)), &p).rc
    };
    let s = start(&mut t);
    assert_eq!(secret(&mut t, s, b""), 0);
    let d = run(&mut t, CommandCode::POLICY_GET_DIGEST, &[s], None, &[]);
    assert_eq!(hex(d.ok().reader().tpm2b()), POLICY_A);
    let auth = B::new().u32(s).tpm2b(&[]).u8(0).tpm2b(&[]).0;
    let r = run(&mut t, CommandCode::CREATE, &[ek], Some(&auth), &create_params(b"", b"", &ecc_signer(3)));
    r.ok();
    // With the wrong endorsement password PolicySecret fails (BAD_AUTH: the hierarchy is DA-exempt).
    run(&mut t, CommandCode::HIERARCHY_CHANGE_AUTH, &[0x4000_000B], Some(&pw(b"")), &B::new().tpm2b(b"eh").0)
        .ok();
    let s = start(&mut t);
    assert_eq!(secret(&mut t, s, b"nope"), rc_s(ResponseCode::BAD_AUTH, 1));
    // An expiration 10 s from now (no nonce: absolute Time) is accepted; expirations are tested
    // with a moving clock in policy_ext.rs.
    let p = B::new().tpm2b(&[]).tpm2b(&[]).tpm2b(&[]).u32(10).0;
    assert_eq!(run(&mut t, CommandCode::POLICY_SECRET, &[0x4000_000B, s], Some(&pw(b"eh")), &p).rc, 0);
}

/// The Linux kernel's HMAC-session bring-up (tpm2-sessions.c, tpm.md §2.3) with its checks: the
/// NULL primary comes back as sent, survives ContextSave/Load, salts a session whose
/// StartAuthSession answer is exactly handle + 32-byte nonce, and that session encrypts a response
/// the way the kernel decrypts it (AES-128-CFB keyed by KDFa(sessionKey, "CFB", ...)).
#[test]
fn kernel_null_key_session_flow() {
    use cfb_mode::cipher::{AsyncStreamCipher, KeyIvInit};
    let mut t = started();
    let template = ecc_storage();
    let r = run(
        &mut t,
        CommandCode::CREATE_PRIMARY,
        &[RH_NULL],
        Some(&pw(b"")),
        &create_params(b"", b"", &template),
    );
    let body = crate::common::params_of(r.ok(), true);
    let mut rd = crate::common::R(&body);
    let public = rd.tpm2b().to_vec();
    // Every field but unique comes back unchanged; x and y are 32 bytes.
    assert_eq!(&public[..template.len() - 4], &template[..template.len() - 4]);
    let (x, y) = ecc_point(&public);
    assert_eq!((x.len(), y.len()), (32, 32));
    rd.tpm2b();
    assert_eq!(rd.tpm2b().len(), 32);
    assert_eq!((rd.u16(), rd.u32()), (0x8021, RH_NULL));
    rd.tpm2b();
    assert_eq!(rd.tpm2b(), &[&[0x00, 0x0B][..], &Sha256::digest(&public)].concat()[..]);
    let h = r.reader().u32();

    let ctx = run(&mut t, CommandCode::CONTEXT_SAVE, &[h], None, &[]).ok().body.clone();
    assert!(ctx.len() <= 4096);
    run(&mut t, CommandCode::FLUSH_CONTEXT, &[], None, &B::new().u32(h).0).ok();
    let h = run(&mut t, CommandCode::CONTEXT_LOAD, &[], None, &ctx).ok().reader().u32();

    let eph = p256::SecretKey::from_slice(&[0x2B; 32]).unwrap();
    let ep = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&eph.public_key(), false);
    let q = p256::PublicKey::from_sec1_bytes(&[&[4u8][..], &x, &y].concat()).unwrap();
    let z = p256::ecdh::diffie_hellman(eph.to_nonzero_scalar(), q.as_affine());
    let salt = Sha256::new()
        .chain_update(1u32.to_be_bytes())
        .chain_update(z.raw_secret_bytes())
        .chain_update(b"SECRET\0")
        .chain_update(ep.x().unwrap())
        .chain_update(&x)
        .finalize();
    let caller = [0x5Eu8; 32];
    let secret = B::new().tpm2b(ep.x().unwrap()).tpm2b(ep.y().unwrap()).0;
    let p = B::new().tpm2b(&caller).tpm2b(&secret).u8(0).u16(0x0006).u16(128).u16(0x0043).u16(0x000B).0;
    let r = run(&mut t, CommandCode::START_AUTH_SESSION, &[h, RH_NULL], None, &p);
    assert_eq!(r.ok().body.len(), 4 + 2 + 32);
    let mut rd = r.reader();
    let session = rd.u32();
    let nonce_tpm = rd.tpm2b().to_vec();
    run(&mut t, CommandCode::FLUSH_CONTEXT, &[], None, &B::new().u32(h).0).ok();
    let key = hmac256(&salt, &[&1u32.to_be_bytes(), b"ATH\0", &nonce_tpm, &caller, &256u32.to_be_bytes()]);

    // TPM2_Hash("abc") with CONTINUE|ENCRYPT: the digest comes back encrypted.
    let params = B::new().tpm2b(b"abc").u16(0x000B).u32(RH_NULL).0;
    let cp = Sha256::new().chain_update(CommandCode::HASH.to_be_bytes()).chain_update(&params).finalize();
    let mac = hmac256(&key, &[&cp, &caller, &nonce_tpm, &[0x41]]);
    let auth = B::new().u32(session).tpm2b(&caller).u8(0x41).tpm2b(&mac).0;
    let r = run(&mut t, CommandCode::HASH, &[], Some(&auth), &params);
    let mut rd = r.ok().reader();
    let size = rd.u32() as usize;
    let rp = rd.bytes(size).to_vec();
    let new_nonce = rd.tpm2b().to_vec();
    assert_eq!(rd.u8(), 0x41);
    let rmac = rd.tpm2b().to_vec();
    let rp_hash = Sha256::new()
        .chain_update(0u32.to_be_bytes())
        .chain_update(CommandCode::HASH.to_be_bytes())
        .chain_update(&rp)
        .finalize();
    assert_eq!(rmac, hmac256(&key, &[&rp_hash, &new_nonce, &caller, &[0x41]]));
    let cfb = hmac256(&key, &[&1u32.to_be_bytes(), b"CFB\0", &new_nonce, &caller, &256u32.to_be_bytes()]);
    let mut digest = crate::common::R(&rp).tpm2b().to_vec();
    cfb_mode::Decryptor::<aes::Aes128>::new_from_slices(&cfb[..16], &cfb[16..]).unwrap().decrypt(&mut digest);
    assert_eq!(digest, Sha256::digest(b"abc").to_vec());
}
