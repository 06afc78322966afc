//! TPM2_Hash and hash/event sequences, checked against the `sha2` crate, with their error paths and
//! context save/load of a sequence in flight.

use crate::common::{
    B, RH_NULL, RH_OWNER, RS_PW, SHA1, SHA256, SHA384, SM3_256, params_of, pw, rc_h, rc_p, rc_s, run, started,
};
use sha2::{Digest, Sha256, Sha384};
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;

fn start(t: &mut Tpm, auth: &[u8], alg: u16) -> u32 {
    run(t, CommandCode::HASH_SEQUENCE_START, &[], None, &B::new().tpm2b(auth).u16(alg).0).ok().reader().u32()
}

#[test]
fn hash_matches_sha2_and_tickets_follow_the_rules() {
    let mut t = started();
    let r = run(&mut t, CommandCode::HASH, &[], None, &B::new().tpm2b(b"abc").u16(SHA384).u32(RH_OWNER).0)
        .ok()
        .clone();
    let mut rd = r.reader();
    assert_eq!(rd.tpm2b(), &Sha384::digest(b"abc")[..]);
    assert_eq!(rd.u16(), 0x8024);
    assert_eq!(rd.u32(), RH_OWNER);
    assert_eq!(rd.tpm2b().len(), 32);
    rd.done();
    // Data that starts with TPM_GENERATED_VALUE gets the NULL ticket.
    let forged = [0xFF, 0x54, 0x43, 0x47, 1, 2, 3];
    let r = run(&mut t, CommandCode::HASH, &[], None, &B::new().tpm2b(&forged).u16(SHA256).u32(RH_OWNER).0)
        .ok()
        .clone();
    let mut rd = r.reader();
    assert_eq!(rd.tpm2b(), &Sha256::digest(forged)[..]);
    assert_eq!((rd.u16(), rd.u32(), rd.u16()), (0x8024, RH_NULL, 0));
    // Errors: unknown hash, NULL hash, bad hierarchy, oversized data.
    assert_eq!(
        run(&mut t, CommandCode::HASH, &[], None, &B::new().tpm2b(b"").u16(SM3_256).u32(RH_NULL).0).rc,
        rc_p(ResponseCode::HASH, 2)
    );
    assert_eq!(
        run(&mut t, CommandCode::HASH, &[], None, &B::new().tpm2b(b"").u16(0x10).u32(RH_NULL).0).rc,
        rc_p(ResponseCode::HASH, 2)
    );
    assert_eq!(
        run(&mut t, CommandCode::HASH, &[], None, &B::new().tpm2b(b"").u16(SHA256).u32(5).0).rc,
        rc_p(ResponseCode::VALUE, 3)
    );
    let big = vec![0u8; 1025];
    assert_eq!(
        run(&mut t, CommandCode::HASH, &[], None, &B::new().tpm2b(&big).u16(SHA256).u32(RH_NULL).0).rc,
        rc_p(ResponseCode::SIZE, 1)
    );
}

#[test]
fn hash_sequence_over_many_updates_matches_sha2() {
    let mut t = started();
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 31 % 251) as u8).collect();
    let h = start(&mut t, b"seqauth", SHA256);
    assert_eq!(h >> 24, 0x80);
    for chunk in data.chunks(1000) {
        run(&mut t, CommandCode::SEQUENCE_UPDATE, &[h], Some(&pw(b"seqauth")), &B::new().tpm2b(chunk).0).ok();
    }
    let r = run(
        &mut t,
        CommandCode::SEQUENCE_COMPLETE,
        &[h],
        Some(&pw(b"seqauth")),
        &B::new().tpm2b(b"tail").u32(RH_NULL).0,
    )
    .ok()
    .clone();
    let p = params_of(&r, false);
    let mut rd = crate::common::R(&p);
    let mut all = data.clone();
    all.extend_from_slice(b"tail");
    assert_eq!(rd.tpm2b(), &Sha256::digest(&all)[..]);
    assert_eq!((rd.u16(), rd.u32(), rd.u16()), (0x8024, RH_NULL, 0));
    rd.done();
    // Complete flushed the object.
    assert_eq!(
        run(&mut t, CommandCode::SEQUENCE_UPDATE, &[h], Some(&pw(b"seqauth")), &B::new().tpm2b(b"").0).rc,
        ResponseCode::REFERENCE_H0.0
    );
}

