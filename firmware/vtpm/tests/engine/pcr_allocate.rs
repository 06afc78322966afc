//! The SHA-1 PCR bank and TPM2_PCR_Allocate (Part 3 §22.5): SHA-1 extends and reads checked against the
//! `sha1` crate, an allocation that waits for Startup(CLEAR), and its error paths.

use crate::common::{B, RH_PLATFORM, SHA1, SHA256, SHA384, SM3_256, pw, rc_p, run, started};
use sha2::Digest;
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;

/// One bank's PCR bitmap, as a TPMS_PCR_SELECTION carries it.
type Bank = (u16, [u8; 3]);

/// PCR_Read of one selection; (returned selection bitmaps per bank, digests).
fn read(t: &mut Tpm, sel: &[Bank]) -> (Vec<Bank>, Vec<Vec<u8>>) {
    let mut b = B::new().u32(sel.len() as u32);
    for (alg, bits) in sel {
        b = b.u16(*alg).u8(3).raw(bits);
    }
    let r = run(t, CommandCode::PCR_READ, &[], None, &b.0).ok().clone();
    let mut rd = r.reader();
    rd.u32();
    let banks =
        (0..rd.u32()).map(|_| (rd.u16(), rd.u8(), rd.bytes(3).try_into().unwrap())).collect::<Vec<_>>();
    let values = (0..rd.u32()).map(|_| rd.tpm2b().to_vec()).collect();
    rd.done();
    (banks.into_iter().map(|(a, _, b)| (a, b)).collect(), values)
}

/// GetCapability(TPM_CAP_PCRS): the (bank, bitmap) pairs.
fn allocation(t: &mut Tpm) -> Vec<Bank> {
    let p = B::new().u32(5).u32(0).u32(1).0;
    let r = run(t, CommandCode::GET_CAPABILITY, &[], None, &p).ok().clone();
    let mut rd = r.reader();
    assert_eq!((rd.u8(), rd.u32()), (0, 5));
    let v = (0..rd.u32())
        .map(|_| {
            let alg = rd.u16();
            assert_eq!(rd.u8(), 3);
            (alg, rd.bytes(3).try_into().unwrap())
        })
        .collect();
    rd.done();
    v
}

fn allocate(t: &mut Tpm, sel: &[Bank]) -> crate::common::Resp {
    let mut b = B::new().u32(sel.len() as u32);
    for (alg, bits) in sel {
        b = b.u16(*alg).u8(3).raw(bits);
    }
    run(t, CommandCode::PCR_ALLOCATE, &[RH_PLATFORM], Some(&pw(b"")), &b.0)
}

