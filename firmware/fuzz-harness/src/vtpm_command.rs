//! Fuzz body for the vTPM engine (threat model T5: the guest's TPM command bytes are hostile).
//!
//! The input is one or more TPM commands back to back, each cut at its own header's size field (so a
//! seed can hold a StartAuthSession followed by a command that uses the session). Each input runs
//! on a fork of one started TPM, then each command runs. Every response must be well formed: at least a
//! header, its size field equal to its length, no larger than `MAX_RESPONSE_SIZE`, an error response a
//! bare `TPM_ST_NO_SESSIONS` header.

use warden_vtpm::insecure_test_entropy::InsecureTestEntropy;
use warden_vtpm::{MAX_RESPONSE_SIZE, Tpm};

/// At most this many commands per input, to keep one iteration cheap while a recorded tpm2-tools flow
/// (the `tools_*` seeds: a tool's session, context loads and command, several tools in a row) still
/// fits one input.
const MAX_COMMANDS: usize = 32;

/// TPM2_Startup(TPM_SU_CLEAR).
const STARTUP_CLEAR: [u8; 12] = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0];

pub(crate) fn check_response(rsp: &[u8]) {
    assert!(rsp.len() >= 10, "response shorter than its header");
    assert!(rsp.len() <= MAX_RESPONSE_SIZE, "response larger than MAX_RESPONSE_SIZE");
    let size = u32::from_be_bytes([rsp[2], rsp[3], rsp[4], rsp[5]]) as usize;
    assert_eq!(size, rsp.len(), "size field disagrees with the response length");
    let tag = u16::from_be_bytes([rsp[0], rsp[1]]);
    let rc = u32::from_be_bytes([rsp[6], rsp[7], rsp[8], rsp[9]]);
    assert!(tag == 0x8001 || tag == 0x8002, "bad response tag {tag:#x}");
    if rc != 0 {
        assert_eq!((tag, rsp.len()), (0x8001, 10), "error response is not a bare header");
    }
}

thread_local! {
    /// One manufactured and started TPM per thread; each input runs on a fork of it, so every input
    /// starts from the same state (reproducible) without paying for manufacture and Startup.
    static STARTED: Tpm = {
        let mut tpm = Tpm::new(Box::new(InsecureTestEntropy::new(1)));
        tpm.power_on();
        let started = tpm.execute(&STARTUP_CLEAR);
        check_response(&started);
        assert_eq!(&started[6..10], &[0, 0, 0, 0], "Startup failed");
        tpm
    };
}

/// Whether `cmd` is a CreatePrimary, Create or CreateLoaded of an RSA key. RSA key generation costs
/// tenths of a second, which would make the fuzzer slow everywhere; these commands are not run (the
/// RSA template parser and the signing code still are, through Load, Sign and the unit tests).
pub(crate) fn is_rsa_keygen(cmd: &[u8]) -> bool {
    let be16 =
        |at: usize| cmd.get(at..at.saturating_add(2)).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])));
    let be32 = |at: usize| {
        cmd.get(at..at.saturating_add(4)).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let (Some(tag), Some(code)) = (be16(0), be32(6)) else { return false };
    if !matches!(code, 0x131 | 0x153 | 0x191) {
        return false;
    }
    // Header (10), one handle (4), the authorization area when tagged with sessions.
    let mut at = 14;
    if tag == 0x8002 {
        let Some(auth) = be32(at) else { return false };
        at = at.saturating_add(4).saturating_add(auth);
    }
    // TPM2B_SENSITIVE_CREATE, then TPM2B_PUBLIC's size, then TPMT_PUBLIC.type.
    let Some(sensitive) = be16(at) else { return false };
    at = at.saturating_add(2).saturating_add(sensitive).saturating_add(2);
    be16(at) == Some(0x0001)
}

/// A fork of the started TPM: every input begins from the same state.
pub(crate) fn started_tpm() -> Tpm {
    STARTED.with(|t| t.insecure_fork(Box::new(InsecureTestEntropy::new(2))))
}

/// Threat model T5.
pub fn vtpm_command(data: &[u8]) {
    run_commands(data);
}

/// Runs the commands of one input on a fork of the started TPM; their response codes (`None` for a
/// skipped RSA key generation).
fn run_commands(data: &[u8]) -> Vec<Option<u32>> {
    let mut tpm = started_tpm();
    let mut codes = Vec::new();
    let mut rest = data;
    for _ in 0..MAX_COMMANDS {
        if rest.is_empty() {
            break;
        }
        // Cut at the header's size field when it is plausible; otherwise hand over everything.
        let len = rest
            .get(2..6)
            .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize)
            .filter(|&n| n >= 10 && n <= rest.len())
            .unwrap_or(rest.len());
        let (cmd, tail) = rest.split_at(len);
        if is_rsa_keygen(cmd) {
            codes.push(None);
        } else {
            let rsp = tpm.execute(cmd);
            check_response(&rsp);
            codes.push(Some(u32::from_be_bytes([rsp[6], rsp[7], rsp[8], rsp[9]])));
        }
        rest = tail;
    }
    codes
}

#[cfg(test)]
mod tests {
    use super::run_commands;
    use std::path::PathBuf;

    /// The `tools_*` seeds are tpm2-tools flows recorded from `tpm_server` in recording mode
    /// (`WARDEN_TPM_RECORD`), whose TPM is manufactured as this harness's is. Replayed here, every
    /// command of every flow succeeds: sessions' HMACs verify, wrapped children load, context blobs
    /// load, so fuzzing starts from the deep states the flows reach (threat model T5).
    #[test]
    fn recorded_tool_flows_replay_to_success() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/vtpm_command");
        let mut flows = 0;
        for entry in std::fs::read_dir(&dir).expect("the vtpm_command corpus") {
            let path = entry.expect("a corpus entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            if !name.starts_with("tools_") {
                continue;
            }
            let codes = run_commands(&std::fs::read(&path).expect("a readable seed"));
            let failed: Vec<_> = codes.iter().enumerate().filter(|(_, c)| **c != Some(0)).collect();
            assert!(failed.is_empty(), "{name}: commands (index, rc) failed on replay: {failed:x?}");
            assert!(codes.len() >= 5, "{name}: a flow of {} commands", codes.len());
            flows += 1;
        }
        assert!(flows >= 10, "only {flows} recorded flows in the corpus");
    }
}
