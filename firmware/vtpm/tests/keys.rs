//! Key objects: CreatePrimary (determinism, seeds, template errors), Create/Load, Sign and
//! VerifySignature checked with RustCrypto outside the engine, Quote, Certify, Unseal, contexts of
//! keys and EvictControl.
mod common;

use common::{B, R, RH_NULL, RH_OWNER, pw, rc_h, rc_p, rc_s, run, started};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use sha2::{Digest, Sha256};
use warden_vtpm::Tpm;

const CREATE_PRIMARY: u32 = 0x131;
const CREATE: u32 = 0x153;
const LOAD: u32 = 0x157;
const SIGN: u32 = 0x15D;
const UNSEAL: u32 = 0x15E;
const VERIFY: u32 = 0x177;
const QUOTE: u32 = 0x158;
const CERTIFY: u32 = 0x148;
const READ_PUBLIC: u32 = 0x173;
const FLUSH: u32 = 0x165;
const CONTEXT_SAVE: u32 = 0x162;
const CONTEXT_LOAD: u32 = 0x161;
const EVICT: u32 = 0x120;
const PCR_EXTEND: u32 = 0x182;

const NULL: u16 = 0x0010;
const ECC: u16 = 0x0023;
const RSA: u16 = 0x0001;
const ECDSA: u16 = 0x0018;
const RSASSA: u16 = 0x0014;
const RSAPSS: u16 = 0x0016;

/// ECC signing key template: fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|sign.
fn ecc_signer(curve: u16) -> Vec<u8> {
    B::new()
        .u16(ECC)
        .u16(0x000B)
        .u32(0x0004_0072)
        .tpm2b(&[])
        .u16(NULL)
        .u16(ECDSA)
        .u16(0x000B)
        .u16(curve)
        .u16(NULL)
        .tpm2b(&[])
        .tpm2b(&[])
        .0
}
/// The kernel's storage template (tpm.md §2.3).
fn ecc_storage() -> Vec<u8> {
    B::new()
        .u16(ECC)
        .u16(0x000B)
        .u32(0x0003_0472)
        .tpm2b(&[])
        .u16(0x0006)
        .u16(128)
        .u16(0x0043)
        .u16(NULL)
        .u16(0x0003)
        .u16(NULL)
        .tpm2b(&[])
        .tpm2b(&[])
        .0
}
fn rsa_signer(scheme: u16, bits: u16) -> Vec<u8> {
    B::new()
        .u16(RSA)
        .u16(0x000B)
        .u32(0x0004_0072)
        .tpm2b(&[])
        .u16(NULL)
        .u16(scheme)
        .u16(0x000B)
        .u16(bits)
        .u32(0)
        .tpm2b(&[])
        .0
}
/// Sealed data: fixedTPM|fixedParent|userWithAuth|noDA, optional policy.
fn sealed(policy: &[u8], attrs: u32) -> Vec<u8> {
    B::new().u16(0x0008).u16(0x000B).u32(attrs).tpm2b(policy).u16(NULL).tpm2b(&[]).0
}

fn create_params(auth: &[u8], data: &[u8], template: &[u8]) -> Vec<u8> {
    let sens = B::new().tpm2b(auth).tpm2b(data).0;
    B::new().tpm2b(&sens).tpm2b(template).tpm2b(&[]).u32(0).0
}

/// CreatePrimary; returns (handle, outPublic, name) or the rc.
fn primary(t: &mut Tpm, h: u32, template: &[u8]) -> Result<(u32, Vec<u8>, Vec<u8>), u32> {
    let r = run(t, CREATE_PRIMARY, &[h], Some(&pw(b"")), &create_params(b"", b"", template));
    if r.rc != 0 {
        return Err(r.rc);
    }
    let mut rd = r.reader();
    let handle = rd.u32();
    rd.u32();
    let public = rd.tpm2b().to_vec();
    let creation = rd.tpm2b().to_vec();
    let creation_hash = rd.tpm2b().to_vec();
    assert_eq!(creation_hash, Sha256::digest(&creation).to_vec());
    assert_eq!(rd.u16(), 0x8021);
    assert_eq!(rd.u32(), h);
    assert_eq!(rd.tpm2b().len(), 32);
    let name = rd.tpm2b().to_vec();
    Ok((handle, public, name))
}

fn name_of(public: &[u8]) -> Vec<u8> {
    let mut n = vec![0x00, 0x0B];
    n.extend_from_slice(&Sha256::digest(public));
    n
}

