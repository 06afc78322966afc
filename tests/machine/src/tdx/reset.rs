//! A TD vCPU's start state, as TDH.VP.INIT leaves it ("Intel TDX Module v1.5 Base Architecture
//! Specification" (348549) §"Initial State of a TD vCPU"): 32-bit protected mode with paging off at
//! the reset vector 0xFFFF_FFF0, flat 4 GiB segments (CS attributes 0xC09B, data 0xC093), CR0 = PE | NE,
//! CR4 = MCE (VMXE is set underneath but reads as clear), IA32_EFER = SCE | LME | NXE (0x901, which the
//! TD cannot change), GDTR limit 0xFFFF, no IDT; EBX = the GPA width, ESI = the vCPU index.
use unicorn_engine::unicorn_const::uc_error;
use unicorn_engine::{RegisterX86, Unicorn};
use warden_defs::layout::RESET_VECTOR;

use super::module::GPAW;
use crate::cpu::{self, Flat32};

/// IA32_EFER of a TD: SCE | LME | NXE.
pub const TD_EFER: u64 = 0x901;
/// CR4.MCE: the TD may not clear it.
pub const CR4_MCE: u64 = 1 << 6;

/// Puts the engine in the start state of vCPU 0.
pub fn enter<D>(uc: &mut Unicorn<'_, D>) -> Result<(), uc_error> {
    // Selectors the scratch GDT of `cpu` can hold; a TD starts with null selectors and these hidden
    // parts, which the boot stub replaces with its own GDT before it reloads a segment.
    let state = Flat32 { cr0: 0x21, cr4: CR4_MCE, efer: TD_EFER, cs: (0x08, 0xC9B), data: (0x10, 0xC93) };
    cpu::enter_protected_mode_32(uc, &state, RESET_VECTOR)?;
    uc.reg_write_long(RegisterX86::GDTR, &cpu::mmr(0, 0xFFFF))?;
    uc.reg_write_long(RegisterX86::IDTR, &cpu::mmr(0, 0))?;
    uc.reg_write(RegisterX86::RBX, GPAW)?;
    uc.reg_write(RegisterX86::RSI, 0)?;
    uc.reg_write(RegisterX86::RFLAGS, 2)
}