#[test]
fn sequence_auth_and_mode_errors() {
    let mut t = started();
    let h = start(&mut t, b"right", SHA256);
    assert_eq!(
        run(&mut t, CommandCode::SEQUENCE_UPDATE, &[h], Some(&pw(b"wrong")), &B::new().tpm2b(b"x").0).rc,
        rc_s(ResponseCode::BAD_AUTH, 1)
    );
    // Trailing zeros of an authValue are not significant.
    run(&mut t, CommandCode::SEQUENCE_UPDATE, &[h], Some(&pw(b"right\0\0")), &B::new().tpm2b(b"x").0).ok();
    // An event sequence cannot be completed by SequenceComplete; a hash sequence not by
    // EventSequenceComplete.
    let e = start(&mut t, b"", 0x0010);
    assert_eq!(
        run(
            &mut t,
            CommandCode::SEQUENCE_COMPLETE,
            &[e],
            Some(&pw(b"")),
            &B::new().tpm2b(b"").u32(RH_NULL).0
        )
        .rc,
        rc_h(ResponseCode::MODE, 1)
    );
    let two: Vec<u8> = [pw(b""), pw(b"right")].concat();
    assert_eq!(
        run(&mut t, CommandCode::EVENT_SEQUENCE_COMPLETE, &[RH_NULL, h], Some(&two), &B::new().tpm2b(b"").0)
            .rc,
        rc_h(ResponseCode::MODE, 2)
    );
    // Only one session for two authorizations.
    assert_eq!(
        run(
            &mut t,
            CommandCode::EVENT_SEQUENCE_COMPLETE,
            &[RH_NULL, e],
            Some(&pw(b"")),
            &B::new().tpm2b(b"").0
        )
        .rc,
        ResponseCode::AUTH_MISSING.0
    );
    // Unknown algorithm.
    assert_eq!(
        run(&mut t, CommandCode::HASH_SEQUENCE_START, &[], None, &B::new().tpm2b(b"").u16(SM3_256).0).rc,
        rc_p(ResponseCode::HASH, 2)
    );
    // A sequence object has no public area to read.
    assert_eq!(run(&mut t, CommandCode::READ_PUBLIC, &[h], None, &[]).rc, ResponseCode::SEQUENCE.0);
    assert_eq!(
        run(&mut t, CommandCode::READ_PUBLIC, &[0x8000_0007], None, &[]).rc,
        ResponseCode::REFERENCE_H0.0
    );
    // Eight object slots, then TPM_RC_OBJECT_MEMORY.
    for _ in 0..6 {
        start(&mut t, b"", SHA256);
    }
    assert_eq!(
        run(&mut t, CommandCode::HASH_SEQUENCE_START, &[], None, &B::new().tpm2b(b"").u16(SHA256).0).rc,
        ResponseCode::OBJECT_MEMORY.0
    );
    let _ = RS_PW;
}

#[test]
fn event_sequence_digests_every_bank_and_extends_the_pcr() {
    let mut t = started();
    let e = start(&mut t, b"ev", 0x0010);
    run(&mut t, CommandCode::SEQUENCE_UPDATE, &[e], Some(&pw(b"ev")), &B::new().tpm2b(b"part one ").0).ok();
    let two: Vec<u8> = [pw(b""), pw(b"ev")].concat();
    let r = run(
        &mut t,
        CommandCode::EVENT_SEQUENCE_COMPLETE,
        &[23, e],
        Some(&two),
        &B::new().tpm2b(b"part two").0,
    )
    .ok()
    .clone();
    let p = params_of(&r, false);
    let mut rd = crate::common::R(&p);
    assert_eq!(rd.u32(), 3);
    let d1 = sha1::Sha1::digest(b"part one part two");
    assert_eq!((rd.u16(), rd.bytes(20)), (SHA1, &d1[..]));
    let d256 = Sha256::digest(b"part one part two");
    let d384 = Sha384::digest(b"part one part two");
    assert_eq!((rd.u16(), rd.bytes(32)), (SHA256, &d256[..]));
    assert_eq!((rd.u16(), rd.bytes(48)), (SHA384, &d384[..]));
    rd.done();
    let sel = B::new().u32(1).u16(SHA256).u8(3).raw(&[0, 0, 0x80]).0;
    let r = run(&mut t, CommandCode::PCR_READ, &[], None, &sel).ok().clone();
    let pcr23 = Sha256::new().chain_update([0u8; 32]).chain_update(d256).finalize();
    assert!(r.body.ends_with(&pcr23));
}