/// The ECC point (x, y) at the end of a public area.
fn ecc_point(public: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let ylen = u16::from_be_bytes([public[public.len() - 34], public[public.len() - 33]]) as usize;
    assert_eq!(ylen, 32);
    let y = public[public.len() - 32..].to_vec();
    let x = public[public.len() - 66..public.len() - 34].to_vec();
    (x, y)
}

fn sign(t: &mut Tpm, h: u32, digest: &[u8], scheme: (u16, u16)) -> common::Resp {
    let mut p = B::new().tpm2b(digest).u16(scheme.0);
    if scheme.0 != NULL {
        p = p.u16(scheme.1);
    }
    let p = p.u16(0x8024).u32(RH_NULL).tpm2b(&[]).0;
    run(t, SIGN, &[h], Some(&pw(b"")), &p)
}

fn p256_verify(public: &[u8], digest: &[u8], r: &[u8], s: &[u8]) -> bool {
    let (x, y) = ecc_point(public);
    let mut sec1 = vec![4u8];
    sec1.extend_from_slice(&x);
    sec1.extend_from_slice(&y);
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).unwrap();
    let sig = p256::ecdsa::Signature::from_slice(&[r, s].concat()).unwrap();
    key.verify_prehash(digest, &sig).is_ok()
}

#[test]
fn ecc_primary_is_derived_from_the_seed_and_signs() {
    let mut t = started();
    let (h, public, name) = primary(&mut t, RH_OWNER, &ecc_signer(0x0003)).unwrap();
    assert_eq!(name, name_of(&public));
    // Same template, same key; a different template (sensitive data or attribute) another key.
    run(&mut t, FLUSH, &[], None, &B::new().u32(h).0).ok();
    let (h2, again, _) = primary(&mut t, RH_OWNER, &ecc_signer(0x0003)).unwrap();
    assert_eq!(again, public);
    let (h3, endorsement, _) = primary(&mut t, 0x4000_000B, &ecc_signer(0x0003)).unwrap();
    assert_ne!(ecc_point(&endorsement), ecc_point(&public));

    let digest = Sha256::digest(b"message");
    let r = sign(&mut t, h2, &digest, (NULL, 0));
    let p = common::params_of(r.ok(), false);
    let mut rd = R(&p);
    assert_eq!((rd.u16(), rd.u16()), (ECDSA, 0x000B));
    let (sr, ss) = (rd.tpm2b().to_vec(), rd.tpm2b().to_vec());
    rd.done();
    assert!(p256_verify(&public, &digest, &sr, &ss));
    assert!(!p256_verify(&public, &Sha256::digest(b"other"), &sr, &ss));

    // VerifySignature accepts it and refuses a changed digest (TPM_RC_SIGNATURE, parameter 2).
    let sig = B::new().u16(ECDSA).u16(0x000B).tpm2b(&sr).tpm2b(&ss).0;
    let ok = run(&mut t, VERIFY, &[h2], None, &B::new().tpm2b(&digest).raw(&sig).0);
    let mut rd = ok.ok().reader();
    assert_eq!((rd.u16(), rd.u32()), (0x8022, RH_OWNER));
    assert_eq!(rd.tpm2b().len(), 32);
    let bad = run(&mut t, VERIFY, &[h2], None, &B::new().tpm2b(&Sha256::digest(b"x")).raw(&sig).0);
    assert_eq!(bad.rc, rc_p(0x09B, 2));
    // A scheme other than the key's: TPM_RC_SCHEME; a digest of the wrong size: TPM_RC_SIZE.
    assert_eq!(sign(&mut t, h2, &digest, (RSASSA, 0x000B)).rc, rc_p(0x092, 2));
    assert_eq!(sign(&mut t, h2, &digest[..20], (NULL, 0)).rc, rc_p(0x095, 1));
    let _ = h3;
}

#[test]
fn null_seed_changes_at_tpm_reset_owner_seed_does_not() {
    let mut t = started();
    let (_, null1, _) = primary(&mut t, RH_NULL, &ecc_storage()).unwrap();
    let (_, own1, _) = primary(&mut t, RH_OWNER, &ecc_storage()).unwrap();
    t.power_on();
    run(&mut t, 0x144, &[], None, &[0, 0]).ok();
    let (_, null2, _) = primary(&mut t, RH_NULL, &ecc_storage()).unwrap();
    let (_, own2, _) = primary(&mut t, RH_OWNER, &ecc_storage()).unwrap();
    assert_ne!(null1, null2);
    assert_eq!(own1, own2);
    // TPM2_Clear renews the storage seed.
    run(&mut t, 0x126, &[0x4000_000C], Some(&pw(b"")), &[]).ok();
    let (_, own3, _) = primary(&mut t, RH_OWNER, &ecc_storage()).unwrap();
    assert_ne!(own1, own3);
}

