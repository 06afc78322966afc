//! The platform's endorsement primary seed wins over a stored state (TPM 2.0 Library Part 1 §14.3.2:
//! only TPM2_ChangeEPS changes an EPS). A TPM given the platform's EPS does not offer ChangeEPS nor
//! report tpmGeneratedEPS, restores a state only if it carries that EPS, and keeps it when a refused
//! state makes it start fresh: its EK stays the one the platform attests.

use warden_vtpm::insecure_test_entropy::InsecureTestEntropy;
use warden_vtpm::persistence::format::FormatError;
use warden_vtpm::persistence::keeper::{LoadOutcome, Refusal, SaveOutcome, StateKeeper};
use warden_vtpm::{CommandCode, EndorsementSeed, Tpm};

use crate::common::{B, RH_ENDORSEMENT, RH_PLATFORM, pw, run};
use crate::key_helpers::{ecc_signer, primary};
use crate::persistence::{Memory, image, key, populate, read_index, startup};

/// A powered-on TPM manufactured from `seed`, given the platform EPS derived from `platform_key`.
fn platform_tpm(seed: u64, platform_key: u8) -> Tpm {
    let mut t = Tpm::new(Box::new(InsecureTestEntropy::new(seed)));
    t.set_endorsement_seed(&EndorsementSeed::from_platform_key(&[platform_key; 32], b"test platform"));
    t.power_on();
    t
}

/// The public area of the ECC P-256 endorsement primary: the same exactly when the EPS is.
fn endorsement_primary(t: &mut Tpm) -> Vec<u8> {
    primary(t, RH_ENDORSEMENT, &ecc_signer(0x0003)).expect("endorsement primary").1
}

/// A disk holding a populated state of a TPM with the platform EPS of `platform_key`.
fn stored_by(platform_key: u8) -> Memory {
    let mut disk = Memory::default();
    let mut t = platform_tpm(1, platform_key);
    let mut keeper = StateKeeper::new(&mut disk, key(), image(1));
    assert_eq!(keeper.load(&mut t), LoadOutcome::Empty);
    startup(&mut t);
    populate(&mut t, b"platform", b"owner-pw");
    assert!(matches!(keeper.save_if_changed(&mut t), Ok(SaveOutcome::Saved { .. })));
    disk
}

#[test]
fn a_state_with_the_platforms_eps_restores_and_the_ek_stays() {
    let mut disk = stored_by(7);
    let mut t = platform_tpm(2, 7);
    startup(&mut t);
    let before = endorsement_primary(&mut t);
    let mut t = platform_tpm(2, 7);
    let mut keeper = StateKeeper::new(&mut disk, key(), image(1));
    assert_eq!(keeper.load(&mut t), LoadOutcome::Restored { generation: 1 });
    startup(&mut t);
    assert_eq!(read_index(&mut t, b"owner-pw"), (0, b"platform".to_vec()));
    assert_eq!(endorsement_primary(&mut t), before);
}

/// Threat model T10.
#[test]
fn a_state_with_another_eps_is_refused_and_the_platforms_eps_is_kept() {
    // Sealed with the same key for the same image, so only the EPS inside tells it apart.
    let mut disk = stored_by(7);
    let mut t = platform_tpm(3, 8);
    startup(&mut t);
    let platform_ek = endorsement_primary(&mut t);
    let mut t = platform_tpm(3, 8);
    let mut keeper = StateKeeper::new(&mut disk, key(), image(1));
    assert_eq!(keeper.load(&mut t), LoadOutcome::Refused(Refusal::Format(FormatError::EndorsementSeed)));
    startup(&mut t);
    assert_ne!(read_index(&mut t, b"owner-pw").0, 0, "nothing of the refused state is applied");
    assert_eq!(endorsement_primary(&mut t), platform_ek, "starting fresh keeps the platform's EPS");
    // A TPM that made its own EPS takes the stored one, as a TPM keeps its EPS in NV.
    let mut own = Tpm::new(Box::new(InsecureTestEntropy::new(4)));
    own.power_on();
    let mut keeper = StateKeeper::new(&mut disk, key(), image(1));
    assert_eq!(keeper.load(&mut own), LoadOutcome::Restored { generation: 1 });
}

#[test]
fn change_eps_is_not_offered_with_the_platforms_eps() {
    let mut t = platform_tpm(5, 7);
    startup(&mut t);
    let before = endorsement_primary(&mut t);
    let r = run(&mut t, CommandCode::CHANGE_EPS, &[RH_PLATFORM], Some(&pw(b"")), &[]);
    assert_eq!(r.rc, 0x143, "TPM_RC_COMMAND_CODE");
    assert_eq!(endorsement_primary(&mut t), before);
    // GetCapability(TPM_CAP_COMMANDS) from ChangeEPS's code on: the first listed is the next one.
    let caps = B::new().u32(2).u32(CommandCode::CHANGE_EPS.0).u32(1).0;
    let r = run(&mut t, CommandCode::GET_CAPABILITY, &[], None, &caps);
    assert_eq!(r.rc, 0);
    let listed = u32::from_be_bytes(r.body[9..13].try_into().unwrap()) & 0xFFFF;
    assert!(listed > CommandCode::CHANGE_EPS.0, "ChangeEPS is not listed (got {listed:#x})");
    // TPM_PT_PERMANENT (0x200) bit 10, tpmGeneratedEPS, is clear.
    let props = B::new().u32(6).u32(0x200).u32(1).0;
    let r = run(&mut t, CommandCode::GET_CAPABILITY, &[], None, &props);
    let permanent = u32::from_be_bytes(r.body[13..17].try_into().unwrap());
    assert_eq!(permanent & 1 << 10, 0);
    // A TPM with its own EPS offers it and says so.
    let mut own = Tpm::new(Box::new(InsecureTestEntropy::new(6)));
    own.power_on();
    startup(&mut own);
    assert_eq!(run(&mut own, CommandCode::CHANGE_EPS, &[RH_PLATFORM], Some(&pw(b"")), &[]).rc, 0);
    let r = run(&mut own, CommandCode::GET_CAPABILITY, &[], None, &props);
    assert_ne!(u32::from_be_bytes(r.body[13..17].try_into().unwrap()) & 1 << 10, 0);
}
