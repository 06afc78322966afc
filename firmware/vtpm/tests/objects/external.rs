//! LoadExternal: public keys made outside the TPM verify and encrypt; private keys made outside load
//! only into the NULL hierarchy and never pass for TPM keys (fixedTPM, restricted, parents).

use crate::common::{B, R, RH_NULL, RH_OWNER, pw, rc_h, rc_p, run, started};
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use sha2::{Digest, Sha256};
use warden_vtpm::AlgId;
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;

const NULL: u16 = AlgId::NULL.0;

fn ecc_public(attrs: u32, scheme: u16, x: &[u8], y: &[u8]) -> Vec<u8> {
    let b = B::new().u16(0x23).u16(0x000B).u32(attrs).tpm2b(&[]);
    let b = if attrs & (1 << 16) != 0 && attrs & (1 << 17) != 0 {
        b.u16(0x0006).u16(128).u16(0x0043).u16(NULL)
    } else if scheme == NULL {
        b.u16(NULL).u16(NULL)
    } else {
        b.u16(NULL).u16(scheme).u16(0x000B)
    };
    b.u16(3).u16(NULL).tpm2b(x).tpm2b(y).0
}

fn load_external(t: &mut Tpm, private: &[u8], public: &[u8], hierarchy: u32) -> Result<u32, u32> {
    let r = run(
        t,
        CommandCode::LOAD_EXTERNAL,
        &[],
        None,
        &B::new().tpm2b(private).tpm2b(public).u32(hierarchy).0,
    );
    if r.rc != 0 {
        return Err(r.rc);
    }
    Ok(r.reader().u32())
}

fn test_key() -> (p256::SecretKey, Vec<u8>, Vec<u8>) {
    let k = p256::SecretKey::from_slice(&[0x5A; 32]).unwrap();
    let p = k.public_key().to_encoded_point(false);
    (k.clone(), p.x().unwrap().to_vec(), p.y().unwrap().to_vec())
}

#[test]
fn external_public_keys_verify_but_do_not_sign() {
    let mut t = started();
    let (k, x, y) = test_key();
    // sign|userWithAuth, ECDSA-SHA256, public only, in the owner hierarchy.
    let h = load_external(&mut t, &[], &ecc_public(0x0004_0040, 0x18, &x, &y), RH_OWNER).unwrap();
    let digest = Sha256::digest(b"signed outside");
    let sig: p256::ecdsa::Signature = p256::ecdsa::SigningKey::from(&k).sign_prehash(&digest).unwrap();
    let (r, s) = sig.split_bytes();
    let signature = B::new().u16(0x18).u16(0x000B).tpm2b(&r).tpm2b(&s).0;
    let ok =
        run(&mut t, CommandCode::VERIFY_SIGNATURE, &[h], None, &B::new().tpm2b(&digest).raw(&signature).0);
    let mut rd = ok.ok().reader();
    assert_eq!((rd.u16(), rd.u32()), (0x8022, RH_OWNER));
    let other = Sha256::digest(b"something else");
    let bad =
        run(&mut t, CommandCode::VERIFY_SIGNATURE, &[h], None, &B::new().tpm2b(&other).raw(&signature).0);
    assert_eq!(bad.rc, rc_p(ResponseCode::SIGNATURE, 2));
    // No private part: Sign fails with TPM_RC_KEY; it cannot be made persistent.
    let p = B::new().tpm2b(&digest).u16(NULL).u16(0x8024).u32(RH_NULL).tpm2b(&[]).0;
    assert_eq!(run(&mut t, CommandCode::SIGN, &[h], Some(&pw(b"")), &p).rc, rc_h(ResponseCode::KEY, 1));
    let evict =
        run(&mut t, CommandCode::EVICT_CONTROL, &[RH_OWNER, h], Some(&pw(b"")), &B::new().u32(0x8100_0009).0);
    assert_eq!(evict.rc, rc_h(ResponseCode::ATTRIBUTES, 2));
    // A point off the curve is refused.
    let off = ecc_public(0x0004_0040, 0x18, &x, &[1; 32]);
    assert_eq!(load_external(&mut t, &[], &off, RH_OWNER), Err(rc_p(ResponseCode::ECC_POINT, 2)));
}

