//! TPM2_Import of a duplicate made here in software (outer wrapper by p256 ECDH and KDFe
//! "DUPLICATE", inner wrapper by AES-CFB), then Load and use: the imported HMAC key computes what
//! the `hmac` crate computes with the same key.

use crate::common::{B, R, RH_OWNER, pw, rc_p, run, started};
use crate::common::{hmac_sha256 as hmac, kdfa_sha256 as kdfa};
use cfb_mode::cipher::{AsyncStreamCipher, KeyIvInit};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use sha2::{Digest, Sha256};
use warden_vtpm::AlgId;
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;

const NULL: u16 = AlgId::NULL.0;

fn cfb(key: &[u8], data: &mut [u8]) {
    cfb_mode::Encryptor::<aes::Aes128>::new_from_slices(key, &[0; 16]).unwrap().encrypt(data);
}

/// The storage parent: ECC P-256, AES-128-CFB; (handle, x, y).
fn parent(t: &mut Tpm) -> (u32, Vec<u8>, Vec<u8>) {
    let template = B::new()
        .u16(0x23)
        .u16(0x000B)
        .u32(0x0003_0472)
        .tpm2b(&[])
        .u16(6)
        .u16(128)
        .u16(0x43)
        .u16(NULL)
        .u16(3)
        .u16(NULL)
        .tpm2b(&[])
        .tpm2b(&[])
        .0;
    let p = B::new().tpm2b(&B::new().tpm2b(&[]).tpm2b(&[]).0).tpm2b(&template).tpm2b(&[]).u32(0).0;
    let r = run(t, CommandCode::CREATE_PRIMARY, &[RH_OWNER], Some(&pw(b"")), &p);
    let mut rd = r.ok().reader();
    let h = rd.u32();
    rd.u32();
    let public = rd.tpm2b().to_vec();
    let n = public.len();
    (h, public[n - 66..n - 34].to_vec(), public[n - 32..].to_vec())
}

/// A duplicate of an HMAC key: (public, duplicate, inSymSeed) with an inner wrapper under `inner`.
fn duplicate(px: &[u8], py: &[u8], key: &[u8], attrs: u32, inner: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let obfuscation = [0x33u8; 32];
    let unique = Sha256::new().chain_update(obfuscation).chain_update(key).finalize();
    let public = B::new().u16(8).u16(0x000B).u32(attrs).tpm2b(&[]).u16(0x0005).u16(0x000B).tpm2b(&unique).0;
    let name = [&[0x00, 0x0B][..], &Sha256::digest(&public)].concat();
    let sensitive = B::new().tpm2b(&B::new().u16(8).tpm2b(b"keypw").tpm2b(&obfuscation).tpm2b(key).0).0;
    // Inner: AES-CFB(TPM2B(H(sensitive || name)) || sensitive).
    let integrity = Sha256::new().chain_update(&sensitive).chain_update(&name).finalize();
    let mut inner_data = B::new().tpm2b(&integrity).raw(&sensitive).0;
    cfb(inner, &mut inner_data);
    // Outer: seed by ECDH to the parent, KDFe "DUPLICATE".
    let q = p256::PublicKey::from_sec1_bytes(&[&[4u8][..], px, py].concat()).unwrap();
    let e = p256::SecretKey::from_slice(&[0x19; 32]).unwrap();
    let ep = e.public_key().to_encoded_point(false);
    let z = p256::ecdh::diffie_hellman(e.to_nonzero_scalar(), q.as_affine());
    let seed = Sha256::new()
        .chain_update(1u32.to_be_bytes())
        .chain_update(z.raw_secret_bytes())
        .chain_update(b"DUPLICATE\0")
        .chain_update(ep.x().unwrap())
        .chain_update(px)
        .finalize();
    let mut outer = inner_data;
    cfb(&kdfa(&seed, b"STORAGE", &name, &[], 128), &mut outer);
    let mac = hmac(&kdfa(&seed, b"INTEGRITY", &[], &[], 256), &[&outer, &name]);
    let dup = B::new().tpm2b(&mac).raw(&outer).0;
    (public, dup, B::new().tpm2b(ep.x().unwrap()).tpm2b(ep.y().unwrap()).0)
}

fn import(
    t: &mut Tpm,
    parent: u32,
    inner: &[u8],
    public: &[u8],
    dup: &[u8],
    seed: &[u8],
) -> crate::common::Resp {
    let p = B::new().tpm2b(inner).tpm2b(public).tpm2b(dup).tpm2b(seed).u16(0x0006).u16(128).u16(0x43).0;
    run(t, CommandCode::IMPORT, &[parent], Some(&pw(b"")), &p)
}

#[test]
fn a_software_duplicate_imports_and_keeps_its_key() {
    let mut t = started();
    let (p, px, py) = parent(&mut t);
    let inner = [0x44u8; 16];
    // userWithAuth|sign, HMAC-SHA256.
    let (public, dup, seed) = duplicate(&px, &py, b"imported hmac key", 0x0004_0040, &inner);
    let r = import(&mut t, p, &inner, &public, &dup, &seed);
    let private = R(&crate::common::params_of(r.ok(), false)).tpm2b().to_vec();
    let r = run(&mut t, CommandCode::LOAD, &[p], Some(&pw(b"")), &B::new().tpm2b(&private).tpm2b(&public).0);
    let h = r.ok().reader().u32();
    let r = run(&mut t, CommandCode::HMAC, &[h], Some(&pw(b"keypw")), &B::new().tpm2b(b"data").u16(NULL).0);
    assert_eq!(
        R(&crate::common::params_of(r.ok(), false)).tpm2b(),
        &hmac(b"imported hmac key", &[b"data"])[..]
    );

    // A changed duplicate, the wrong inner key, or a claim to be fixedTPM are refused.
    let mut bad = dup.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(import(&mut t, p, &inner, &public, &bad, &seed).rc, rc_p(ResponseCode::INTEGRITY, 3));
    assert_eq!(import(&mut t, p, &[0x45; 16], &public, &dup, &seed).rc, rc_p(ResponseCode::INTEGRITY, 3));
    let (fixed, dup, seed) = duplicate(&px, &py, b"k", 0x0004_0052, &inner);
    assert_eq!(import(&mut t, p, &inner, &fixed, &dup, &seed).rc, rc_p(ResponseCode::ATTRIBUTES, 2));
}
