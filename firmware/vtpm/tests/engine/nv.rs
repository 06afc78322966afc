//! NV commands: define/undefine rules, access control, bounds, locks, counters, bit fields, extend
//! indices, Names, dictionary-attack protection, and what Clear and Startup do to indices.

use crate::common::{B, RH_LOCKOUT, RH_OWNER, RH_PLATFORM, SHA256, pw, rc_h, rc_p, rc_s, run, started};
use sha2::{Digest, Sha256};
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;

const OWNERWRITE: u32 = 1 << 1;
const AUTHWRITE: u32 = 1 << 2;
const OWNERREAD: u32 = 1 << 17;
const AUTHREAD: u32 = 1 << 18;
const RW: u32 = OWNERWRITE | AUTHWRITE | OWNERREAD | AUTHREAD;
const NO_DA: u32 = 1 << 25;
const WRITTEN: u32 = 1 << 29;
const IDX: u32 = 0x0150_0001;

fn public(index: u32, attrs: u32, size: u16) -> Vec<u8> {
    B::new().u32(index).u16(SHA256).u32(attrs).tpm2b(b"").u16(size).0
}

fn define(t: &mut Tpm, index: u32, auth: &[u8], attrs: u32, size: u16) -> u32 {
    run(
        t,
        CommandCode::NV_DEFINE_SPACE,
        &[RH_OWNER],
        Some(&pw(b"")),
        &B::new().tpm2b(auth).tpm2b(&public(index, attrs, size)).0,
    )
    .rc
}

fn write(t: &mut Tpm, auth_handle: u32, pass: &[u8], data: &[u8], offset: u16) -> u32 {
    run(t, CommandCode::NV_WRITE, &[auth_handle, IDX], Some(&pw(pass)), &B::new().tpm2b(data).u16(offset).0)
        .rc
}

fn read(t: &mut Tpm, auth_handle: u32, pass: &[u8], size: u16, offset: u16) -> Result<Vec<u8>, u32> {
    let r =
        run(t, CommandCode::NV_READ, &[auth_handle, IDX], Some(&pw(pass)), &B::new().u16(size).u16(offset).0);
    if r.rc != 0 {
        return Err(r.rc);
    }
    Ok(crate::common::R(&crate::common::params_of(&r, false)).tpm2b().to_vec())
}

#[test]
fn write_then_read_back_with_bounds() {
    let mut t = started();
    assert_eq!(define(&mut t, IDX, b"pass", RW | NO_DA, 16), 0);
    assert_eq!(read(&mut t, IDX, b"pass", 4, 0), Err(ResponseCode::NV_UNINITIALIZED.0)); // never written
    assert_eq!(write(&mut t, IDX, b"pass", b"hello", 3), 0);
    assert_eq!(read(&mut t, RH_OWNER, b"", 5, 3).unwrap(), b"hello");
    assert_eq!(read(&mut t, IDX, b"pass", 16, 0).unwrap()[3..8], *b"hello");
    // Out of range writes and reads.
    assert_eq!(write(&mut t, IDX, b"pass", b"", 16), 0);
    assert_eq!(write(&mut t, IDX, b"pass", b"x", 16), ResponseCode::NV_RANGE.0);
    assert_eq!(write(&mut t, IDX, b"pass", b"", 17), rc_p(ResponseCode::VALUE, 2)); // offset past the end
    assert_eq!(write(&mut t, IDX, b"pass", &[0; 17], 0), ResponseCode::NV_RANGE.0);
    assert_eq!(read(&mut t, IDX, b"pass", 1, 16), Err(ResponseCode::NV_RANGE.0));
    assert_eq!(read(&mut t, IDX, b"pass", 17, 0), Err(ResponseCode::NV_RANGE.0));
    // Wrong password on a NO_DA index: BAD_AUTH, no lockout accounting.
    assert_eq!(write(&mut t, IDX, b"nope", b"x", 0), rc_s(ResponseCode::BAD_AUTH, 1));
    // Another index's handle as the authorizing entity.
    assert_eq!(define(&mut t, IDX + 1, b"", RW, 4), 0);
    let r =
        run(&mut t, CommandCode::NV_WRITE, &[IDX + 1, IDX], Some(&pw(b"")), &B::new().tpm2b(b"x").u16(0).0);
    assert_eq!(r.rc, ResponseCode::NV_AUTHORIZATION.0);
    // An undefined index: TPM_RC_HANDLE on handle 2.
    let r = run(
        &mut t,
        CommandCode::NV_WRITE,
        &[RH_OWNER, IDX + 9],
        Some(&pw(b"")),
        &B::new().tpm2b(b"x").u16(0).0,
    );
    assert_eq!(r.rc, rc_h(ResponseCode::HANDLE, 2));
}

