//! The TDCALLs of TD partitioning Warden (the L1) makes to run its L2 guest: TDG.VM.RD, TDG.VP.WR,
//! TDG.MEM.PAGE.ATTR.WR and TDG.VP.ENTER. Leaf numbers, field ids and register contracts:
//! `warden_defs::tdx_partition` (Intel TDX Module v1.5 ABI Specification (348551); Intel TDX Module TD
//! Partitioning Architecture Specification). **Exercised on the emulated TDX machine only.**
use core::arch::asm;

use warden_defs::tdx_partition::{
    ATTR_VALID, L2_VM_INDEX, L2GuestState, TDG_MEM_PAGE_ATTR_WR, TDG_VM_RD, TDG_VP_ENTER, TDG_VP_WR,
    attr_shift,
};
use warden_svsm::tdx_l2_exit::ExitInfo;

/// A TDCALL that returned a non-zero status (RAX).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TdcallError(pub u64);

/// TDG.VM.RD: the TD-scope metadata field `field`.
pub fn vm_rd(field: u64) -> Result<u64, TdcallError> {
    let (status, value): (u64, u64);
    // SAFETY: TDG.VM.RD only reads TD metadata into R8 (RCX and RDX may change, declared); no memory.
    unsafe {
        asm!(
            ".byte 0x66, 0x0F, 0x01, 0xCC",
            inlateout("rax") TDG_VM_RD => status,
            inlateout("rcx") 0u64 => _,
            inlateout("rdx") field => _,
            lateout("r8") value,
            options(nomem, nostack),
        );
    }
    if status == 0 { Ok(value) } else { Err(TdcallError(status)) }
}

/// TDG.VP.WR: writes `value` into the vCPU-scope field `field` (all bits: the write mask is all ones).
/// Returns the old value.
///
/// # Safety
/// The field must be one whose new value the caller has reasoned about: an L2 VMCS field decides what the
/// L2 runs with, and its virtual-APIC page address names a page of Warden's the TDX module will use.
pub unsafe fn vp_wr(field: u64, value: u64) -> Result<u64, TdcallError> {
    let (status, old): (u64, u64);
    // SAFETY: per the contract. TDG.VP.WR changes only TD-private vCPU metadata, returns the old value
    // in R8; RCX and RDX may change (declared).
    unsafe {
        asm!(
            ".byte 0x66, 0x0F, 0x01, 0xCC",
            inlateout("rax") TDG_VP_WR => status,
            inlateout("rcx") 0u64 => _,
            inlateout("rdx") field => _,
            inlateout("r8") value => old,
            inlateout("r9") u64::MAX => _,
            options(nostack),
        );
    }
    if status == 0 { Ok(old) } else { Err(TdcallError(status)) }
}

/// TDG.MEM.PAGE.ATTR.WR: gives L2 VM 1 the attributes `attributes` (R, W, Xs, Xu; VALID is added) on the
/// page at `gpa` of `level` (0 = 4 KiB, 1 = 2 MiB). Warden's own (VM 0) attributes are untouched.
///
/// # Safety
/// The page must be one the L2 may reach: after this, the L2 can read, write or run it as granted.
pub unsafe fn page_attr_wr(gpa: u64, level: u64, attributes: u64) -> Result<(), TdcallError> {
    let shift = attr_shift(L2_VM_INDEX);
    let status: u64;
    // SAFETY: per the contract. The TDCALL changes the L2's Secure EPT attributes only; it returns the
    // GPA and the resulting attributes in RCX and RDX (declared).
    unsafe {
        asm!(
            ".byte 0x66, 0x0F, 0x01, 0xCC",
            inlateout("rax") TDG_MEM_PAGE_ATTR_WR => status,
            inlateout("rcx") gpa | level => _,
            inlateout("rdx") (attributes | ATTR_VALID) << shift => _,
            inlateout("r8") 0xFFFFu64 << shift => _,
            options(nostack),
        );
    }
    if status == 0 { Ok(()) } else { Err(TdcallError(status)) }
}

/// TDG.VP.ENTER: runs L2 VM 1 from `state` (and its VMCS) until it exits; the TDX module stores the L2's
/// registers back into `state`. Returns the exit information (RAX, RCX, R8, R11).
///
/// # Safety
/// `state` must be Warden's own (private, accepted), and the L2's VMCS and page attributes must be set
/// up so that the L2 reaches nothing of Warden's: everything the L2 can touch it was granted.
pub unsafe fn vp_enter(state: &mut L2GuestState) -> ExitInfo {
    let buffer = core::ptr::from_mut(state) as u64;
    // RCX: no INVEPT (bits 1:0 = 0), VM index 1 in bits 53:52.
    let flags = L2_VM_INDEX << 52;
    let (status, qualification, gpa, instruction): (u64, u64, u64, u64);
    // SAFETY: per the contract. The TDX module preserves only RBP and RSP across an L2 entry and exit:
    // every other GPR is declared clobbered (RBX, which Rust cannot name, is pushed and popped by hand,
    // which needs the stack: no `nostack`), and so is the vector state (`clobber_abi`), which the L2
    // runs with. The module writes the 256-byte buffer at RDX, Warden's `state`; the L2 itself writes
    // only its granted pages, none of them Warden's.
    unsafe {
        asm!(
            "push rbx",
            ".byte 0x66, 0x0F, 0x01, 0xCC",
            "pop rbx",
            inlateout("rax") TDG_VP_ENTER => status,
            inlateout("rcx") flags => qualification,
            inlateout("rdx") buffer => _,
            lateout("rsi") _,
            lateout("rdi") _,
            lateout("r8") gpa,
            lateout("r9") _,
            lateout("r10") _,
            lateout("r11") instruction,
            lateout("r12") _,
            lateout("r13") _,
            lateout("r14") _,
            lateout("r15") _,
            clobber_abi("C"),
        );
    }
    ExitInfo { status, qualification, gpa, instruction }
}
