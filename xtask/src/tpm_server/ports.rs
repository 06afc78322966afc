//! The server's side of the TPM simulator (mssim) protocol: one handler per port, each serving a
//! single connection until it ends, and the TPM they share. The framing is `warden_mssim`'s.
//!
//! Every byte here comes from a client we do not trust: lengths are bounded before anything is
//! allocated, a malformed request ends that connection (never the server), and commands from all
//! clients go through [`Device`] one at a time.

use std::io::{self, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, PoisonError};

use warden_mssim::{
    ACK, REFUSED, SendCommand, Signal, encode_handshake_reply, encode_response, next_signal,
    read_send_command, read_u32, write_u32,
};

use super::engine::CommandEngine;

/// `REMOTE_HANDSHAKE` reply: the protocol version the reference server speaks.
const SERVER_VERSION: u32 = 1;
/// `TpmEndPointInfo` flags: platform signals available (0x01), raw mode (0x04). Physical presence
/// (0x08) is not claimed: the engine has no physical-presence commands.
const ENDPOINT_INFO: u32 = 0x01 | 0x04;

/// `TPM_ST_NO_SESSIONS`, the tag of an error response (TPM 2.0 Part 2, Table 19).
const TPM_ST_NO_SESSIONS: u16 = 0x8001;
/// `TPM_RC_LOCALITY` (Part 2, Table 16): this TPM serves locality 0 only, like the SVSM transport.
const TPM_RC_LOCALITY: u32 = 0x907;
/// `TPM_RC_FAILURE`: the engine broke (a panic) and the TPM is in failure mode until power-on.
const TPM_RC_FAILURE: u32 = 0x101;

/// How a connection ended without a transport error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The client closed the socket or sent SESSION_END.
    Closed,
    /// The client sent a code this port does not serve; it was answered [`REFUSED`].
    Refused(Signal),
    /// The client announced a command longer than the engine accepts.
    Oversized(u32),
    /// The client sent REMOTE_HANDSHAKE with version 0, which the reference server refuses.
    BadHandshake,
    /// The client asked the whole server to stop (TPM_STOP).
    Stop,
}

/// The TPM and its power state, shared by every connection; one command runs at a time.
pub struct Device {
    state: Mutex<State>,
    max_command: usize,
}

struct State {
    engine: Box<dyn CommandEngine + Send>,
    powered: bool,
    /// Set when the engine panicked: its state can no longer be trusted, so every command fails
    /// until the next `_TPM_Init`, as a real TPM's failure mode does.
    failed: bool,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device").field("max_command", &self.max_command).finish_non_exhaustive()
    }
}

impl Device {
    /// A powered-off TPM; `max_command` bounds the length a client may announce.
    pub fn new(engine: Box<dyn CommandEngine + Send>, max_command: usize) -> Self {
        Self { state: Mutex::new(State { engine, powered: false, failed: false }), max_command }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic is caught inside the lock (see `execute`), so poisoning only follows a bug in
        // this file; the state it guards stays consistent either way.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `_TPM_Init`. With `only_if_off`, a TPM already powered is left alone, as the reference
    /// server does for POWER_ON: every tool invocation sends it, and it must not reset the TPM.
    fn power_on(&self, only_if_off: bool) {
        let mut state = self.state();
        if only_if_off && state.powered {
            return;
        }
        let engine = &mut state.engine;
        let outcome = catch_unwind(AssertUnwindSafe(|| engine.power_on()));
        state.failed = outcome.is_err();
        state.powered = true;
    }

    fn power_off(&self) {
        self.state().powered = false;
    }

    /// Runs one command; `None` when the TPM is powered off (the reply is then an empty response).
    fn execute(&self, locality: u8, command: &[u8]) -> Option<Vec<u8>> {
        let mut state = self.state();
        if !state.powered {
            return None;
        }
        if state.failed {
            return Some(error_response(TPM_RC_FAILURE));
        }
        if locality != 0 {
            return Some(error_response(TPM_RC_LOCALITY));
        }
        let engine = &mut state.engine;
        match catch_unwind(AssertUnwindSafe(|| engine.execute(command))) {
            Ok(response) => Some(response),
            Err(_) => {
                eprintln!("tpm-server: the engine panicked; failure mode until the next power-on");
                state.failed = true;
                Some(error_response(TPM_RC_FAILURE))
            }
        }
    }
}

/// A 10-byte response carrying only a response code.
fn error_response(code: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(10);
    out.extend_from_slice(&TPM_ST_NO_SESSIONS.to_be_bytes());
    out.extend_from_slice(&10u32.to_be_bytes());
    out.extend_from_slice(&code.to_be_bytes());
    out
}

/// Answers [`REFUSED`]; the caller then closes the connection, as the reference server does.
fn refuse(stream: &mut impl Write, signal: Signal) -> io::Result<End> {
    write_u32(stream, REFUSED)?;
    stream.flush()?;
    Ok(End::Refused(signal))
}

/// Serves the command ("TPM") port: SEND_COMMAND and the session signals.
pub fn serve_tpm_port(stream: &mut (impl Read + Write), device: &Device) -> io::Result<End> {
    loop {
        let Some(signal) = next_signal(stream)? else { return Ok(End::Closed) };
        match signal {
            Signal::SEND_COMMAND => {
                let (locality, command) = match read_send_command(stream, device.max_command)? {
                    SendCommand::Command { locality, command } => (locality, command),
                    SendCommand::Oversized(length) => return Ok(End::Oversized(length)),
                };
                let response = device.execute(locality, &command).unwrap_or_default();
                stream.write_all(&encode_response(&response)?)?;
            }
            Signal::REMOTE_HANDSHAKE => {
                if read_u32(stream)? == 0 {
                    return Ok(End::BadHandshake);
                }
                stream.write_all(&encode_handshake_reply(SERVER_VERSION, ENDPOINT_INFO))?;
            }
            Signal::SET_ALTERNATIVE_RESULT => {
                // Read and ignored, as in the reference server: it has no meaning for a simulator.
                read_u32(stream)?;
                write_u32(stream, ACK)?;
            }
            Signal::SESSION_END => return Ok(End::Closed),
            Signal::STOP => return Ok(End::Stop),
            // The H-CRTM sequence reaches no engine entry point: refused rather than acknowledged
            // and dropped.
            Signal::HASH_START | Signal::HASH_DATA | Signal::HASH_END => return refuse(stream, signal),
            // Platform signals sent to the wrong port, and codes no server knows.
            other => return refuse(stream, other),
        }
        stream.flush()?;
    }
}

/// Serves the platform port: power, NV and cancel signals, each answered with a status word.
pub fn serve_platform_port(stream: &mut (impl Read + Write), device: &Device) -> io::Result<End> {
    loop {
        let Some(signal) = next_signal(stream)? else { return Ok(End::Closed) };
        match signal {
            Signal::POWER_ON => device.power_on(true),
            Signal::RESET | Signal::RESTART => device.power_on(false),
            Signal::POWER_OFF => device.power_off(),
            // NV lives in memory and is always available; commands run to completion
            // synchronously, so there is never one in flight to cancel.
            Signal::NV_ON | Signal::CANCEL_ON | Signal::CANCEL_OFF => {}
            Signal::SESSION_END => return Ok(End::Closed),
            Signal::STOP => return Ok(End::Stop),
            // Physical presence, NV_OFF, key cache, failure-mode tests and the rest have no
            // counterpart in the engine: refuse them rather than pretend.
            other => return refuse(stream, other),
        }
        write_u32(stream, ACK)?;
        stream.flush()?;
    }
}
