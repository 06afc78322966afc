//! The firmware can supply the endorsement seed (`Tpm::set_endorsement_seed`), so the EK survives a reboot of
//! the same image: two TPMs manufactured from different entropy but given the same endorsement seed derive
//! the same endorsement primaries, and only those.

use crate::common::{RH_ENDORSEMENT, RH_OWNER, run};
use crate::key_helpers::{RSASSA, ecc_signer, primary, rsa_signer};
use warden_vtpm::CommandCode;
use warden_vtpm::EndorsementSeed;
use warden_vtpm::Tpm;
use warden_vtpm::insecure_test_entropy::InsecureTestEntropy;

fn tpm(entropy: u64, endorsement_seed: Option<[u8; 32]>) -> Tpm {
    let mut t = Tpm::new(Box::new(InsecureTestEntropy::new(entropy)));
    if let Some(seed) = endorsement_seed {
        t.set_endorsement_seed(&EndorsementSeed::from_platform_key(&seed, b"test"));
    }
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    t
}

#[test]
fn the_same_endorsement_seed_gives_the_same_ek_and_nothing_else() {
    let template = ecc_signer(0x0003);
    let (mut a, mut b) = (tpm(1, Some([0x5E; 32])), tpm(2, Some([0x5E; 32])));
    let (_, ek_a, _) = primary(&mut a, RH_ENDORSEMENT, &template).unwrap();
    let (_, ek_b, _) = primary(&mut b, RH_ENDORSEMENT, &template).unwrap();
    assert_eq!(ek_a, ek_b, "the endorsement primary follows the supplied seed");
    let (_, own_a, _) = primary(&mut a, RH_OWNER, &template).unwrap();
    let (_, own_b, _) = primary(&mut b, RH_OWNER, &template).unwrap();
    assert_ne!(own_a, own_b, "the owner seed stays the TPM's own");

    let mut c = tpm(1, Some([0x5F; 32]));
    let (_, ek_c, _) = primary(&mut c, RH_ENDORSEMENT, &template).unwrap();
    assert_ne!(ek_a, ek_c, "another seed, another EK");
    let mut d = tpm(1, None);
    let (_, ek_d, _) = primary(&mut d, RH_ENDORSEMENT, &template).unwrap();
    assert_ne!(ek_a, ek_d, "without a supplied seed the manufactured one is used");
}

#[test]
fn a_new_endorsement_seed_forgets_remembered_rsa_primaries() {
    let template = rsa_signer(RSASSA, 2048);
    let mut t = tpm(3, Some([1; 32]));
    let (_, first, _) = primary(&mut t, RH_ENDORSEMENT, &template).unwrap();
    t.set_endorsement_seed(&EndorsementSeed::from_platform_key(&[2; 32], b"test"));
    let (_, second, _) = primary(&mut t, RH_ENDORSEMENT, &template).unwrap();
    assert_ne!(first, second);
}