#[test]
fn a_context_saved_sequence_continues_where_it_left_off() {
    let mut t = started();
    let h = start(&mut t, b"", SHA384);
    run(&mut t, CommandCode::SEQUENCE_UPDATE, &[h], Some(&pw(b"")), &B::new().tpm2b(b"first half, ").0).ok();
    let saved = run(&mut t, CommandCode::CONTEXT_SAVE, &[h], None, &[]).ok().body.clone();
    // The original keeps going...
    run(&mut t, CommandCode::SEQUENCE_UPDATE, &[h], Some(&pw(b"")), &B::new().tpm2b(b"other").0).ok();
    // ...and the loaded copy is a separate object at the state of the save.
    let h2 = run(&mut t, CommandCode::CONTEXT_LOAD, &[], None, &saved).ok().reader().u32();
    assert_ne!(h2, h);
    let r = run(
        &mut t,
        CommandCode::SEQUENCE_COMPLETE,
        &[h2],
        Some(&pw(b"")),
        &B::new().tpm2b(b"second half").u32(RH_NULL).0,
    )
    .ok()
    .clone();
    let p = params_of(&r, false);
    assert_eq!(crate::common::R(&p).tpm2b(), &Sha384::digest(b"first half, second half")[..]);
    // A tampered context fails its integrity check; a flushed object cannot be flushed twice.
    let mut bad = saved.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(run(&mut t, CommandCode::CONTEXT_LOAD, &[], None, &bad).rc, rc_p(ResponseCode::INTEGRITY, 1));
    run(&mut t, CommandCode::FLUSH_CONTEXT, &[], None, &h.to_be_bytes()).ok();
    assert_eq!(
        run(&mut t, CommandCode::FLUSH_CONTEXT, &[], None, &h.to_be_bytes()).rc,
        rc_p(ResponseCode::HANDLE, 1)
    );
    // After a TPM Reset the context no longer loads.
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    assert_eq!(
        run(&mut t, CommandCode::CONTEXT_LOAD, &[], None, &saved).rc,
        rc_p(ResponseCode::INTEGRITY, 1)
    );
}

#[test]
fn sha1_hash_and_sequence_match_the_sha1_crate() {
    let mut t = started();
    // tpm2_hash -g sha1: TPM2_Hash with a ticket from the owner hierarchy.
    let r = run(&mut t, CommandCode::HASH, &[], None, &B::new().tpm2b(b"abc").u16(SHA1).u32(RH_OWNER).0)
        .ok()
        .clone();
    let mut rd = r.reader();
    assert_eq!(rd.tpm2b(), &sha1::Sha1::digest(b"abc")[..]);
    assert_eq!((rd.u16(), rd.u32(), rd.tpm2b().len()), (0x8024, RH_OWNER, 32));
    rd.done();
    // A SHA-1 hash sequence across more than one 64-byte block, then saved and loaded mid-way.
    let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let h = start(&mut t, b"", SHA1);
    run(&mut t, CommandCode::SEQUENCE_UPDATE, &[h], Some(&pw(b"")), &B::new().tpm2b(&data[..1000]).0).ok();
    let saved = run(&mut t, CommandCode::CONTEXT_SAVE, &[h], None, &[]).ok().body.clone();
    run(&mut t, CommandCode::FLUSH_CONTEXT, &[], None, &h.to_be_bytes()).ok();
    let h = run(&mut t, CommandCode::CONTEXT_LOAD, &[], None, &saved).ok().reader().u32();
    run(&mut t, CommandCode::SEQUENCE_UPDATE, &[h], Some(&pw(b"")), &B::new().tpm2b(&data[1000..2000]).0)
        .ok();
    let r = run(
        &mut t,
        CommandCode::SEQUENCE_COMPLETE,
        &[h],
        Some(&pw(b"")),
        &B::new().tpm2b(&data[2000..]).u32(RH_NULL).0,
    );
    let p = params_of(r.ok(), false);
    assert_eq!(crate::common::R(&p).tpm2b(), &sha1::Sha1::digest(&data)[..]);
}
