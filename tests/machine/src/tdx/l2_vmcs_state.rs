//! VM 1's L2 VMCS guest-state fields to and from the engine (encodings: Intel SDM vol. 3 Appendix B),
//! as the SNP machine starts a guest VMSA (`crate::vmsa_state::load_full`): control registers, EFER,
//! descriptor-table registers and selectors are written, while the engine's hidden segment caches stay
//! the L1's flat 64-bit ring 0 ones, so the model enters 64-bit L2s only. At an exit the L2's current
//! values are noted back, so TDG.VP.RD reads what the L2 runs with.
use unicorn_engine::{RegisterX86, Unicorn};

use super::machine::TdState;
use super::partition::{Partition, vmcs};
use crate::cpu::{self, mmr};

/// CR0.PG, EFER.LMA and CS.L: the engine keeps 64-bit segment caches, so only a 64-bit L2 can start.
pub fn check_64bit(p: &Partition) -> Result<(), String> {
    let cs_ar = p.field(vmcs::ACCESS_RIGHTS[vmcs::CS]);
    if p.field(vmcs::GUEST_CR0) & (1 << 31) == 0
        || p.field(vmcs::GUEST_IA32_EFER) & (1 << 10) == 0
        || cs_ar & (1 << 13) == 0
    {
        return Err(format!(
            "TDG.VP.ENTER: the model runs 64-bit L2s only (CR0 {:#x}, EFER {:#x}, CS access rights {cs_ar:#x})",
            p.field(vmcs::GUEST_CR0),
            p.field(vmcs::GUEST_IA32_EFER)
        ));
    }
    Ok(())
}

/// The order fields take effect in on the first entry: CR4 (PAE) and EFER (LME) before CR0 (PG).
pub const APPLY_ORDER: [u32; 12] = [
    vmcs::GUEST_CR4,
    vmcs::GUEST_IA32_EFER,
    vmcs::GUEST_CR0,
    vmcs::GUEST_CR3,
    vmcs::BASES[vmcs::GDTR],
    vmcs::BASES[vmcs::IDTR],
    vmcs::SELECTORS[vmcs::CS],
    vmcs::SELECTORS[0],
    vmcs::SELECTORS[2],
    vmcs::SELECTORS[3],
    vmcs::BASES[vmcs::FS],
    vmcs::BASES[vmcs::TR],
];

/// Writes the engine state the VMCS fields `encodings` stand for. Limits and access rights of the
/// code and data segments, LDTR and the FS/GS selectors have no engine state of their own here.
pub fn apply(uc: &mut Unicorn<'_, TdState>, p: &Partition, encodings: &[u32]) -> Result<(), String> {
    let f = |e: u32| p.field(e);
    for &e in encodings {
        let r = match e {
            vmcs::GUEST_CR0 => uc.reg_write(RegisterX86::CR0, f(e)),
            vmcs::GUEST_CR3 => uc.reg_write(RegisterX86::CR3, f(e)),
            vmcs::GUEST_CR4 => uc.reg_write(RegisterX86::CR4, f(e)),
            vmcs::GUEST_IA32_EFER => cpu::write_efer(uc, f(e)),
            e if e == vmcs::BASES[vmcs::GDTR] || e == vmcs::LIMITS[vmcs::GDTR] => uc.reg_write_long(
                RegisterX86::GDTR,
                &mmr(f(vmcs::BASES[vmcs::GDTR]), f(vmcs::LIMITS[vmcs::GDTR]) as u32),
            ),
            e if e == vmcs::BASES[vmcs::IDTR] || e == vmcs::LIMITS[vmcs::IDTR] => uc.reg_write_long(
                RegisterX86::IDTR,
                &mmr(f(vmcs::BASES[vmcs::IDTR]), f(vmcs::LIMITS[vmcs::IDTR]) as u32),
            ),
            e if e == vmcs::SELECTORS[vmcs::CS] => uc.reg_write(RegisterX86::CS, f(e)),
            e if e == vmcs::SELECTORS[0] => uc.reg_write(RegisterX86::ES, f(e)),
            e if e == vmcs::SELECTORS[2] => uc.reg_write(RegisterX86::SS, f(e)),
            e if e == vmcs::SELECTORS[3] => uc.reg_write(RegisterX86::DS, f(e)),
            e if e == vmcs::BASES[vmcs::FS] || e == vmcs::BASES[vmcs::GS] => uc
                .reg_write(RegisterX86::FS_BASE, f(vmcs::BASES[vmcs::FS]))
                .and_then(|()| uc.reg_write(RegisterX86::GS_BASE, f(vmcs::BASES[vmcs::GS]))),
            e if e == vmcs::BASES[vmcs::TR]
                || e == vmcs::LIMITS[vmcs::TR]
                || e == vmcs::SELECTORS[vmcs::TR] =>
            {
                let mut tr = mmr(f(vmcs::BASES[vmcs::TR]), f(vmcs::LIMITS[vmcs::TR]) as u32);
                tr[..2].copy_from_slice(&(f(vmcs::SELECTORS[vmcs::TR]) as u16).to_le_bytes());
                uc.reg_write_long(RegisterX86::TR, &tr)
            }
            _ => Ok(()),
        };
        r.map_err(|x| format!("L2 VMCS field {e:#x}: {x:?}"))?;
    }
    Ok(())
}

/// Records the L2's control and descriptor-table registers and selectors in its VMCS fields at an
/// exit, so TDG.VP.RD reads what the L2 runs with.
pub fn note_current_state(uc: &mut Unicorn<'_, TdState>) {
    let r = |reg| uc.reg_read(reg).unwrap_or(0);
    let mut notes = vec![
        (vmcs::GUEST_CR0, r(RegisterX86::CR0)),
        (vmcs::GUEST_CR3, r(RegisterX86::CR3)),
        (vmcs::GUEST_CR4, r(RegisterX86::CR4)),
        (vmcs::SELECTORS[vmcs::CS], r(RegisterX86::CS)),
        (vmcs::SELECTORS[0], r(RegisterX86::ES)),
        (vmcs::SELECTORS[2], r(RegisterX86::SS)),
        (vmcs::SELECTORS[3], r(RegisterX86::DS)),
        (vmcs::BASES[vmcs::FS], r(RegisterX86::FS_BASE)),
        (vmcs::BASES[vmcs::GS], r(RegisterX86::GS_BASE)),
    ];
    for (reg, index) in [(RegisterX86::GDTR, vmcs::GDTR), (RegisterX86::IDTR, vmcs::IDTR)] {
        if let Ok((base, limit, _)) = cpu::read_table(uc, reg) {
            notes.push((vmcs::BASES[index], base));
            notes.push((vmcs::LIMITS[index], u64::from(limit)));
        }
    }
    let partition = &mut uc.get_data_mut().module.partition;
    for (encoding, value) in notes {
        partition.note(encoding, value);
    }
}
