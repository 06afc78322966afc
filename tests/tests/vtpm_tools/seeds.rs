//! Hierarchy seeds, templates and ephemeral keys through tpm2-tools: `tpm2_changeeps` /
//! `tpm2_changepps` give new primaries in their hierarchy only, `tpm2_policytemplate` in a hierarchy's
//! policy lets CreatePrimary use one template, and `tpm2_ecephemeral` returns points of the curve's size
//! with a counter that counts; GetCapability lists the added commands.

use sha2::{Digest, Sha256};

use super::harness::Server;
use super::started;

/// The Name (`-n` output) of the default ECC primary of `hierarchy`.
fn primary_name(server: &Server, hierarchy: &str) -> Vec<u8> {
    server.ok("tpm2_createprimary", &["-Q", "-C", hierarchy, "-G", "ecc", "-c", "p.ctx"]);
    server.ok("tpm2_readpublic", &["-c", "p.ctx", "-n", "p.name"]);
    server.ok("tpm2_flushcontext", &["-t"]);
    std::fs::read(server.path("p.name")).unwrap()
}

#[test]
fn change_eps_and_change_pps_renew_one_hierarchy_each() {
    let server = started();
    let (owner, endorsement, platform) =
        (primary_name(&server, "o"), primary_name(&server, "e"), primary_name(&server, "p"));
    server.ok("tpm2_changeeps", &[]);
    let endorsement2 = primary_name(&server, "e");
    assert_ne!(endorsement2, endorsement);
    assert_eq!(primary_name(&server, "o"), owner);
    assert_eq!(primary_name(&server, "p"), platform);
    server.ok("tpm2_changepps", &[]);
    assert_ne!(primary_name(&server, "p"), platform);
    assert_eq!(primary_name(&server, "e"), endorsement2);
    assert_eq!(primary_name(&server, "o"), owner);
}

#[test]
fn policy_template_in_the_owner_policy_allows_one_template() {
    let server = started();
    server.ok("tpm2_createprimary", &["-Q", "-C", "o", "-c", "p.ctx", "--template-data", "template.data"]);
    server.ok("tpm2_flushcontext", &["-t"]);
    let hash = Sha256::digest(std::fs::read(server.path("template.data")).unwrap());
    std::fs::write(server.path("template.hash"), hash).unwrap();
    server.ok("tpm2_startauthsession", &["-S", "trial.ctx"]);
    server.ok(
        "tpm2_policytemplate",
        &["-S", "trial.ctx", "-L", "template.policy", "--template-hash", "template.hash"],
    );
    server.ok("tpm2_flushcontext", &["trial.ctx"]);
    // H(0...0 || TPM_CC_PolicyTemplate || templateHash), computed here.
    let expected =
        Sha256::new().chain_update([0u8; 32]).chain_update(0x190u32.to_be_bytes()).chain_update(hash);
    assert_eq!(std::fs::read(server.path("template.policy")).unwrap(), expected.finalize().to_vec());
    server.ok("tpm2_setprimarypolicy", &["-C", "o", "-L", "template.policy", "-g", "sha256"]);

    let with_policy = |args: &[&str]| {
        server.ok("tpm2_startauthsession", &["--policy-session", "-S", "session.ctx"]);
        server.ok("tpm2_policytemplate", &["-S", "session.ctx", "--template-hash", "template.hash"]);
        let out = server.tool(
            "tpm2_createprimary",
            &[&["-Q", "-C", "o", "-P", "session:session.ctx"][..], args].concat(),
        );
        server.ok("tpm2_flushcontext", &["session.ctx"]);
        server.ok("tpm2_flushcontext", &["-t"]);
        out
    };
    assert!(with_policy(&["-c", "same.ctx"]).status.success(), "the template the policy names");
    let other = with_policy(&["-G", "ecc", "-c", "other.ctx"]);
    assert!(!other.status.success());
    // TPM_RC_POLICY_FAIL on session 1.
    assert!(
        String::from_utf8_lossy(&other.stderr).contains("0x99D"),
        "{}",
        String::from_utf8_lossy(&other.stderr)
    );
}

#[test]
fn ec_ephemeral_points_and_counter() {
    let server = started();
    for (curve, coordinate, counter) in [("ecc256", 32usize, 0u16), ("ecc256", 32, 1), ("ecc384", 48, 2)] {
        server.ok("tpm2_ecephemeral", &["-u", "q.bin", "-t", "counter.bin", curve]);
        let q = std::fs::read(server.path("q.bin")).unwrap();
        // TPM2B_ECC_POINT: size, then x and y as TPM2B of the curve's size.
        assert_eq!(q.len(), 2 + 2 * (2 + coordinate), "{curve}");
        assert_eq!(u16::from_be_bytes([q[2], q[3]]) as usize, coordinate);
        let ctr = std::fs::read(server.path("counter.bin")).unwrap();
        assert_eq!(ctr, counter.to_be_bytes());
    }
}

/// `tpm2_getcap commands` lists every command issue 18 added, so tools that probe before they use
/// a command find it.
#[test]
fn getcap_lists_the_added_commands() {
    let server = started();
    let commands = server.ok("tpm2_getcap", &["commands"]);
    for name in [
        "Duplicate",
        "PolicyTemplate",
        "ChangeEPS",
        "ChangePPS",
        "EC_Ephemeral",
        "NV_Certify",
        "NV_ChangeAuth",
        "NV_UndefineSpaceSpecial",
    ] {
        assert!(commands.lines().any(|l| l == format!("TPM2_CC_{name}:")), "TPM2_CC_{name} missing");
    }
}
