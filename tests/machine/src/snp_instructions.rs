//! PVALIDATE and RMPADJUST as the CPU executes them (AMD64 APM vol. 3, PVALIDATE and RMPADJUST),
//! on warden-sim's RMP: RAX = virtual address (translated through the current page tables), RCX =
//! page size, RDX = validate flag or attributes; EAX = return code, and for PVALIDATE RFLAGS.CF = 1
//! when the validated bit did not change. PVALIDATE runs only at VMPL0 (#GP otherwise);
//! RMPADJUST only for a VMPL numerically higher than the caller's.
use unicorn_engine::unicorn_const::Prot;
use unicorn_engine::{RegisterX86, Unicorn};
use warden_defs::snp::SnpRc;
use warden_platform::memory::{
    PageSize, PvalidateError, PvalidateOutcome, RmpadjustError, SnpMemory, VmplPerms,
};
use warden_sim::snp::SimSnp;

use crate::memory::PRIVATE_BASE;

/// `F2 0F 01 FF`.
pub const PVALIDATE: [u8; 4] = [0xF2, 0x0F, 0x01, 0xFF];
/// `F3 0F 01 FE`.
pub const RMPADJUST: [u8; 4] = [0xF3, 0x0F, 0x01, 0xFE];
/// `F3 0F 01 D9`.
pub const VMGEXIT: [u8; 4] = [0xF3, 0x0F, 0x01, 0xD9];

const CF: u64 = 1;

/// What executing the instruction did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Executed {
    /// Registers written, RIP advanced; the RMP range [gpa, gpa + len) may have changed.
    Done { gpa: u64, len: u64 },
    /// Raise #GP(0).
    GeneralProtection,
    /// The page is not assigned to the guest: a nested page fault (the machine stops).
    NotAssigned(String),
}

fn size_of(rcx: u64) -> Option<PageSize> {
    match rcx & 0xFFFF_FFFF {
        0 => Some(PageSize::Size4K),
        1 => Some(PageSize::Size2M),
        _ => None,
    }
}

/// The GPA behind virtual `va` (C-bit stripped).
fn gpa_of<D>(uc: &mut Unicorn<'_, D>, va: u64) -> Option<u64> {
    let pa = uc.vmem_translate(va, Prot::READ).ok()?;
    Some(if pa >= PRIVATE_BASE { pa - PRIVATE_BASE } else { pa })
}

fn finish<D>(uc: &mut Unicorn<'_, D>, rc: SnpRc, cf: bool) {
    let _ = uc.reg_write(RegisterX86::RAX, u64::from(rc.0));
    let flags = uc.reg_read(RegisterX86::RFLAGS).unwrap_or(2);
    let _ = uc.reg_write(RegisterX86::RFLAGS, if cf { flags | CF } else { flags & !CF });
    let rip = uc.reg_read(RegisterX86::RIP).unwrap_or(0);
    let _ = uc.reg_write(RegisterX86::RIP, rip + 4);
}

/// PVALIDATE at `vmpl`.
pub fn pvalidate<D>(uc: &mut Unicorn<'_, D>, snp: &mut SimSnp, vmpl: u8) -> Executed {
    if vmpl != 0 {
        return Executed::GeneralProtection;
    }
    let r = |uc: &Unicorn<'_, D>, reg| uc.reg_read(reg).unwrap_or(0);
    let (va, rcx, rdx) = (r(uc, RegisterX86::RAX), r(uc, RegisterX86::RCX), r(uc, RegisterX86::RDX));
    let (Some(size), Some(gpa)) = (size_of(rcx), gpa_of(uc, va & !0xFFF)) else {
        finish(uc, SnpRc::FAIL_INPUT, false);
        return Executed::Done { gpa: 0, len: 0 };
    };
    let gpa = gpa + (va & 0xFFF);
    // SAFETY: SimSnp's implementation of this trait method only updates its model.
    let result = unsafe { snp.pvalidate(gpa, size, rdx & 1 == 1) };
    let (rc, cf) = match result {
        Ok(PvalidateOutcome::Changed) => (SnpRc::SUCCESS, false),
        Ok(PvalidateOutcome::Unchanged) => (SnpRc::SUCCESS, true),
        Err(PvalidateError::FailInput) => (SnpRc::FAIL_INPUT, false),
        Err(PvalidateError::FailSizeMismatch) => (SnpRc::FAIL_SIZEMISMATCH, false),
        Err(PvalidateError::Unknown(rc)) => (SnpRc(rc), false),
        Err(PvalidateError::NotAssigned) => {
            return Executed::NotAssigned(format!(
                "PVALIDATE of GPA {gpa:#x}, which is not assigned to the guest"
            ));
        }
    };
    finish(uc, rc, cf);
    Executed::Done { gpa, len: size.bytes() }
}

/// RMPADJUST at `vmpl`.
pub fn rmpadjust<D>(uc: &mut Unicorn<'_, D>, snp: &mut SimSnp, vmpl: u8) -> Executed {
    let r = |uc: &Unicorn<'_, D>, reg| uc.reg_read(reg).unwrap_or(0);
    let (va, rcx, rdx) = (r(uc, RegisterX86::RAX), r(uc, RegisterX86::RCX), r(uc, RegisterX86::RDX));
    let target = (rdx & 0xFF) as u8;
    let perms = VmplPerms::from_bits(((rdx >> 8) & 0xFF) as u8);
    let vmsa = rdx & (1 << 16) != 0;
    let (Some(size), Some(gpa), Some(perms)) = (size_of(rcx), gpa_of(uc, va & !0xFFF), perms) else {
        finish(uc, SnpRc::FAIL_INPUT, false);
        return Executed::Done { gpa: 0, len: 0 };
    };
    let gpa = gpa + (va & 0xFFF);
    if target <= vmpl {
        finish(uc, SnpRc::FAIL_PERMISSION, false);
        return Executed::Done { gpa, len: 0 };
    }
    if vmpl > 0 {
        // A lower-privileged caller may grant only what it holds itself, and never the VMSA bit.
        let (e, _) = snp.rmp_entry(gpa);
        if vmsa || !e.validated || !e.perms[usize::from(vmpl - 1).min(2)].contains(perms) {
            finish(uc, SnpRc::FAIL_PERMISSION, false);
            return Executed::Done { gpa, len: 0 };
        }
    }
    // SAFETY: SimSnp's implementation of this trait method only updates its model.
    let result = unsafe { snp.rmpadjust(gpa, size, target, perms, vmsa) };
    let rc = match result {
        Ok(()) => SnpRc::SUCCESS,
        Err(RmpadjustError::FailInput) => SnpRc::FAIL_INPUT,
        Err(RmpadjustError::FailPermission) => SnpRc::FAIL_PERMISSION,
        Err(RmpadjustError::FailSizeMismatch) => SnpRc::FAIL_SIZEMISMATCH,
        Err(RmpadjustError::Unknown(rc)) => SnpRc(rc),
        Err(RmpadjustError::NotAssigned) => {
            return Executed::NotAssigned(format!(
                "RMPADJUST of GPA {gpa:#x}, which is not assigned to the guest"
            ));
        }
    };
    finish(uc, rc, false);
    Executed::Done { gpa, len: size.bytes() }
}
