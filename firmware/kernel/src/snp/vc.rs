//! The #VC handler: emulates, through the GHCB, the CPUID, port and MSR accesses that SEV-SNP turns into
//! a #VC exception (vector 29) in Warden, then resumes after the instruction; and resumes the guest-memory
//! copy at its fault exit when the guest page it touched is not validated (error code 0x404).
//!
//! The instruction is decoded from Warden's own text (bounded to 15 bytes and to the text section) by the
//! host-tested `warden_vc_decode`, and must agree with the #VC error code. The exits themselves are the
//! host-tested `warden_platform::ghcb_exits`: what the hypervisor returns counts only if its valid bit
//! is set (threat model T1); anything else terminates. Before the GHCB is
//! registered only CPUID is served, through the MSR protocol. The handler prints nothing (printing is port
//! I/O, which would raise a #VC inside the #VC), and never takes the GHCB lock blocking: a #VC while the
//! lock is held is a Warden bug and terminates. **Not exercised on hardware.**

use warden_defs::ghcb::exit::{ExitCode, IoDirection};
use warden_defs::ghcb::msr::{GHCB_MSR, MsrError};
use warden_defs::snp::VC_EXIT_NOT_VALIDATED;
use warden_platform::ghcb_exits::{self, ExitError};
use warden_vc_decode::{
    MAX_INSTRUCTION_LEN, Port, VcInstruction, VcKind, cpuid_contradicts_snp, decode, merge_in,
};
use x86_64::VirtAddr;

use super::ghcb::{GHCB, SharedGhcb};
use super::instructions::{read_ghcb_msr, vmgexit, write_ghcb_msr};
use super::{Reason, terminate_with};
use crate::cpu::exceptions::VirtualizationEntry;

/// What the stub pushes, lowest address first (the same register order as `cpu::exceptions`).
#[derive(Debug)]
#[repr(C)]
pub struct VcFrame {
    /// R15 down to RAX.
    pub gprs: [u64; 15],
    /// The #VC error code: the exit code of the intercepted instruction.
    pub error_code: u64,
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

const RAX: usize = 14;
const RCX: usize = 12;
const RDX: usize = 11;
const RBX: usize = 13;
const LOW32: u64 = 0xFFFF_FFFF;
/// MSRs whose value must come from the CPU, never from the hypervisor: SEV_STATUS and the GHCB MSR.
const PROTECTED_MSRS: [u64; 2] = [0xC001_0131, GHCB_MSR as u64];

core::arch::global_asm!(
    r#"
    .section .text.vc, "ax"
    .balign 16
    .global warden_vc_entry
warden_vc_entry:
    /* The CPU pushed SS, RSP, RFLAGS, CS, RIP and the error code on the interrupted stack (no IST:
     * a #VC raised while another handler runs on the IST stack must not overwrite its frame). */
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
    add $8, %rsp
    iretq
    "#,
    handler = sym vc_handler,
    options(att_syntax)
);

unsafe extern "C" {
    /// The entry above.
    fn warden_vc_entry();
}

/// The #VC IDT entry, for `cpu::init` on SNP.
pub fn entry() -> VirtualizationEntry {
    // SAFETY: `warden_vc_entry` (above) takes the CPU's #VC frame, saves and restores the general
    // registers around `vc_handler`, pops the error code and returns with IRETQ.
    unsafe { VirtualizationEntry::vc(VirtAddr::new(warden_vc_entry as *const () as u64)) }
}

/// Called by `warden_vc_entry` with the saved registers; returns to resume after the instruction.
extern "C" fn vc_handler(frame: &mut VcFrame) {
    // Only Warden's own (ring 0) code runs here.
    if frame.cs & 3 != 0 {
        terminate_with(Reason::UnhandledVc);
    }
    // A guest page that is not validated, touched by the guest-memory copy: resume at its fault exit
    // (`guest_memory`'s one fixup). Anywhere else Warden touched a page it relied on: fatal.
    if frame.error_code == VC_EXIT_NOT_VALIDATED {
        match super::guest_memory::not_validated_fixup(frame.rip) {
            Some(resume) => {
                frame.rip = resume;
                return;
            }
            None => terminate_with(Reason::UnhandledVc),
        }
    }
    let Some(instruction) = fetch(frame.rip).and_then(|bytes| decode(bytes).ok()) else {
        terminate_with(Reason::UnhandledVc)
    };
    if instruction.kind.exit_code() != ExitCode(frame.error_code) {
        terminate_with(Reason::UnhandledVc);
    }
    let Some(mut slot) = GHCB.try_lock() else { terminate_with(Reason::UnhandledVc) };
    let ok = match slot.as_mut() {
        Some(ghcb) => emulate(ghcb, instruction.kind, &mut frame.gprs).is_ok(),
        None => emulate_early(instruction, &mut frame.gprs).is_ok(),
    };
    drop(slot);
    if !ok {
        terminate_with(Reason::HypervisorMisbehaved);
    }
    frame.rip += u64::from(instruction.length);
}

/// The instruction bytes at `rip`, if `rip` lies in Warden's text: at most 15, never past its end.
pub(crate) fn fetch(rip: u64) -> Option<&'static [u8]> {
    let [(_, text), (_, text_end), ..] = crate::layout_check::sections();
    if !(text..text_end).contains(&rip) {
        return None;
    }
    let len = (text_end - rip).min(MAX_INSTRUCTION_LEN as u64) as usize;
    // SAFETY: `rip..rip + len` lies inside the text section, which is mapped readable for the whole
    // run and never written (layout_check: text is read-only).
    Some(unsafe { core::slice::from_raw_parts(rip as *const u8, len) })
}

