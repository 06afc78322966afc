//! The SNP request loop: Warden runs the guest's VMSA at VMPL2 and serves the SVSM calls it makes.
//!
//! One round (SVSM spec (AMD 58019), "SVSM calling convention"; GHCB spec (AMD 56421) §2.3.1, the MSR
//! protocol's run-at-VMPL request; COCONUT `kernel/src/requests.rs` does the same):
//! 1. set EFER.SVME in the guest's VMSA (cleared while Warden edits it, so that the hypervisor cannot
//!    run it meanwhile on another CPU), and ask the hypervisor to run VMPL2 (GHCB MSR
//!    `0x016 | 2 << 32`, VMGEXIT); it comes back when the guest asks to run VMPL0 (its SVSM call's
//!    VMGEXIT), with the MSR holding `0x017` and a zero error;
//! 2. copy the guest's VMSA page once into a private `Vmsa` and clear SVME in the page;
//! 3. act only if the exit was a VMGEXIT **and** the calling area's `call_pending` was set (read and
//!    cleared: the calling vCPU is stopped while Warden runs on its behalf, and the flag is its own);
//! 4. dispatch RAX/RCX/RDX/R8/R9 from the copy with the vCPU's APIC ID and SEV features, and write RAX
//!    and the outputs back into the page, field by field.
//!
//! The decisions (VMGEXIT or not, pending or not, which registers) are `warden_svsm::request`'s, tested
//! on the host; here memory is written and instructions run. Any other guest VMGEXIT (its console, its
//! own page-state changes, starting its second vCPU) is the hypervisor's to serve and never reaches
//! Warden. **Not exercised on hardware.**
use core::mem::offset_of;
use core::ptr::NonNull;

use warden_defs::ghcb::msr::{check_run_vmpl, run_vmpl_request};
use warden_defs::guest_launch::GUEST_VMPL;
use warden_defs::vmsa::{EFER_SVME, Vmsa};
use warden_svsm::request::serve_exit;
use warden_svsm::{Caller, Dispatcher, GuestMemory, Paired};

use super::guest_launch::{LaunchedGuest, VmsaPage};
use super::instructions::{read_ghcb_msr, vmgexit, write_ghcb_msr};
use super::{Reason, SnpPlatform, terminate_with};
use crate::boot_steps::RequestChannel;

/// The launched guest's vCPU and the memory its calls name.
#[derive(Debug)]
pub struct GuestChannel<M> {
    /// The RMP primitives (PVALIDATE, RMPADJUST, page-state changes) the dispatcher uses.
    platform: SnpPlatform,
    /// Guest memory, through Warden's mapping of guest RAM.
    memory: M,
    /// The vCPU Warden runs.
    guest: LaunchedGuest,
}

impl<M: GuestMemory> GuestChannel<M> {
    /// The channel over a launched guest.
    pub fn new(platform: SnpPlatform, memory: M, guest: LaunchedGuest) -> Self {
        Self { platform, memory, guest }
    }

    /// One 64-bit field of the guest's VMSA page.
    fn vmsa_field(&self, offset: usize) -> *mut u64 {
        // `offset` is one of `Vmsa`'s field offsets, 8-byte aligned, inside the page.
        self.guest.vmsa.as_ptr().cast::<u8>().wrapping_add(offset).cast::<u64>()
    }

    /// Sets or clears EFER.SVME in the guest's VMSA page.
    fn set_runnable(&mut self, runnable: bool) {
        let efer = self.vmsa_field(offset_of!(Vmsa, efer));
        // SAFETY: the VMSA page is Warden's (`guest_launch::BOOT_VMSA`), and the guest's vCPU is
        // not running: before RUN_VMPL or after it returned.
        unsafe {
            let value = efer.read_volatile();
            efer.write_volatile(if runnable { value | EFER_SVME } else { value & !EFER_SVME });
        }
    }

    /// Runs the guest until it asks for Warden; terminates if the hypervisor's answer is not 0x017
    /// with a zero error.
    fn run_guest(&mut self) {
        self.set_runnable(true);
        // SAFETY: RUN_VMPL runs the guest's VMSA, which Warden built and registered; the hypervisor comes
        // back with the MSR-protocol response. The registered GHCB's MSR value is written again before
        // every GHCB exit (`SharedGhcb::exchange`), so replacing it here loses nothing.
        let response = unsafe {
            write_ghcb_msr(run_vmpl_request(GUEST_VMPL));
            vmgexit();
            read_ghcb_msr()
        };
        if check_run_vmpl(response).is_err() {
            terminate_with(Reason::HypervisorMisbehaved);
        }
        self.set_runnable(false);
    }

    /// The guest's VMSA page, copied once.
    fn copy_vmsa(&self) -> Vmsa {
        let page: NonNull<VmsaPage> = self.guest.vmsa;
        // SAFETY: the page is Warden's and holds a `Vmsa` (4096 bytes, any bit pattern valid); the guest
        // is stopped. One volatile copy: every decision below uses only it.
        unsafe { page.cast::<Vmsa>().as_ptr().read_volatile() }
    }

    /// Writes the reply's registers (RAX, RCX, RDX, R8) into the guest's VMSA page.
    fn write_back(&mut self, vmsa: &Vmsa) {
        let fields = [
            (offset_of!(Vmsa, rax), vmsa.rax),
            (offset_of!(Vmsa, rcx), vmsa.rcx),
            (offset_of!(Vmsa, rdx), vmsa.rdx),
            (offset_of!(Vmsa, r8), vmsa.r8),
        ];
        for (offset, value) in fields {
            // SAFETY: a register field of Warden's VMSA page, written while the guest is stopped.
            unsafe { self.vmsa_field(offset).write_volatile(value) };
        }
    }

    /// One round: run the guest, then serve its call if it made one (`warden_svsm::request::serve_exit`
    /// decides) and write the reply into its VMSA.
    fn round(&mut self, dispatcher: &mut Dispatcher) {
        self.run_guest();
        let mut vmsa = self.copy_vmsa();
        let caller = Caller { apic_id: self.guest.apic_id, sev_features: self.guest.sev_features };
        let mut env = Paired { platform: &mut self.platform, memory: &mut self.memory };
        if serve_exit(dispatcher, &mut env, caller, &mut vmsa).is_some() {
            self.write_back(&vmsa);
        }
    }
}

impl<M: GuestMemory> RequestChannel for GuestChannel<M> {
    fn serve_forever(mut self, dispatcher: &mut Dispatcher) -> ! {
        loop {
            self.round(dispatcher);
        }
    }
}
