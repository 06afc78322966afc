//! The SNP request loop's pure steps: is there a call, what are its registers, where does the reply go.
//!
//! Reference: `docs/reference/svsm-ghcb-snp.md` §1 "SVSM side": act only if the guest's VMSA says it
//! exited with VMGEXIT (0x403) **and** its calling area's `call_pending` is set; clear `call_pending`
//! first; inputs are RAX, RCX, RDX, R8, R9 in the VMSA; RAX and any output registers are written back.
//! The binary copies the guest's VMSA page into a private buffer, calls these, and copies back.
use crate::guest::{GuestMemory, MemoryError};
use crate::regs::{GuestRegs, Reply};
use warden_defs::svsm::vmsa;

fn u64_at(page: &[u8; 4096], off: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(src) = page.get(off..off + 8) {
        b.copy_from_slice(src);
    }
    u64::from_le_bytes(b)
}

fn set_u64(page: &mut [u8; 4096], off: usize, value: u64) {
    if let Some(dst) = page.get_mut(off..off + 8) {
        dst.copy_from_slice(&value.to_le_bytes());
    }
}

/// Whether the guest's exit was a VMGEXIT (the only exit that can carry an SVSM call).
pub fn exited_with_vmgexit(vmsa_page: &[u8; 4096]) -> bool {
    u64_at(vmsa_page, vmsa::GUEST_EXIT_CODE) == vmsa::EXIT_VMGEXIT
}

/// Reads and clears the calling area's `call_pending`; true if a call was pending. Clearing before
/// acting tells the guest the call was taken (Linux treats a still-set flag as "the SVSM never ran").
pub fn take_pending_call(memory: &mut dyn GuestMemory, caa: u64) -> Result<bool, MemoryError> {
    let mut flag = [0u8; 1];
    memory.read(caa, &mut flag)?;
    if flag[0] == 0 {
        return Ok(false);
    }
    memory.write(caa, &[0])?;
    Ok(true)
}

/// The call's registers, from the guest's VMSA.
pub fn regs_from_vmsa(vmsa_page: &[u8; 4096]) -> GuestRegs {
    GuestRegs {
        rax: u64_at(vmsa_page, vmsa::RAX),
        rcx: u64_at(vmsa_page, vmsa::RCX),
        rdx: u64_at(vmsa_page, vmsa::RDX),
        r8: u64_at(vmsa_page, vmsa::R8),
        r9: u64_at(vmsa_page, vmsa::R9),
    }
}

/// Writes the reply into the guest's VMSA: RAX always, RCX/RDX/R8 where the handler set them.
pub fn reply_to_vmsa(reply: &Reply, vmsa_page: &mut [u8; 4096]) {
    let mut regs = regs_from_vmsa(vmsa_page);
    reply.apply(&mut regs);
    set_u64(vmsa_page, vmsa::RAX, regs.rax);
    set_u64(vmsa_page, vmsa::RCX, regs.rcx);
    set_u64(vmsa_page, vmsa::RDX, regs.rdx);
    set_u64(vmsa_page, vmsa::R8, regs.r8);
}