#[test]
fn define_space_validation() {
    let mut t = started();
    let bad = |t: &mut Tpm, attrs: u32, size: u16| define(t, IDX, b"", attrs, size);
    assert_eq!(bad(&mut t, RW | WRITTEN, 8), rc_p(ResponseCode::ATTRIBUTES, 2)); // a TPM-owned state bit
    assert_eq!(bad(&mut t, OWNERWRITE | AUTHWRITE, 8), rc_p(ResponseCode::ATTRIBUTES, 2)); // no read authority
    assert_eq!(bad(&mut t, RW | 1 << 8, 8), rc_p(ResponseCode::RESERVED_BITS, 2)); // reserved bit
    assert_eq!(bad(&mut t, RW | 1 << 30, 8), rc_h(ResponseCode::ATTRIBUTES, 1)); // PLATFORMCREATE by the owner
    assert_eq!(bad(&mut t, RW | 1 << 10, 8), rc_p(ResponseCode::ATTRIBUTES, 2)); // POLICY_DELETE is the platform's
    assert_eq!(bad(&mut t, RW | 1 << 27 | 1 << 13, 8), rc_p(ResponseCode::ATTRIBUTES, 2)); // CLEAR_STCLEAR + WRITEDEFINE
    assert_eq!(bad(&mut t, RW, 2049), rc_p(ResponseCode::SIZE, 2)); // larger than NV_INDEX_MAX
    assert_eq!(bad(&mut t, RW | 1 << 4, 4), rc_p(ResponseCode::SIZE, 2)); // a counter is 8 bytes
    assert_eq!(bad(&mut t, RW | 4 << 4, 8), rc_p(ResponseCode::SIZE, 2)); // an extend index is a digest
    assert_eq!(bad(&mut t, RW | 1 << 12, 1025), rc_p(ResponseCode::SIZE, 2)); // WRITEALL beyond one NV buffer
    assert_eq!(bad(&mut t, RW | 1 << 4 | 1 << 27, 8), rc_p(ResponseCode::ATTRIBUTES, 2)); // a counter that clears
    assert_eq!(define(&mut t, IDX, &[1; 33], RW, 8), rc_p(ResponseCode::SIZE, 1)); // auth longer than nameAlg
    // Trailing zeros do not count towards that length, nor towards the password.
    let mut long = vec![7u8; 32];
    long.extend_from_slice(&[0; 16]);
    assert_eq!(define(&mut t, IDX + 3, &long, RW | NO_DA, 8), 0);
    assert_eq!(
        run(
            &mut t,
            CommandCode::NV_WRITE,
            &[IDX + 3, IDX + 3],
            Some(&pw(&[7; 32])),
            &B::new().tpm2b(b"x").u16(0).0
        )
        .rc,
        0
    );
    let p = B::new().u32(0x8100_0000).u16(SHA256).u32(RW).tpm2b(b"").u16(8).0;
    let r = run(
        &mut t,
        CommandCode::NV_DEFINE_SPACE,
        &[RH_OWNER],
        Some(&pw(b"")),
        &B::new().tpm2b(b"").tpm2b(&p).0,
    );
    assert_eq!(r.rc, rc_p(ResponseCode::HANDLE, 2)); // not an NV handle
    let r =
        run(&mut t, CommandCode::NV_DEFINE_SPACE, &[RH_OWNER], Some(&pw(b"")), &B::new().tpm2b(b"").u16(0).0);
    assert_eq!(r.rc, rc_p(ResponseCode::SIZE, 2)); // empty publicInfo
    let r = run(
        &mut t,
        CommandCode::NV_DEFINE_SPACE,
        &[RH_LOCKOUT],
        Some(&pw(b"")),
        &B::new().tpm2b(b"").tpm2b(&public(IDX, RW, 8)).0,
    );
    assert_eq!(r.rc, rc_h(ResponseCode::VALUE, 1)); // lockout cannot provision
    // Nothing got defined; now a good one, twice.
    assert_eq!(run(&mut t, CommandCode::NV_READ_PUBLIC, &[IDX], None, &[]).rc, rc_h(ResponseCode::HANDLE, 1));
    assert_eq!(define(&mut t, IDX, b"", RW, 8), 0);
    assert_eq!(define(&mut t, IDX, b"", RW, 8), ResponseCode::NV_DEFINED.0);
    // Platform-created indices need PLATFORMCREATE and cannot be undefined by the owner.
    let p = public(IDX + 1, RW | 1 << 30, 8);
    run(
        &mut t,
        CommandCode::NV_DEFINE_SPACE,
        &[RH_PLATFORM],
        Some(&pw(b"")),
        &B::new().tpm2b(b"").tpm2b(&p).0,
    )
    .ok();
    assert_eq!(
        run(&mut t, CommandCode::NV_UNDEFINE_SPACE, &[RH_OWNER, IDX + 1], Some(&pw(b"")), &[]).rc,
        ResponseCode::NV_AUTHORIZATION.0
    );
    run(&mut t, CommandCode::NV_UNDEFINE_SPACE, &[RH_PLATFORM, IDX + 1], Some(&pw(b"")), &[]).ok();
    run(&mut t, CommandCode::NV_UNDEFINE_SPACE, &[RH_OWNER, IDX], Some(&pw(b"")), &[]).ok();
    assert_eq!(
        run(&mut t, CommandCode::NV_UNDEFINE_SPACE, &[RH_OWNER, IDX], Some(&pw(b"")), &[]).rc,
        rc_h(ResponseCode::HANDLE, 2)
    );
}

