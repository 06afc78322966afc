//! RSA-1024 beside RSA-2048 (Part 2 TPMI_RSA_KEY_BITS; the PC Client PTP asks for both): created,
//! loaded from outside, signing and encrypting; and raw RSA (scheme TPM_ALG_NULL, Part 3 §14.2/§14.3:
//! RSAEP/RSADP of PKCS #1 §5.1 with no padding). Every result is checked with the `rsa` crate.

use crate::common::{B, R, RH_OWNER, TestRng, params_of, pw, rc_p, run, started};
use crate::key_helpers::{rsa_signer, sign};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BigUint, Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};
use warden_vtpm::AlgId;
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;

const NULL: u16 = AlgId::NULL.0;

/// An unrestricted RSA decryption key of `bits` with no scheme (fixedTPM|fixedParent|
/// sensitiveDataOrigin|userWithAuth|decrypt), or with `attrs`, and `modulus` as unique.
fn rsa_public(bits: u16, attrs: u32, scheme: (u16, u16), modulus: &[u8]) -> Vec<u8> {
    let b = B::new().u16(1).u16(0x000B).u32(attrs).tpm2b(&[]).u16(NULL).u16(scheme.0);
    let b = if scheme.0 == NULL { b } else { b.u16(scheme.1) };
    b.u16(bits).u32(0).tpm2b(modulus).0
}

/// CreatePrimary in the owner hierarchy; (handle, modulus of `bits`).
fn primary(t: &mut Tpm, template: &[u8], bits: u16) -> (u32, RsaPublicKey) {
    let sens = B::new().tpm2b(&[]).tpm2b(&[]).0;
    let p = B::new().tpm2b(&sens).tpm2b(template).tpm2b(&[]).u32(0).0;
    let r = run(t, CommandCode::CREATE_PRIMARY, &[RH_OWNER], Some(&pw(b"")), &p);
    let mut rd = r.ok().reader();
    let h = rd.u32();
    rd.u32();
    let public = rd.tpm2b().to_vec();
    let n = &public[public.len() - usize::from(bits / 8)..];
    (h, RsaPublicKey::new(BigUint::from_bytes_be(n), BigUint::from(65537u32)).unwrap())
}

/// RSA_Encrypt (no authorization) or RSA_Decrypt; (rc, output).
fn crypt(t: &mut Tpm, cc: CommandCode, h: u32, data: &[u8], scheme: &[u8]) -> (u32, Vec<u8>) {
    let auth = (cc == CommandCode::RSA_DECRYPT).then(|| pw(b""));
    let r = run(t, cc, &[h], auth.as_deref(), &B::new().tpm2b(data).raw(scheme).tpm2b(&[]).0);
    if r.rc != 0 {
        return (r.rc, Vec::new());
    }
    if auth.is_none() {
        return (0, r.reader().tpm2b().to_vec());
    }
    (0, R(&params_of(&r, false)).tpm2b().to_vec())
}

#[test]
fn raw_rsa_is_rsaep_and_rsadp_at_both_sizes() {
    let mut t = started();
    for bits in [1024u16, 2048] {
        let k = usize::from(bits / 8);
        let (h, key) = primary(&mut t, &rsa_public(bits, 0x0002_0072, (NULL, 0), &[]), bits);
        assert_eq!(key.size(), k);
        let null = B::new().u16(NULL).0;
        // A short message is a small integer: c = m^e mod n, exactly k bytes long.
        let (rc, c) = crypt(&mut t, CommandCode::RSA_ENCRYPT, h, b"raw message", &null);
        assert_eq!(rc, 0);
        let m = BigUint::from_bytes_be(b"raw message");
        let expect = m.modpow(key.e(), key.n()).to_bytes_be();
        assert_eq!(c.len(), k);
        assert_eq!(BigUint::from_bytes_be(&c).to_bytes_be(), expect);
        // Decryption gives m back, left-padded to the modulus size.
        let (rc, plain) = crypt(&mut t, CommandCode::RSA_DECRYPT, h, &c, &null);
        assert_eq!(rc, 0);
        assert_eq!(plain.len(), k);
        assert_eq!(&plain[k - 11..], b"raw message");
        assert!(plain[..k - 11].iter().all(|&b| b == 0));
        // A value not below the modulus is TPM_RC_VALUE; a short ciphertext is TPM_RC_SIZE.
        let too_big = vec![0xFF; k];
        assert_eq!(
            crypt(&mut t, CommandCode::RSA_ENCRYPT, h, &too_big, &null).0,
            rc_p(ResponseCode::VALUE, 1)
        );
        assert_eq!(
            crypt(&mut t, CommandCode::RSA_DECRYPT, h, &too_big, &null).0,
            rc_p(ResponseCode::VALUE, 1)
        );
        assert_eq!(crypt(&mut t, CommandCode::RSA_DECRYPT, h, &c[1..], &null).0, rc_p(ResponseCode::SIZE, 1));
        // PKCS#1 v1.5 from outside still works at this size.
        let mut rng = TestRng(0);
        let c = key.encrypt(&mut rng, rsa::Pkcs1v15Encrypt, b"padded").unwrap();
        let rsaes = B::new().u16(0x0015).0;
        assert_eq!(crypt(&mut t, CommandCode::RSA_DECRYPT, h, &c, &rsaes), (0, b"padded".to_vec()));
    }
}

