//! The #VE handler: emulates, through TDG.VP.VMCALL, the CPUID, port I/O, MSR and HLT instructions the
//! TDX module turns into a virtualization exception (vector 20) in Warden, then resumes after the
//! instruction; anything else (an EPT violation on a pending page above all) ends the TD with
//! ReportFatalError after saying why on the console.
//!
//! The decisions are the host-tested `warden_platform::tdx_ve` (over `warden-sim`'s VMM); this file
//! holds only the entry stub, TDG.VP.VEINFO.GET, and the TDCALLs behind `TdVmcall`. Printing is safe in
//! here: the TDX console is TDG.VP.VMCALL<Instruction.IO> itself, never port I/O, so it cannot raise a
//! #VE of its own. TDX Module v1.5 Base Architecture Specification (348549), "Virtualization Exception".
use core::sync::atomic::{AtomicU64, Ordering};

use warden_defs::ghcb::exit::IoWidth;
use warden_defs::tdx::{TdvmcallStatus, exit_reason};
use warden_platform::Termination;
use warden_platform::tdx_ve::{self, TdVmcall, VeRegisters, VmcallError};
use x86_64::VirtAddr;

use super::report_fatal_error;
use super::tdcall::{VmcallResult, ve_info, vmcall};
use crate::console::print_unlocked;
use crate::cpu::exceptions::VirtualizationEntry;

/// What the stub pushes, lowest address first (the register order of `cpu::exceptions`); #VE pushes
/// no error code.
#[derive(Debug)]
#[repr(C)]
pub struct VeFrame {
    /// R15 down to RAX.
    pub gprs: [u64; 15],
    /// The intercepted instruction.
    pub rip: u64,
    /// The code segment.
    pub cs: u64,
    /// RFLAGS.
    pub rflags: u64,
    /// The interrupted stack pointer.
    pub rsp: u64,
    /// The stack segment.
    pub ss: u64,
}

/// How many #VEs were emulated (the test image checks its intercepted instructions went through here).
static EMULATED: AtomicU64 = AtomicU64::new(0);

/// How many #VEs the handler has emulated so far.
#[cfg_attr(not(feature = "insecure_test_image"), expect(dead_code, reason = "read by the test image only"))]
pub fn emulated() -> u64 {
    EMULATED.load(Ordering::Relaxed)
}

const RAX: usize = 14;
const RBX: usize = 13;
const RCX: usize = 12;
const RDX: usize = 11;
const RFLAGS_IF: u64 = 1 << 9;

core::arch::global_asm!(
    r#"
    .section .text.ve, "ax"
    .balign 16
    .global warden_ve_entry
warden_ve_entry:
    /* The CPU pushed SS, RSP, RFLAGS, CS and RIP on the interrupted stack (no IST, as for #VC). */
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, %rdi
    mov %rsp, %rbx
    and $-16, %rsp
    cld
    call {handler}
    mov %rbx, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    iretq
    "#,
    handler = sym ve_handler,
    options(att_syntax)
);

unsafe extern "C" {
    /// The entry above.
    fn warden_ve_entry();
}

/// The #VE IDT entry, for the TDX boot's CPU step.
pub fn entry() -> VirtualizationEntry {
    // SAFETY: `warden_ve_entry` (above) takes the CPU's #VE frame (no error code), saves and restores
    // the general registers around `ve_handler`, and returns with IRETQ.
    unsafe { VirtualizationEntry::ve(VirtAddr::new(warden_ve_entry as *const () as u64)) }
}

