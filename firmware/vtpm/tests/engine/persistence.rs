//! State that survives a reboot (`warden_vtpm::persistence`): the NV-resident state round-trips into
//! another TPM, the keeper saves only on change, and refuses a changed blob, another image's blob and
//! an older blob within one boot, starting fresh each time; the parser survives every cut and flip.

use warden_vtpm::CommandCode;
use warden_vtpm::Tpm;
use warden_vtpm::insecure_test_entropy::InsecureTestEntropy;
use warden_vtpm::persistence::keeper::{
    LoadOutcome, Refusal, SaveOutcome, StateKeeper, StateStorage, StorageError,
};
use warden_vtpm::persistence::seal::{self, ImageId, SealError, SealingKey};

use crate::common::{B, RH_OWNER, pw, run};
use crate::key_helpers::{ecc_signer, primary};

const INDEX: u32 = 0x0150_0020;
const PERSISTENT: u32 = 0x8100_0042;

/// A host's storage in memory; `writes` counts the saves.
#[derive(Default)]
pub(crate) struct Memory {
    pub(crate) bytes: Vec<u8>,
    writes: usize,
}

impl StateStorage for &mut Memory {
    fn capacity(&self) -> usize {
        256 * 1024
    }
    fn read_at(&mut self, offset: usize, out: &mut [u8]) -> Result<(), StorageError> {
        out.fill(0);
        let have = self.bytes.get(offset..).unwrap_or(&[]);
        let n = have.len().min(out.len());
        out[..n].copy_from_slice(&have[..n]);
        Ok(())
    }
    fn write(&mut self, data: &[u8]) -> Result<(), StorageError> {
        self.bytes = data.to_vec();
        self.writes += 1;
        Ok(())
    }
}

/// A started TPM manufactured from `seed` (a different seed is a different TPM).
fn booted(seed: u64) -> Tpm {
    let mut t = Tpm::new(Box::new(InsecureTestEntropy::new(seed)));
    t.power_on();
    t
}

