//! RSA_Encrypt/RSA_Decrypt, ECDH_KeyGen/ECDH_ZGen and TPM2_HMAC, each checked against RustCrypto
//! outside the engine (the `rsa`, `p256` and `hmac` crates).

use crate::common::{B, R, RH_OWNER, TestRng, pw, rc_h, rc_p, run, started};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use sha2::Sha256;
use warden_vtpm::AlgId;
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;

const NULL: u16 = AlgId::NULL.0;

/// CreatePrimary in the owner hierarchy; (handle, outPublic).
fn primary(t: &mut Tpm, template: &[u8], data: &[u8]) -> (u32, Vec<u8>) {
    let sens = B::new().tpm2b(&[]).tpm2b(data).0;
    let p = B::new().tpm2b(&sens).tpm2b(template).tpm2b(&[]).u32(0).0;
    let r = run(t, CommandCode::CREATE_PRIMARY, &[RH_OWNER], Some(&pw(b"")), &p);
    let mut rd = r.ok().reader();
    let h = rd.u32();
    rd.u32();
    (h, rd.tpm2b().to_vec())
}

fn out(r: &crate::common::Resp) -> Vec<u8> {
    R(&crate::common::params_of(r.ok(), false)).tpm2b().to_vec()
}

#[test]
fn rsa_oaep_and_pkcs1_round_trip_with_the_rsa_crate() {
    let mut t = started();
    // Decrypt key (unrestricted): fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|decrypt.
    let template = B::new()
        .u16(1)
        .u16(0x000B)
        .u32(0x0002_0072)
        .tpm2b(&[])
        .u16(NULL)
        .u16(NULL)
        .u16(2048)
        .u32(0)
        .tpm2b(&[])
        .0;
    let (h, public) = primary(&mut t, &template, &[]);
    let n = rsa::BigUint::from_bytes_be(&public[public.len() - 256..]);
    let key = rsa::RsaPublicKey::new(n, rsa::BigUint::from(65537u32)).unwrap();
    let mut rng = TestRng(0);
    // Encrypted outside with label "lbl" (the TPM adds the terminating zero), decrypted inside.
    let c = key.encrypt(&mut rng, rsa::Oaep::new_with_label::<Sha256, _>("lbl\0"), b"oaep secret").unwrap();
    let dec = |t: &mut Tpm, c: &[u8], scheme: &[u8], label: &[u8]| {
        run(t, CommandCode::RSA_DECRYPT, &[h], Some(&pw(b"")), &B::new().tpm2b(c).raw(scheme).tpm2b(label).0)
    };
    let oaep = B::new().u16(0x0017).u16(0x000B).0;
    assert_eq!(out(&dec(&mut t, &c, &oaep, b"lbl")), b"oaep secret");
    assert_eq!(dec(&mut t, &c, &oaep, b"other").rc, rc_p(ResponseCode::VALUE, 1));
    let c = key.encrypt(&mut rng, rsa::Pkcs1v15Encrypt, b"pkcs1 secret").unwrap();
    assert_eq!(out(&dec(&mut t, &c, &B::new().u16(0x0015).0, &[])), b"pkcs1 secret");
    // Raw RSA (scheme NULL on a scheme-less key) gives the padded block itself (`rsa_sizes`).
    let raw = out(&dec(&mut t, &c, &B::new().u16(NULL).0, &[]));
    assert_eq!((raw.len(), &raw[..2], &raw[raw.len() - 12..]), (256, &[0u8, 2][..], &b"pkcs1 secret"[..]));
    // Encrypted inside, decrypted inside.
    let r = run(
        &mut t,
        CommandCode::RSA_ENCRYPT,
        &[h],
        None,
        &B::new().tpm2b(b"round trip").raw(&oaep).tpm2b(&[]).0,
    );
    let c = r.ok().reader().tpm2b().to_vec();
    assert_eq!(c.len(), 256);
    assert_eq!(out(&dec(&mut t, &c, &oaep, &[])), b"round trip");
}