#[test]
fn template_and_authorization_errors() {
    let mut t = started();
    // P-521 is not implemented: TPM_RC_CURVE on inPublic.
    assert_eq!(primary(&mut t, RH_OWNER, &ecc_signer(0x0005)), Err(rc_p(0x0A6, 2)));
    // RSA-1024: TPM_RC_KEY_SIZE.
    assert_eq!(primary(&mut t, RH_OWNER, &rsa_signer(RSASSA, 1024)), Err(rc_p(0x087, 2)));
    // A reserved attribute bit: TPM_RC_RESERVED_BITS.
    let mut bad = ecc_signer(0x0003);
    bad[7] |= 1;
    assert_eq!(primary(&mut t, RH_OWNER, &bad), Err(rc_p(0x0A1, 2)));
    // A storage key without a symmetric definition: TPM_RC_SYMMETRIC.
    let mut nosym = ecc_storage();
    nosym.splice(10..16, [0x00, 0x10]);
    assert_eq!(primary(&mut t, RH_OWNER, &nosym), Err(rc_p(0x096, 2)));
    // Wrong owner password: BAD_AUTH on session 1 (the owner is DA-exempt).
    run(&mut t, 0x129, &[RH_OWNER], Some(&pw(b"")), &B::new().tpm2b(b"owner").0).ok();
    let r = run(
        &mut t,
        CREATE_PRIMARY,
        &[RH_OWNER],
        Some(&pw(b"nope")),
        &create_params(b"", b"", &ecc_storage()),
    );
    assert_eq!(r.rc, rc_s(0x0A2, 1));
    // A handle that is not a hierarchy.
    let r =
        run(&mut t, CREATE_PRIMARY, &[0x0000_0003], Some(&pw(b"")), &create_params(b"", b"", &ecc_storage()));
    assert_eq!(r.rc, rc_h(0x084, 1));
    // Signing with a storage key: TPM_RC_KEY.
    let (h, _, _) = primary(&mut t, RH_NULL, &ecc_storage()).unwrap();
    assert_eq!(sign(&mut t, h, &[0; 32], (ECDSA, 0x000B)).rc, rc_h(0x09C, 1));
}

/// Create under `parent`, returning (private, public).
fn create(t: &mut Tpm, parent: u32, auth: &[u8], data: &[u8], template: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let r = run(t, CREATE, &[parent], Some(&pw(b"")), &create_params(auth, data, template));
    let p = common::params_of(r.ok(), false);
    let mut rd = R(&p);
    (rd.tpm2b().to_vec(), rd.tpm2b().to_vec())
}

fn load(t: &mut Tpm, parent: u32, private: &[u8], public: &[u8]) -> Result<u32, u32> {
    let r = run(t, LOAD, &[parent], Some(&pw(b"")), &B::new().tpm2b(private).tpm2b(public).0);
    if r.rc != 0 {
        return Err(r.rc);
    }
    let mut rd = r.reader();
    let h = rd.u32();
    rd.u32();
    assert_eq!(rd.tpm2b(), name_of(public));
    Ok(h)
}

