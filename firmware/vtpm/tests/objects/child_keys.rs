//! Child keys: Create/Load and their private blobs, sealed data, contexts of keys, CreateLoaded,
//! ObjectChangeAuth, HMAC keys.

use crate::common::{B, R, RH_NULL, RH_OWNER, pw, rc_h, rc_p, rc_s, run, started};
use crate::key_helpers::{
    NULL, create, create_params, ecc_signer, ecc_storage, hmac256, load, name_of, p256_verify, primary,
    sealed, sign, sign_pw,
};
use sha2::{Digest, Sha256};
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;

#[test]
fn child_keys_create_load_sign_and_integrity() {
    let mut t = started();
    let (parent, _, _) = primary(&mut t, RH_OWNER, &ecc_storage()).unwrap();
    let (private, public) = create(&mut t, parent, b"childpw", b"", &ecc_signer(0x0003));
    let h = load(&mut t, parent, &private, &public).unwrap();
    let digest = Sha256::digest(b"child");
    let mut p = B::new().tpm2b(&digest).u16(NULL).u16(0x8024).u32(RH_NULL).tpm2b(&[]).0;
    assert_eq!(
        run(&mut t, CommandCode::SIGN, &[h], Some(&pw(b"wrong")), &p).rc & 0xFFF,
        rc_s(ResponseCode::AUTH_FAIL, 1)
    );
    let r = run(&mut t, CommandCode::SIGN, &[h], Some(&pw(b"childpw")), &p);
    let sig = crate::common::params_of(r.ok(), false);
    let mut rd = R(&sig);
    rd.u32();
    let (sr, ss) = (rd.tpm2b().to_vec(), rd.tpm2b().to_vec());
    assert!(p256_verify(&public, &digest, &sr, &ss));
    p.clear();

    // One flipped bit in the private blob: TPM_RC_INTEGRITY; the blob under another parent too.
    let mut bad = private.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x40;
    assert_eq!(load(&mut t, parent, &bad, &public), Err(rc_p(ResponseCode::INTEGRITY, 1)));
    let (other, _, _) = primary(&mut t, RH_NULL, &ecc_storage()).unwrap();
    assert_eq!(load(&mut t, other, &private, &public), Err(rc_p(ResponseCode::INTEGRITY, 1)));
    // A signing key cannot be a parent.
    assert_eq!(
        run(
            &mut t,
            CommandCode::CREATE,
            &[h],
            Some(&pw(b"childpw")),
            &create_params(b"", b"", &ecc_signer(3))
        )
        .rc,
        rc_h(ResponseCode::TYPE, 1)
    );
}

#[test]
fn seal_unseal_and_context_of_a_key() {
    let mut t = started();
    let (parent, _, _) = primary(&mut t, RH_OWNER, &ecc_storage()).unwrap();
    let (private, public) = create(&mut t, parent, b"", b"the secret", &sealed(&[], 0x452));
    let h = load(&mut t, parent, &private, &public).unwrap();
    let r = run(&mut t, CommandCode::UNSEAL, &[h], Some(&pw(b"")), &[]);
    let out = crate::common::params_of(r.ok(), false);
    assert_eq!(R(&out).tpm2b(), b"the secret");
    // The unique field is H(seed || data), not the data.
    assert!(!public.windows(10).any(|w| w == b"the secret"));

    // ContextSave, Flush, ContextLoad: the same object comes back.
    let ctx = run(&mut t, CommandCode::CONTEXT_SAVE, &[h], None, &[]).ok().body.clone();
    run(&mut t, CommandCode::FLUSH_CONTEXT, &[], None, &B::new().u32(h).0).ok();
    assert_eq!(run(&mut t, CommandCode::READ_PUBLIC, &[h], None, &[]).rc, ResponseCode::REFERENCE_H0.0); // REFERENCE_H0
    let h2 = run(&mut t, CommandCode::CONTEXT_LOAD, &[], None, &ctx).ok().reader().u32();
    let rp = run(&mut t, CommandCode::READ_PUBLIC, &[h2], None, &[]);
    let mut rd = rp.ok().reader();
    assert_eq!(rd.tpm2b(), &public[..]);
    assert_eq!(rd.tpm2b(), name_of(&public));
    let r = run(&mut t, CommandCode::UNSEAL, &[h2], Some(&pw(b"")), &[]);
    assert_eq!(R(&crate::common::params_of(r.ok(), false)).tpm2b(), b"the secret");
    // A sealed object whose data the caller supplies may not also claim sensitiveDataOrigin.
    let r = run(
        &mut t,
        CommandCode::CREATE,
        &[parent],
        Some(&pw(b"")),
        &create_params(b"", b"x", &sealed(&[], 0x472)),
    );
    assert_eq!(r.rc, rc_p(ResponseCode::ATTRIBUTES, 2));
}

