//! HMAC sequences (TPM2_HMAC_Start, Part 3 §17.2, with SequenceUpdate/SequenceComplete), checked against
//! the `hmac` crate, with the key checks and the NULL ticket.

use crate::common::{B, R, RH_NULL, RH_OWNER, SHA1, SHA256, params_of, pw, rc_h, rc_p, run, started};
use hmac::{Hmac, Mac};
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;

const KEYEDHASH: u16 = 0x0008;
const HMAC: u16 = 0x0005;
const NULL: u16 = 0x0010;

/// A keyed-hash primary with `key` as its secret; `scheme_hash` None gives the NULL scheme.
fn hmac_key(t: &mut Tpm, attrs: u32, scheme_hash: Option<u16>, key: &[u8]) -> u32 {
    let b = B::new().u16(KEYEDHASH).u16(SHA256).u32(attrs).tpm2b(&[]);
    let b = match scheme_hash {
        Some(h) => b.u16(HMAC).u16(h),
        None => b.u16(NULL),
    };
    let template = b.tpm2b(&[]).0;
    let sens = B::new().tpm2b(&[]).tpm2b(key).0;
    let p = B::new().tpm2b(&sens).tpm2b(&template).tpm2b(&[]).u32(0).0;
    run(t, CommandCode::CREATE_PRIMARY, &[RH_OWNER], Some(&pw(b"")), &p).ok().reader().u32()
}

fn hmac_start(t: &mut Tpm, key: u32, auth: &[u8], hash: u16) -> crate::common::Resp {
    run(t, CommandCode::HMAC_START, &[key], Some(&pw(b"")), &B::new().tpm2b(auth).u16(hash).0)
}

/// Streams `data` through an HMAC sequence in 1024-byte updates, as tpm2_hmac does for large input.
fn hmac_by_sequence(t: &mut Tpm, key: u32, hash: u16, data: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let seq = hmac_start(t, key, b"seq auth", hash).ok().reader().u32();
    let (body, last) = data.split_at(data.len() - data.len() % 1024);
    for piece in body.chunks(1024) {
        run(t, CommandCode::SEQUENCE_UPDATE, &[seq], Some(&pw(b"seq auth")), &B::new().tpm2b(piece).0).ok();
    }
    let p = B::new().tpm2b(last).u32(RH_OWNER).0;
    let r = run(t, CommandCode::SEQUENCE_COMPLETE, &[seq], Some(&pw(b"seq auth")), &p);
    let p = params_of(r.ok(), false);
    let mut rd = R(&p);
    let mac = rd.tpm2b().to_vec();
    let ticket = rd.0.to_vec();
    (mac, ticket)
}

#[test]
fn hmac_sequence_matches_the_hmac_crate_for_sha1_and_sha256() {
    let mut t = started();
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
    // Key with the NULL scheme: the caller picks the hash.
    let k = hmac_key(&mut t, 0x0004_0052, None, b"a key for a long message");
    let (mac, ticket) = hmac_by_sequence(&mut t, k, SHA1, &data);
    let mut m = Hmac::<sha1::Sha1>::new_from_slice(b"a key for a long message").unwrap();
    m.update(&data);
    assert_eq!(mac, m.finalize().into_bytes().to_vec());
    // An HMAC sequence gets the NULL ticket.
    assert_eq!(ticket, B::new().u16(0x8024).u32(RH_NULL).u16(0).0);
    // Key with the HMAC-SHA256 scheme and a key longer than the block: NULL asks for the key's hash.
    let long_key = [0x5Au8; 100];
    let k = hmac_key(&mut t, 0x0004_0052, Some(SHA256), &long_key);
    let (mac, _) = hmac_by_sequence(&mut t, k, NULL, &data[..3000]);
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(&long_key).unwrap();
    m.update(&data[..3000]);
    assert_eq!(mac, m.finalize().into_bytes().to_vec());
}

#[test]
fn hmac_start_key_checks() {
    let mut t = started();
    // Another hash than the key's scheme; no hash at all for a NULL-scheme key.
    let k = hmac_key(&mut t, 0x0004_0052, Some(SHA256), b"k");
    assert_eq!(hmac_start(&mut t, k, b"", SHA1).rc, rc_p(ResponseCode::SCHEME, 2));
    let k = hmac_key(&mut t, 0x0004_0052, None, b"k");
    assert_eq!(hmac_start(&mut t, k, b"", NULL).rc, rc_p(ResponseCode::HASH, 2));
    // A keyed-hash key without the sign attribute (sealed data) is not an HMAC key.
    let sealed = hmac_key(&mut t, 0x0000_0052, None, b"k");
    assert_eq!(hmac_start(&mut t, sealed, b"", SHA256).rc, rc_h(ResponseCode::ATTRIBUTES, 1));
    // An ECC key is not a keyed-hash key.
    let template = crate::key_helpers::ecc_signer(0x0003);
    let (ecc, _, _) = crate::key_helpers::primary(&mut t, RH_OWNER, &template).unwrap();
    assert_eq!(hmac_start(&mut t, ecc, b"", SHA256).rc, rc_h(ResponseCode::TYPE, 1));
    // An HMAC sequence cannot be finished as an event sequence.
    let seq = hmac_start(&mut t, k, b"", SHA256).ok().reader().u32();
    let two = [pw(b""), pw(b"")].concat();
    let r = run(
        &mut t,
        CommandCode::EVENT_SEQUENCE_COMPLETE,
        &[RH_NULL, seq],
        Some(&two),
        &B::new().tpm2b(b"").0,
    );
    assert_eq!(r.rc, rc_h(ResponseCode::MODE, 2));
}

#[test]
fn an_hmac_sequence_survives_context_save_and_load() {
    let mut t = started();
    let k = hmac_key(&mut t, 0x0004_0052, Some(SHA1), b"saved key");
    let seq = hmac_start(&mut t, k, b"", NULL).ok().reader().u32();
    run(&mut t, CommandCode::SEQUENCE_UPDATE, &[seq], Some(&pw(b"")), &B::new().tpm2b(b"first, ").0).ok();
    let saved = run(&mut t, CommandCode::CONTEXT_SAVE, &[seq], None, &[]).ok().body.clone();
    run(&mut t, CommandCode::FLUSH_CONTEXT, &[], None, &seq.to_be_bytes()).ok();
    let seq = run(&mut t, CommandCode::CONTEXT_LOAD, &[], None, &saved).ok().reader().u32();
    let p = B::new().tpm2b(b"then the rest").u32(RH_NULL).0;
    let r = run(&mut t, CommandCode::SEQUENCE_COMPLETE, &[seq], Some(&pw(b"")), &p);
    let mut m = Hmac::<sha1::Sha1>::new_from_slice(b"saved key").unwrap();
    m.update(b"first, then the rest");
    assert_eq!(R(&params_of(r.ok(), false)).tpm2b(), &m.finalize().into_bytes()[..]);
}
