//! TPM2_Duplicate (Part 3 §13.1): a key whose policy allows duplication is wrapped for another
//! storage parent, imported and loaded there, and signs what RustCrypto verifies with its public key.
//! The inner wrapper is also opened here in software, so its format is checked independently of
//! the engine's Import.

use crate::common::{
    B, R, RH_ENDORSEMENT, RH_NULL, RH_OWNER, SHA256, params_of, pw, rc_h, rc_p, run, started,
};
use crate::key_helpers::{
    ECC, ECDSA, NULL, create, ecc_point, ecc_storage, load, p256_verify, primary, sign,
};
use cfb_mode::cipher::{AsyncStreamCipher, KeyIvInit};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use sha2::{Digest, Sha256};
use warden_vtpm::{CommandCode, ResponseCode, Tpm};

/// userWithAuth | sensitiveDataOrigin | sign, neither fixedTPM nor fixedParent.
const DUPLICABLE: u32 = 0x0004_0060;
/// The same with fixedParent.
const FIXED_PARENT: u32 = DUPLICABLE | 1 << 4;

fn policy_duplicate() -> Vec<u8> {
    Sha256::new()
        .chain_update([0u8; 32])
        .chain_update(CommandCode::POLICY_COMMAND_CODE.to_be_bytes())
        .chain_update(CommandCode::DUPLICATE.to_be_bytes())
        .finalize()
        .to_vec()
}

/// An ECDSA P-256 signing key template with `attrs` and the PolicyCommandCode(Duplicate) policy.
fn child_template(attrs: u32) -> Vec<u8> {
    B::new()
        .u16(ECC)
        .u16(SHA256)
        .u32(attrs)
        .tpm2b(&policy_duplicate())
        .u16(NULL)
        .u16(ECDSA)
        .u16(SHA256)
        .u16(0x0003)
        .u16(NULL)
        .tpm2b(&[])
        .tpm2b(&[])
        .0
}

/// A policy session that has run PolicyCommandCode(Duplicate); its authorization area.
fn dup_session(t: &mut Tpm) -> Vec<u8> {
    let p = B::new().tpm2b(&[9; 32]).tpm2b(b"").u8(1).u16(0x10).u16(SHA256).0;
    let s = run(t, CommandCode::START_AUTH_SESSION, &[RH_NULL, RH_NULL], None, &p).ok().reader().u32();
    run(t, CommandCode::POLICY_COMMAND_CODE, &[s], None, &CommandCode::DUPLICATE.to_be_bytes()).ok();
    B::new().u32(s).tpm2b(&[3; 32]).u8(1).tpm2b(b"").0
}

/// TPM2_Duplicate's response: (encryptionKeyOut, duplicate, outSymSeed).
type Duplicated = (Vec<u8>, Vec<u8>, Vec<u8>);

/// TPM2_Duplicate; its response or the rc.
fn duplicate(
    t: &mut Tpm,
    auth: &[u8],
    object: u32,
    new_parent: u32,
    key_in: &[u8],
    aes_bits: u16,
) -> Result<Duplicated, u32> {
    let mut p = B::new().tpm2b(key_in);
    p = if aes_bits == 0 { p.u16(NULL) } else { p.u16(0x0006).u16(aes_bits).u16(0x0043) };
    let r = run(t, CommandCode::DUPLICATE, &[object, new_parent], Some(auth), &p.0);
    if r.rc != 0 {
        return Err(r.rc);
    }
    let out = params_of(&r, false);
    let mut rd = R(&out);
    let v = (rd.tpm2b().to_vec(), rd.tpm2b().to_vec(), rd.tpm2b().to_vec());
    rd.done();
    Ok(v)
}

/// TPM2_Import under `parent` with an AES-128-CFB inner key (or none); the private blob.
fn import(t: &mut Tpm, parent: u32, key: &[u8], public: &[u8], dup: &[u8], seed: &[u8]) -> Vec<u8> {
    let mut p = B::new().tpm2b(key).tpm2b(public).tpm2b(dup).tpm2b(seed);
    p = if key.is_empty() { p.u16(NULL) } else { p.u16(0x0006).u16(128).u16(0x0043) };
    let r = run(t, CommandCode::IMPORT, &[parent], Some(&pw(b"")), &p.0);
    R(&params_of(r.ok(), false)).tpm2b().to_vec()
}

/// Signs with the key at `h` and checks the signature with its public area.
fn signs(t: &mut Tpm, h: u32, public: &[u8]) -> bool {
    let digest = Sha256::digest(b"duplicated").to_vec();
    let out = params_of(sign(t, h, &digest, (NULL, 0)).ok(), false);
    let mut rd = R(&out);
    rd.u16();
    rd.u16();
    let (r, s) = (rd.tpm2b().to_vec(), rd.tpm2b().to_vec());
    p256_verify(public, &digest, &r, &s)
}