#[test]
fn read_public_and_name() {
    let mut t = started();
    assert_eq!(define(&mut t, IDX, b"", RW, 10), 0);
    let r = run(&mut t, CommandCode::NV_READ_PUBLIC, &[IDX], None, &[]).ok().clone();
    let mut rd = r.reader();
    let pubarea = rd.tpm2b().to_vec();
    let name = rd.tpm2b().to_vec();
    rd.done();
    assert_eq!(pubarea, public(IDX, RW, 10));
    let mut expect = SHA256.to_be_bytes().to_vec();
    expect.extend_from_slice(&Sha256::digest(&pubarea));
    assert_eq!(name, expect);
    // Writing sets TPMA_NV_WRITTEN, which changes the public area and so the Name.
    assert_eq!(write(&mut t, RH_OWNER, b"", b"x", 0), 0);
    let r = run(&mut t, CommandCode::NV_READ_PUBLIC, &[IDX], None, &[]).ok().clone();
    assert_eq!(r.reader().tpm2b(), public(IDX, RW | WRITTEN, 10));
}

#[test]
fn counters_bits_and_extend_indices() {
    let mut t = started();
    assert_eq!(define(&mut t, IDX, b"", RW | 1 << 4, 8), 0);
    for expect in 1..=3u64 {
        run(&mut t, CommandCode::NV_INCREMENT, &[RH_OWNER, IDX], Some(&pw(b"")), &[]).ok();
        assert_eq!(read(&mut t, RH_OWNER, b"", 8, 0).unwrap(), expect.to_be_bytes());
    }
    assert_eq!(write(&mut t, RH_OWNER, b"", b"x", 0), ResponseCode::ATTRIBUTES.0); // not an ordinary index
    // A counter defined after this one is deleted starts above its last value.
    run(&mut t, CommandCode::NV_UNDEFINE_SPACE, &[RH_OWNER, IDX], Some(&pw(b"")), &[]).ok();
    assert_eq!(define(&mut t, IDX, b"", RW | 1 << 4, 8), 0);
    run(&mut t, CommandCode::NV_INCREMENT, &[RH_OWNER, IDX], Some(&pw(b"")), &[]).ok();
    assert_eq!(read(&mut t, RH_OWNER, b"", 8, 0).unwrap(), 4u64.to_be_bytes());
    run(&mut t, CommandCode::NV_UNDEFINE_SPACE, &[RH_OWNER, IDX], Some(&pw(b"")), &[]).ok();

    assert_eq!(define(&mut t, IDX, b"", RW | 2 << 4, 8), 0);
    run(&mut t, CommandCode::NV_SET_BITS, &[RH_OWNER, IDX], Some(&pw(b"")), &5u64.to_be_bytes()).ok();
    run(&mut t, CommandCode::NV_SET_BITS, &[RH_OWNER, IDX], Some(&pw(b"")), &0x100u64.to_be_bytes()).ok();
    assert_eq!(read(&mut t, RH_OWNER, b"", 8, 0).unwrap(), 0x105u64.to_be_bytes());
    assert_eq!(
        run(&mut t, CommandCode::NV_INCREMENT, &[RH_OWNER, IDX], Some(&pw(b"")), &[]).rc,
        rc_h(ResponseCode::ATTRIBUTES, 2)
    );
    run(&mut t, CommandCode::NV_UNDEFINE_SPACE, &[RH_OWNER, IDX], Some(&pw(b"")), &[]).ok();

    assert_eq!(define(&mut t, IDX, b"", RW | 4 << 4, 32), 0);
    run(&mut t, CommandCode::NV_EXTEND, &[RH_OWNER, IDX], Some(&pw(b"")), &B::new().tpm2b(b"m1").0).ok();
    run(&mut t, CommandCode::NV_EXTEND, &[RH_OWNER, IDX], Some(&pw(b"")), &B::new().tpm2b(b"m2").0).ok();
    let v1 = Sha256::new().chain_update([0u8; 32]).chain_update(b"m1").finalize();
    let v2 = Sha256::new().chain_update(v1).chain_update(b"m2").finalize();
    assert_eq!(read(&mut t, RH_OWNER, b"", 32, 0).unwrap(), v2.to_vec());
}

