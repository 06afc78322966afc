//! The vTPM protocol (SVSM spec (AMD 58019), "vTPM Protocol"): SVSM_VTPM_QUERY must offer
//! TPM_SEND_COMMAND, and SVSM_VTPM_CMD must run real TPM 2.0 commands built by hand: TPM2_Startup(CLEAR),
//! TPM2_GetRandom(16), TPM2_PCR_Read of PCR 0 in the SHA-256 bank.
use warden_defs::svsm::{PROTOCOL_VTPM, VTPM_BUFFER_SIZE, vtpm_call};
use warden_test_guest::tpm_commands::{self, TPM_RC_INITIALIZE, TPM_RC_SUCCESS};
use warden_test_guest::vtpm_buffer::{self, QUERY_SEND_COMMAND_BIT};

use super::{Hex, Run, work};
use crate::guest_pages;

/// Sends `command` through the buffer page; answers the TPM response (copied out) and its length.
pub(super) fn send(run: &mut Run, step: &str, command: &[u8]) -> Option<([u8; VTPM_BUFFER_SIZE], usize)> {
    let gpa = run.free(work::VTPM_BUFFER);
    let mut buffer = [0u8; VTPM_BUFFER_SIZE];
    if vtpm_buffer::write_request(&mut buffer, command).is_err() {
        run.check(step, false, format_args!("the command does not fit (a bug in the guest)"));
        return None;
    }
    // SAFETY: the vTPM buffer is a validated page of the guest's (work::LIST), used for nothing else.
    unsafe { guest_pages::write(gpa, &buffer) };
    run.call_ok(step, PROTOCOL_VTPM, vtpm_call::CMD, [gpa, 0, 0, 0])?;
    // SAFETY: as above; Warden wrote the response into it during the call.
    unsafe { guest_pages::read(gpa, &mut buffer) };
    match vtpm_buffer::read_response(&buffer) {
        Ok(response) => {
            let len = response.len();
            let mut copy = [0u8; VTPM_BUFFER_SIZE];
            copy[..len].copy_from_slice(response);
            Some((copy, len))
        }
        Err(error) => {
            run.check(step, false, format_args!("malformed response buffer: {error:?}"));
            None
        }
    }
}

/// The whole step.
pub fn run(run: &mut Run) {
    if let Some(answer) = run.call_ok("vtpm query", PROTOCOL_VTPM, vtpm_call::QUERY, [0; 4]) {
        let offered = answer.rcx & QUERY_SEND_COMMAND_BIT != 0;
        run.check(
            "vtpm query",
            offered,
            format_args!("platform commands {:#x}, features {:#x}", answer.rcx, answer.rdx),
        );
    }

    if let Some((response, len)) = send(run, "vtpm startup", &tpm_commands::startup_clear()) {
        // TPM_RC_INITIALIZE is the TPM's answer when it was started already: both mean it runs.
        match tpm_commands::response_code(&response[..len]) {
            Ok(code @ (TPM_RC_SUCCESS | TPM_RC_INITIALIZE)) => {
                run.check("vtpm startup", true, format_args!("TPM2_Startup(CLEAR) answered {code:#x}"))
            }
            other => run.check("vtpm startup", false, format_args!("TPM2_Startup(CLEAR): {other:?}")),
        }
    }

    if let Some((response, len)) = send(run, "vtpm get-random", &tpm_commands::get_random(16)) {
        match tpm_commands::random_bytes(&response[..len], 16) {
            // Sixteen zero bytes from a random source are far likelier a stub than chance (2^-128).
            Ok(bytes) if bytes.iter().any(|b| *b != 0) => {
                run.check("vtpm get-random", true, format_args!("16 bytes, first {:02x?}", &bytes[..4]))
            }
            Ok(_) => run.check("vtpm get-random", false, format_args!("16 zero bytes")),
            Err(error) => run.check("vtpm get-random", false, format_args!("TPM2_GetRandom(16): {error:?}")),
        }
    }

    if let Some((response, len)) = send(run, "vtpm pcr-read", &tpm_commands::pcr_read_sha256(0)) {
        match tpm_commands::pcr_digest(&response[..len], 0) {
            Ok(digest) => {
                // The whole value: a host test replays the launch event against it (`pcr0_launch.rs`
                // of tests/machine).
                run.check("vtpm pcr-read", true, format_args!("PCR 0 (SHA-256) {}", Hex(&digest)))
            }
            Err(error) => run.check("vtpm pcr-read", false, format_args!("TPM2_PCR_Read: {error:?}")),
        }
    }
}
