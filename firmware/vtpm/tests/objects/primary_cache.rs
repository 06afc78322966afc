//! RSA primaries are remembered (`primary_cache.rs`), and the cache never serves a key its seed no longer
//! gives: the same template gives the same key; a TPM Reset changes the null hierarchy's, TPM2_Clear the
//! owner's; the template and the caller's authValue are honoured.

use crate::common::{B, RH_NULL, RH_OWNER, pw, run, started};
use crate::key_helpers::{RSAPSS, RSASSA, create_params, primary, rsa_signer};
use warden_vtpm::CommandCode;

fn flush(t: &mut warden_vtpm::Tpm, handle: u32) {
    run(t, CommandCode::FLUSH_CONTEXT, &[], None, &B::new().u32(handle).0).ok();
}

#[test]
fn rsa_primaries_follow_their_seeds_through_the_cache() {
    let mut t = started();
    let template = rsa_signer(RSASSA, 2048);
    let (h, owner1, _) = primary(&mut t, RH_OWNER, &template).unwrap();
    flush(&mut t, h);
    let (h, owner2, _) = primary(&mut t, RH_OWNER, &template).unwrap();
    flush(&mut t, h);
    assert_eq!(owner1, owner2, "the same template under the same seed");
    let (h, null1, _) = primary(&mut t, RH_NULL, &template).unwrap();
    flush(&mut t, h);
    assert_ne!(null1, owner1, "another hierarchy, another seed");

    // TPM Reset: a new null seed; the owner's stays.
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    let (h, null2, _) = primary(&mut t, RH_NULL, &template).unwrap();
    flush(&mut t, h);
    assert_ne!(null1, null2, "a TPM Reset must change the null hierarchy's RSA primary");
    let (h, owner3, _) = primary(&mut t, RH_OWNER, &template).unwrap();
    flush(&mut t, h);
    assert_eq!(owner1, owner3);

    // TPM2_Clear: a new owner seed.
    run(&mut t, CommandCode::CLEAR, &[0x4000_000C], Some(&pw(b"")), &[]).ok();
    let (h, owner4, _) = primary(&mut t, RH_OWNER, &template).unwrap();
    flush(&mut t, h);
    assert_ne!(owner1, owner4, "TPM2_Clear must change the owner's RSA primary");
}

#[test]
fn the_template_selects_the_key_and_auth_is_the_callers() {
    let mut t = started();
    let template = rsa_signer(RSASSA, 2048);
    let create = |t: &mut warden_vtpm::Tpm, auth: &[u8], template: &[u8]| {
        let r = run(
            t,
            CommandCode::CREATE_PRIMARY,
            &[RH_OWNER],
            Some(&pw(b"")),
            &create_params(auth, b"", template),
        );
        assert_eq!(r.rc, 0);
        let mut rd = r.reader();
        let handle = rd.u32();
        rd.u32();
        (handle, rd.tpm2b().to_vec())
    };
    let (h1, plain) = create(&mut t, b"", &template);
    let (h2, other) = create(&mut t, b"", &rsa_signer(RSAPSS, 2048));
    assert_ne!(plain[..], other[..], "the template is part of the derivation");
    // A cached key still takes the authValue of the CreatePrimary that asked for it: signing with the
    // empty password must now fail for a key created with "secret".
    let (h3, again) = create(&mut t, b"secret", &template);
    assert_eq!(again, plain);
    let sign = |t: &mut warden_vtpm::Tpm, h: u32, password: &[u8]| {
        let params =
            B::new().tpm2b(&[0x11; 32]).u16(RSASSA).u16(0x000B).u16(0x8024).u32(RH_NULL).tpm2b(&[]).0;
        run(t, CommandCode::SIGN, &[h], Some(&pw(password)), &params).rc
    };
    assert_ne!(sign(&mut t, h3, b""), 0, "the cached key kept an old authValue");
    assert_eq!(sign(&mut t, h3, b"secret"), 0);
    assert_eq!(sign(&mut t, h1, b""), 0);
    for h in [h1, h2, h3] {
        flush(&mut t, h);
    }
}
