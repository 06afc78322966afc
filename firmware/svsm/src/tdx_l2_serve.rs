//! Serving one L2 exit on TDX: what Warden writes back into the L2 guest-state buffer, and what is left
//! for the firmware to do with an instruction (a port forwarded to the VMM, CPUID executed) before the
//! next TDG.VP.ENTER. The firmware copies the buffer into a private [`L2GuestState`] once per exit,
//! calls [`serve`], and copies the result back.
//!
//! SVSM calls on TDX: the L2 executes VMCALL with RAX = protocol << 32 | call and its arguments in RCX,
//! RDX, R8, R9 (the SVSM calling convention's registers, SVSM spec (AMD 58019)); Warden answers in RAX,
//! RCX, RDX, R8 and advances RIP past the VMCALL. There is no calling area and no `call_pending`: the
//! TDX module, not the host VMM, carries L2 exits to the L1, so the host can neither drop nor forge a
//! call (TD Partitioning Architecture Specification, TDG.VP.ENTER).
use crate::dispatch::Dispatcher;
use crate::guest::GuestMemory;
use crate::regs::{Caller, GuestRegs};
use crate::tdx_l2_exit::{ExitError, ExitInfo, IoAction, L2Exit, decode, io_policy};
use warden_defs::tdx::TdxStatus;
use warden_defs::tdx_partition::{EptQualification, L2GuestState, gpr};
use warden_platform::memory::SnpMemory;

/// What the firmware must do after [`serve`] updated the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// Nothing: enter the L2 again.
    Resume,
    /// Forward the OUT to the VMM (TDG.VP.VMCALL<Instruction.IO>), then resume.
    PortOut {
        /// The port.
        port: u16,
        /// Bytes.
        size: u8,
        /// The value.
        value: u32,
    },
    /// Forward the one-byte IN to the VMM, put its answer in with [`complete_port_in`], then resume.
    PortIn {
        /// The port.
        port: u16,
    },
    /// Execute CPUID (Warden's own answer), put it in with [`complete_cpuid`], then resume.
    Cpuid {
        /// EAX.
        leaf: u32,
        /// ECX.
        subleaf: u32,
    },
    /// The guest halted: it is done.
    Halted,
    /// The guest touched memory it was not granted: stop it, never resume it.
    Denied {
        /// The GPA.
        gpa: u64,
        /// The access.
        qualification: EptQualification,
    },
    /// A triple fault, an exit Warden does not serve, or exit information it cannot trust: stop.
    Stop(Stop),
}

/// Why the guest is stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The L2 triple-faulted.
    TripleFault,
    /// An exit reason Warden does not serve.
    Unserved(u32),
    /// The exit information was refused.
    Malformed(ExitError),
}

/// RIP past an instruction of `length` bytes.
fn advance(state: &mut L2GuestState, length: u8) {
    state.rip = state.rip.wrapping_add(u64::from(length));
}

/// Writes the low `size` bytes of `value` into RAX as IN does (8 and 16 bits merge into RAX; 32 bits
/// zero-extend, as any 32-bit register write in 64-bit mode; Intel SDM vol. 1, §3.4.1.1).
fn set_accumulator(state: &mut L2GuestState, size: u8, value: u32) {
    let rax = &mut state.gprs[gpr::RAX];
    *rax = match size {
        1 => (*rax & !0xFF) | u64::from(value & 0xFF),
        2 => (*rax & !0xFFFF) | u64::from(value & 0xFFFF),
        _ => u64::from(value),
    };
}

/// Serves the exit TDG.VP.ENTER reported as `info`, with the L2's registers in `state` (Warden's own
/// copy). SVSM calls go through `dispatcher` as the SNP loop's do (`caller` is the one vCPU); the
/// answers are written into `state`.
pub fn serve<E: SnpMemory + GuestMemory>(
    dispatcher: &mut Dispatcher,
    env: &mut E,
    caller: Caller,
    state: &mut L2GuestState,
    info: &ExitInfo,
) -> Service {
    let exit = match decode(info) {
        Ok(exit) => exit,
        Err(error) => return Service::Stop(Stop::Malformed(error)),
    };
    match exit {
        L2Exit::SvsmCall { length } => {
            let mut regs = GuestRegs {
                rax: state.gprs[gpr::RAX],
                rcx: state.gprs[gpr::RCX],
                rdx: state.gprs[gpr::RDX],
                r8: state.gprs[gpr::R8],
                r9: state.gprs[gpr::R9],
            };
            dispatcher.handle(env, caller, regs).apply(&mut regs);
            state.gprs[gpr::RAX] = regs.rax;
            state.gprs[gpr::RCX] = regs.rcx;
            state.gprs[gpr::RDX] = regs.rdx;
            state.gprs[gpr::R8] = regs.r8;
            advance(state, length);
            Service::Resume
        }
        L2Exit::Io { qualification, length } => {
            advance(state, length);
            match io_policy(qualification, state.gprs[gpr::RAX]) {
                IoAction::ForwardOut { port, size, value } => Service::PortOut { port, size, value },
                IoAction::ForwardIn { port } => Service::PortIn { port },
                IoAction::AllOnes { size } => {
                    set_accumulator(state, size, u32::MAX);
                    Service::Resume
                }
                IoAction::Drop => Service::Resume,
            }
        }
        L2Exit::Cpuid { length } => {
            advance(state, length);
            Service::Cpuid { leaf: state.gprs[gpr::RAX] as u32, subleaf: state.gprs[gpr::RCX] as u32 }
        }
        L2Exit::Tdcall { length } => {
            // The TDX module's services (reports, RTMRs, page attributes) are the L1's: refused.
            state.gprs[gpr::RAX] = TdxStatus::OPERAND_INVALID.0;
            advance(state, length);
            Service::Resume
        }
        L2Exit::Msr { write, length } => {
            // No MSR is the L2's yet: RDMSR reads 0 (EDX:EAX), WRMSR is dropped.
            if !write {
                state.gprs[gpr::RAX] = 0;
                state.gprs[gpr::RDX] = 0;
            }
            advance(state, length);
            Service::Resume
        }
        L2Exit::Hlt => Service::Halted,
        L2Exit::EptViolation { gpa, qualification } => Service::Denied { gpa, qualification },
        L2Exit::TripleFault => Service::Stop(Stop::TripleFault),
        L2Exit::Other(reason) => Service::Stop(Stop::Unserved(reason)),
    }
}

/// Puts the VMM's answer to a forwarded one-byte IN into AL.
pub fn complete_port_in(state: &mut L2GuestState, value: u8) {
    set_accumulator(state, 1, u32::from(value));
}

/// Puts CPUID's answer into RAX, RBX, RCX, RDX (each zero-extended, as CPUID writes them).
pub fn complete_cpuid(state: &mut L2GuestState, [eax, ebx, ecx, edx]: [u32; 4]) {
    state.gprs[gpr::RAX] = u64::from(eax);
    state.gprs[gpr::RBX] = u64::from(ebx);
    state.gprs[gpr::RCX] = u64::from(ecx);
    state.gprs[gpr::RDX] = u64::from(edx);
}
