//! Fuzz target `vtpm_buffer`: an SVSM_VTPM_CMD buffer as the guest wrote it (threat model T4, T5), and a
//! response buffer as the bridge reads it.
use warden_svsm::vtpm_protocol::{MAX_COMMAND, MAX_RESPONSE, parse_request, request_buffer, response_in};

/// Any bytes: the parser answers a command within bounds or an error, never panics; a command it accepts
/// re-encodes to a buffer that parses to the same command.
/// Threat model T4.
pub fn vtpm_buffer(data: &[u8]) {
    if let Ok(command) = parse_request(data) {
        assert!(!command.is_empty() && command.len() <= MAX_COMMAND);
        let again = request_buffer(command).expect("an accepted command fits a buffer");
        assert_eq!(parse_request(&again).ok(), Some(command));
    }
    if let Some(response) = response_in(data) {
        assert!(response.len() <= MAX_RESPONSE && response.len() + 4 <= data.len());
    }
}
