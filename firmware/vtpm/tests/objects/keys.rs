//! Primary keys: CreatePrimary (determinism, seeds, template errors), Sign and VerifySignature
//! checked with RustCrypto outside the engine, Quote, Certify, EvictControl, disabled hierarchies.

use crate::common::{B, R, RH_NULL, RH_OWNER, pw, rc_h, rc_p, rc_s, run, started};
use crate::key_helpers::{
    ECDSA, NULL, RSA, RSAPSS, RSASSA, create_params, ecc_point, ecc_signer, ecc_storage, name_of,
    p256_verify, primary, rsa_signer, sign,
};
use sha2::{Digest, Sha256};
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;

#[test]
fn ecc_primary_is_derived_from_the_seed_and_signs() {
    let mut t = started();
    let (h, public, name) = primary(&mut t, RH_OWNER, &ecc_signer(0x0003)).unwrap();
    assert_eq!(name, name_of(&public));
    // Same template, same key; a different template (sensitive data or attribute) another key.
    run(&mut t, CommandCode::FLUSH_CONTEXT, &[], None, &B::new().u32(h).0).ok();
    let (h2, again, _) = primary(&mut t, RH_OWNER, &ecc_signer(0x0003)).unwrap();
    assert_eq!(again, public);
    let (h3, endorsement, _) = primary(&mut t, 0x4000_000B, &ecc_signer(0x0003)).unwrap();
    assert_ne!(ecc_point(&endorsement), ecc_point(&public));

    let digest = Sha256::digest(b"message");
    let r = sign(&mut t, h2, &digest, (NULL, 0));
    let p = crate::common::params_of(r.ok(), false);
    let mut rd = R(&p);
    assert_eq!((rd.u16(), rd.u16()), (ECDSA, 0x000B));
    let (sr, ss) = (rd.tpm2b().to_vec(), rd.tpm2b().to_vec());
    rd.done();
    assert!(p256_verify(&public, &digest, &sr, &ss));
    assert!(!p256_verify(&public, &Sha256::digest(b"other"), &sr, &ss));

    // VerifySignature accepts it and refuses a changed digest (TPM_RC_SIGNATURE, parameter 2).
    let sig = B::new().u16(ECDSA).u16(0x000B).tpm2b(&sr).tpm2b(&ss).0;
    let ok = run(&mut t, CommandCode::VERIFY_SIGNATURE, &[h2], None, &B::new().tpm2b(&digest).raw(&sig).0);
    let mut rd = ok.ok().reader();
    assert_eq!((rd.u16(), rd.u32()), (0x8022, RH_OWNER));
    assert_eq!(rd.tpm2b().len(), 32);
    let bad = run(
        &mut t,
        CommandCode::VERIFY_SIGNATURE,
        &[h2],
        None,
        &B::new().tpm2b(&Sha256::digest(b"x")).raw(&sig).0,
    );
    assert_eq!(bad.rc, rc_p(ResponseCode::SIGNATURE, 2));
    // A scheme other than the key's: TPM_RC_SCHEME; a digest of the wrong size: TPM_RC_SIZE.
    assert_eq!(sign(&mut t, h2, &digest, (RSASSA, 0x000B)).rc, rc_p(ResponseCode::SCHEME, 2));
    assert_eq!(sign(&mut t, h2, &digest[..20], (NULL, 0)).rc, rc_p(ResponseCode::SIZE, 1));
    let _ = h3;
}

#[test]
fn null_seed_changes_at_tpm_reset_owner_seed_does_not() {
    let mut t = started();
    let (_, null1, _) = primary(&mut t, RH_NULL, &ecc_storage()).unwrap();
    let (_, own1, _) = primary(&mut t, RH_OWNER, &ecc_storage()).unwrap();
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    let (_, null2, _) = primary(&mut t, RH_NULL, &ecc_storage()).unwrap();
    let (_, own2, _) = primary(&mut t, RH_OWNER, &ecc_storage()).unwrap();
    assert_ne!(null1, null2);
    assert_eq!(own1, own2);
    // TPM2_Clear renews the storage seed.
    run(&mut t, CommandCode::CLEAR, &[0x4000_000C], Some(&pw(b"")), &[]).ok();
    let (_, own3, _) = primary(&mut t, RH_OWNER, &ecc_storage()).unwrap();
    assert_ne!(own1, own3);
}