#[test]
fn child_keys_create_load_sign_and_integrity() {
    let mut t = started();
    let (parent, _, _) = primary(&mut t, RH_OWNER, &ecc_storage()).unwrap();
    let (private, public) = create(&mut t, parent, b"childpw", b"", &ecc_signer(0x0003));
    let h = load(&mut t, parent, &private, &public).unwrap();
    let digest = Sha256::digest(b"child");
    let mut p = B::new().tpm2b(&digest).u16(NULL).u16(0x8024).u32(RH_NULL).tpm2b(&[]).0;
    assert_eq!(run(&mut t, SIGN, &[h], Some(&pw(b"wrong")), &p).rc & 0xFFF, 0x98E);
    let r = run(&mut t, SIGN, &[h], Some(&pw(b"childpw")), &p);
    let sig = common::params_of(r.ok(), false);
    let mut rd = R(&sig);
    rd.u32();
    let (sr, ss) = (rd.tpm2b().to_vec(), rd.tpm2b().to_vec());
    assert!(p256_verify(&public, &digest, &sr, &ss));
    p.clear();

    // One flipped bit in the private blob: TPM_RC_INTEGRITY; the blob under another parent too.
    let mut bad = private.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x40;
    assert_eq!(load(&mut t, parent, &bad, &public), Err(rc_p(0x09F, 1)));
    let (other, _, _) = primary(&mut t, RH_NULL, &ecc_storage()).unwrap();
    assert_eq!(load(&mut t, other, &private, &public), Err(rc_p(0x09F, 1)));
    // A signing key cannot be a parent.
    assert_eq!(
        run(&mut t, CREATE, &[h], Some(&pw(b"childpw")), &create_params(b"", b"", &ecc_signer(3))).rc,
        rc_h(0x08A, 1)
    );
}

#[test]
fn seal_unseal_and_context_of_a_key() {
    let mut t = started();
    let (parent, _, _) = primary(&mut t, RH_OWNER, &ecc_storage()).unwrap();
    let (private, public) = create(&mut t, parent, b"", b"the secret", &sealed(&[], 0x452));
    let h = load(&mut t, parent, &private, &public).unwrap();
    let r = run(&mut t, UNSEAL, &[h], Some(&pw(b"")), &[]);
    let out = common::params_of(r.ok(), false);
    assert_eq!(R(&out).tpm2b(), b"the secret");
    // The unique field is H(seed || data), not the data.
    assert!(!public.windows(10).any(|w| w == b"the secret"));

    // ContextSave, Flush, ContextLoad: the same object comes back.
    let ctx = run(&mut t, CONTEXT_SAVE, &[h], None, &[]).ok().body.clone();
    run(&mut t, FLUSH, &[], None, &B::new().u32(h).0).ok();
    assert_eq!(run(&mut t, READ_PUBLIC, &[h], None, &[]).rc, 0x910); // REFERENCE_H0
    let h2 = run(&mut t, CONTEXT_LOAD, &[], None, &ctx).ok().reader().u32();
    let rp = run(&mut t, READ_PUBLIC, &[h2], None, &[]);
    let mut rd = rp.ok().reader();
    assert_eq!(rd.tpm2b(), &public[..]);
    assert_eq!(rd.tpm2b(), name_of(&public));
    let r = run(&mut t, UNSEAL, &[h2], Some(&pw(b"")), &[]);
    assert_eq!(R(&common::params_of(r.ok(), false)).tpm2b(), b"the secret");
    // A sealed object whose data the caller supplies may not also claim sensitiveDataOrigin.
    let r = run(&mut t, CREATE, &[parent], Some(&pw(b"")), &create_params(b"", b"x", &sealed(&[], 0x472)));
    assert_eq!(r.rc, rc_p(0x082, 2));
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
    let p = common::params_of(r.ok(), false);
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
    let p = common::params_of(r.ok(), false);
    let mut rd = R(&p);
    assert_eq!((rd.u16(), rd.u16()), (RSAPSS, 0x000B));
    assert!(key2.verify(rsa::Pss::new::<Sha256>(), &digest, rd.tpm2b()).is_ok());
    assert_eq!(sign(&mut t, h2, &digest, (NULL, 0)).rc, rc_p(0x092, 2));
}

