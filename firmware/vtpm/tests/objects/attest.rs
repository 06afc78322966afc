//! TPMS_ATTEST details: GetTime, and the clock-info obfuscation for signers outside the owner and
//! platform hierarchies.

use crate::common::{B, R, RH_ENDORSEMENT, RH_NULL, RH_OWNER, pw, rc_h, run, started};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use sha2::{Digest, Sha256};
use warden_vtpm::AlgId;
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;

const NULL: u16 = AlgId::NULL.0;

fn signer(t: &mut Tpm, hierarchy: u32) -> (u32, Vec<u8>) {
    let template = crate::key_helpers::ecc_signer(0x0003);
    let sens = B::new().tpm2b(&[]).tpm2b(&[]).0;
    let p = B::new().tpm2b(&sens).tpm2b(&template).tpm2b(&[]).u32(0).0;
    let r = run(t, CommandCode::CREATE_PRIMARY, &[hierarchy], Some(&pw(b"")), &p);
    let mut rd = r.ok().reader();
    let h = rd.u32();
    rd.u32();
    (h, rd.tpm2b().to_vec())
}

/// Quote of PCR 0 by `h`: (attest, r, s).
fn quote(t: &mut Tpm, h: u32) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let sel = B::new().u32(1).u16(0x000B).u8(3).raw(&[1, 0, 0]).0;
    let r = run(t, CommandCode::QUOTE, &[h], Some(&pw(b"")), &B::new().tpm2b(&[]).u16(NULL).raw(&sel).0);
    let p = crate::common::params_of(r.ok(), false);
    let mut rd = R(&p);
    let attest = rd.tpm2b().to_vec();
    rd.u32();
    (attest, rd.tpm2b().to_vec(), rd.tpm2b().to_vec())
}

/// (clock, resetCount, restartCount, firmwareVersion) from a TPMS_ATTEST.
fn clock_info(attest: &[u8]) -> (u64, u32, u32, u64) {
    let mut a = R(attest);
    assert_eq!(a.u32(), 0xFF54_4347);
    a.u16();
    a.tpm2b();
    a.tpm2b();
    let v = (a.u64(), a.u32(), a.u32());
    assert_eq!(a.u8(), 1);
    (v.0, v.1, v.2, a.u64())
}

fn verifies(public: &[u8], message: &[u8], r: &[u8], s: &[u8]) -> bool {
    let (x, y) = (&public[public.len() - 66..public.len() - 34], &public[public.len() - 32..]);
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&[&[4u8][..], x, y].concat()).unwrap();
    let sig = p256::ecdsa::Signature::from_slice(&[r, s].concat()).unwrap();
    key.verify_prehash(&Sha256::digest(message), &sig).is_ok()
}

#[test]
fn endorsement_signers_see_offset_counters() {
    let mut t = started();
    let (owner, _) = signer(&mut t, RH_OWNER);
    let (endorsement, _) = signer(&mut t, RH_ENDORSEMENT);
    let (a, _, _) = quote(&mut t, owner);
    let (_, reset, restart, firmware) = clock_info(&a);
    // The owner's key sees the real values: one TPM Reset (the Startup), no restart, version 1.0.
    assert_eq!((reset, restart, firmware), (1, 0, 1 << 32));
    let (e1, _, _) = quote(&mut t, endorsement);
    let (e2, _, _) = quote(&mut t, endorsement);
    let (o1, o2) = (clock_info(&e1), clock_info(&e2));
    assert_ne!((o1.1, o1.3), (reset, firmware));
    // The offset is stable for the key, so the same key's attestations stay comparable.
    assert_eq!((o1.1, o1.2, o1.3), (o2.1, o2.2, o2.3));
}