#[test]
fn write_and_read_locks() {
    let mut t = started();
    const WRITEDEFINE: u32 = 1 << 13;
    const WRITE_STCLEAR: u32 = 1 << 14;
    const READ_STCLEAR: u32 = 1 << 31;
    assert_eq!(define(&mut t, IDX, b"", RW | WRITE_STCLEAR | READ_STCLEAR, 4), 0);
    assert_eq!(write(&mut t, RH_OWNER, b"", b"abcd", 0), 0);
    run(&mut t, CommandCode::NV_WRITE_LOCK, &[RH_OWNER, IDX], Some(&pw(b"")), &[]).ok();
    run(&mut t, CommandCode::NV_WRITE_LOCK, &[RH_OWNER, IDX], Some(&pw(b"")), &[]).ok(); // locking twice is fine
    assert_eq!(write(&mut t, RH_OWNER, b"", b"x", 0), ResponseCode::NV_LOCKED.0);
    run(&mut t, CommandCode::NV_READ_LOCK, &[RH_OWNER, IDX], Some(&pw(b"")), &[]).ok();
    assert_eq!(read(&mut t, RH_OWNER, b"", 4, 0), Err(ResponseCode::NV_LOCKED.0));
    // Startup(CLEAR) releases _STCLEAR locks.
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    assert_eq!(read(&mut t, RH_OWNER, b"", 4, 0).unwrap(), b"abcd");
    assert_eq!(write(&mut t, RH_OWNER, b"", b"x", 0), 0);

    // WRITEDEFINE locks for good after the first write; no lock attribute: WriteLock is refused.
    assert_eq!(define(&mut t, IDX + 1, b"", RW | WRITEDEFINE, 4), 0);
    let r = run(
        &mut t,
        CommandCode::NV_WRITE,
        &[RH_OWNER, IDX + 1],
        Some(&pw(b"")),
        &B::new().tpm2b(b"once").u16(0).0,
    );
    assert_eq!(r.rc, 0);
    let r = run(
        &mut t,
        CommandCode::NV_WRITE,
        &[RH_OWNER, IDX + 1],
        Some(&pw(b"")),
        &B::new().tpm2b(b"twice").u16(0).0,
    );
    assert_eq!(r.rc, ResponseCode::NV_LOCKED.0);
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    let r = run(
        &mut t,
        CommandCode::NV_WRITE,
        &[RH_OWNER, IDX + 1],
        Some(&pw(b"")),
        &B::new().tpm2b(b"x").u16(0).0,
    );
    assert_eq!(r.rc, ResponseCode::NV_LOCKED.0);
    assert_eq!(define(&mut t, IDX + 2, b"", RW, 4), 0);
    assert_eq!(
        run(&mut t, CommandCode::NV_WRITE_LOCK, &[RH_OWNER, IDX + 2], Some(&pw(b"")), &[]).rc,
        rc_h(ResponseCode::ATTRIBUTES, 2)
    );
    assert_eq!(
        run(&mut t, CommandCode::NV_READ_LOCK, &[RH_OWNER, IDX + 2], Some(&pw(b"")), &[]).rc,
        rc_h(ResponseCode::ATTRIBUTES, 2)
    );
}