fn restart(t: &mut Tpm) {
    t.power_on();
    run(t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
}

#[test]
fn sha1_bank_extends_and_reads_with_sha256_in_one_selection() {
    let mut t = started();
    let d1 = sha1::Sha1::digest(b"measured");
    let d256 = sha2::Sha256::digest(b"measured");
    let p = B::new().u32(2).u16(SHA1).raw(&d1).u16(SHA256).raw(&d256).0;
    run(&mut t, CommandCode::PCR_EXTEND, &[0], Some(&pw(b"")), &p).ok();
    let e1 = sha1::Sha1::new().chain_update([0u8; 20]).chain_update(d1).finalize();
    let e256 = sha2::Sha256::new().chain_update([0u8; 32]).chain_update(d256).finalize();
    // tpm2_pcrread sha1:0,1+sha256:0
    let (banks, values) = read(&mut t, &[(SHA1, [3, 0, 0]), (SHA256, [1, 0, 0])]);
    assert_eq!(banks, [(SHA1, [3, 0, 0]), (SHA256, [1, 0, 0])]);
    assert_eq!(values, [e1.to_vec(), vec![0; 20], e256.to_vec()]);
}

#[test]
fn allocation_takes_effect_at_the_next_startup_clear() {
    let mut t = started();
    assert_eq!(allocation(&mut t), [(SHA1, [0xFF; 3]), (SHA256, [0xFF; 3]), (SHA384, [0xFF; 3])]);
    // tpm2_pcrallocate sha1:7,8,9,10,16,17,18,19+sha256:all (SHA-384 not named: it keeps its PCRs).
    let sha1_pcrs = [0x80, 0x07, 0x0F];
    let r = allocate(&mut t, &[(SHA1, sha1_pcrs), (SHA256, [0xFF; 3])]);
    let p = crate::common::params_of(r.ok(), false);
    let mut rd = crate::common::R(&p);
    assert_eq!(rd.u8(), 1, "allocationSuccess");
    assert_eq!(rd.u32(), 24, "maxPCR");
    assert_eq!(rd.u32(), 8 * 20 + 24 * 32 + 24 * 48, "sizeNeeded");
    assert_eq!(rd.u32(), 24 * (20 + 32 + 48), "sizeAvailable");
    rd.done();
    // Nothing changes before Startup, and Shutdown(STATE) cannot save PCRs of the old layout.
    assert_eq!(allocation(&mut t)[0], (SHA1, [0xFF; 3]));
    assert_eq!(read(&mut t, &[(SHA1, [1, 0, 0])]).1.len(), 1);
    assert_eq!(run(&mut t, CommandCode::SHUTDOWN, &[], None, &[0, 1]).rc, rc_p(ResponseCode::TYPE, 1));
    run(&mut t, CommandCode::SHUTDOWN, &[], None, &[0, 0]).ok();
    restart(&mut t);
    assert_eq!(allocation(&mut t), [(SHA1, sha1_pcrs), (SHA256, [0xFF; 3]), (SHA384, [0xFF; 3])]);
    // PCR 0 is no longer in the SHA-1 bank: PCR_Read clears it, an extend of it is ignored there.
    let (banks, values) = read(&mut t, &[(SHA1, [0x81, 0, 0])]);
    assert_eq!((banks, values.len()), (vec![(SHA1, [0x80, 0, 0])], 1));
    let p = B::new().u32(1).u16(SHA1).raw(&[1; 20]).0;
    run(&mut t, CommandCode::PCR_EXTEND, &[0], Some(&pw(b"")), &p).ok();
    assert_eq!(read(&mut t, &[(SHA1, [1, 0, 0])]).1.len(), 0);
    // Startup(STATE) is possible again once the allocation is in effect.
    run(&mut t, CommandCode::SHUTDOWN, &[], None, &[0, 1]).ok();
    // Allocating everything back, with a bank named twice (the last one counts).
    allocate(&mut t, &[(SHA1, [0; 3]), (SHA1, [0xFF; 3])]).ok();
    restart(&mut t);
    assert_eq!(allocation(&mut t)[0], (SHA1, [0xFF; 3]));
}

#[test]
fn allocation_errors() {
    let mut t = started();
    // Neither PCR 0 (H-CRTM) nor PCR 17 (DRTM) may disappear from every bank.
    let none = [(SHA1, [0; 3]), (SHA256, [0; 3]), (SHA384, [0; 3])];
    assert_eq!(allocate(&mut t, &none).rc, ResponseCode::PCR.0);
    let no_drtm = [(SHA1, [0xFF, 0xFF, 0]), (SHA256, [0xFF, 0xFF, 0]), (SHA384, [0; 3])];
    assert_eq!(allocate(&mut t, &no_drtm).rc, ResponseCode::PCR.0);
    // An unimplemented bank, a 4-byte select, more banks than implemented.
    assert_eq!(allocate(&mut t, &[(SM3_256, [0xFF; 3])]).rc, rc_p(ResponseCode::HASH, 1));
    let p = B::new().u32(1).u16(SHA1).u8(4).raw(&[0xFF; 4]).0;
    let r = run(&mut t, CommandCode::PCR_ALLOCATE, &[RH_PLATFORM], Some(&pw(b"")), &p);
    assert_eq!(r.rc, rc_p(ResponseCode::VALUE, 1));
    let p = B::new().u32(4).0;
    let r = run(&mut t, CommandCode::PCR_ALLOCATE, &[RH_PLATFORM], Some(&pw(b"")), &p);
    assert_eq!(r.rc, rc_p(ResponseCode::SIZE, 1));
    // Only the platform hierarchy may allocate.
    let p = B::new().u32(0).0;
    let r = run(&mut t, CommandCode::PCR_ALLOCATE, &[crate::common::RH_OWNER], Some(&pw(b"")), &p);
    assert_eq!(r.rc, crate::common::rc_h(ResponseCode::VALUE, 1));
    // None of these changed anything.
    restart(&mut t);
    assert_eq!(allocation(&mut t), [(SHA1, [0xFF; 3]), (SHA256, [0xFF; 3]), (SHA384, [0xFF; 3])]);
}