#[test]
fn template_and_authorization_errors() {
    let mut t = started();
    // P-521 is not implemented: TPM_RC_CURVE on inPublic.
    assert_eq!(primary(&mut t, RH_OWNER, &ecc_signer(0x0005)), Err(rc_p(ResponseCode::CURVE, 2)));
    // RSA-3072 (only 1024 and 2048 are implemented): TPM_RC_KEY_SIZE.
    assert_eq!(primary(&mut t, RH_OWNER, &rsa_signer(RSASSA, 3072)), Err(rc_p(ResponseCode::KEY_SIZE, 2)));
    // A reserved attribute bit: TPM_RC_RESERVED_BITS.
    let mut bad = ecc_signer(0x0003);
    bad[7] |= 1;
    assert_eq!(primary(&mut t, RH_OWNER, &bad), Err(rc_p(ResponseCode::RESERVED_BITS, 2)));
    // A storage key without a symmetric definition: TPM_RC_SYMMETRIC.
    let mut nosym = ecc_storage();
    nosym.splice(10..16, [0x00, 0x10]);
    assert_eq!(primary(&mut t, RH_OWNER, &nosym), Err(rc_p(ResponseCode::SYMMETRIC, 2)));
    // Wrong owner password: BAD_AUTH on session 1 (the owner is DA-exempt).
    run(&mut t, CommandCode::HIERARCHY_CHANGE_AUTH, &[RH_OWNER], Some(&pw(b"")), &B::new().tpm2b(b"owner").0)
        .ok();
    let r = run(
        &mut t,
        CommandCode::CREATE_PRIMARY,
        &[RH_OWNER],
        Some(&pw(b"nope")),
        &create_params(b"", b"", &ecc_storage()),
    );
    assert_eq!(r.rc, rc_s(ResponseCode::BAD_AUTH, 1));
    // A handle that is not a hierarchy.
    let r = run(
        &mut t,
        CommandCode::CREATE_PRIMARY,
        &[0x0000_0003],
        Some(&pw(b"")),
        &create_params(b"", b"", &ecc_storage()),
    );
    assert_eq!(r.rc, rc_h(ResponseCode::VALUE, 1));
    // Signing with a storage key: TPM_RC_KEY.
    let (h, _, _) = primary(&mut t, RH_NULL, &ecc_storage()).unwrap();
    assert_eq!(sign(&mut t, h, &[0; 32], (ECDSA, 0x000B)).rc, rc_h(ResponseCode::KEY, 1));
}