pub(crate) fn startup(t: &mut Tpm) {
    run(t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
}

/// Defines an 8-byte owner-authorized index and writes `data` into it, makes an ECC primary
/// persistent, and sets ownerAuth to `owner`. Returns the primary's public area.
pub(crate) fn populate(t: &mut Tpm, data: &[u8; 8], owner: &[u8]) -> Vec<u8> {
    let attrs = 1 << 1 | 1 << 17; // OWNERWRITE | OWNERREAD
    let public = B::new().u32(INDEX).u16(0x0B).u32(attrs).tpm2b(b"").u16(8).0;
    run(t, CommandCode::NV_DEFINE_SPACE, &[RH_OWNER], Some(&pw(b"")), &B::new().tpm2b(b"").tpm2b(&public).0)
        .ok();
    let write = B::new().tpm2b(data).u16(0).0;
    run(t, CommandCode::NV_WRITE, &[RH_OWNER, INDEX], Some(&pw(b"")), &write).ok();
    let (handle, key, _) = primary(t, RH_OWNER, &ecc_signer(0x0003)).expect("primary");
    run(t, CommandCode::EVICT_CONTROL, &[RH_OWNER, handle], Some(&pw(b"")), &B::new().u32(PERSISTENT).0).ok();
    run(t, CommandCode::HIERARCHY_CHANGE_AUTH, &[RH_OWNER], Some(&pw(b"")), &B::new().tpm2b(owner).0).ok();
    key
}

/// Reads the index with ownerAuth `owner`: the response code and the data (after parameterSize and
/// the TPM2B size).
pub(crate) fn read_index(t: &mut Tpm, owner: &[u8]) -> (u32, Vec<u8>) {
    let r = run(t, CommandCode::NV_READ, &[RH_OWNER, INDEX], Some(&pw(owner)), &B::new().u16(8).u16(0).0);
    let data = if r.rc == 0 { r.body[6..14].to_vec() } else { Vec::new() };
    (r.rc, data)
}

/// The public area of the persistent key, or the response code.
fn persistent_public(t: &mut Tpm) -> Result<Vec<u8>, u32> {
    let r = run(t, CommandCode::READ_PUBLIC, &[PERSISTENT], None, &[]);
    if r.rc != 0 {
        return Err(r.rc);
    }
    Ok(r.reader().tpm2b().to_vec())
}

pub(crate) fn image(tag: u8) -> ImageId {
    ImageId([tag; 48])
}

pub(crate) fn key() -> SealingKey {
    SealingKey::new([7; 32])
}

#[test]
fn the_nv_resident_state_restores_into_another_tpm() {
    let mut first = booted(1);
    startup(&mut first);
    let key_public = populate(&mut first, b"survives", b"owner-pw");
    let state = first.nv_state();

    let mut second = booted(2);
    second.restore_nv_state(&state).expect("the state parses");
    assert_eq!(second.nv_state_digest(), first.nv_state_digest());
    startup(&mut second);
    assert_eq!(read_index(&mut second, b"owner-pw"), (0, b"survives".to_vec()));
    assert_ne!(read_index(&mut second, b"").0, 0, "the old (empty) ownerAuth no longer works");
    assert_eq!(persistent_public(&mut second), Ok(key_public));
}

#[test]
fn the_keeper_saves_on_change_and_restores_after_a_reboot() {
    let mut disk = Memory::default();
    let mut t = booted(1);
    let mut keeper = StateKeeper::new(&mut disk, key(), image(1));
    assert_eq!(keeper.load(&mut t), LoadOutcome::Empty);
    startup(&mut t);
    assert_eq!(
        keeper.save_if_changed(&mut t),
        Ok(SaveOutcome::Saved { generation: 1 }),
        "Startup: a TPM Reset"
    );
    assert_eq!(keeper.save_if_changed(&mut t), Ok(SaveOutcome::Unchanged), "nothing changed since");
    run(&mut t, CommandCode::GET_RANDOM, &[], None, &B::new().u16(8).0).ok();
    assert_eq!(
        keeper.save_if_changed(&mut t),
        Ok(SaveOutcome::Unchanged),
        "GetRandom changes nothing durable"
    );
    let key_public = populate(&mut t, b"rebooted", b"owner-pw");
    let Ok(SaveOutcome::Saved { generation }) = keeper.save_if_changed(&mut t) else {
        panic!("NV, EvictControl and the owner auth changed: a save");
    };
    drop(keeper);

    let mut rebooted = booted(3);
    let mut keeper = StateKeeper::new(&mut disk, key(), image(1));
    assert_eq!(keeper.load(&mut rebooted), LoadOutcome::Restored { generation });
    startup(&mut rebooted);
    assert_eq!(read_index(&mut rebooted, b"owner-pw"), (0, b"rebooted".to_vec()));
    assert_eq!(persistent_public(&mut rebooted), Ok(key_public));
}

/// A TPM whose stored state is `populate`d, and the disk holding it.
fn stored_disk() -> Memory {
    let mut disk = Memory::default();
    let mut t = booted(1);
    let mut keeper = StateKeeper::new(&mut disk, key(), image(1));
    keeper.load(&mut t);
    startup(&mut t);
    populate(&mut t, b"original", b"owner-pw");
    keeper.save_if_changed(&mut t).unwrap();
    disk
}

/// Loads `disk` into a TPM holding state of its own; asserts the refusal and the fresh start.
fn assert_refused_fresh(disk: &mut Memory, image_id: ImageId, expected: Refusal) {
    let mut t = booted(5);
    startup(&mut t);
    populate(&mut t, b"inmemory", b"other");
    let mut keeper = StateKeeper::new(disk, key(), image_id);
    assert_eq!(keeper.load(&mut t), LoadOutcome::Refused(expected));
    startup(&mut t);
    assert_ne!(read_index(&mut t, b"").0, 0, "no index survives a refusal");
    assert!(persistent_public(&mut t).is_err(), "no persistent key survives a refusal");
    assert_eq!(
        run(&mut t, CommandCode::HIERARCHY_CHANGE_AUTH, &[RH_OWNER], Some(&pw(b"")), &B::new().tpm2b(b"x").0)
            .rc,
        0
    );
}

/// Threat model T10.
#[test]
fn a_flipped_byte_is_refused_and_the_tpm_starts_fresh() {
    let mut disk = stored_disk();
    let last = disk.bytes.len() - 20;
    disk.bytes[last] ^= 0x01;
    assert_refused_fresh(&mut disk, image(1), Refusal::Seal(SealError::Tag));
    // The header is authenticated too: a changed generation fails the tag.
    let mut disk = stored_disk();
    disk.bytes[16] ^= 0x80;
    assert_refused_fresh(&mut disk, image(1), Refusal::Seal(SealError::Tag));
}

/// Threat model T10.
#[test]
fn another_images_state_is_refused() {
    let mut disk = stored_disk();
    assert_refused_fresh(&mut disk, image(2), Refusal::Seal(SealError::OtherImage));
    // Relabelled as this image, it fails the tag: the image is in the additional data.
    let mut disk = stored_disk();
    disk.bytes[24..72].copy_from_slice(&[2; 48]);
    assert_refused_fresh(&mut disk, image(2), Refusal::Seal(SealError::Tag));
}

/// Writes `data` into the index with ownerAuth `owner`.
fn write_index(t: &mut Tpm, owner: &[u8], data: &[u8; 8]) {
    let write = B::new().tpm2b(data).u16(0).0;
    run(t, CommandCode::NV_WRITE, &[RH_OWNER, INDEX], Some(&pw(owner)), &write).ok();
}

/// Threat model T10.
#[test]
fn an_older_state_within_one_boot_is_refused() {
    let mut disk = Memory::default();
    let mut t = booted(1);
    {
        let mut keeper = StateKeeper::new(&mut disk, key(), image(1));
        keeper.load(&mut t);
        startup(&mut t);
        populate(&mut t, b"version1", b"owner-pw");
        keeper.save_if_changed(&mut t).unwrap();
        let old = keeper.storage_mut().bytes.clone();
        write_index(&mut t, b"owner-pw", b"version2");
        let Ok(SaveOutcome::Saved { generation: newer }) = keeper.save_if_changed(&mut t) else { panic!() };
        // The host puts the older blob back; the next save finds it and refuses it.
        keeper.storage_mut().bytes = old.clone();
        write_index(&mut t, b"owner-pw", b"version3");
        let refused = Refusal::Older { stored: newer - 1, seen: newer };
        assert_eq!(keeper.save_if_changed(&mut t), Ok(SaveOutcome::Refused(refused)));
        assert_ne!(read_index(&mut t, b"owner-pw").0, 0, "the TPM started fresh");
        // The host hands it back again at the next _TPM_Init of this boot: refused there too.
        keeper.storage_mut().bytes = old.clone();
        t.power_on();
        let refused = Refusal::Older { stored: newer - 1, seen: newer + 1 };
        assert_eq!(keeper.load(&mut t), LoadOutcome::Refused(refused));
    }
    // A new boot cannot tell (no trusted counter survives it): the older state is accepted.
    let mut rebooted = booted(4);
    let mut keeper = StateKeeper::new(&mut disk, key(), image(1));
    assert!(matches!(keeper.load(&mut rebooted), LoadOutcome::Restored { .. }));
}

#[test]
fn dictionary_attack_failures_survive_a_reboot() {
    let mut t = booted(1);
    startup(&mut t);
    // A DA-protected index (no NO_DA), read and written with its own authValue.
    let public = B::new().u32(INDEX).u16(0x0B).u32(1 << 2 | 1 << 18).tpm2b(b"").u16(8).0;
    run(
        &mut t,
        CommandCode::NV_DEFINE_SPACE,
        &[RH_OWNER],
        Some(&pw(b"")),
        &B::new().tpm2b(b"right").tpm2b(&public).0,
    )
    .ok();
    let write = B::new().tpm2b(b"xxxxxxxx").u16(0).0;
    for _ in 0..2 {
        assert_ne!(run(&mut t, CommandCode::NV_WRITE, &[INDEX, INDEX], Some(&pw(b"wrong")), &write).rc, 0);
    }
    let lockout_counter = |t: &mut Tpm| {
        let r =
            run(t, CommandCode::GET_CAPABILITY, &[], None, &B::new().u32(6).u32(0x20E).u32(1).0).ok().clone();
        u32::from_be_bytes(r.body[13..17].try_into().unwrap())
    };
    assert_eq!(lockout_counter(&mut t), 2);
    let state = t.nv_state();
    let mut rebooted = booted(2);
    rebooted.restore_nv_state(&state).unwrap();
    startup(&mut rebooted);
    assert_eq!(lockout_counter(&mut rebooted), 2, "TPM_PT_LOCKOUT_COUNTER survives");
}

/// Threat model T10.
#[test]
fn every_cut_and_flip_of_a_state_is_refused_without_panic() {
    let mut t = booted(1);
    startup(&mut t);
    populate(&mut t, b"fuzzfuzz", b"owner-pw");
    let state = t.nv_state().to_vec();
    for cut in 0..state.len() {
        assert!(booted(2).restore_nv_state(&state[..cut]).is_err(), "a state cut at {cut} was accepted");
    }
    for at in (0..state.len()).step_by(7) {
        let mut flipped = state.clone();
        flipped[at] ^= 0xA5;
        let _ = booted(2).restore_nv_state(&flipped);
    }
    let blob = seal::seal(&key(), &image(1), 1, [3; 12], &state);
    for cut in 0..blob.len() {
        assert!(seal::open(&key(), &image(1), &blob[..cut]).is_err());
    }
}