#[test]
fn quote_and_certify_sign_what_they_attest() {
    let mut t = started();
    run(&mut t, PCR_EXTEND, &[5], Some(&pw(b"")), &B::new().u32(1).u16(0x000B).raw(&[7; 32]).0).ok();
    let (h, public, name) = primary(&mut t, RH_OWNER, &ecc_signer(0x0003)).unwrap();
    let sel = B::new().u32(1).u16(0x000B).u8(3).raw(&[0x21, 0, 0]).0; // PCR 0 and 5
    let r = run(&mut t, QUOTE, &[h], Some(&pw(b"")), &B::new().tpm2b(b"nonce").u16(NULL).raw(&sel).0);
    let p = common::params_of(r.ok(), false);
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
    let r =
        run(&mut t, CERTIFY, &[h, h], Some(&[pw(b""), pw(b"")].concat()), &B::new().tpm2b(&[]).u16(NULL).0);
    let p = common::params_of(r.ok(), false);
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
    run(&mut t, EVICT, &[RH_OWNER, h], Some(&pw(b"")), &B::new().u32(p).0).ok();
    assert_eq!(run(&mut t, EVICT, &[RH_OWNER, h], Some(&pw(b"")), &B::new().u32(p).0).rc, 0x14C);
    // Platform range from owner auth: TPM_RC_RANGE.
    assert_eq!(
        run(&mut t, EVICT, &[RH_OWNER, h], Some(&pw(b"")), &B::new().u32(0x8180_0000).0).rc,
        rc_p(0x08D, 1)
    );
    run(&mut t, FLUSH, &[], None, &B::new().u32(h).0).ok();
    let rp = run(&mut t, READ_PUBLIC, &[p], None, &[]);
    assert_eq!(rp.ok().reader().tpm2b(), &public[..]);
    // Survives a TPM Reset.
    t.power_on();
    run(&mut t, 0x144, &[], None, &[0, 0]).ok();
    sign(&mut t, p, &[1; 32], (NULL, 0)).ok();
    run(&mut t, EVICT, &[RH_OWNER, p], Some(&pw(b"")), &B::new().u32(p).0).ok();
    assert_eq!(run(&mut t, READ_PUBLIC, &[p], None, &[]).rc, rc_h(0x08B, 1));
    // A null-hierarchy key cannot be made persistent.
    let (n, _, _) = primary(&mut t, RH_NULL, &ecc_signer(0x0003)).unwrap();
    assert_eq!(run(&mut t, EVICT, &[RH_OWNER, n], Some(&pw(b"")), &B::new().u32(p).0).rc, rc_h(0x085, 2));
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
            let r = common::exec(&mut t, cmd);
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

fn hmac256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    parts.iter().for_each(|p| m.update(p));
    m.finalize().into_bytes().to_vec()
}

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
    let r = run(&mut t, 0x176, &[h, RH_NULL], None, &p);
    let mut rd = r.ok().reader();
    let session = rd.u32();
    let nonce_tpm = rd.tpm2b().to_vec();
    // KDFa(salt, "ATH", nonceTPM, nonceCaller, 256): one HMAC block.
    let key = hmac256(&salt, &[&1u32.to_be_bytes(), b"ATH\0", &nonce_tpm, &caller, &256u32.to_be_bytes()]);

    let extend = |t: &mut Tpm, key: &[u8], nonce_tpm: &[u8]| {
        let params = B::new().u32(1).u16(0x000B).raw(&[9; 32]).0;
        let cp = Sha256::new()
            .chain_update(0x182u32.to_be_bytes())
            .chain_update(16u32.to_be_bytes())
            .chain_update(&params)
            .finalize();
        let mac = hmac256(key, &[&cp, &caller, nonce_tpm, &[1]]);
        let auth = B::new().u32(session).tpm2b(&caller).u8(1).tpm2b(&mac).0;
        run(t, PCR_EXTEND, &[16], Some(&auth), &params)
    };
    // A key from a different salt: BAD_AUTH on session 1 (PCRs are DA-exempt).
    let wrong =
        hmac256(&[0u8; 32], &[&1u32.to_be_bytes(), b"ATH\0", &nonce_tpm, &caller, &256u32.to_be_bytes()]);
    assert_eq!(extend(&mut t, &wrong, &nonce_tpm).rc, rc_s(0x0A2, 1));
    let r = extend(&mut t, &key, &nonce_tpm);
    r.ok();
    // A point not on the curve: TPM_RC_ECC_POINT on the salt.
    let bad = B::new().tpm2b(&ex).tpm2b(&[1; 32]).0;
    let p = B::new().tpm2b(&caller).tpm2b(&bad).u8(0).u16(NULL).u16(0x000B).0;
    assert_eq!(run(&mut t, 0x176, &[h, RH_NULL], None, &p).rc, rc_p(0x0A7, 2));
    // A signing key cannot take a salt: TPM_RC_KEY on handle 1.
    let (s, _, _) = primary(&mut t, RH_NULL, &ecc_signer(3)).unwrap();
    let p = B::new().tpm2b(&caller).tpm2b(&secret).u8(0).u16(NULL).u16(0x000B).0;
    assert_eq!(run(&mut t, 0x176, &[s, RH_NULL], None, &p).rc, rc_h(0x09C, 1));
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
    let r = run(&mut t, CREATE, &[ek], Some(&pw(b"")), &create_params(b"", b"", &ecc_signer(3)));
    assert_eq!(r.rc, 0x12F); // TPM_RC_AUTH_UNAVAILABLE

    let start = |t: &mut Tpm| {
        let p = B::new().tpm2b(&[7; 32]).tpm2b(&[]).u8(1).u16(NULL).u16(0x000B).0;
        run(t, 0x176, &[RH_NULL, RH_NULL], None, &p).ok().reader().u32()
    };
    let secret = |t: &mut Tpm, s: u32, password: &[u8]| {
        let p = B::new().tpm2b(&[]).tpm2b(&[]).tpm2b(&[]).u32(0).0;
        run(t, 0x151, &[0x4000_000B, s], Some(&pw(password)), &p).rc
    };
    let s = start(&mut t);
    assert_eq!(secret(&mut t, s, b""), 0);
    let d = run(&mut t, 0x189, &[s], None, &[]);
    assert_eq!(hex(d.ok().reader().tpm2b()), POLICY_A);
    let auth = B::new().u32(s).tpm2b(&[]).u8(0).tpm2b(&[]).0;
    let r = run(&mut t, CREATE, &[ek], Some(&auth), &create_params(b"", b"", &ecc_signer(3)));
    r.ok();
    // With the wrong endorsement password PolicySecret fails (BAD_AUTH: the hierarchy is DA-exempt).
    run(&mut t, 0x129, &[0x4000_000B], Some(&pw(b"")), &B::new().tpm2b(b"eh").0).ok();
    let s = start(&mut t);
    assert_eq!(secret(&mut t, s, b"nope"), rc_s(0x0A2, 1));
    // A non-zero expiration is refused rather than ignored.
    let p = B::new().tpm2b(&[]).tpm2b(&[]).tpm2b(&[]).u32(10).0;
    assert_eq!(run(&mut t, 0x151, &[0x4000_000B, s], Some(&pw(b"eh")), &p).rc, rc_p(0x084, 4));
}

