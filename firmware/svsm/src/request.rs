//! The SNP request loop's pure steps: is there a call, what are its registers, where does the reply go.
//!
//! Source: SVSM spec (AMD 58019), "SVSM calling convention"; COCONUT `kernel/src/requests.rs`: act only
//! if the guest's VMSA says it exited with VMGEXIT **and** its calling area's `call_pending` is set;
//! clear `call_pending` first; inputs are RAX, RCX, RDX, R8, R9 in the VMSA; RAX and any output
//! registers are written back. The binary copies the guest's VMSA page into a private [`Vmsa`], calls
//! these, and copies it back.
use crate::dispatch::Dispatcher;
use crate::guest::{GuestMemory, MemoryError};
use crate::regs::{Caller, GuestRegs, Reply};
use warden_defs::vmsa::{EXIT_VMGEXIT, Vmsa};
use warden_platform::memory::SnpMemory;

/// Whether the guest's exit was a VMGEXIT (the only exit that can carry an SVSM call).
pub fn exited_with_vmgexit(vmsa: &Vmsa) -> bool {
    vmsa.guest_exit_code == EXIT_VMGEXIT
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
pub fn regs_from_vmsa(vmsa: &Vmsa) -> GuestRegs {
    GuestRegs { rax: vmsa.rax, rcx: vmsa.rcx, rdx: vmsa.rdx, r8: vmsa.r8, r9: vmsa.r9 }
}

/// Writes the reply into the guest's VMSA: RAX always, RCX/RDX/R8 where the handler set them.
pub fn reply_to_vmsa(reply: &Reply, vmsa: &mut Vmsa) {
    let mut regs = regs_from_vmsa(vmsa);
    reply.apply(&mut regs);
    vmsa.rax = regs.rax;
    vmsa.rcx = regs.rcx;
    vmsa.rdx = regs.rdx;
    vmsa.r8 = regs.r8;
}

/// One exit of `caller`'s vCPU, whose VMSA Warden copied into `vmsa`: if the exit was a VMGEXIT and the
/// vCPU's current calling area (from Warden's vCPU table, never from the guest) had `call_pending` set,
/// clears it, dispatches the call and writes the reply into `vmsa`, returning it. Anything else is no
/// call: `None`, `vmsa` unchanged (a calling area Warden cannot read is treated as no call).
pub fn serve_exit<E: SnpMemory + GuestMemory>(
    dispatcher: &mut Dispatcher,
    env: &mut E,
    caller: Caller,
    vmsa: &mut Vmsa,
) -> Option<Reply> {
    if !exited_with_vmgexit(vmsa) {
        return None;
    }
    let caa = dispatcher.core().vcpu(caller.apic_id)?.caa?;
    if take_pending_call(env, caa) != Ok(true) {
        return None;
    }
    let reply = dispatcher.handle(env, caller, regs_from_vmsa(vmsa));
    reply_to_vmsa(&reply, vmsa);
    Some(reply)
}
