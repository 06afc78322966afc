//! Guest-driven allocation cannot exhaust the firmware heap (threat model T7). Its own test binary: a
//! counting global allocator measures the engine's live and peak heap while a guest fills every table
//! the engine keeps to its limit with the largest entries it can create.

#[path = "common/mod.rs"]
mod common;
#[path = "key_helpers/mod.rs"]
mod key_helpers;

use warden_sim::heap_meter::HeapMeter;

use common::{B, RH_OWNER, pw, run};
use key_helpers::{RSASSA, create, ecc_storage, load, primary, rsa_signer};
use warden_vtpm::insecure_test_entropy::InsecureTestEntropy;
use warden_vtpm::{CommandCode, ResponseCode, Tpm};

#[global_allocator]
static ALLOCATOR: HeapMeter = HeapMeter;

/// The vTPM's share of the firmware heap: a sixteenth of `HEAP_SIZE` (512 KiB of 8 MiB). The rest of
/// the firmware allocates little from it (the SVSM vCPU table, at most two VMSA records per vCPU; the
/// 4 KiB vTPM copy buffer; the dispatcher), so this leaves it ample room. Measured: about 115 KiB.
const BUDGET: isize = (warden_defs::layout::HEAP_SIZE / 16) as isize;

/// Starts `n` sequences with 32-byte authValues, each fed 1024 bytes; the last answer.
fn start_sequence(t: &mut Tpm) -> Result<u32, u32> {
    let r = run(t, CommandCode::HASH_SEQUENCE_START, &[], None, &B::new().tpm2b(&[7; 32]).u16(0x000C).0);
    if r.rc != 0 {
        return Err(r.rc);
    }
    let h = r.reader().u32();
    run(t, CommandCode::SEQUENCE_UPDATE, &[h], Some(&pw(&[7; 32])), &B::new().tpm2b(&[1; 1024]).0).ok();
    Ok(h)
}

fn start_session(t: &mut Tpm) -> Result<u32, u32> {
    let p = B::new().tpm2b(&[9; 48]).tpm2b(b"").u8(1).u16(0x0006).u16(256).u16(0x0043).u16(0x000C).0;
    let r = run(t, CommandCode::START_AUTH_SESSION, &[common::RH_NULL, common::RH_NULL], None, &p);
    if r.rc != 0 { Err(r.rc) } else { Ok(r.reader().u32()) }
}

fn define(t: &mut Tpm, index: u32, size: u16) -> u32 {
    let public = B::new().u32(index).u16(0x000C).u32(1 << 2 | 1 << 18).tpm2b(&[0xAA; 48]).u16(size).0;
    let p = B::new().tpm2b(&[5; 48]).tpm2b(&public).0;
    run(t, CommandCode::NV_DEFINE_SPACE, &[RH_OWNER], Some(&pw(b"")), &p).rc
}

