//! The native guest channel (docs/architecture.md, "The guest channel on native"): a guest call through
//! shared guest RAM and a one-byte doorbell, served by the same [`serve_exit`] a VMGEXIT reaches on
//! SEV-SNP.
//!
//! On native QEMU there is no VMGEXIT and no VMSA Warden could read the caller's registers from, so the
//! host program that plays the guest (the vTPM bridge) shares QEMU's guest RAM and calls Warden the way
//! an SNP guest does, in guest memory:
//! 1. it writes the call's buffers (the SVSM_VTPM_CMD page) wherever in its RAM it likes;
//! 2. it writes RAX, RCX, RDX, R8, R9 into the [`CallRegisters`] block at [`REGISTERS_GPA`], its stand-in
//!    for the vCPU register file that the VMSA holds on SNP;
//! 3. it sets `call_pending` in its calling area (SVSM spec (AMD 58019), "SVSM calling convention");
//! 4. it rings: one [`RING`] byte on Warden's COM2.
//!
//! Warden copies the register block once into a private [`Vmsa`] marked as a VMGEXIT, and [`serve_exit`]
//! takes `call_pending` from the calling area Warden's vCPU table names, dispatches, and writes the
//! result registers back into the copy; Warden writes them into the block and answers with one byte
//! ([`Answer`]). The bytes on the serial port are two per call; no page travels over it.
//!
//! Everything the host wrote is an allegation (threat model T4): a doorbell byte other than [`RING`] is
//! refused, the register block is read once and reaches the dispatcher only as registers, whose GPAs the
//! dispatcher checks by the same `CallContext` rules as on SNP. Nothing here panics on any input.
use crate::dispatch::Dispatcher;
use crate::guest::GuestMemory;
use crate::regs::Caller;
use crate::request::{regs_from_vmsa, serve_exit};
use warden_defs::vmsa::{EXIT_VMGEXIT, Vmsa};
use warden_platform::memory::SnpMemory;
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

/// The boot vCPU's calling area on native: guest RAM the host program owns, which Warden's vCPU table
/// records at boot as SNP's secrets page would name it there.
pub const NATIVE_BOOT_CAA: u64 = 0x10_0000;

/// Where the host program keeps the caller's registers: the page after the calling area.
pub const REGISTERS_GPA: u64 = 0x10_1000;

/// The one byte that rings the doorbell.
pub const RING: u8 = b'C';

/// The caller's registers at [`REGISTERS_GPA`], little-endian: in as the call's inputs, out as the
/// result (RAX the SVSM result code; RCX, RDX, R8 where the call returns them; R9 unchanged). The SVSM
/// calling convention's register set (SVSM spec (AMD 58019), "SVSM calling convention").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct CallRegisters {
    /// Protocol << 32 | call; after the call, the result code.
    pub rax: u64,
    /// RCX.
    pub rcx: u64,
    /// RDX.
    pub rdx: u64,
    /// R8.
    pub r8: u64,
    /// R9.
    pub r9: u64,
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<CallRegisters>() == 40);
    assert!(offset_of!(CallRegisters, rcx) == 8);
    assert!(offset_of!(CallRegisters, r9) == 32);
};

/// Warden's one-byte answer to a doorbell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Answer {
    /// The call was dispatched; its result registers are in the block.
    Served = b'S',
    /// `call_pending` was clear: nothing was dispatched and nothing written (as on SNP, where an exit
    /// without a pending call is no call).
    NoCall = b'N',
    /// The doorbell byte is not [`RING`]: nothing was read or dispatched.
    BadDoorbell = b'B',
    /// The register block (or the calling area) could not be read or written: not in the guest's RAM.
    NoRegisters = b'R',
}

impl Answer {
    /// The answer a received byte stands for (the host side's decoding); `None` for any other byte.
    pub fn from_byte(byte: u8) -> Option<Self> {
        [Self::Served, Self::NoCall, Self::BadDoorbell, Self::NoRegisters]
            .into_iter()
            .find(|answer| *answer as u8 == byte)
    }
}

/// Serves one doorbell `byte` from `caller`'s host program: reads the register block from `env`'s guest
/// memory once, runs it through [`serve_exit`] as the VMGEXIT it stands for, and writes the result
/// registers back. Returns the byte to answer with.
pub fn serve_doorbell<E: SnpMemory + GuestMemory>(
    dispatcher: &mut Dispatcher,
    env: &mut E,
    caller: Caller,
    byte: u8,
) -> Answer {
    if byte != RING {
        return Answer::BadDoorbell;
    }
    let mut block = CallRegisters::default();
    if env.read(REGISTERS_GPA, block.as_mut_bytes()).is_err() {
        return Answer::NoRegisters;
    }
    // A private VMSA holding the one copy, so the SNP request loop's code decides and dispatches.
    let mut vmsa = Vmsa::new_zeroed();
    vmsa.guest_exit_code = EXIT_VMGEXIT;
    (vmsa.rax, vmsa.rcx, vmsa.rdx, vmsa.r8, vmsa.r9) = (block.rax, block.rcx, block.rdx, block.r8, block.r9);
    if serve_exit(dispatcher, env, caller, &mut vmsa).is_none() {
        return Answer::NoCall;
    }
    let regs = regs_from_vmsa(&vmsa);
    let result = CallRegisters { rax: regs.rax, rcx: regs.rcx, rdx: regs.rdx, r8: regs.r8, r9: regs.r9 };
    match env.write(REGISTERS_GPA, result.as_bytes()) {
        Ok(()) => Answer::Served,
        Err(_) => Answer::NoRegisters,
    }
}
