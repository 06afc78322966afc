//! Owner authorization and TPM2_Clear through tpm2-tools, and the platform port's power signals
//! driven raw: what a TPM must forget, and what it must keep, across them.

use sha2::{Digest, Sha256};
use warden_mssim::Signal;

use super::harness::{Raw, hex};
use super::{pcr, started, value};

#[test]
fn owner_password_guards_the_owner_hierarchy_until_clear() {
    let server = started();
    server.ok("tpm2_changeauth", &["-c", "o", "newpass"]);
    // Without the new password, or with a wrong one: TPM_RC_BAD_AUTH (owner auth has no DA).
    for password in [&[][..], &["-P", "wrong"]] {
        let args = [&["0x1500040", "-C", "o", "-s", "8"][..], password].concat();
        let stderr = server.fails("tpm2_nvdefine", &args);
        assert!(stderr.contains("0x9A2"), "{args:?}: {stderr}");
    }
    server.ok("tpm2_nvdefine", &["0x1500040", "-C", "o", "-s", "8", "-P", "newpass"]);
    assert!(server.ok("tpm2_getcap", &["handles-nv-index"]).contains("0x1500040"));

    // TPM2_Clear (lockout authorization, empty) drops owner indices and the owner password.
    server.ok("tpm2_clear", &[]);
    assert!(!server.ok("tpm2_getcap", &["handles-nv-index"]).contains("0x1500040"));
    server.ok("tpm2_nvdefine", &["0x1500040", "-C", "o", "-s", "8"]);
}

const GET_RANDOM_8: [u8; 12] = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7B, 0, 8];
const STARTUP_CLEAR: [u8; 12] = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0];
/// `TPM_RC_INITIALIZE`: the TPM has been initialised (_TPM_Init) but not started.
const RC_INITIALIZE: u32 = 0x100;

fn signal(raw: &mut Raw, signal: Signal) {
    raw.0.signal(signal).unwrap_or_else(|error| panic!("platform signal {signal:?}: {error}"));
}

#[test]
fn power_signals_reset_the_tpm_and_repeated_power_on_does_not() {
    let server = started();
    let digest = hex(&Sha256::digest(b"before the power cycle"));
    server.ok("tpm2_pcrextend", &[&format!("16:sha256={digest}")]);
    let extended = value(&pcr(&server, "sha256:16"), "sha256", 16);
    let mut raw = server.raw();

    // Every tool run, and `raw()`, sent POWER_ON: none of them reset the running TPM.
    signal(&mut raw, Signal::POWER_ON);
    assert_eq!(raw.call(&GET_RANDOM_8).0, 0);
    assert_eq!(value(&pcr(&server, "sha256:16"), "sha256", 16), extended);

    // While powered off, a command gets an empty response (then the trailing 0).
    signal(&mut raw, Signal::POWER_OFF);
    assert_eq!(raw.0.call(&GET_RANDOM_8, 4096).unwrap(), [0u8; 0]);

    // POWER_ON after POWER_OFF, and SIGNAL_RESET at any time, are _TPM_Init: the TPM needs
    // TPM2_Startup again, and Startup(CLEAR) resets the PCRs.
    for cycle in [&[Signal::POWER_ON][..], &[Signal::RESET]] {
        for &code in cycle {
            signal(&mut raw, code);
        }
        assert_eq!(raw.call(&GET_RANDOM_8).0, RC_INITIALIZE, "after {cycle:?}");
        assert_eq!(raw.call(&STARTUP_CLEAR).0, 0);
        assert_eq!(raw.call(&GET_RANDOM_8).0, 0);
        assert_eq!(value(&pcr(&server, "sha256:16"), "sha256", 16), hex(&[0; 32]));
        server.ok("tpm2_pcrextend", &[&format!("16:sha256={digest}")]);
    }
}

/// One field of `tpm2_getcap properties-variable` (TPM2_PT_PERMANENT / STARTUP_CLEAR bits).
fn variable(server: &super::harness::Server, field: &str) -> String {
    let yaml = server.ok("tpm2_getcap", &["properties-variable"]);
    let line = yaml.lines().find_map(|line| line.trim().strip_prefix(&format!("{field}:")));
    line.unwrap_or_else(|| panic!("{field} missing:\n{yaml}")).trim().to_owned()
}

#[test]
fn clear_control_and_permanent_properties_agree() {
    let server = started();
    server.ok("tpm2_selftest", &["-f"]);
    assert!(server.ok("tpm2_gettestresult", &[]).contains("success"));
    assert_eq!(variable(&server, "ownerAuthSet"), "0");
    server.ok("tpm2_changeauth", &["-c", "o", "pw"]);
    assert_eq!(variable(&server, "ownerAuthSet"), "1");

    // ClearControl(YES) from lockout disables TPM2_Clear (TPM_RC_DISABLED, 0x120) and shows in
    // TPMA_PERMANENT; only the platform may enable it again.
    server.ok("tpm2_clearcontrol", &["-C", "l", "s"]);
    assert_eq!(variable(&server, "disableClear"), "1");
    let stderr = server.fails("tpm2_clear", &[]);
    assert!(stderr.contains("0x120"), "{stderr}");
    server.ok("tpm2_clearcontrol", &["-C", "p", "c"]);
    assert_eq!(variable(&server, "disableClear"), "0");
    server.ok("tpm2_clear", &[]);
    assert_eq!(variable(&server, "ownerAuthSet"), "0", "Clear resets the owner password");
}