/// Called by `warden_ve_entry` with the saved registers; returns to resume after the instruction.
extern "C" fn ve_handler(frame: &mut VeFrame) {
    // First: until VEINFO.GET the TDX module delivers a nested #VE as #DF.
    let info = match ve_info() {
        Ok(info) => info,
        Err(status) => fatal(format_args!("no #VE information (status {status:#x})"), frame.rip),
    };
    // Only Warden's own (ring 0) code runs in the TD's L1.
    if frame.cs & 3 != 0 {
        fatal(format_args!("#VE from ring {}", frame.cs & 3), frame.rip);
    }
    let gprs = &mut frame.gprs;
    let mut registers = VeRegisters { rax: gprs[RAX], rbx: gprs[RBX], rcx: gprs[RCX], rdx: gprs[RDX] };
    let blocked = frame.rflags & RFLAGS_IF == 0;
    match tdx_ve::handle(&mut TdxVmm, &info, &mut registers, blocked) {
        Ok(length) => {
            [gprs[RAX], gprs[RBX], gprs[RCX], gprs[RDX]] =
                [registers.rax, registers.rbx, registers.rcx, registers.rdx];
            frame.rip += length;
            EMULATED.fetch_add(1, Ordering::Relaxed);
        }
        Err(error) => {
            fatal(format_args!("{error:?} (exit qualification {:#x})", info.exit_qualification), frame.rip)
        }
    }
}

/// Says why on the console (TDVMCALL, no #VE) and ends the TD.
fn fatal(what: core::fmt::Arguments, rip: u64) -> ! {
    print_unlocked(format_args!("\nwarden: FATAL #VE at rip {rip:#018x}: {what}\n"));
    report_fatal_error(Termination::Failure)
}

/// The VMM, through TDG.VP.VMCALL.
struct TdxVmm;

/// A VMM answer: the TDCALL must have reached the VMM (RAX = 0) and the VMM must report success.
fn answer(result: VmcallResult) -> Result<VmcallResult, VmcallError> {
    if result.tdcall_status != 0 {
        return Err(VmcallError::Tdcall(result.tdcall_status));
    }
    if result.status != TdvmcallStatus::SUCCESS.0 {
        return Err(VmcallError::Refused(result.status));
    }
    Ok(result)
}

fn io_bytes(width: IoWidth) -> u64 {
    match width {
        IoWidth::Byte => 1,
        IoWidth::Word => 2,
        IoWidth::Dword => 4,
    }
}

impl TdVmcall for TdxVmm {
    fn cpuid(&mut self, leaf: u32, subleaf: u32) -> Result<[u32; 4], VmcallError> {
        // SAFETY: Instruction.CPUID only asks for information.
        let result = answer(unsafe {
            vmcall(u64::from(exit_reason::CPUID), [u64::from(leaf), u64::from(subleaf), 0, 0])
        })?;
        Ok(result.registers.map(|value| value as u32))
    }

    fn hlt(&mut self, interrupts_blocked: bool) -> Result<(), VmcallError> {
        // SAFETY: Instruction.HLT only pauses this vCPU.
        answer(unsafe { vmcall(u64::from(exit_reason::HLT), [u64::from(interrupts_blocked), 0, 0, 0]) })?;
        Ok(())
    }

    fn io_in(&mut self, port: u16, width: IoWidth) -> Result<u64, VmcallError> {
        // SAFETY: a port read reaches the VMM's device model; no memory is involved.
        let result =
            answer(unsafe { vmcall(u64::from(exit_reason::IO), [io_bytes(width), 0, u64::from(port), 0]) })?;
        Ok(result.output)
    }

    fn io_out(&mut self, port: u16, width: IoWidth, value: u64) -> Result<(), VmcallError> {
        // SAFETY: a port write reaches the VMM's device model; no memory is involved.
        answer(unsafe { vmcall(u64::from(exit_reason::IO), [io_bytes(width), 1, u64::from(port), value]) })?;
        Ok(())
    }

    fn rdmsr(&mut self, msr: u32) -> Result<u64, VmcallError> {
        // SAFETY: an MSR read the TDX module left to the VMM: the VMM's answer, no memory involved.
        let result = answer(unsafe { vmcall(u64::from(exit_reason::RDMSR), [u64::from(msr), 0, 0, 0]) })?;
        Ok(result.output)
    }

    fn wrmsr(&mut self, msr: u32, value: u64) -> Result<(), VmcallError> {
        // SAFETY: an MSR write the TDX module left to the VMM (it cannot reach TD-private state).
        answer(unsafe { vmcall(u64::from(exit_reason::WRMSR), [u64::from(msr), value, 0, 0]) })?;
        Ok(())
    }
}
