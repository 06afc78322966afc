//! TDCALL (`66 0F 01 CC`): the calls a TD guest makes to the TDX module, and through TDG.VP.VMCALL to the
//! VMM. Leaf numbers and register contracts: Intel TDX Module ABI spec (TDCALL leaves 0
//! TDG.VP.VMCALL, 1 TDG.VP.INFO, 2 TDG.MR.RTMR.EXTEND, 3 TDG.VP.VEINFO.GET, 4 TDG.MR.REPORT,
//! 6 TDG.MEM.PAGE.ACCEPT) and GHCI for Intel TDX 1.5 (726792) §3 (TDG.VP.VMCALL sub-functions: R10 = 0,
//! R11 = 0x10001 MapGPA, 0x10003 ReportFatalError, and the instruction emulations numbered by their
//! exit reasons, `warden_defs::tdx::exit_reason`).
//! **Not exercised on hardware**: no machine this was written on has TDX.
use core::arch::asm;

use warden_defs::tdx::{TDG_MEM_PAGE_ACCEPT, TDG_VP_VEINFO_GET, TDG_VP_VMCALL};
use warden_defs::tdx_report::{TDG_MR_REPORT, TDG_MR_RTMR_EXTEND};
use warden_platform::tdx_ve::VeInfo;

/// TDCALL leaf TDG.VP.INFO.
pub const TDG_VP_INFO: u64 = 1;
/// TDG.VP.VMCALL sub-function (R11): ReportFatalError (R12 = error code, R13 = message GPA or 0).
pub const TDVMCALL_REPORT_FATAL_ERROR: u64 = 0x10003;

/// The registers TDG.VP.VMCALL exposes to the VMM (RCX bitmap, bit n = GPR n in RAX, RCX, RDX, RBX,
/// RSP, RBP, RSI, RDI, R8..R15 order): R10-R15 only. The TDX module preserves the others.
const VMCALL_EXPOSE_R10_R15: u64 = 0xFC00;

/// TDG.MEM.PAGE.ACCEPT: accept the private page at `gpa` (aligned to the level) at `level` (0 = 4 KiB,
/// 1 = 2 MiB, 2 = 1 GiB). Returns the status (RAX), decoded by `warden_defs::tdx::TdxStatus`.
///
/// # Safety
/// The page must be owned by the caller with no Rust reference into it: a successful accept zeroes it
/// (`warden_platform::memory::TdxMemory::accept`).
pub unsafe fn page_accept(gpa: u64, level: u64) -> u64 {
    let status: u64;
    // SAFETY: per the contract. TDCALL reads RAX (leaf) and RCX (GPA | level), returns the status in RAX
    // and may write RCX, RDX and R8 (declared clobbered); it changes the Secure EPT and zeroes the page.
    unsafe {
        asm!(
            ".byte 0x66, 0x0F, 0x01, 0xCC",
            inlateout("rax") TDG_MEM_PAGE_ACCEPT => status,
            inlateout("rcx") gpa | level => _,
            lateout("rdx") _,
            lateout("r8") _,
            options(nostack),
        );
    }
    status
}

/// TDG.VP.INFO: returns (status, RCX). RCX\[5:0\] is the guest-physical address width (the shared bit is
/// `1 << (width - 1)`).
pub fn vp_info() -> (u64, u64) {
    let (status, rcx): (u64, u64);
    // SAFETY: TDG.VP.INFO only reports the TD's configuration in RCX, RDX, R8-R11 (declared) and touches
    // no memory. Only the TDX platform, after detection, calls it.
    unsafe {
        asm!(
            ".byte 0x66, 0x0F, 0x01, 0xCC",
            inlateout("rax") TDG_VP_INFO => status,
            lateout("rcx") rcx,
            lateout("rdx") _,
            lateout("r8") _,
            lateout("r9") _,
            lateout("r10") _,
            lateout("r11") _,
            options(nomem, nostack),
        );
    }
    (status, rcx)
}

/// TDG.VP.VEINFO.GET: the current #VE's report (exit reason, qualification, GLA, GPA, instruction
/// length), or the status (RAX) if there is none. Until it is called the TDX module turns a second #VE
/// into a #DF, so the #VE handler calls it first.
pub fn ve_info() -> Result<VeInfo, u64> {
    let (status, rcx, rdx, r8, r9, r10): (u64, u64, u64, u64, u64, u64);
    // SAFETY: TDG.VP.VEINFO.GET only reports (RCX, RDX, R8-R10, declared) and re-enables #VE delivery;
    // it touches no memory.
    unsafe {
        asm!(
            ".byte 0x66, 0x0F, 0x01, 0xCC",
            inlateout("rax") TDG_VP_VEINFO_GET => status,
            lateout("rcx") rcx,
            lateout("rdx") rdx,
            lateout("r8") r8,
            lateout("r9") r9,
            lateout("r10") r10,
            options(nomem, nostack),
        );
    }
    if status != 0 {
        return Err(status);
    }
    Ok(VeInfo::from_registers(rcx, rdx, r8, r9, r10))
}