#[test]
fn ecdh_zgen_matches_the_p256_crate() {
    let mut t = started();
    let template = B::new()
        .u16(0x23)
        .u16(0x000B)
        .u32(0x0002_0072)
        .tpm2b(&[])
        .u16(NULL)
        .u16(NULL)
        .u16(3)
        .u16(NULL)
        .tpm2b(&[])
        .tpm2b(&[])
        .0;
    let (h, public) = primary(&mut t, &template, &[]);
    let (x, y) = (&public[public.len() - 66..public.len() - 34], &public[public.len() - 32..]);
    let q = p256::PublicKey::from_sec1_bytes(&[&[4u8][..], x, y].concat()).unwrap();
    let e = p256::SecretKey::from_slice(&[0x24; 32]).unwrap();
    let ep = e.public_key().to_encoded_point(false);
    let point = B::new().tpm2b(ep.x().unwrap()).tpm2b(ep.y().unwrap()).0;
    let r = run(&mut t, CommandCode::ECDH_ZGEN, &[h], Some(&pw(b"")), &B::new().tpm2b(&point).0);
    let z = out(&r);
    let shared = p256::ecdh::diffie_hellman(e.to_nonzero_scalar(), q.as_affine());
    let mut zr = R(&z);
    assert_eq!(zr.tpm2b(), &shared.raw_secret_bytes()[..]);
    assert_eq!(zr.tpm2b().len(), 32);
    // ECDH_KeyGen: zPoint = e'·Q, and ZGen of its pubPoint gives the same point.
    let r = run(&mut t, CommandCode::ECDH_KEYGEN, &[h], None, &[]);
    let mut rd = r.ok().reader();
    let (z1, pubp) = (rd.tpm2b().to_vec(), rd.tpm2b().to_vec());
    let r = run(&mut t, CommandCode::ECDH_ZGEN, &[h], Some(&pw(b"")), &B::new().tpm2b(&pubp).0);
    assert_eq!(out(&r), z1);
    // A point off the curve: TPM_RC_ECC_POINT.
    let bad = B::new().tpm2b(ep.x().unwrap()).tpm2b(&[1; 32]).0;
    assert_eq!(
        run(&mut t, CommandCode::ECDH_ZGEN, &[h], Some(&pw(b"")), &B::new().tpm2b(&bad).0).rc,
        rc_p(ResponseCode::ECC_POINT, 1)
    );
    // A signing key cannot do ECDH.
    let signer = crate::key_helpers::ecc_signer(0x0003);
    let (s, _) = primary(&mut t, &signer, &[]);
    assert_eq!(run(&mut t, CommandCode::ECDH_KEYGEN, &[s], None, &[]).rc, rc_h(ResponseCode::ATTRIBUTES, 1));
}

#[test]
fn hmac_command_matches_the_hmac_crate() {
    use hmac::{Hmac, Mac};
    let mut t = started();
    let template =
        B::new().u16(0x0008).u16(0x000B).u32(0x0004_0052).tpm2b(&[]).u16(0x0005).u16(0x000B).tpm2b(&[]).0;
    let (h, _) = primary(&mut t, &template, b"the hmac key");
    let r = run(&mut t, CommandCode::HMAC, &[h], Some(&pw(b"")), &B::new().tpm2b(b"some data").u16(NULL).0);
    let mut m = Hmac::<Sha256>::new_from_slice(b"the hmac key").unwrap();
    m.update(b"some data");
    assert_eq!(out(&r), m.finalize().into_bytes().to_vec());
    // Another hash than the key's scheme: TPM_RC_SCHEME.
    let r = run(&mut t, CommandCode::HMAC, &[h], Some(&pw(b"")), &B::new().tpm2b(b"x").u16(0x000C).0);
    assert_eq!(r.rc, rc_p(ResponseCode::SCHEME, 2));
}

#[test]
fn encrypt_decrypt2_is_aes_cfb() {
    use cfb_mode::cipher::{AsyncStreamCipher, KeyIvInit};
    let mut t = started();
    // SYMCIPHER AES-128-CFB with the caller's key: fixedTPM|fixedParent|userWithAuth|decrypt|encrypt.
    let template = |attrs: u32| {
        B::new().u16(0x25).u16(0x000B).u32(attrs).tpm2b(&[]).u16(0x0006).u16(128).u16(0x0043).tpm2b(&[]).0
    };
    let key = *b"sixteen byte key";
    let (h, _) = primary(&mut t, &template(0x0006_0052), &key);
    let iv = [9u8; 16];
    let data: Vec<u8> = (0..77u8).collect();
    let call = |t: &mut Tpm, h: u32, input: &[u8], decrypt: u8| {
        let p = B::new().tpm2b(input).u8(decrypt).u16(NULL).tpm2b(&iv).0;
        run(t, CommandCode::ENCRYPT_DECRYPT2, &[h], Some(&pw(b"")), &p)
    };
    let r = call(&mut t, h, &data, 0);
    let p = crate::common::params_of(r.ok(), false);
    let mut rd = R(&p);
    let cipher = rd.tpm2b().to_vec();
    let mut expect = data.clone();
    cfb_mode::Encryptor::<aes::Aes128>::new(&key.into(), &iv.into()).encrypt(&mut expect);
    assert_eq!(cipher, expect);
    let r = call(&mut t, h, &cipher, 1);
    assert_eq!(R(&crate::common::params_of(r.ok(), false)).tpm2b(), &data[..]);
    // A decrypt-only key cannot encrypt; a 15-byte IV is refused.
    let (d, _) = primary(&mut t, &template(0x0002_0052), &key);
    assert_eq!(call(&mut t, d, &data, 0).rc, rc_h(ResponseCode::ATTRIBUTES, 1));
    let p = B::new().tpm2b(&data).u8(0).u16(NULL).tpm2b(&iv[..15]).0;
    assert_eq!(
        run(&mut t, CommandCode::ENCRYPT_DECRYPT2, &[h], Some(&pw(b"")), &p).rc,
        rc_p(ResponseCode::SIZE, 4)
    );
}