#[test]
fn attributes_gate_who_may_write_and_read() {
    let mut t = started();
    // Only the index's own auth may write; only the owner may read.
    assert_eq!(define(&mut t, IDX, b"pw", AUTHWRITE | OWNERREAD, 4), 0);
    assert_eq!(write(&mut t, RH_OWNER, b"", b"abcd", 0), ResponseCode::NV_AUTHORIZATION.0);
    assert_eq!(write(&mut t, IDX, b"pw", b"abcd", 0), 0);
    // The index's own authValue is not offered for reading (no AUTHREAD): TPM_RC_AUTH_UNAVAILABLE.
    assert_eq!(read(&mut t, IDX, b"pw", 4, 0), Err(ResponseCode::AUTH_UNAVAILABLE.0));
    assert_eq!(read(&mut t, RH_OWNER, b"", 4, 0).unwrap(), b"abcd");
    // WRITEALL needs the whole index in one write.
    assert_eq!(define(&mut t, IDX + 1, b"", RW | 1 << 12, 4), 0);
    let r = run(
        &mut t,
        CommandCode::NV_WRITE,
        &[RH_OWNER, IDX + 1],
        Some(&pw(b"")),
        &B::new().tpm2b(b"ab").u16(0).0,
    );
    assert_eq!(r.rc, ResponseCode::NV_RANGE.0);
}

/// Threat model T5.
#[test]
fn wrong_passwords_on_da_protected_index_lock_the_tpm_out() {
    let mut t = started();
    assert_eq!(define(&mut t, IDX, b"secret", RW, 4), 0); // no NO_DA: protected
    // Default maxTries is 3: three AUTH_FAILs, then LOCKOUT even with the right password.
    for _ in 0..3 {
        assert_eq!(write(&mut t, IDX, b"guess", b"x", 0), rc_s(ResponseCode::AUTH_FAIL, 1));
    }
    assert_eq!(write(&mut t, IDX, b"secret", b"x", 0), ResponseCode::LOCKOUT.0);
    // Owner authorization is not DA-protected and still works.
    assert_eq!(write(&mut t, RH_OWNER, b"", b"x", 0), 0);
    // DictionaryAttackLockReset (lockout auth) ends the lockout.
    run(&mut t, CommandCode::DA_LOCK_RESET, &[RH_LOCKOUT], Some(&pw(b"")), &[]).ok();
    assert_eq!(write(&mut t, IDX, b"secret", b"x", 0), 0);
}

#[test]
fn clear_deletes_owner_indices_but_not_platform_ones() {
    let mut t = started();
    assert_eq!(define(&mut t, IDX, b"", RW, 4), 0);
    let p = public(IDX + 1, RW | 1 << 30, 4);
    run(
        &mut t,
        CommandCode::NV_DEFINE_SPACE,
        &[RH_PLATFORM],
        Some(&pw(b"")),
        &B::new().tpm2b(b"").tpm2b(&p).0,
    )
    .ok();
    run(&mut t, CommandCode::CLEAR, &[RH_LOCKOUT], Some(&pw(b"")), &[]).ok();
    assert_eq!(run(&mut t, CommandCode::NV_READ_PUBLIC, &[IDX], None, &[]).rc, rc_h(ResponseCode::HANDLE, 1));
    run(&mut t, CommandCode::NV_READ_PUBLIC, &[IDX + 1], None, &[]).ok();
}