/// What TDG.VP.VMCALL returned: the TDCALL status (RAX, from the TDX module), and the VMM's R10 (status)
/// and R11 (output), and R12-R15 as the VMM left them, all hostile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmcallResult {
    /// RAX: the TDX module's status of the TDCALL itself (0 = the VMM was called).
    pub tdcall_status: u64,
    /// R10: the VMM's status (`warden_defs::tdx::TdvmcallStatus`).
    pub status: u64,
    /// R11: the VMM's output.
    pub output: u64,
    /// R12-R15 on return (Instruction.CPUID's EAX, EBX, ECX, EDX).
    pub registers: [u64; 4],
}

/// TDG.VP.VMCALL with R10 = 0 (a GHCI-standard call), R11 = `subfunction`, R12-R15 = `args`.
///
/// # Safety
/// The sub-function's effect must be one the caller has reasoned about: MapGPA hands pages to the VMM or
/// takes them back (no Rust reference may point into them); I/O reaches a device; ReportFatalError ends
/// the TD.
pub unsafe fn vmcall(subfunction: u64, args: [u64; 4]) -> VmcallResult {
    let (tdcall_status, status, output): (u64, u64, u64);
    let mut registers = args;
    // SAFETY: per the contract. Only R10-R15 are exposed to the VMM (RCX bitmap), so only they (and RAX,
    // RCX) can change, all declared; the VMM cannot touch Warden's private memory or stack.
    unsafe {
        asm!(
            ".byte 0x66, 0x0F, 0x01, 0xCC",
            inlateout("rax") TDG_VP_VMCALL => tdcall_status,
            inlateout("rcx") VMCALL_EXPOSE_R10_R15 => _,
            inlateout("r10") 0u64 => status,
            inlateout("r11") subfunction => output,
            inout("r12") registers[0],
            inout("r13") registers[1],
            inout("r14") registers[2],
            inout("r15") registers[3],
            options(nostack),
        );
    }
    VmcallResult { tdcall_status, status, output, registers }
}

/// TDG.MR.REPORT (subtype 0): the TDX module writes a TDREPORT_STRUCT at `report_gpa` whose REPORTDATA is
/// the 64 bytes at `report_data_gpa`. Returns the status (RAX).
///
/// # Safety
/// `report_gpa` must be 1024-aligned and name 1024 private bytes the caller owns with no Rust reference
/// into them (the module writes them); `report_data_gpa` must be 64-aligned and name 64 readable bytes.
pub unsafe fn mr_report(report_gpa: u64, report_data_gpa: u64) -> u64 {
    let status: u64;
    // SAFETY: per the contract. TDCALL reads RAX (leaf), RCX, RDX, R8 (subtype 0), writes the status in
    // RAX (the other registers declared clobbered) and writes only the 1024 bytes at RCX.
    unsafe {
        asm!(
            ".byte 0x66, 0x0F, 0x01, 0xCC",
            inlateout("rax") TDG_MR_REPORT => status,
            inlateout("rcx") report_gpa => _,
            inlateout("rdx") report_data_gpa => _,
            inlateout("r8") 0u64 => _,
            options(nostack),
        );
    }
    status
}

/// TDG.MR.RTMR.EXTEND: RTMR\[`index`\] = SHA-384(RTMR\[`index`\] ‖ the 48 bytes at `digest_gpa`).
/// Returns the status (RAX).
///
/// # Safety
/// `digest_gpa` must be 64-aligned and name 48 readable private bytes.
pub unsafe fn mr_rtmr_extend(digest_gpa: u64, index: u64) -> u64 {
    let status: u64;
    // SAFETY: per the contract. TDCALL reads RAX (leaf), RCX and RDX, reads the 48 bytes at RCX and
    // changes only the TD's RTMR; it returns the status in RAX.
    unsafe {
        asm!(
            ".byte 0x66, 0x0F, 0x01, 0xCC",
            inlateout("rax") TDG_MR_RTMR_EXTEND => status,
            inlateout("rcx") digest_gpa => _,
            inlateout("rdx") index => _,
            options(nostack, readonly),
        );
    }
    status
}