/// CreateLoaded makes primaries (same key as CreatePrimary) and loaded children whose private blob
/// Load accepts; ObjectChangeAuth gives a blob with the new password; a context of an owner key
/// does not load after TPM2_Clear.
#[test]
fn create_loaded_change_auth_and_contexts_across_clear() {
    let mut t = started();
    let cl = |t: &mut Tpm, parent: u32, auth: &[u8], template: &[u8]| {
        let sens = B::new().tpm2b(auth).tpm2b(&[]).0;
        let r = run(
            t,
            CommandCode::CREATE_LOADED,
            &[parent],
            Some(&pw(b"")),
            &B::new().tpm2b(&sens).tpm2b(template).0,
        );
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
    let r = run(
        &mut t,
        CommandCode::OBJECT_CHANGE_AUTH,
        &[child, parent],
        Some(&pw(b"old")),
        &B::new().tpm2b(b"new").0,
    );
    let new_private = R(&crate::common::params_of(r.ok(), false)).tpm2b().to_vec();
    let renewed = load(&mut t, parent, &new_private, &public).unwrap();
    assert_eq!(sign_pw(&mut t, renewed, b"new"), 0);
    assert_eq!(sign_pw(&mut t, renewed, b"old") & 0xFFF, rc_s(ResponseCode::AUTH_FAIL, 1));
    assert_eq!(sign_pw(&mut t, child, b"old"), 0);
    // The parent handle must be the object's parent.
    let (other, _, _) = primary(&mut t, RH_NULL, &ecc_storage()).unwrap();
    let r = run(
        &mut t,
        CommandCode::OBJECT_CHANGE_AUTH,
        &[child, other],
        Some(&pw(b"old")),
        &B::new().tpm2b(b"x").0,
    );
    assert_eq!(r.rc, rc_h(ResponseCode::TYPE, 2));

    // Contexts: an owner key saved before Clear no longer loads; an endorsement key's still does.
    let (ek, _, _) = primary(&mut t, 0x4000_000B, &ecc_storage()).unwrap();
    let owner_ctx = run(&mut t, CommandCode::CONTEXT_SAVE, &[parent], None, &[]).ok().body.clone();
    let ek_ctx = run(&mut t, CommandCode::CONTEXT_SAVE, &[ek], None, &[]).ok().body.clone();
    for h in [parent, ek, child, loaded, renewed, other] {
        run(&mut t, CommandCode::FLUSH_CONTEXT, &[], None, &B::new().u32(h).0);
    }
    run(&mut t, CommandCode::CONTEXT_LOAD, &[], None, &owner_ctx).ok();
    run(&mut t, CommandCode::CLEAR, &[0x4000_000C], Some(&pw(b"")), &[]).ok();
    assert_eq!(
        run(&mut t, CommandCode::CONTEXT_LOAD, &[], None, &owner_ctx).rc,
        rc_p(ResponseCode::INTEGRITY, 1)
    );
    run(&mut t, CommandCode::CONTEXT_LOAD, &[], None, &ek_ctx).ok();
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
    let p = crate::common::params_of(r.ok(), false);
    let mut rd = R(&p);
    assert_eq!((rd.u16(), rd.u16()), (0x0005, 0x000B));
    let mac = rd.bytes(32).to_vec();
    assert_eq!(mac, hmac256(b"hmac key bytes", &[&digest]));
    let sig = B::new().u16(0x0005).u16(0x000B).raw(&mac).0;
    run(&mut t, CommandCode::VERIFY_SIGNATURE, &[h], None, &B::new().tpm2b(&digest).raw(&sig).0).ok();
    let mut bad = sig.clone();
    bad[10] ^= 1;
    assert_eq!(
        run(&mut t, CommandCode::VERIFY_SIGNATURE, &[h], None, &B::new().tpm2b(&digest).raw(&bad).0).rc,
        rc_p(ResponseCode::SIGNATURE, 2)
    );
}

/// A key without noDA is protected against dictionary attacks: wrong passwords count, and after
/// maxTries (3) the TPM is in lockout; a noDA key's failures do not count.
#[test]
fn wrong_key_passwords_count_unless_no_da() {
    let mut t = started();
    let (parent, _, _) = primary(&mut t, RH_OWNER, &ecc_storage()).unwrap();
    // noDA clear: fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|sign.
    let (private, public) = create(&mut t, parent, b"right", b"", &ecc_signer(3));
    let h = load(&mut t, parent, &private, &public).unwrap();
    let mut no_da = ecc_signer(3);
    no_da[6] |= 0x04; // bit 10: noDA
    let (private, public) = create(&mut t, parent, b"right", b"", &no_da);
    let nd = load(&mut t, parent, &private, &public).unwrap();
    for _ in 0..5 {
        assert_eq!(sign_pw(&mut t, nd, b"wrong"), rc_s(ResponseCode::BAD_AUTH, 1)); // BAD_AUTH: not counted
    }
    assert_eq!(sign_pw(&mut t, nd, b"right"), 0);
    for _ in 0..3 {
        assert_eq!(sign_pw(&mut t, h, b"wrong"), rc_s(ResponseCode::AUTH_FAIL, 1)); // AUTH_FAIL: counted
    }
    assert_eq!(sign_pw(&mut t, h, b"right"), ResponseCode::LOCKOUT.0); // TPM_RC_LOCKOUT
    assert_eq!(sign_pw(&mut t, nd, b"right"), 0);
}
