//! The register interface of an SVSM call: what the guest passes in, what Warden hands back.
//!
//! Source: SVSM spec (AMD 58019), "SVSM calling convention"; Linux `svsm_issue_call`: RAX = protocol << 32 | call,
//! arguments in RCX, RDX, R8, R9; RAX = result and RCX/RDX/R8 may carry outputs.
use crate::error::SvsmError;
use warden_defs::svsm::ResultCode;

/// The guest's argument registers, copied out of its VMSA (or a transport frame) once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GuestRegs {
    /// Protocol in bits 63:32, call in bits 31:0.
    pub rax: u64,
    /// First argument.
    pub rcx: u64,
    /// Second argument.
    pub rdx: u64,
    /// Third argument.
    pub r8: u64,
    /// Fourth argument (no call in the reference uses it; carried for completeness).
    pub r9: u64,
}

/// Who is calling: facts the request loop knows about the calling vCPU, not guest-controlled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The calling vCPU's APIC ID.
    pub apic_id: u32,
    /// SEV_FEATURES of the calling vCPU's VMSA: CREATE_VCPU requires a new VMSA to match it.
    pub sev_features: u64,
}

/// Output registers a handler sets; `None` leaves the guest's register unchanged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outputs {
    /// RCX.
    pub rcx: Option<u64>,
    /// RDX.
    pub rdx: Option<u64>,
    /// R8.
    pub r8: Option<u64>,
}

impl Outputs {
    /// No outputs.
    pub const NONE: Self = Self { rcx: None, rdx: None, r8: None };

    /// Only RCX.
    pub const fn rcx(value: u64) -> Self {
        Self { rcx: Some(value), rdx: None, r8: None }
    }
}

/// What the request loop writes back to the guest, plus why a call failed (for logging and for the
/// loop's decision to stop on a [`SvsmError::Bug`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// RAX: the result code.
    pub rax: ResultCode,
    /// Output registers (set even on some failures, as the attestation protocol requires).
    pub outputs: Outputs,
    /// The error behind a failing `rax`; never shown to the guest beyond its code.
    pub error: Option<SvsmError>,
}

impl Reply {
    /// The reply for a handler's result.
    pub fn from_result(result: Result<(), SvsmError>, outputs: Outputs) -> Self {
        match result {
            Ok(()) => Self { rax: ResultCode::SUCCESS, outputs, error: None },
            Err(error) => Self { rax: error.code(), outputs, error: Some(error) },
        }
    }

    /// Writes the reply over the guest's registers: RAX always, RCX/RDX/R8 where set.
    pub fn apply(&self, regs: &mut GuestRegs) {
        regs.rax = self.rax.0;
        if let Some(v) = self.outputs.rcx {
            regs.rcx = v;
        }
        if let Some(v) = self.outputs.rdx {
            regs.rdx = v;
        }
        if let Some(v) = self.outputs.r8 {
            regs.r8 = v;
        }
    }
}
