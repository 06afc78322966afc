//! The TPM simulator ("mssim") socket protocol of the Microsoft/IBM reference simulator, as spoken by
//! `tcti-mssim` of tpm2-tss: the signal codes of its `TpmTcpProtocol.h`, and the framing of both sides.
//!
//! Two TCP ports: the TPM port (N, 2321 by default) carries `TPM_SEND_COMMAND` and the session signals,
//! the platform port (N+1, 2322) the power, NV and cancel signals. Every word is a big-endian `u32`:
//!
//! - a platform signal is its code; the server answers a status word ([`ACK`], or [`REFUSED`] and
//!   closes the connection);
//! - `TPM_SEND_COMMAND` is `8 ‖ locality (1 byte) ‖ length ‖ command`; the server answers
//!   `length ‖ response ‖ ACK`;
//! - `REMOTE_HANDSHAKE` is `15 ‖ client version`; the server answers `version ‖ endpoint info ‖ ACK`.
//!
//! Both the server (`xtask tpm-server`, the firmware bridge) and the clients (the benchmark, the
//! integration tests) frame through this crate. What the other side sends is untrusted: lengths are
//! bounded before anything is allocated.
//!
//! `unsafe`: forbidden (`#![forbid(unsafe_code)]`).
#![forbid(unsafe_code)]

mod client;
#[cfg(test)]
mod tests;

use std::io::{self, Read, Write};

pub use client::Client;

/// A signal code as sent on the wire: an open set, so an unknown value survives to be refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signal(pub u32);

/// The codes of `TpmTcpProtocol.h` that Warden's server serves or its clients send.
impl Signal {
    pub const POWER_ON: Self = Self(1);
    pub const POWER_OFF: Self = Self(2);
    pub const HASH_START: Self = Self(5);
    pub const HASH_DATA: Self = Self(6);
    pub const HASH_END: Self = Self(7);
    pub const SEND_COMMAND: Self = Self(8);
    pub const CANCEL_ON: Self = Self(9);
    pub const CANCEL_OFF: Self = Self(10);
    pub const NV_ON: Self = Self(11);
    pub const REMOTE_HANDSHAKE: Self = Self(15);
    pub const SET_ALTERNATIVE_RESULT: Self = Self(16);
    pub const RESET: Self = Self(17);
    pub const RESTART: Self = Self(18);
    pub const SESSION_END: Self = Self(20);
    pub const STOP: Self = Self(21);

    /// The code as it goes on the wire.
    pub fn to_wire(self) -> [u8; 4] {
        self.0.to_be_bytes()
    }
}

/// The status word of an acknowledged signal, and the trailer of every command response.
pub const ACK: u32 = 0;
/// The status word the reference server sends for a code it does not serve, before it closes.
pub const REFUSED: u32 = 1;

/// Reads one big-endian word.
pub fn read_u32(stream: &mut impl Read) -> io::Result<u32> {
    let mut word = [0u8; 4];
    stream.read_exact(&mut word)?;
    Ok(u32::from_be_bytes(word))
}

/// Writes one big-endian word.
pub fn write_u32(stream: &mut impl Write, value: u32) -> io::Result<()> {
    stream.write_all(&value.to_be_bytes())
}

/// Server side: reads the next signal code; `None` when the client closed the connection between
/// requests (a code cut short is an error, like any other truncated request).
pub fn next_signal(stream: &mut impl Read) -> io::Result<Option<Signal>> {
    let mut word = [0u8; 4];
    let first = loop {
        match stream.read(&mut word) {
            Ok(n) => break n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    };
    if first == 0 {
        return Ok(None);
    }
    stream.read_exact(word.get_mut(first..).unwrap_or_default())?;
    Ok(Some(Signal(u32::from_be_bytes(word))))
}

/// The body of a `TPM_SEND_COMMAND`, as the server reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendCommand {
    /// A command within the bound, and the locality it was sent at.
    Command { locality: u8, command: Vec<u8> },
    /// The client announced this many bytes, more than the bound; nothing more was read.
    Oversized(u32),
}

/// Server side: reads what follows the `TPM_SEND_COMMAND` code, allocating at most `max` bytes.
pub fn read_send_command(stream: &mut impl Read, max: usize) -> io::Result<SendCommand> {
    let mut locality = [0u8; 1];
    stream.read_exact(&mut locality)?;
    let length = read_u32(stream)?;
    // Bound the allocation before trusting the length: a client may announce 4 GiB.
    let Some(size) = usize::try_from(length).ok().filter(|&n| n <= max) else {
        return Ok(SendCommand::Oversized(length));
    };
    let mut command = vec![0u8; size];
    stream.read_exact(&mut command)?;
    Ok(SendCommand::Command { locality: locality[0], command })
}

/// Server side: the reply to a `TPM_SEND_COMMAND`, `length ‖ response ‖ ACK`.
pub fn encode_response(response: &[u8]) -> io::Result<Vec<u8>> {
    let length =
        u32::try_from(response.len()).map_err(|_| io::Error::other("TPM response longer than 4 GiB"))?;
    let mut reply = Vec::with_capacity(response.len() + 8);
    reply.extend_from_slice(&length.to_be_bytes());
    reply.extend_from_slice(response);
    reply.extend_from_slice(&ACK.to_be_bytes());
    Ok(reply)
}

/// Server side: the reply to a `REMOTE_HANDSHAKE`, `version ‖ endpoint info ‖ ACK`.
pub fn encode_handshake_reply(server_version: u32, endpoint_info: u32) -> [u8; 12] {
    let mut reply = [0u8; 12];
    reply[..4].copy_from_slice(&server_version.to_be_bytes());
    reply[4..8].copy_from_slice(&endpoint_info.to_be_bytes());
    reply[8..].copy_from_slice(&ACK.to_be_bytes());
    reply
}

/// Client side: a `TPM_SEND_COMMAND` carrying `command` at `locality`.
pub fn encode_send_command(locality: u8, command: &[u8]) -> io::Result<Vec<u8>> {
    let length =
        u32::try_from(command.len()).map_err(|_| io::Error::other("TPM command longer than 4 GiB"))?;
    let mut request = Vec::with_capacity(command.len() + 9);
    request.extend_from_slice(&Signal::SEND_COMMAND.to_wire());
    request.push(locality);
    request.extend_from_slice(&length.to_be_bytes());
    request.extend_from_slice(command);
    Ok(request)
}

/// Client side: reads the reply to a `TPM_SEND_COMMAND`; a response longer than `max`, or a trailer
/// other than [`ACK`], is a protocol error.
pub fn read_response(stream: &mut impl Read, max: usize) -> io::Result<Vec<u8>> {
    let length = read_u32(stream)?;
    let size = usize::try_from(length)
        .ok()
        .filter(|&n| n <= max)
        .ok_or_else(|| io::Error::other(format!("server announced a {length}-byte response")))?;
    // The response, then the trailing status word, in one read.
    let mut response = vec![0u8; size + 4];
    stream.read_exact(&mut response)?;
    let trailer = response.split_off(size);
    if trailer != ACK.to_be_bytes() {
        return Err(io::Error::other(format!("mssim trailer {trailer:02x?} is not 0")));
    }
    Ok(response)
}
