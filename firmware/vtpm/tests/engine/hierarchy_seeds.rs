//! TPM2_ChangeEPS and TPM2_ChangePPS (Part 3 §24.4, §24.5): a new primary seed changes the hierarchy's
//! primaries, flushes its objects, and leaves the other hierarchies alone.

use crate::common::{B, RH_ENDORSEMENT, RH_OWNER, RH_PLATFORM, pw, rc_h, run, started};
use crate::key_helpers::{ecc_signer, primary};
use warden_vtpm::{CommandCode, ResponseCode, Tpm};

fn name_under(t: &mut Tpm, hierarchy: u32) -> (u32, Vec<u8>) {
    let (h, _, name) = primary(t, hierarchy, &ecc_signer(0x0003)).unwrap();
    (h, name)
}

#[test]
fn change_eps_gives_new_endorsement_primaries_and_flushes_the_old() {
    let mut t = started();
    let (ek, ek_name) = name_under(&mut t, RH_ENDORSEMENT);
    let (_, srk_name) = name_under(&mut t, RH_OWNER);
    // An endorsement authValue and policy, which ChangeEPS empties.
    run(
        &mut t,
        CommandCode::HIERARCHY_CHANGE_AUTH,
        &[RH_ENDORSEMENT],
        Some(&pw(b"")),
        &B::new().tpm2b(b"eh").0,
    )
    .ok();
    // Only the platform may change the EPS.
    let r = run(&mut t, CommandCode::CHANGE_EPS, &[RH_OWNER], Some(&pw(b"")), &[]);
    assert_eq!(r.rc, rc_h(ResponseCode::VALUE, 1));
    run(&mut t, CommandCode::CHANGE_EPS, &[RH_PLATFORM], Some(&pw(b"")), &[]).ok();
    // The loaded endorsement primary is gone.
    let r = run(&mut t, CommandCode::READ_PUBLIC, &[ek], None, &[]);
    assert_eq!(r.rc, ResponseCode::REFERENCE_H0.0);
    // The empty authValue works again, and the same template gives another key.
    let (_, new_ek_name) = name_under(&mut t, RH_ENDORSEMENT);
    assert_ne!(new_ek_name, ek_name);
    assert_eq!(name_under(&mut t, RH_OWNER).1, srk_name);
}

#[test]
fn change_pps_gives_new_platform_primaries_only() {
    let mut t = started();
    let (ph, ph_name) = name_under(&mut t, RH_PLATFORM);
    let (_, ek_name) = name_under(&mut t, RH_ENDORSEMENT);
    run(&mut t, CommandCode::CHANGE_PPS, &[RH_PLATFORM], Some(&pw(b"")), &[]).ok();
    assert_eq!(run(&mut t, CommandCode::READ_PUBLIC, &[ph], None, &[]).rc, ResponseCode::REFERENCE_H0.0);
    assert_ne!(name_under(&mut t, RH_PLATFORM).1, ph_name);
    assert_eq!(name_under(&mut t, RH_ENDORSEMENT).1, ek_name);
}