#[test]
fn rsa_1024_signers_sign_and_verify() {
    let mut t = started();
    let (h, key) = primary(&mut t, &rsa_signer(0x0014, 1024), 1024);
    let digest = Sha256::digest(b"signed by a 1024-bit key");
    let r = sign(&mut t, h, &digest, (NULL, 0));
    let body = params_of(r.ok(), false);
    let mut rd = R(&body);
    assert_eq!((rd.u16(), rd.u16()), (0x0014, 0x000B));
    let sig = rd.tpm2b().to_vec();
    assert_eq!(sig.len(), 128);
    key.verify(Pkcs1v15Sign::new::<Sha256>(), &digest, &sig).unwrap();
    // VerifySignature takes it back.
    let signature = B::new().u16(0x0014).u16(0x000B).tpm2b(&sig).0;
    let v =
        run(&mut t, CommandCode::VERIFY_SIGNATURE, &[h], None, &B::new().tpm2b(&digest).raw(&signature).0);
    assert_eq!(v.rc, 0);
    // Other sizes stay out.
    let p = B::new()
        .tpm2b(&B::new().tpm2b(&[]).tpm2b(&[]).0)
        .tpm2b(&rsa_signer(0x0014, 3072))
        .tpm2b(&[])
        .u32(0)
        .0;
    let r = run(&mut t, CommandCode::CREATE_PRIMARY, &[RH_OWNER], Some(&pw(b"")), &p);
    assert_eq!(r.rc, rc_p(ResponseCode::KEY_SIZE, 2));
}

#[test]
fn rsa_1024_keys_made_outside_load() {
    let mut t = started();
    let mut rng = TestRng(0);
    let outside = RsaPrivateKey::new(&mut rng, 1024).unwrap();
    let modulus = outside.n().to_bytes_be();
    // A public key alone: sign|userWithAuth, RSASSA-SHA256; it verifies what the crate signed.
    let public = rsa_public(1024, 0x0004_0040, (0x0014, 0x000B), &modulus);
    let r = run(
        &mut t,
        CommandCode::LOAD_EXTERNAL,
        &[],
        None,
        &B::new().tpm2b(&[]).tpm2b(&public).u32(RH_OWNER).0,
    );
    let h = r.ok().reader().u32();
    let digest = Sha256::digest(b"signed outside");
    let sig = outside.sign(Pkcs1v15Sign::new::<Sha256>(), &digest).unwrap();
    let signature = B::new().u16(0x0014).u16(0x000B).tpm2b(&sig).0;
    let v =
        run(&mut t, CommandCode::VERIFY_SIGNATURE, &[h], None, &B::new().tpm2b(&digest).raw(&signature).0);
    assert_eq!(v.rc, 0);
    // A modulus shorter than keyBits is refused (TPM_RC_KEY_SIZE).
    let short = rsa_public(2048, 0x0004_0040, (0x0014, 0x000B), &modulus);
    let r = run(
        &mut t,
        CommandCode::LOAD_EXTERNAL,
        &[],
        None,
        &B::new().tpm2b(&[]).tpm2b(&short).u32(RH_OWNER).0,
    );
    assert_eq!(r.rc, rc_p(ResponseCode::KEY_SIZE, 2));
    // With its private part (one prime, in the NULL hierarchy): the TPM signs with the crate's key.
    let prime = outside.primes()[0].to_bytes_be();
    let sensitive = B::new().u16(1).tpm2b(&[]).tpm2b(&[]).tpm2b(&prime).0;
    let public = rsa_public(1024, 0x0004_0040, (0x0014, 0x000B), &modulus);
    let r = run(
        &mut t,
        CommandCode::LOAD_EXTERNAL,
        &[],
        None,
        &B::new().tpm2b(&sensitive).tpm2b(&public).u32(crate::common::RH_NULL).0,
    );
    let h = r.ok().reader().u32();
    let r = sign(&mut t, h, &digest, (NULL, 0));
    let body = params_of(r.ok(), false);
    let mut rd = R(&body);
    rd.u16();
    rd.u16();
    assert_eq!(rd.tpm2b(), &sig[..], "PKCS#1 v1.5 signatures are deterministic");
}