/// CPUID before the GHCB exists: one MSR-protocol request per register (the only #VC served then).
fn emulate_early(instruction: VcInstruction, gprs: &mut [u64; 15]) -> Result<(), MsrError> {
    if instruction.kind != VcKind::Cpuid {
        terminate_with(Reason::UnhandledVc);
    }
    // The MSR protocol's CPUID takes no sub-leaf: the hypervisor answers sub-leaf 0, so only requests
    // for sub-leaf 0 are served (`__cpuid` passes ECX = 0; Warden's early leaves need nothing else).
    if gprs[RCX] & LOW32 != 0 {
        terminate_with(Reason::UnhandledVc);
    }
    let leaf = gprs[RAX] & LOW32;
    let mut values = [0u64; 4];
    for (register, value) in values.iter_mut().enumerate() {
        let request = (leaf << 32) | ((register as u64) << 30) | 0x004;
        // SAFETY: a CPUID request only asks for information.
        unsafe {
            write_ghcb_msr(request);
            vmgexit();
        }
        let response = read_ghcb_msr();
        // The response must be CPUID's (0x005) and name the register asked for.
        if response & 0xFFF != 0x005 || (response >> 30) & 3 != register as u64 {
            return Err(MsrError::WrongFunction { expected: 0x005, got: (response & 0xFFF) as u16 });
        }
        *value = response >> 32;
    }
    if cpuid_contradicts_snp(leaf as u32, values[0] as u32) {
        terminate_with(Reason::HypervisorMisbehaved);
    }
    [gprs[RAX], gprs[RBX], gprs[RCX], gprs[RDX]] = values;
    Ok(())
}

/// The exit through the GHCB (`warden_platform::ghcb_exits` builds it and checks the reply) and the
/// register updates.
fn emulate(ghcb: &mut SharedGhcb, kind: VcKind, gprs: &mut [u64; 15]) -> Result<(), ExitError> {
    match kind {
        VcKind::Cpuid => {
            let leaf = gprs[RAX] as u32;
            let result = ghcb_exits::cpuid(ghcb, leaf, gprs[RCX] as u32, xcr0())?;
            if cpuid_contradicts_snp(leaf, result.eax) {
                terminate_with(Reason::HypervisorMisbehaved);
            }
            [gprs[RAX], gprs[RBX], gprs[RCX], gprs[RDX]] =
                [result.eax, result.ebx, result.ecx, result.edx].map(u64::from);
        }
        VcKind::Rdmsr | VcKind::Wrmsr => {
            let msr = gprs[RCX] as u32;
            // These two are never intercepted under SNP; a #VC for them means the hypervisor wants to
            // answer what the CPU itself must (SEV_STATUS decides the platform, threat model T3).
            if PROTECTED_MSRS.contains(&u64::from(msr)) {
                terminate_with(Reason::HypervisorMisbehaved);
            }
            if kind == VcKind::Wrmsr {
                ghcb_exits::wrmsr(ghcb, msr, ((gprs[RDX] & LOW32) << 32) | (gprs[RAX] & LOW32))?;
            } else {
                let value = ghcb_exits::rdmsr(ghcb, msr)?;
                [gprs[RAX], gprs[RDX]] = [value & LOW32, value >> 32];
            }
        }
        VcKind::Io(access) => {
            let port = match access.port {
                Port::Immediate(port) => u16::from(port),
                Port::Dx => gprs[RDX] as u16,
            };
            match access.direction {
                IoDirection::In => {
                    let value = ghcb_exits::io_in(ghcb, port, access.width)?;
                    gprs[RAX] = merge_in(gprs[RAX], value, access.width);
                }
                IoDirection::Out => ghcb_exits::io_out(ghcb, port, access.width, gprs[RAX])?,
            }
        }
    }
    Ok(())
}

/// XCR0 for the CPUID exit (leaf 0xD depends on it): XGETBV when CR4.OSXSAVE is on, else x87 only.
fn xcr0() -> u64 {
    use x86_64::registers::control::{Cr4, Cr4Flags};
    if !Cr4::read().contains(Cr4Flags::OSXSAVE) {
        return 1;
    }
    let (low, high): (u32, u32);
    // SAFETY: XGETBV(0) reads XCR0; CR4.OSXSAVE is set (checked), so it does not fault. It is not
    // intercepted under SNP, so no nested #VC.
    unsafe {
        core::arch::asm!("xgetbv", in("ecx") 0, out("eax") low, out("edx") high, options(nomem, nostack))
    };
    (u64::from(high) << 32) | u64::from(low)
}