#[test]
fn external_private_keys_stay_in_the_null_hierarchy() {
    let mut t = started();
    let (k, x, y) = test_key();
    let sens = B::new().u16(0x23).tpm2b(b"pw").tpm2b(&[]).tpm2b(&k.to_bytes()).0;
    let public = ecc_public(0x0004_0040, 0x18, &x, &y);
    assert_eq!(load_external(&mut t, &sens, &public, RH_OWNER), Err(rc_p(ResponseCode::HIERARCHY, 3)));
    // fixedTPM|fixedParent, or restricted, would pass for a TPM key: refused.
    let fixed = ecc_public(0x0004_0052, 0x18, &x, &y);
    assert_eq!(load_external(&mut t, &sens, &fixed, RH_NULL), Err(rc_p(ResponseCode::ATTRIBUTES, 2)));
    let restricted = ecc_public(0x0005_0040, 0x18, &x, &y);
    assert_eq!(load_external(&mut t, &sens, &restricted, RH_NULL), Err(rc_p(ResponseCode::ATTRIBUTES, 2)));
    // A private part that does not match the public key: TPM_RC_BINDING.
    let other = B::new().u16(0x23).tpm2b(b"pw").tpm2b(&[]).tpm2b(&[0x11; 32]).0;
    assert_eq!(load_external(&mut t, &other, &public, RH_NULL), Err(rc_p(ResponseCode::BINDING, 1)));
    // In the NULL hierarchy it signs with its own password.
    let h = load_external(&mut t, &sens, &public, RH_NULL).unwrap();
    let digest = Sha256::digest(b"external");
    let p = B::new().tpm2b(&digest).u16(NULL).u16(0x8024).u32(RH_NULL).tpm2b(&[]).0;
    let r = run(&mut t, CommandCode::SIGN, &[h], Some(&pw(b"pw")), &p);
    let out = crate::common::params_of(r.ok(), false);
    let mut rd = R(&out);
    rd.u32();
    let sig = p256::ecdsa::Signature::from_slice(&[rd.tpm2b(), rd.tpm2b()].concat()).unwrap();
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    assert!(p256::ecdsa::VerifyingKey::from(k.public_key()).verify_prehash(&digest, &sig).is_ok());
}

#[test]
fn external_public_keys_cannot_be_parents_and_rsa_encrypts() {
    let mut t = started();
    let (_, x, y) = test_key();
    // A restricted decryption (storage) public key: loads, but Create under it is TPM_RC_TYPE.
    let storage = ecc_public(0x0003_0040, NULL, &x, &y);
    let h = load_external(&mut t, &[], &storage, RH_OWNER).unwrap();
    let sens = B::new().tpm2b(&[]).tpm2b(&[]).0;
    let child = ecc_public(0x0004_0072, 0x18, &[], &[]);
    let p = B::new().tpm2b(&sens).tpm2b(&child).tpm2b(&[]).u32(0).0;
    assert_eq!(run(&mut t, CommandCode::CREATE, &[h], Some(&pw(b"")), &p).rc, rc_h(ResponseCode::TYPE, 1));

    // RSA-OAEP to an outside key, decrypted outside.
    let mut rng = rsa_rng();
    let key = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
    let n = rsa::traits::PublicKeyParts::n(&key).to_bytes_be();
    let public = B::new()
        .u16(1)
        .u16(0x000B)
        .u32(0x0002_0040)
        .tpm2b(&[])
        .u16(NULL)
        .u16(0x0017)
        .u16(0x000B)
        .u16(2048)
        .u32(0)
        .tpm2b(&n)
        .0;
    let h = load_external(&mut t, &[], &public, RH_NULL).unwrap();
    let r = run(
        &mut t,
        CommandCode::RSA_ENCRYPT,
        &[h],
        None,
        &B::new().tpm2b(b"to the outside").u16(NULL).tpm2b(&[]).0,
    );
    let c = r.ok().reader().tpm2b().to_vec();
    assert_eq!(key.decrypt(rsa::Oaep::new::<Sha256>(), &c).unwrap(), b"to the outside");
}

/// A deterministic RNG for the test's own RSA key.
fn rsa_rng() -> impl rand_core::CryptoRngCore {
    crate::common::TestRng(0)
}
