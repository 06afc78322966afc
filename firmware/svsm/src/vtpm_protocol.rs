//! The SVSM vTPM protocol (2): how the guest reaches the TPM engine.
//!
//! Reference: `docs/reference/svsm-ghcb-snp.md` §4 and `tpm.md` §1.3 (Linux `tpm_svsm.c`).
//! SVSM_VTPM_QUERY answers RCX = the bitmap of supported platform commands (bit 8, TPM_SEND_COMMAND) and
//! RDX = features (none). SVSM_VTPM_CMD takes RCX = the GPA of a 4 KiB buffer holding
//! `u32 command (8) | u8 locality (0) | u32 size | TPM command` (packed, little-endian) and answers in the
//! same buffer with `u32 size | TPM response`.
//!
//! The buffer is guest memory (threat model T4, T5): it is copied once into private memory, checked,
//! and the engine sees only the copy; the response is written back once. A malformed buffer gets
//! SVSM_ERR_INVALID_PARAMETER, an unsupported platform command SVSM_ERR_UNSUPPORTED_CALL.
use alloc::boxed::Box;
use alloc::vec::Vec;
use warden_defs::layout::{PAGE_SIZE, WARDEN_BASE, WARDEN_END};
use warden_defs::svsm::vtpm_call;

use crate::dispatch::ProtocolHandler;
use crate::error::{AddressError, GuestError, ParamError, SvsmError};
use crate::guest::GuestMemory;
use crate::regs::{GuestRegs, Outputs};

/// The TPM engine behind the protocol: command bytes in, response bytes out (never panics).
pub trait TpmEngine {
    /// Runs one TPM command.
    fn execute(&mut self, command: &[u8]) -> Vec<u8>;
}

/// The platform command that sends a TPM command (`TPM_SEND_COMMAND`, as in the mssim protocol).
pub const TPM_SEND_COMMAND: u32 = 8;
/// The buffer size the protocol reads and writes.
pub const BUFFER_SIZE: usize = PAGE_SIZE as usize;
/// The request header: command u32, locality u8, size u32.
const REQUEST_HEADER: usize = 9;
/// The largest TPM command a buffer carries.
pub const MAX_COMMAND: usize = BUFFER_SIZE - REQUEST_HEADER;
/// The largest TPM response a buffer carries (Linux refuses more than 4092).
pub const MAX_RESPONSE: usize = BUFFER_SIZE - 4;
/// The highest platform command number the protocol knows (the mssim set ends at 26).
const HIGHEST_PLATFORM_COMMAND: u32 = 30;

/// The vTPM protocol over an engine.
#[derive(Debug)]
pub struct VtpmProtocol<E> {
    engine: E,
}

impl<E: TpmEngine> VtpmProtocol<E> {
    /// Serves `engine` to the guest.
    pub fn new(engine: E) -> Self {
        Self { engine }
    }

    /// The engine (for the firmware's own use, e.g. measuring into PCRs).
    pub fn engine(&mut self) -> &mut E {
        &mut self.engine
    }

    fn command(&mut self, gpa: u64, memory: &mut dyn GuestMemory) -> Result<(), SvsmError> {
        // GPA 0 is refused like the peer does; the buffer must not overlap Warden (T4).
        if gpa == 0 {
            return Err(GuestError::InvalidParameter(ParamError::VtpmBuffer).into());
        }
        let end = gpa.checked_add(BUFFER_SIZE as u64).ok_or(AddressError::NotGuestRam)?;
        if gpa < WARDEN_END && end > WARDEN_BASE {
            return Err(AddressError::Warden.into());
        }
        // One copy into private memory; everything below looks only at the copy.
        let mut buffer: Box<[u8; BUFFER_SIZE]> = Box::new([0; BUFFER_SIZE]);
        memory.read(gpa, &mut buffer[..]).map_err(|_| AddressError::Inaccessible)?;
        let command = parse_request(&buffer[..])?;
        let response = self.engine.execute(command);
        // The engine bounds its responses; a larger one would be a bug, not the guest's fault.
        let response = response.get(..response.len().min(MAX_RESPONSE)).unwrap_or(&[]);
        buffer.fill(0);
        buffer[..4].copy_from_slice(&(response.len() as u32).to_le_bytes());
        buffer[4..4 + response.len()].copy_from_slice(response);
        // The whole buffer goes back, as the peer does: nothing of the request is left behind it.
        memory.write(gpa, &buffer[..]).map_err(|_| AddressError::Inaccessible)?;
        Ok(())
    }
}

/// The guest side (the host bridge, tests): a request buffer carrying `command` at locality 0, or `None`
/// when the command does not fit.
pub fn request_buffer(command: &[u8]) -> Option<[u8; BUFFER_SIZE]> {
    if command.is_empty() || command.len() > MAX_COMMAND {
        return None;
    }
    let mut buffer = [0u8; BUFFER_SIZE];
    buffer[..4].copy_from_slice(&TPM_SEND_COMMAND.to_le_bytes());
    buffer[5..REQUEST_HEADER].copy_from_slice(&(command.len() as u32).to_le_bytes());
    buffer[REQUEST_HEADER..REQUEST_HEADER + command.len()].copy_from_slice(command);
    Some(buffer)
}

/// The guest side: the TPM response in a buffer Warden answered, or `None` when its size field points
/// past the buffer or beyond what Linux accepts ([`MAX_RESPONSE`]).
pub fn response_in(buffer: &[u8]) -> Option<&[u8]> {
    let size = u32::from_le_bytes(buffer.get(..4)?.try_into().ok()?) as usize;
    if size > MAX_RESPONSE {
        return None;
    }
    buffer.get(4..4 + size)
}

/// Checks a request buffer and returns the TPM command it carries.
pub fn parse_request(buffer: &[u8]) -> Result<&[u8], SvsmError> {
    let invalid = || SvsmError::from(GuestError::InvalidParameter(ParamError::VtpmBuffer));
    let header = buffer.get(..REQUEST_HEADER).ok_or_else(invalid)?;
    let platform_command = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    if platform_command != TPM_SEND_COMMAND {
        return Err(if platform_command <= HIGHEST_PLATFORM_COMMAND {
            GuestError::UnsupportedCall.into()
        } else {
            invalid()
        });
    }
    let locality = header[4];
    let size = u32::from_le_bytes([header[5], header[6], header[7], header[8]]) as usize;
    if locality != 0 || size == 0 || size > MAX_COMMAND {
        return Err(invalid());
    }
    buffer.get(REQUEST_HEADER..REQUEST_HEADER + size).ok_or_else(invalid)
}

impl<E: TpmEngine> ProtocolHandler for VtpmProtocol<E> {
    fn versions(&self) -> (u32, u32) {
        (1, 1)
    }

    fn handle(
        &mut self,
        call: u32,
        regs: GuestRegs,
        memory: &mut dyn GuestMemory,
    ) -> (Result<(), SvsmError>, Outputs) {
        match call {
            vtpm_call::QUERY => {
                (Ok(()), Outputs { rcx: Some(1 << TPM_SEND_COMMAND), rdx: Some(0), r8: None })
            }
            vtpm_call::CMD => (self.command(regs.rcx, memory), Outputs::NONE),
            _ => (Err(GuestError::UnsupportedCall.into()), Outputs::NONE),
        }
    }
}