#[test]
fn get_time_is_signed_and_needs_the_endorsement_handle() {
    let mut t = started();
    let (h, public) = signer(&mut t, RH_OWNER);
    let auth = [pw(b""), pw(b"")].concat();
    let r = run(
        &mut t,
        CommandCode::GET_TIME,
        &[RH_ENDORSEMENT, h],
        Some(&auth),
        &B::new().tpm2b(b"q").u16(NULL).0,
    );
    let p = crate::common::params_of(r.ok(), false);
    let mut rd = R(&p);
    let attest = rd.tpm2b().to_vec();
    assert_eq!((rd.u16(), rd.u16()), (0x18, 0x000B));
    let (sr, ss) = (rd.tpm2b().to_vec(), rd.tpm2b().to_vec());
    assert!(verifies(&public, &attest, &sr, &ss));
    let mut a = R(&attest);
    a.u32();
    assert_eq!(a.u16(), 0x8019);
    a.tpm2b();
    assert_eq!(a.tpm2b(), b"q");
    a.bytes(25);
    // TPMS_TIME_ATTEST_INFO: time, clockInfo, firmwareVersion.
    a.u64();
    a.bytes(17);
    assert_eq!(a.u64(), 1 << 32);
    a.done();
    // The owner is not the privacy administrator.
    let r = run(&mut t, CommandCode::GET_TIME, &[RH_OWNER, h], Some(&auth), &B::new().tpm2b(b"").u16(NULL).0);
    assert_eq!(r.rc, rc_h(ResponseCode::VALUE, 1));
    // Unsigned with a NULL signHandle.
    let r = run(
        &mut t,
        CommandCode::GET_TIME,
        &[RH_ENDORSEMENT, RH_NULL],
        Some(&auth),
        &B::new().tpm2b(b"").u16(NULL).0,
    );
    let p = crate::common::params_of(r.ok(), false);
    let mut rd = R(&p);
    rd.tpm2b();
    assert_eq!(rd.u16(), NULL);
    rd.done();
}

#[test]
fn certify_creation_needs_the_creation_ticket() {
    let mut t = started();
    let template = crate::key_helpers::ecc_signer(0x0003);
    let sens = B::new().tpm2b(&[]).tpm2b(&[]).0;
    let p = B::new().tpm2b(&sens).tpm2b(&template).tpm2b(&[]).u32(0).0;
    let r = run(&mut t, CommandCode::CREATE_PRIMARY, &[RH_OWNER], Some(&pw(b"")), &p);
    let mut rd = r.ok().reader();
    let h = rd.u32();
    rd.u32();
    let public = rd.tpm2b().to_vec();
    rd.tpm2b();
    let creation_hash = rd.tpm2b().to_vec();
    let ticket = rd.bytes(6).to_vec();
    let ticket = [ticket, B::new().tpm2b(rd.tpm2b()).0].concat();
    let name = rd.tpm2b().to_vec();
    let certify = |t: &mut Tpm, hash: &[u8]| {
        let p = B::new().tpm2b(b"cc").tpm2b(hash).u16(NULL).raw(&ticket).0;
        run(t, CommandCode::CERTIFY_CREATION, &[h, h], Some(&pw(b"")), &p)
    };
    let r = certify(&mut t, &creation_hash);
    let p = crate::common::params_of(r.ok(), false);
    let mut rd = R(&p);
    let attest = rd.tpm2b().to_vec();
    rd.u32();
    let (sr, ss) = (rd.tpm2b().to_vec(), rd.tpm2b().to_vec());
    assert!(verifies(&public, &attest, &sr, &ss));
    let mut a = R(&attest);
    a.u32();
    assert_eq!(a.u16(), 0x801A);
    a.tpm2b();
    assert_eq!(a.tpm2b(), b"cc");
    a.bytes(25);
    assert_eq!(a.tpm2b(), &name[..]);
    assert_eq!(a.tpm2b(), &creation_hash[..]);
    a.done();
    // Another creationHash does not match the ticket: TPM_RC_TICKET on parameter 4.
    assert_eq!(certify(&mut t, &[0; 32]).rc, crate::common::rc_p(ResponseCode::TICKET, 4));
}