/// Threat model T7: a guest fills every table to its limit with the largest entries it can create —
/// 8 persistent RSA-2048 keys, 8 loaded key objects (RSA-2048 where it can), the primary cache with
/// RSA-2048 primaries, 8 hash sequences with 32-byte authValues and buffered data, 64 sessions (8
/// loaded, the rest saved), NV indices up to the NV budget — and each table refuses one more with the
/// TPM_RC the specification names. The engine's peak heap over the whole run stays within `BUDGET`.
#[test]
fn full_tables_fit_the_heap_budget() {
    HeapMeter::start();
    let mut t = Tpm::new(Box::new(InsecureTestEntropy::new(3)));
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();

    let (parent, _, _) = primary(&mut t, RH_OWNER, &ecc_storage()).unwrap();
    let (private, public) = create(&mut t, parent, &[6; 32], b"", &rsa_signer(RSASSA, 2048));
    // The primary cache: RSA-2048 primaries with distinct unique fields (each flushed after).
    for i in 0..5u8 {
        let mut template = rsa_signer(RSASSA, 2048);
        template.truncate(template.len() - 2);
        template.extend_from_slice(&B::new().tpm2b(&[i; 16]).0);
        let (h, _, _) = primary(&mut t, RH_OWNER, &template).unwrap();
        run(&mut t, CommandCode::FLUSH_CONTEXT, &[], None, &h.to_be_bytes()).ok();
    }
    // Persistent objects: RSA-2048 keys until NV_SPACE.
    let mut persistent = 0;
    for i in 0..=8u32 {
        let h = load(&mut t, parent, &private, &public).unwrap();
        let p = (0x8100_0100 + i).to_be_bytes();
        let rc = run(&mut t, CommandCode::EVICT_CONTROL, &[RH_OWNER, h], Some(&pw(b"")), &p).rc;
        run(&mut t, CommandCode::FLUSH_CONTEXT, &[], None, &h.to_be_bytes()).ok();
        if rc != 0 {
            assert_eq!(rc, ResponseCode::NV_SPACE.0, "persistent objects end with TPM_RC_NV_SPACE");
            break;
        }
        persistent += 1;
    }
    // Loaded key objects: RSA-2048 copies until OBJECT_MEMORY.
    let mut keys = 1;
    let last = loop {
        match load(&mut t, parent, &private, &public) {
            Ok(_) => keys += 1,
            Err(rc) => break rc,
        }
    };
    assert_eq!(last, ResponseCode::OBJECT_MEMORY.0, "key objects end with TPM_RC_OBJECT_MEMORY");
    // Sequences with buffered data until OBJECT_MEMORY.
    let mut sequences = 0;
    let last = loop {
        match start_sequence(&mut t) {
            Ok(_) => sequences += 1,
            Err(rc) => break rc,
        }
    };
    assert_eq!(last, ResponseCode::OBJECT_MEMORY.0, "sequences end with TPM_RC_OBJECT_MEMORY");
    // Sessions: saved until no handle is left, then loaded back until no loaded slot is left.
    let mut blobs = Vec::new();
    let last = loop {
        match start_session(&mut t) {
            Ok(s) => blobs.push(run(&mut t, CommandCode::CONTEXT_SAVE, &[s], None, &[]).ok().body.clone()),
            Err(rc) => break rc,
        }
    };
    assert_eq!(last, ResponseCode::SESSION_HANDLES.0, "sessions end with TPM_RC_SESSION_HANDLES");
    let sessions = blobs.len();
    let loaded =
        blobs.iter().take_while(|b| run(&mut t, CommandCode::CONTEXT_LOAD, &[], None, b).rc == 0).count();
    // NV: the largest indices (authValue and policy of 48 bytes) until NV_SPACE.
    let mut indices = 0;
    let last = loop {
        let size = if indices < 15 { 2048 } else { 1 };
        match define(&mut t, 0x0150_1000 + indices, size) {
            0 => indices += 1,
            rc => break rc,
        }
    };
    assert_eq!(last, ResponseCode::NV_SPACE.0, "NV ends with TPM_RC_NV_SPACE");
    // A large NV write and read, while everything is full.
    let idx = 0x0150_1000;
    let write = B::new().tpm2b(&[4; 1024]).u16(0).0;
    run(&mut t, CommandCode::NV_WRITE, &[idx, idx], Some(&pw(&[5; 48])), &write).ok();
    let r = run(
        &mut t,
        CommandCode::NV_READ,
        &[0x0150_1000, 0x0150_1000],
        Some(&pw(&[5; 48])),
        &B::new().u16(1024).u16(0).0,
    );
    assert_eq!(r.rc, 0);

    let (live, peak) = HeapMeter::live_and_peak();
    drop(t);
    HeapMeter::stop();
    eprintln!(
        "persistent {persistent}, keys {keys}, sequences {sequences}, sessions {sessions} ({loaded} loaded), \
         NV indices {indices}: live {live} bytes, peak {peak} bytes, budget {BUDGET}"
    );
    assert!(
        persistent >= 8 && keys >= 8 && sequences >= 8 && sessions >= 64 && loaded >= 8,
        "tables were filled"
    );
    assert!(peak < BUDGET, "peak heap {peak} bytes exceeds the vTPM's budget of {BUDGET}");
}
