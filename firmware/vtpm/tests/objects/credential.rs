//! MakeCredential/ActivateCredential: a credential made in software here (p256 ECDH, KDFe, KDFa,
//! AES-CFB, HMAC from RustCrypto) is released by ActivateCredential; one made by the TPM too; a
//! credential for another Name, or a changed blob, is refused.

use crate::common::{B, R, RH_OWNER, pw, rc_h, rc_p, run, started};
use crate::common::{hmac_sha256 as hmac, kdfa_sha256 as kdfa};
use cfb_mode::cipher::{AsyncStreamCipher, KeyIvInit};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use sha2::{Digest, Sha256};
use warden_vtpm::AlgId;
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;

const NULL: u16 = AlgId::NULL.0;

fn primary(t: &mut Tpm, template: &[u8]) -> (u32, Vec<u8>, Vec<u8>) {
    let sens = B::new().tpm2b(&[]).tpm2b(&[]).0;
    let p = B::new().tpm2b(&sens).tpm2b(template).tpm2b(&[]).u32(0).0;
    let r = run(t, CommandCode::CREATE_PRIMARY, &[RH_OWNER], Some(&pw(b"")), &p);
    let mut rd = r.ok().reader();
    let h = rd.u32();
    rd.u32();
    let public = rd.tpm2b().to_vec();
    rd.tpm2b();
    rd.tpm2b();
    rd.bytes(6);
    rd.tpm2b();
    (h, public, rd.tpm2b().to_vec())
}

/// The software side of MakeCredential to an ECC P-256 storage key: (blob, secret).
fn make_in_software(ek_public: &[u8], name: &[u8], credential: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (x, y) = (&ek_public[ek_public.len() - 66..ek_public.len() - 34], &ek_public[ek_public.len() - 32..]);
    let q = p256::PublicKey::from_sec1_bytes(&[&[4u8][..], x, y].concat()).unwrap();
    let e = p256::SecretKey::from_slice(&[0x77; 32]).unwrap();
    let ep = e.public_key().to_encoded_point(false);
    let z = p256::ecdh::diffie_hellman(e.to_nonzero_scalar(), q.as_affine());
    let seed = Sha256::new()
        .chain_update(1u32.to_be_bytes())
        .chain_update(z.raw_secret_bytes())
        .chain_update(b"IDENTITY\0")
        .chain_update(ep.x().unwrap())
        .chain_update(x)
        .finalize();
    let sym = kdfa(&seed, b"STORAGE", name, &[], 128);
    let mac = kdfa(&seed, b"INTEGRITY", &[], &[], 256);
    let mut enc = B::new().tpm2b(credential).0;
    cfb_mode::Encryptor::<aes::Aes128>::new_from_slices(&sym, &[0; 16]).unwrap().encrypt(&mut enc);
    let blob = B::new().tpm2b(&hmac(&mac, &[&enc, name])).raw(&enc).0;
    (blob, B::new().tpm2b(ep.x().unwrap()).tpm2b(ep.y().unwrap()).0)
}

fn activate(t: &mut Tpm, object: u32, ek: u32, blob: &[u8], secret: &[u8]) -> Result<Vec<u8>, u32> {
    let auth = [pw(b""), pw(b"")].concat();
    let r = run(
        t,
        CommandCode::ACTIVATE_CREDENTIAL,
        &[object, ek],
        Some(&auth),
        &B::new().tpm2b(blob).tpm2b(secret).0,
    );
    if r.rc != 0 {
        return Err(r.rc);
    }
    Ok(R(&crate::common::params_of(&r, false)).tpm2b().to_vec())
}

#[test]
fn credentials_are_released_only_for_the_named_key() {
    let mut t = started();
    // An EK-like storage key that takes a password (userWithAuth), AES-128-CFB, P-256.
    let ek = B::new()
        .u16(0x23)
        .u16(0x000B)
        .u32(0x0003_0072)
        .tpm2b(&[])
        .u16(0x0006)
        .u16(128)
        .u16(0x0043)
        .u16(NULL)
        .u16(3)
        .u16(NULL)
        .tpm2b(&[])
        .tpm2b(&[])
        .0;
    let signer = crate::key_helpers::ecc_signer(0x0003);
    let (ek, ek_public, _) = primary(&mut t, &ek);
    let (ak, _, ak_name) = primary(&mut t, &signer);
    let (blob, secret) = make_in_software(&ek_public, &ak_name, b"credential!");
    assert_eq!(activate(&mut t, ak, ek, &blob, &secret).unwrap(), b"credential!");
    // Another object than the one named: the HMAC fails (TPM_RC_INTEGRITY on the blob).
    let other = B::new()
        .u16(0x23)
        .u16(0x000B)
        .u32(0x0004_0072)
        .tpm2b(&[])
        .u16(NULL)
        .u16(0x18)
        .u16(0x000B)
        .u16(4)
        .u16(NULL)
        .tpm2b(&[])
        .tpm2b(&[])
        .0;
    let (other, _, _) = primary(&mut t, &other);
    assert_eq!(activate(&mut t, other, ek, &blob, &secret), Err(rc_p(ResponseCode::INTEGRITY, 1)));
    // The key handle must be a storage key.
    assert_eq!(activate(&mut t, ak, other, &blob, &secret), Err(rc_h(ResponseCode::TYPE, 2)));
    let mut bad = blob.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(activate(&mut t, ak, ek, &bad, &secret), Err(rc_p(ResponseCode::INTEGRITY, 1)));

    // MakeCredential by the TPM, for the AK's Name.
    let r = run(
        &mut t,
        CommandCode::MAKE_CREDENTIAL,
        &[ek],
        None,
        &B::new().tpm2b(b"from the TPM").tpm2b(&ak_name).0,
    );
    let mut rd = r.ok().reader();
    let (blob, secret) = (rd.tpm2b().to_vec(), rd.tpm2b().to_vec());
    assert_eq!(activate(&mut t, ak, ek, &blob, &secret).unwrap(), b"from the TPM");
    // The ephemeral point is fresh each time (a different secret for the same credential).
    let r = run(
        &mut t,
        CommandCode::MAKE_CREDENTIAL,
        &[ek],
        None,
        &B::new().tpm2b(b"from the TPM").tpm2b(&ak_name).0,
    );
    let mut rd = r.ok().reader();
    rd.tpm2b();
    assert_ne!(rd.tpm2b(), &secret[..]);
}