#[test]
fn rsa_primary_signs_pkcs1_and_pss() {
    let mut t = started();
    let start = std::time::Instant::now();
    let (h, public, _) = primary(&mut t, RH_OWNER, &rsa_signer(RSASSA, 2048)).unwrap();
    eprintln!("RSA-2048 CreatePrimary: {:?}", start.elapsed());
    let n = &public[public.len() - 256..];
    let key = rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(n), rsa::BigUint::from(65537u32)).unwrap();
    let digest = Sha256::digest(b"rsa");
    let r = sign(&mut t, h, &digest, (NULL, 0));
    let p = crate::common::params_of(r.ok(), false);
    let mut rd = R(&p);
    assert_eq!((rd.u16(), rd.u16()), (RSASSA, 0x000B));
    let sig = rd.tpm2b();
    assert!(key.verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest, sig).is_ok());
    // Same template again: same modulus (the primes come from the seeded stream).
    let (_, again, _) = primary(&mut t, RH_OWNER, &rsa_signer(RSASSA, 2048)).unwrap();
    assert_eq!(again, public);
    // A scheme-less key takes the caller's PSS.
    let (h2, public2, _) = primary(
        &mut t,
        RH_OWNER,
        &B::new()
            .u16(RSA)
            .u16(0x000B)
            .u32(0x0004_0072)
            .tpm2b(&[])
            .u16(NULL)
            .u16(NULL)
            .u16(2048)
            .u32(0)
            .tpm2b(&[])
            .0,
    )
    .unwrap();
    let key2 = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&public2[public2.len() - 256..]),
        rsa::BigUint::from(65537u32),
    )
    .unwrap();
    let r = sign(&mut t, h2, &digest, (RSAPSS, 0x000B));
    let p = crate::common::params_of(r.ok(), false);
    let mut rd = R(&p);
    assert_eq!((rd.u16(), rd.u16()), (RSAPSS, 0x000B));
    assert!(key2.verify(rsa::Pss::new::<Sha256>(), &digest, rd.tpm2b()).is_ok());
    assert_eq!(sign(&mut t, h2, &digest, (NULL, 0)).rc, rc_p(ResponseCode::SCHEME, 2));
}

#[test]
fn quote_and_certify_sign_what_they_attest() {
    let mut t = started();
    run(&mut t, CommandCode::PCR_EXTEND, &[5], Some(&pw(b"")), &B::new().u32(1).u16(0x000B).raw(&[7; 32]).0)
        .ok();
    let (h, public, name) = primary(&mut t, RH_OWNER, &ecc_signer(0x0003)).unwrap();
    let sel = B::new().u32(1).u16(0x000B).u8(3).raw(&[0x21, 0, 0]).0; // PCR 0 and 5
    let r = run(
        &mut t,
        CommandCode::QUOTE,
        &[h],
        Some(&pw(b"")),
        &B::new().tpm2b(b"nonce").u16(NULL).raw(&sel).0,
    );
    let p = crate::common::params_of(r.ok(), false);
    let mut rd = R(&p);
    let attest = rd.tpm2b().to_vec();
    assert_eq!((rd.u16(), rd.u16()), (ECDSA, 0x000B));
    let (sr, ss) = (rd.tpm2b().to_vec(), rd.tpm2b().to_vec());
    assert!(p256_verify(&public, &Sha256::digest(&attest), &sr, &ss));
    let mut a = R(&attest);
    assert_eq!(a.u32(), 0xFF54_4347);
    assert_eq!(a.u16(), 0x8018);
    assert_eq!(a.tpm2b().len(), 34); // qualified name
    assert_eq!(a.tpm2b(), b"nonce");
    a.bytes(17 + 8);
    assert_eq!(a.bytes(sel.len()), &sel[..]);
    // PCR 0 is zero, PCR 5 = SHA256(zeros || 7s).
    let mut pcr5 = Sha256::new();
    pcr5.update([0u8; 32]);
    pcr5.update([7u8; 32]);
    let mut all = Sha256::new();
    all.update([0u8; 32]);
    all.update(pcr5.finalize());
    assert_eq!(a.tpm2b(), &all.finalize()[..]);
    a.done();

    // Certify the key with itself: the attested Name is the key's.
    let r = run(
        &mut t,
        CommandCode::CERTIFY,
        &[h, h],
        Some(&[pw(b""), pw(b"")].concat()),
        &B::new().tpm2b(&[]).u16(NULL).0,
    );
    let p = crate::common::params_of(r.ok(), false);
    let mut rd = R(&p);
    let attest = rd.tpm2b().to_vec();
    let mut a = R(&attest);
    a.u32();
    assert_eq!(a.u16(), 0x8017);
    a.tpm2b();
    a.tpm2b();
    a.bytes(17 + 8);
    assert_eq!(a.tpm2b(), &name[..]);
}

