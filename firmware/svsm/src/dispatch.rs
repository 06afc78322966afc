//! The dispatcher: routes a call by protocol, answers QUERY_PROTOCOL from what is registered, and turns
//! every outcome into the guest's result registers.
//!
//! Source: SVSM spec (AMD 58019): an unknown protocol answers SVSM_ERR_UNSUPPORTED_PROTOCOL, an unknown
//! call SVSM_ERR_UNSUPPORTED_CALL; SVSM_CORE_QUERY_PROTOCOL answers RCX = max << 32 | min when the asked
//! version is in range, else 0, and the call itself succeeds (Linux, COCONUT `protocols/core.rs`).
use crate::buffer::CallContext;
use crate::core_protocol::{CORE_VERSIONS, CoreProtocol};
use crate::error::{GuestError, SvsmError};
use crate::guest::GuestMemory;
use crate::regs::{Caller, GuestRegs, Outputs, Reply};
use alloc::boxed::Box;
use alloc::vec::Vec;
use warden_defs::svsm::{CallId, PROTOCOL_CORE, core_call, query_protocol_answer};
use warden_platform::memory::SnpMemory;

/// A protocol other than the core one (attestation, vTPM). It reaches guest memory only through the
/// [`CallContext`]'s checked buffers, and must follow the same rules: copy once, check, never panic.
pub trait ProtocolHandler {
    /// The versions it serves, `(min, max)`.
    fn versions(&self) -> (u32, u32);
    /// One call; an unknown `call` must answer [`GuestError::UnsupportedCall`].
    fn handle(
        &mut self,
        call: u32,
        regs: GuestRegs,
        context: &mut CallContext<'_>,
    ) -> (Result<(), SvsmError>, Outputs);
}

/// Why a handler cannot be registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterError {
    /// The core protocol is built in.
    Core,
    /// The protocol already has a handler.
    Taken,
}

/// The dispatcher. Calls take `&mut self`: the request loop serialises them (one lock), which also
/// orders PVALIDATE against CREATE_VCPU.
pub struct Dispatcher {
    core: CoreProtocol,
    handlers: Vec<(u32, Box<dyn ProtocolHandler + Send>)>,
}

impl core::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let protocols: Vec<u32> = self.handlers.iter().map(|(p, _)| *p).collect();
        f.debug_struct("Dispatcher").field("core", &self.core).field("protocols", &protocols).finish()
    }
}

impl Dispatcher {
    /// A dispatcher serving only the core protocol.
    pub fn new(core: CoreProtocol) -> Self {
        Self { core, handlers: Vec::new() }
    }

    /// Serves `protocol` with `handler` from now on.
    pub fn register(
        &mut self,
        protocol: u32,
        handler: Box<dyn ProtocolHandler + Send>,
    ) -> Result<(), RegisterError> {
        if protocol == PROTOCOL_CORE {
            return Err(RegisterError::Core);
        }
        if self.handlers.iter().any(|(p, _)| *p == protocol) {
            return Err(RegisterError::Taken);
        }
        self.handlers.push((protocol, handler));
        Ok(())
    }

    /// The core protocol's state (vCPU table).
    pub fn core(&self) -> &CoreProtocol {
        &self.core
    }

    /// The core protocol, for the firmware's own changes to it (the VMSA it launches the guest with).
    pub fn core_mut(&mut self) -> &mut CoreProtocol {
        &mut self.core
    }

    /// Handles one call from `caller` with its registers, against the platform and guest memory `env`.
    pub fn handle<E: SnpMemory + GuestMemory>(
        &mut self,
        env: &mut E,
        caller: Caller,
        regs: GuestRegs,
    ) -> Reply {
        let id = CallId::from_rax(regs.rax);
        let (result, outputs) = if id.protocol == PROTOCOL_CORE {
            if id.call == core_call::QUERY_PROTOCOL {
                (Ok(()), Outputs::rcx(self.query_protocol(regs.rcx)))
            } else {
                self.core.handle(env, caller, id.call, regs)
            }
        } else {
            match self.handlers.iter_mut().find(|(p, _)| *p == id.protocol) {
                Some((_, handler)) => {
                    let mut context = CallContext::new(env, self.core.buffer_check(), caller);
                    handler.handle(id.call, regs, &mut context)
                }
                None => (Err(GuestError::UnsupportedProtocol.into()), Outputs::NONE),
            }
        };
        Reply::from_result(result, outputs)
    }

    fn query_protocol(&self, rcx: u64) -> u64 {
        let asked = CallId::from_rax(rcx);
        let (protocol, version) = (asked.protocol, asked.call);
        let range = if protocol == PROTOCOL_CORE {
            Some(CORE_VERSIONS)
        } else {
            self.handlers.iter().find(|(p, _)| *p == protocol).map(|(_, h)| h.versions())
        };
        match range {
            Some((min, max)) if min <= version && version <= max => query_protocol_answer(min, max),
            _ => 0,
        }
    }
}
