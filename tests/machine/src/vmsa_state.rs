//! CPU state to and from a VMSA page (SEV-SNP ABI (AMD 56860) Table "VMSA Layout, Save Area";
//! `warden_defs::vmsa::Vmsa`): the boot vCPU's 32-bit start, a guest VMSA's first entry, and the
//! registers the hypervisor saves into and reloads from a guest's VMSA at each VMPL switch.
use unicorn_engine::unicorn_const::uc_error;
use unicorn_engine::{RegisterX86, Unicorn};
use warden_defs::vmsa::Vmsa;
use zerocopy::{FromBytes, FromZeros, IntoBytes};

use crate::cpu::{self, Flat32, mmr};

/// The general-purpose registers a VMSA holds, with their unicorn names.
fn gprs(v: &mut Vmsa) -> [(RegisterX86, &mut u64); 16] {
    [
        (RegisterX86::RAX, &mut v.rax),
        (RegisterX86::RBX, &mut v.rbx),
        (RegisterX86::RCX, &mut v.rcx),
        (RegisterX86::RDX, &mut v.rdx),
        (RegisterX86::RSI, &mut v.rsi),
        (RegisterX86::RDI, &mut v.rdi),
        (RegisterX86::RBP, &mut v.rbp),
        (RegisterX86::RSP, &mut v.rsp),
        (RegisterX86::R8, &mut v.r8),
        (RegisterX86::R9, &mut v.r9),
        (RegisterX86::R10, &mut v.r10),
        (RegisterX86::R11, &mut v.r11),
        (RegisterX86::R12, &mut v.r12),
        (RegisterX86::R13, &mut v.r13),
        (RegisterX86::R14, &mut v.r14),
        (RegisterX86::R15, &mut v.r15),
    ]
}

/// Parses a VMSA page.
pub fn parse(page: &[u8]) -> Vmsa {
    Vmsa::read_from_prefix(page).map(|(v, _)| v).unwrap_or_else(|_| Vmsa::new_zeroed())
}

/// The boot vCPU: 32-bit flat protected mode, paging off, at the VMSA's RIP.
pub fn load_boot<D>(uc: &mut Unicorn<'_, D>, page: &[u8]) -> Result<(), uc_error> {
    let mut v = parse(page);
    let state = Flat32 {
        cr0: v.cr0,
        cr4: v.cr4,
        efer: v.efer & !(1 << 12), // SVME is the hypervisor's business, not the emulated CPU's
        cs: (v.cs.selector, v.cs.attrib),
        data: (v.ds.selector, v.ds.attrib),
    };
    cpu::enter_protected_mode_32(uc, &state, v.rip)?;
    uc.reg_write_long(RegisterX86::GDTR, &mmr(v.gdtr.base, v.gdtr.limit))?;
    uc.reg_write_long(RegisterX86::IDTR, &mmr(v.idtr.base, v.idtr.limit))?;
    for (reg, value) in gprs(&mut v) {
        uc.reg_write(reg, *value)?;
    }
    uc.reg_write(RegisterX86::RFLAGS, v.rflags)?;
    uc.reg_write(RegisterX86::RIP, v.rip)
}

/// A guest vCPU's first entry: 64-bit state from its VMSA (the engine's segment caches stay flat
/// 64-bit ring 0, which is what the launch contract's guest starts with).
pub fn load_full<D>(uc: &mut Unicorn<'_, D>, page: &[u8]) -> Result<(), uc_error> {
    let v = parse(page);
    uc.reg_write(RegisterX86::CR4, v.cr4)?;
    cpu::write_efer(uc, v.efer & !(1 << 12))?;
    uc.reg_write(RegisterX86::CR0, v.cr0)?;
    uc.reg_write(RegisterX86::CR3, v.cr3)?;
    uc.reg_write_long(RegisterX86::GDTR, &mmr(v.gdtr.base, v.gdtr.limit))?;
    uc.reg_write_long(RegisterX86::IDTR, &mmr(v.idtr.base, v.idtr.limit))?;
    for (reg, sel) in [
        (RegisterX86::CS, v.cs.selector),
        (RegisterX86::SS, v.ss.selector),
        (RegisterX86::DS, v.ds.selector),
        (RegisterX86::ES, v.es.selector),
    ] {
        uc.reg_write(reg, u64::from(sel))?;
    }
    load_gprs(uc, page)?;
    Ok(())
}

/// Reloads the GPRs, RIP and RFLAGS from a guest's VMSA page (what Warden wrote there).
pub fn load_gprs<D>(uc: &mut Unicorn<'_, D>, page: &[u8]) -> Result<(), uc_error> {
    let mut v = parse(page);
    for (reg, value) in gprs(&mut v) {
        uc.reg_write(reg, *value)?;
    }
    uc.reg_write(RegisterX86::RFLAGS, v.rflags | 2)?;
    uc.reg_write(RegisterX86::RIP, v.rip)
}

/// Saves the vCPU into `page` as the hypervisor does when the guest exits with VMGEXIT: GPRs, RIP
/// (already past the VMGEXIT), RFLAGS, control registers, and guest_exit_code = VMGEXIT (0x403).
pub fn save_exit<D>(uc: &Unicorn<'_, D>, page: &mut [u8]) {
    let mut v = parse(page);
    for (reg, value) in gprs(&mut v) {
        *value = uc.reg_read(reg).unwrap_or(0);
    }
    let r = |reg| uc.reg_read(reg).unwrap_or(0);
    v.rip = r(RegisterX86::RIP);
    v.rflags = r(RegisterX86::RFLAGS);
    v.cr0 = r(RegisterX86::CR0);
    v.cr3 = r(RegisterX86::CR3);
    v.cr4 = r(RegisterX86::CR4);
    v.guest_exit_code = warden_defs::vmsa::EXIT_VMGEXIT;
    let bytes = v.as_bytes();
    page[..bytes.len()].copy_from_slice(bytes);
}
