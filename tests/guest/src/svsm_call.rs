//! One SVSM call (SVSM spec (AMD 58019), "SVSM calling convention": RAX = protocol << 32 | call,
//! arguments in RCX, RDX, R8, R9; results in RAX, RCX, RDX, R8), through the platform's [`Channel`].
//!
//! SEV-SNP, as Linux's `svsm_issue_call` makes it (GHCB spec (AMD 56421) §2.3.1, "Run VMPL Request"):
//! `call_pending` = 1 in the calling area; the GHCB MSR = RUN_VMPL(0); VMGEXIT. Afterwards the MSR
//! must read the RUN_VMPL response with 0 in bits 63:32, and `xchg(call_pending, 0)` must give 0:
//! otherwise Warden never ran, whatever RAX says.
//!
//! TDX (the guest as Warden's L2): VMCALL, with the same registers. The exit goes from the TDX module
//! to Warden, the L1, never through the host VMM (Intel TDX Module TD Partitioning Architecture
//! Specification, L2 exits), so there is no calling area and no `call_pending`: the host can neither
//! drop nor forge the call.
use core::sync::atomic::{AtomicU8, Ordering};

use warden_defs::ghcb::msr::{self, MsrError};
use warden_defs::svsm::{CallId, ResultCode};

use crate::instr;

/// What Warden answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    /// RAX: the result code.
    pub result: ResultCode,
    /// RCX after the call.
    pub rcx: u64,
    /// RDX after the call.
    pub rdx: u64,
    /// R8 after the call.
    pub r8: u64,
}

/// Why a call did not reach Warden.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The hypervisor's RUN_VMPL response is wrong (not 0x017, or a non-zero error).
    RunVmpl(MsrError),
    /// `call_pending` was still set: Warden never looked at the call.
    NotServed,
}

/// How the guest's calls reach Warden.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// SEV-SNP: the calling area at this GPA, and VMGEXIT.
    CallingArea(u64),
    /// TDX: VMCALL from the L2.
    Vmcall,
}

/// Makes the call `protocol`/`call` with `args` (RCX, RDX, R8, R9) through `channel`.
pub fn call(channel: Channel, protocol: u32, call: u32, args: [u64; 4]) -> Result<Answer, CallError> {
    let rax = CallId { protocol, call }.to_rax();
    match channel {
        Channel::CallingArea(caa) => call_through_calling_area(caa, rax, args),
        Channel::Vmcall => {
            let [result, rcx, rdx, r8] = instr::vmcall_svsm(rax, args[0], args[1], args[2], args[3]);
            Ok(Answer { result: ResultCode(result), rcx, rdx, r8 })
        }
    }
}

/// The SNP call through the calling area at `caa`, `rax` already built.
fn call_through_calling_area(caa: u64, rax: u64, args: [u64; 4]) -> Result<Answer, CallError> {
    // SAFETY: `caa` is the guest's current calling area: a validated private page of its own that Warden
    // also writes (call_pending), so it is only reached through this atomic, never a plain reference.
    let pending = unsafe { AtomicU8::from_ptr(caa as *mut u8) };
    // The GHCB MSR holds the GHCB's GPA for the console's exits; put it back afterwards (Linux does).
    let saved = instr::rdmsr(instr::GHCB_MSR);
    pending.store(1, Ordering::SeqCst);
    instr::write_ghcb_msr(msr::run_vmpl_request(0));
    let [result, rcx, rdx, r8] = instr::vmgexit_call(rax, args[0], args[1], args[2], args[3]);
    let response = instr::rdmsr(instr::GHCB_MSR);
    instr::write_ghcb_msr(saved);
    let was_pending = pending.swap(0, Ordering::SeqCst);
    msr::check_run_vmpl(response).map_err(CallError::RunVmpl)?;
    if was_pending != 0 {
        return Err(CallError::NotServed);
    }
    Ok(Answer { result: ResultCode(result), rcx, rdx, r8 })
}
