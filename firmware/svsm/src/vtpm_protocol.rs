//! The SVSM vTPM protocol (2): how the guest reaches the TPM engine.
//!
//! Source: SVSM spec (AMD 58019), "vTPM Protocol" (SVSM_VTPM_QUERY, SVSM_VTPM_CMD), and Linux
//! `drivers/char/tpm/tpm_svsm.c` / `include/linux/tpm_svsm.h`, the guest side Warden must serve.
//! SVSM_VTPM_QUERY answers RCX = the bitmap of supported platform commands (bit 8, TPM_SEND_COMMAND) and
//! RDX = features (none). SVSM_VTPM_CMD takes RCX = the GPA of a 4 KiB buffer holding a
//! [`VtpmRequestHeader`] and the TPM command, and answers in the same buffer with a
//! [`VtpmResponseHeader`] and the TPM response.
//!
//! The buffer is guest memory (threat model T4, T5): it must pass the [`CallContext`]'s buffer check
//! (never a VMSA, another vCPU's calling area or a page Warden owns), is copied once into private
//! memory, checked, and the engine sees only the copy; the response is written back once. A malformed
//! buffer gets SVSM_ERR_INVALID_PARAMETER, an unsupported platform command SVSM_ERR_UNSUPPORTED_CALL.
use alloc::boxed::Box;
use alloc::vec::Vec;
use warden_defs::svsm::{VTPM_BUFFER_SIZE, VtpmRequestHeader, VtpmResponseHeader, vtpm_call};
use zerocopy::{FromBytes, IntoBytes};
use zeroize::{Zeroize, Zeroizing};

use crate::buffer::{CallContext, GuestBuffer};
use crate::dispatch::ProtocolHandler;
use crate::error::{GuestError, ParamError, SvsmError};
use crate::regs::{GuestRegs, Outputs};

/// The TPM engine behind the protocol: command bytes in, response bytes out (never panics).
pub trait TpmEngine {
    /// Runs one TPM command.
    fn execute(&mut self, command: &[u8]) -> Vec<u8>;
}

/// The platform command that sends a TPM command (`TPM_SEND_COMMAND`, as in the mssim protocol).
pub const TPM_SEND_COMMAND: u32 = 8;
/// The buffer size the protocol reads and writes.
pub const BUFFER_SIZE: usize = VTPM_BUFFER_SIZE;
const REQUEST_HEADER: usize = size_of::<VtpmRequestHeader>();
const RESPONSE_HEADER: usize = size_of::<VtpmResponseHeader>();
/// The largest TPM command a buffer carries.
pub const MAX_COMMAND: usize = BUFFER_SIZE - REQUEST_HEADER;
/// The largest TPM response a buffer carries (Linux refuses more than 4092).
pub const MAX_RESPONSE: usize = BUFFER_SIZE - RESPONSE_HEADER;
/// The highest platform command number the protocol knows (the mssim set ends at 26).
const HIGHEST_PLATFORM_COMMAND: u32 = 30;

/// The vTPM protocol over an engine.
pub struct VtpmProtocol<E> {
    engine: E,
    /// The private copy of the guest's buffer, allocated once: a call allocates nothing itself.
    buffer: Box<[u8; BUFFER_SIZE]>,
}

impl<E> core::fmt::Debug for VtpmProtocol<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VtpmProtocol").finish_non_exhaustive()
    }
}

impl<E: TpmEngine> VtpmProtocol<E> {
    /// Serves `engine` to the guest.
    pub fn new(engine: E) -> Self {
        Self { engine, buffer: Box::new([0; BUFFER_SIZE]) }
    }

    /// The engine (for the firmware's own use, e.g. measuring into PCRs).
    pub fn engine(&mut self) -> &mut E {
        &mut self.engine
    }

    fn command(&mut self, gpa: u64, context: &mut CallContext<'_>) -> Result<(), SvsmError> {
        // GPA 0 is refused like the peer does. The protocol asks no alignment (COCONUT reads 4096
        // bytes from any GPA); the buffer check covers every page the buffer touches.
        if gpa == 0 {
            return Err(GuestError::InvalidParameter(ParamError::VtpmBuffer).into());
        }
        let guest = context.buffer(gpa, BUFFER_SIZE as u64, 1)?;
        let result = self.exchange(&guest, context);
        // Commands and responses carry secrets (authValues, sensitive data, Unseal's output): the
        // private copy is wiped after every call, whatever its outcome (threat model T5).
        self.buffer.zeroize();
        result
    }