/// CreateLoaded makes primaries (same key as CreatePrimary) and loaded children whose private blob
/// Load accepts; ObjectChangeAuth gives a blob with the new password; a context of an owner key
/// does not load after TPM2_Clear.
#[test]
fn create_loaded_change_auth_and_contexts_across_clear() {
    let mut t = started();
    let cl = |t: &mut Tpm, parent: u32, auth: &[u8], template: &[u8]| {
        let sens = B::new().tpm2b(auth).tpm2b(&[]).0;
        let r = run(t, 0x191, &[parent], Some(&pw(b"")), &B::new().tpm2b(&sens).tpm2b(template).0);
        let mut rd = r.ok().reader();
        let h = rd.u32();
        rd.u32();
        let (private, public, name) = (rd.tpm2b().to_vec(), rd.tpm2b().to_vec(), rd.tpm2b().to_vec());
        assert_eq!(name, name_of(&public));
        (h, private, public)
    };
    let (_, primary_public, _) = primary(&mut t, RH_OWNER, &ecc_storage()).unwrap();
    let (parent, private, public) = cl(&mut t, RH_OWNER, b"", &ecc_storage());
    assert!(private.is_empty());
    assert_eq!(public, primary_public);
    let (child, private, public) = cl(&mut t, parent, b"old", &ecc_signer(3));
    let loaded = load(&mut t, parent, &private, &public).unwrap();
    assert_ne!(loaded, child);

    // ObjectChangeAuth: the new blob loads and takes the new password, the old one still the old.
    let r = run(&mut t, 0x150, &[child, parent], Some(&pw(b"old")), &B::new().tpm2b(b"new").0);
    let new_private = R(&common::params_of(r.ok(), false)).tpm2b().to_vec();
    let renewed = load(&mut t, parent, &new_private, &public).unwrap();
    assert_eq!(sign_pw(&mut t, renewed, b"new"), 0);
    assert_eq!(sign_pw(&mut t, renewed, b"old") & 0xFFF, 0x98E);
    assert_eq!(sign_pw(&mut t, child, b"old"), 0);
    // The parent handle must be the object's parent.
    let (other, _, _) = primary(&mut t, RH_NULL, &ecc_storage()).unwrap();
    let r = run(&mut t, 0x150, &[child, other], Some(&pw(b"old")), &B::new().tpm2b(b"x").0);
    assert_eq!(r.rc, rc_h(0x08A, 2));

    // Contexts: an owner key saved before Clear no longer loads; an endorsement key's still does.
    let (ek, _, _) = primary(&mut t, 0x4000_000B, &ecc_storage()).unwrap();
    let owner_ctx = run(&mut t, CONTEXT_SAVE, &[parent], None, &[]).ok().body.clone();
    let ek_ctx = run(&mut t, CONTEXT_SAVE, &[ek], None, &[]).ok().body.clone();
    for h in [parent, ek, child, loaded, renewed, other] {
        run(&mut t, FLUSH, &[], None, &B::new().u32(h).0);
    }
    run(&mut t, CONTEXT_LOAD, &[], None, &owner_ctx).ok();
    run(&mut t, 0x126, &[0x4000_000C], Some(&pw(b"")), &[]).ok();
    assert_eq!(run(&mut t, CONTEXT_LOAD, &[], None, &owner_ctx).rc, rc_p(0x09F, 1));
    run(&mut t, CONTEXT_LOAD, &[], None, &ek_ctx).ok();
}