#[test]
fn evict_control_makes_keys_persistent() {
    let mut t = started();
    let (h, public, _) = primary(&mut t, RH_OWNER, &ecc_signer(0x0003)).unwrap();
    let p = 0x8100_0001;
    run(&mut t, CommandCode::EVICT_CONTROL, &[RH_OWNER, h], Some(&pw(b"")), &B::new().u32(p).0).ok();
    assert_eq!(
        run(&mut t, CommandCode::EVICT_CONTROL, &[RH_OWNER, h], Some(&pw(b"")), &B::new().u32(p).0).rc,
        ResponseCode::NV_DEFINED.0
    );
    // Platform range from owner auth: TPM_RC_RANGE.
    assert_eq!(
        run(&mut t, CommandCode::EVICT_CONTROL, &[RH_OWNER, h], Some(&pw(b"")), &B::new().u32(0x8180_0000).0)
            .rc,
        rc_p(ResponseCode::RANGE, 1)
    );
    run(&mut t, CommandCode::FLUSH_CONTEXT, &[], None, &B::new().u32(h).0).ok();
    let rp = run(&mut t, CommandCode::READ_PUBLIC, &[p], None, &[]);
    assert_eq!(rp.ok().reader().tpm2b(), &public[..]);
    // Survives a TPM Reset.
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    sign(&mut t, p, &[1; 32], (NULL, 0)).ok();
    run(&mut t, CommandCode::EVICT_CONTROL, &[RH_OWNER, p], Some(&pw(b"")), &B::new().u32(p).0).ok();
    assert_eq!(run(&mut t, CommandCode::READ_PUBLIC, &[p], None, &[]).rc, rc_h(ResponseCode::HANDLE, 1));
    // A null-hierarchy key cannot be made persistent.
    let (n, _, _) = primary(&mut t, RH_NULL, &ecc_signer(0x0003)).unwrap();
    assert_eq!(
        run(&mut t, CommandCode::EVICT_CONTROL, &[RH_OWNER, n], Some(&pw(b"")), &B::new().u32(p).0).rc,
        rc_h(ResponseCode::HIERARCHY, 2)
    );
}

/// The `key_*` seeds of the `vtpm_command` fuzz target are commands that succeed, so the fuzzer
/// starts from inputs that reach the key code rather than from early errors.
#[test]
fn fuzz_seeds_for_keys_succeed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/vtpm_command");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.file_name().unwrap().to_string_lossy().starts_with("key_") {
            continue;
        }
        let data = std::fs::read(&path).unwrap();
        let mut t = started();
        let mut rest = &data[..];
        while !rest.is_empty() {
            let len = u32::from_be_bytes(rest[2..6].try_into().unwrap()) as usize;
            let (cmd, tail) = rest.split_at(len);
            let r = crate::common::exec(&mut t, cmd);
            assert_eq!(
                r.rc,
                0,
                "{path:?}: command {:#x}",
                u32::from_be_bytes(cmd[6..10].try_into().unwrap())
            );
            rest = tail;
        }
        seen += 1;
    }
    assert!(seen >= 2);
}

/// Disabling a hierarchy flushes its loaded keys and hides its persistent ones until re-enabled.
#[test]
fn disabled_hierarchy_hides_its_keys() {
    let mut t = started();
    let (owner_key, _, _) = primary(&mut t, RH_OWNER, &ecc_signer(3)).unwrap();
    let (ek, _, _) = primary(&mut t, 0x4000_000B, &ecc_signer(3)).unwrap();
    run(
        &mut t,
        CommandCode::EVICT_CONTROL,
        &[RH_OWNER, owner_key],
        Some(&pw(b"")),
        &B::new().u32(0x8100_0002).0,
    )
    .ok();
    // Owner disables itself (shEnable = NO).
    run(&mut t, CommandCode::HIERARCHY_CONTROL, &[RH_OWNER], Some(&pw(b"")), &B::new().u32(RH_OWNER).u8(0).0)
        .ok();
    assert_eq!(
        run(&mut t, CommandCode::READ_PUBLIC, &[owner_key], None, &[]).rc,
        ResponseCode::REFERENCE_H0.0
    );
    assert_eq!(
        run(&mut t, CommandCode::READ_PUBLIC, &[0x8100_0002], None, &[]).rc,
        rc_h(ResponseCode::HANDLE, 1)
    );
    run(&mut t, CommandCode::READ_PUBLIC, &[ek], None, &[]).ok();
    // The platform turns it back on: the persistent key is visible again.
    run(
        &mut t,
        CommandCode::HIERARCHY_CONTROL,
        &[0x4000_000C],
        Some(&pw(b"")),
        &B::new().u32(RH_OWNER).u8(1).0,
    )
    .ok();
    run(&mut t, CommandCode::READ_PUBLIC, &[0x8100_0002], None, &[]).ok();
}