#[test]
fn a_duplicate_imports_under_another_parent_and_signs() {
    let mut t = started();
    let (old_parent, _, _) = primary(&mut t, RH_OWNER, &ecc_storage()).unwrap();
    let (new_parent, _, _) = primary(&mut t, RH_ENDORSEMENT, &ecc_storage()).unwrap();
    let (private, public) = create(&mut t, old_parent, b"", b"", &child_template(DUPLICABLE));
    let key = load(&mut t, old_parent, &private, &public).unwrap();
    // The DUP role takes a policy session: a password is refused.
    assert_eq!(duplicate(&mut t, &pw(b""), key, new_parent, &[], 0), Err(ResponseCode::AUTH_UNAVAILABLE.0));

    // Outer wrapper only.
    let auth = dup_session(&mut t);
    let (key_out, dup, seed) = duplicate(&mut t, &auth, key, new_parent, &[], 0).unwrap();
    assert!(key_out.is_empty());
    assert!(!seed.is_empty());
    let blob = import(&mut t, new_parent, &[], &public, &dup, &seed);
    let moved = load(&mut t, new_parent, &blob, &public).unwrap();
    assert!(signs(&mut t, moved, &public));

    // Outer and inner wrappers, the TPM choosing the inner key.
    let auth = dup_session(&mut t);
    let (key_out, dup, seed) = duplicate(&mut t, &auth, key, new_parent, &[], 128).unwrap();
    assert_eq!(key_out.len(), 16);
    let blob = import(&mut t, new_parent, &key_out, &public, &dup, &seed);
    let moved = load(&mut t, new_parent, &blob, &public).unwrap();
    assert!(signs(&mut t, moved, &public));

    // A duplicate is bound to its parent: the old parent cannot import it.
    let p =
        B::new().tpm2b(&key_out).tpm2b(&public).tpm2b(&dup).tpm2b(&seed).u16(0x0006).u16(128).u16(0x0043).0;
    let r = run(&mut t, CommandCode::IMPORT, &[old_parent], Some(&pw(b"")), &p);
    assert_ne!(r.rc, 0);
}

#[test]
fn an_inner_wrapped_duplicate_for_no_parent_opens_in_software() {
    let mut t = started();
    let (parent, _, _) = primary(&mut t, RH_OWNER, &ecc_storage()).unwrap();
    let (private, public) = create(&mut t, parent, b"", b"", &child_template(DUPLICABLE));
    let key = load(&mut t, parent, &private, &public).unwrap();
    let auth = dup_session(&mut t);
    let inner = [0x5Au8; 16];
    let (key_out, mut dup, seed) = duplicate(&mut t, &auth, key, RH_NULL, &inner, 128).unwrap();
    // The caller's key is not echoed; no outer wrapper, so no seed.
    assert!(key_out.is_empty() && seed.is_empty());
    cfb_mode::Decryptor::<aes::Aes128>::new_from_slices(&inner, &[0; 16]).unwrap().decrypt(&mut dup);
    let mut rd = R(&dup);
    let integrity = rd.tpm2b().to_vec();
    let sensitive = rd.0.to_vec();
    let name = [&[0x00, 0x0B][..], &Sha256::digest(&public)].concat();
    assert_eq!(integrity, Sha256::new().chain_update(&sensitive).chain_update(&name).finalize()[..]);
    // TPM2B_SENSITIVE: type ECC, authValue, seedValue, the private scalar of the public point.
    let mut rd = R(&sensitive);
    let mut s = R(rd.tpm2b());
    rd.done();
    assert_eq!(s.u16(), ECC);
    s.tpm2b();
    s.tpm2b();
    let scalar = s.tpm2b().to_vec();
    s.done();
    let point = p256::SecretKey::from_slice(&scalar).unwrap().public_key().to_encoded_point(false);
    let (x, y) = ecc_point(&public);
    assert_eq!((&point.x().unwrap()[..], &point.y().unwrap()[..]), (&x[..], &y[..]));
}

#[test]
fn duplicate_refuses_what_part3_refuses() {
    let mut t = started();
    let (parent, _, _) = primary(&mut t, RH_OWNER, &ecc_storage()).unwrap();
    let (private, public) = create(&mut t, parent, b"", b"", &child_template(FIXED_PARENT));
    let fixed = load(&mut t, parent, &private, &public).unwrap();
    let auth = dup_session(&mut t);
    assert_eq!(duplicate(&mut t, &auth, fixed, parent, &[], 0), Err(rc_h(ResponseCode::ATTRIBUTES, 1)));

    let (private, public) = create(&mut t, parent, b"", b"", &child_template(DUPLICABLE));
    let key = load(&mut t, parent, &private, &public).unwrap();
    // An inner key with no inner algorithm, or of the wrong size.
    let auth = dup_session(&mut t);
    assert_eq!(duplicate(&mut t, &auth, key, parent, &[1; 16], 0), Err(rc_p(ResponseCode::SIZE, 1)));
    let auth = dup_session(&mut t);
    assert_eq!(duplicate(&mut t, &auth, key, parent, &[1; 15], 128), Err(rc_p(ResponseCode::SIZE, 1)));
    // The new parent must be a storage key.
    let auth = dup_session(&mut t);
    assert_eq!(duplicate(&mut t, &auth, key, key, &[], 0), Err(rc_h(ResponseCode::TYPE, 2)));
}
