//! Warden's measured-boot protocol ([`PROTOCOL_WARDEN_MEASURED_BOOT`]): hands the guest the TCG event
//! log of what Warden measured into its vTPM at start-up (PCR 0: the launch, PCR 1: the configuration),
//! so that a verifier can replay those PCRs. Documented in `docs/measured-boot.md`.
//!
//! GET_EVENT_LOG (call 0): RCX = the GPA of a page-aligned guest buffer, RDX = its size in bytes. When
//! the buffer holds the log, Warden copies the log to its start and answers SVSM_SUCCESS; when it is
//! smaller (a size of 0 asks only for the size), SVSM_ERR_INVALID_PARAMETER and nothing is written. RCX
//! holds the log's size on every return, so a guest asks once with RDX = 0 and again with a buffer that
//! large (the convention Linux already follows for the attestation protocol's buffers).
//!
//! The range written passes the [`CallContext`]'s buffer check (threat model T4): guest RAM, never a
//! VMSA, another vCPU's calling area or a page Warden owns; a refused address is
//! SVSM_ERR_INVALID_ADDRESS. The log is fixed before the guest runs, so there is nothing to read from
//! the guest but two registers.
//!
//! [`PROTOCOL_WARDEN_MEASURED_BOOT`]: warden_defs::svsm::PROTOCOL_WARDEN_MEASURED_BOOT
use alloc::vec::Vec;
use warden_defs::layout::PAGE_SIZE;
use warden_defs::svsm::measured_boot_call;

use crate::buffer::CallContext;
use crate::dispatch::ProtocolHandler;
use crate::error::{GuestError, ParamError, SvsmError};
use crate::regs::{GuestRegs, Outputs};

/// The protocol over one event log.
#[derive(Debug)]
pub struct EventLogProtocol {
    log: Vec<u8>,
}

impl EventLogProtocol {
    /// Serves `log` (a TCG crypto-agile event log) to the guest.
    pub fn new(log: Vec<u8>) -> Self {
        Self { log }
    }

    fn get_event_log(&self, regs: GuestRegs, context: &mut CallContext<'_>) -> Result<(), SvsmError> {
        let (gpa, size) = (regs.rcx, regs.rdx);
        let len = self.log.len() as u64;
        if size < len {
            return Err(GuestError::InvalidParameter(ParamError::EventLogBufferTooSmall).into());
        }
        // Only the bytes written are checked: the rest of the guest's buffer is never touched.
        let buffer = context.buffer(gpa, len.max(1), PAGE_SIZE)?;
        context.write(&buffer, 0, &self.log)?;
        Ok(())
    }
}

impl ProtocolHandler for EventLogProtocol {
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
            measured_boot_call::GET_EVENT_LOG => {
                (self.get_event_log(regs, context), Outputs::rcx(self.log.len() as u64))
            }
            _ => (Err(GuestError::UnsupportedCall.into()), Outputs::NONE),
        }
    }
}