/// P-384 keys sign with ECDSA over SHA-384 and SHA-256 digests; the p384 crate verifies.
#[test]
fn p384_signatures_verify_with_the_p384_crate() {
    use p384::ecdsa::signature::hazmat::PrehashVerifier;
    let mut t = started();
    // nameAlg SHA-256 (the helper checks creationHash with it), scheme ECDSA-SHA384.
    let template = B::new()
        .u16(0x23)
        .u16(0x000B)
        .u32(0x0004_0072)
        .tpm2b(&[])
        .u16(NULL)
        .u16(0x18)
        .u16(0x000C)
        .u16(4)
        .u16(NULL)
        .tpm2b(&[])
        .tpm2b(&[])
        .0;
    let (h, public, _) = primary(&mut t, RH_OWNER, &template).unwrap();
    let n = public.len();
    let (x, y) = (&public[n - 98..n - 50], &public[n - 48..]);
    let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(&[&[4u8][..], x, y].concat()).unwrap();
    let digest = sha2::Sha384::digest(b"p384");
    let r = sign(&mut t, h, &digest, (NULL, 0));
    let p = crate::common::params_of(r.ok(), false);
    let mut rd = R(&p);
    assert_eq!((rd.u16(), rd.u16()), (0x18, 0x000C));
    let sig = p384::ecdsa::Signature::from_slice(&[rd.tpm2b(), rd.tpm2b()].concat()).unwrap();
    assert!(key.verify_prehash(&digest, &sig).is_ok());
    assert!(key.verify_prehash(&sha2::Sha384::digest(b"other"), &sig).is_err());
    // The key's scheme fixes SHA-384: a SHA-256 request is TPM_RC_SCHEME.
    assert_eq!(sign(&mut t, h, &Sha256::digest(b"x"), (0x18, 0x000B)).rc, rc_p(ResponseCode::SCHEME, 2));
}

/// With nameAlg SHA-384 the Name and creationHash are SHA-384 digests.
#[test]
fn sha384_name_alg_shapes_name_and_creation_hash() {
    let mut t = started();
    let template = B::new()
        .u16(0x23)
        .u16(0x000C)
        .u32(0x0003_0472)
        .tpm2b(&[])
        .u16(0x0006)
        .u16(256)
        .u16(0x0043)
        .u16(NULL)
        .u16(4)
        .u16(NULL)
        .tpm2b(&[])
        .tpm2b(&[])
        .0;
    let r = run(
        &mut t,
        CommandCode::CREATE_PRIMARY,
        &[RH_OWNER],
        Some(&pw(b"")),
        &create_params(b"", b"", &template),
    );
    let mut rd = r.ok().reader();
    rd.u32();
    rd.u32();
    let public = rd.tpm2b().to_vec();
    let creation = rd.tpm2b().to_vec();
    assert_eq!(rd.tpm2b(), &sha2::Sha384::digest(&creation)[..]);
    rd.bytes(6);
    rd.tpm2b();
    assert_eq!(rd.tpm2b(), &[&[0x00, 0x0C][..], &sha2::Sha384::digest(&public)].concat()[..]);
}