    /// Copies the request in, runs it, writes the response back.
    fn exchange(&mut self, guest: &GuestBuffer, context: &mut CallContext<'_>) -> Result<(), SvsmError> {
        // One copy into private memory; everything below looks only at the copy.
        let buffer = &mut self.buffer[..];
        context.read(guest, buffer)?;
        let command = parse_request(buffer)?;
        let response = Zeroizing::new(self.engine.execute(command));
        // The engine bounds its responses; a larger one would be a bug, not the guest's fault.
        let response = response.get(..response.len().min(MAX_RESPONSE)).unwrap_or(&[]);
        encode_response(response, buffer);
        // The whole buffer goes back, as the peer does: nothing of the request is left behind it.
        context.write(guest, 0, buffer)?;
        Ok(())
    }
}

/// Writes `response` (at most [`MAX_RESPONSE`] bytes, else truncated) into `buffer` behind its header,
/// zeroing the rest.
fn encode_response(response: &[u8], buffer: &mut [u8]) {
    buffer.fill(0);
    let len = response.len().min(MAX_RESPONSE);
    let header = VtpmResponseHeader { size: (len as u32).into() };
    let _ = header.write_to_prefix(buffer);
    if let (Some(dst), Some(src)) =
        (buffer.get_mut(RESPONSE_HEADER..RESPONSE_HEADER + len), response.get(..len))
    {
        dst.copy_from_slice(src);
    }
}

/// The guest side (the host bridge, tests): a request buffer carrying `command` at locality 0, or `None`
/// when the command does not fit.
pub fn request_buffer(command: &[u8]) -> Option<[u8; BUFFER_SIZE]> {
    if command.is_empty() || command.len() > MAX_COMMAND {
        return None;
    }
    let mut buffer = [0u8; BUFFER_SIZE];
    let header = VtpmRequestHeader {
        platform_command: TPM_SEND_COMMAND.into(),
        locality: 0,
        size: (command.len() as u32).into(),
    };
    header.write_to_prefix(&mut buffer).ok()?;
    buffer.get_mut(REQUEST_HEADER..REQUEST_HEADER + command.len())?.copy_from_slice(command);
    Some(buffer)
}

/// The guest side: the TPM response in a buffer Warden answered, or `None` when its size field points
/// past the buffer or beyond what Linux accepts ([`MAX_RESPONSE`]).
pub fn response_in(buffer: &[u8]) -> Option<&[u8]> {
    let (header, rest) = VtpmResponseHeader::read_from_prefix(buffer).ok()?;
    let size = header.size.get() as usize;
    if size > MAX_RESPONSE {
        return None;
    }
    rest.get(..size)
}

/// Checks a request buffer and returns the TPM command it carries.
pub fn parse_request(buffer: &[u8]) -> Result<&[u8], SvsmError> {
    let invalid = || SvsmError::from(GuestError::InvalidParameter(ParamError::VtpmBuffer));
    let (header, rest) = VtpmRequestHeader::read_from_prefix(buffer).map_err(|_| invalid())?;
    let platform_command = header.platform_command.get();
    if platform_command != TPM_SEND_COMMAND {
        return Err(if platform_command <= HIGHEST_PLATFORM_COMMAND {
            GuestError::UnsupportedCall.into()
        } else {
            invalid()
        });
    }
    let size = header.size.get() as usize;
    if header.locality != 0 || size == 0 || size > MAX_COMMAND {
        return Err(invalid());
    }
    rest.get(..size).ok_or_else(invalid)
}

impl<E: TpmEngine> ProtocolHandler for VtpmProtocol<E> {
    fn versions(&self) -> (u32, u32) {
        (1, 1)
    }

    fn handle(
        &mut self,
        call: u32,
        regs: GuestRegs,
        context: &mut CallContext<'_>,
    ) -> (Result<(), SvsmError>, Outputs) {
        match call {
            vtpm_call::QUERY => {
                (Ok(()), Outputs { rcx: Some(1 << TPM_SEND_COMMAND), rdx: Some(0), r8: None })
            }
            vtpm_call::CMD => (self.command(regs.rcx, context), Outputs::NONE),
            _ => (Err(GuestError::UnsupportedCall.into()), Outputs::NONE),
        }
    }
}