fn sign_pw(t: &mut Tpm, h: u32, password: &[u8]) -> u32 {
    let p = B::new().tpm2b(&[5; 32]).u16(NULL).u16(0x8024).u32(RH_NULL).tpm2b(&[]).0;
    run(t, SIGN, &[h], Some(&pw(password)), &p).rc
}

/// A keyed-hash signing key signs with HMAC (checked with the `hmac` crate against the key the
/// caller supplied) and VerifySignature accepts only the right MAC.
#[test]
fn hmac_keys_sign_and_verify() {
    let mut t = started();
    let (parent, _, _) = primary(&mut t, RH_OWNER, &ecc_storage()).unwrap();
    // sign|userWithAuth|fixedParent|fixedTPM, scheme HMAC-SHA256, key from the caller.
    let template =
        B::new().u16(0x0008).u16(0x000B).u32(0x0004_0052).tpm2b(&[]).u16(0x0005).u16(0x000B).tpm2b(&[]).0;
    let (private, public) = create(&mut t, parent, b"", b"hmac key bytes", &template);
    let h = load(&mut t, parent, &private, &public).unwrap();
    let digest = Sha256::digest(b"data");
    let r = sign(&mut t, h, &digest, (NULL, 0));
    let p = common::params_of(r.ok(), false);
    let mut rd = R(&p);
    assert_eq!((rd.u16(), rd.u16()), (0x0005, 0x000B));
    let mac = rd.bytes(32).to_vec();
    assert_eq!(mac, hmac256(b"hmac key bytes", &[&digest]));
    let sig = B::new().u16(0x0005).u16(0x000B).raw(&mac).0;
    run(&mut t, VERIFY, &[h], None, &B::new().tpm2b(&digest).raw(&sig).0).ok();
    let mut bad = sig.clone();
    bad[10] ^= 1;
    assert_eq!(run(&mut t, VERIFY, &[h], None, &B::new().tpm2b(&digest).raw(&bad).0).rc, rc_p(0x09B, 2));
}

/// Disabling a hierarchy flushes its loaded keys and hides its persistent ones until re-enabled.
#[test]
fn disabled_hierarchy_hides_its_keys() {
    let mut t = started();
    let (owner_key, _, _) = primary(&mut t, RH_OWNER, &ecc_signer(3)).unwrap();
    let (ek, _, _) = primary(&mut t, 0x4000_000B, &ecc_signer(3)).unwrap();
    run(&mut t, EVICT, &[RH_OWNER, owner_key], Some(&pw(b"")), &B::new().u32(0x8100_0002).0).ok();
    // Owner disables itself (shEnable = NO).
    run(&mut t, 0x121, &[RH_OWNER], Some(&pw(b"")), &B::new().u32(RH_OWNER).u8(0).0).ok();
    assert_eq!(run(&mut t, READ_PUBLIC, &[owner_key], None, &[]).rc, 0x910);
    assert_eq!(run(&mut t, READ_PUBLIC, &[0x8100_0002], None, &[]).rc, rc_h(0x08B, 1));
    run(&mut t, READ_PUBLIC, &[ek], None, &[]).ok();
    // The platform turns it back on: the persistent key is visible again.
    run(&mut t, 0x121, &[0x4000_000C], Some(&pw(b"")), &B::new().u32(RH_OWNER).u8(1).0).ok();
    run(&mut t, READ_PUBLIC, &[0x8100_0002], None, &[]).ok();
}
