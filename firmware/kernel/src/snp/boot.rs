//! The SEV-SNP boot steps: the console through the GHCB, the #VC handler in the IDT, the heap made
//! private and validated — the C-bit on its page-table entries here, everything else by the acceptance
//! engine (`warden_accept::early::validate_snp`) on this platform's PVALIDATE and page-state changes —
//! and the guest's RAM mapped for Warden. **Not exercised on hardware**; no guest runs at a lower VMPL
//! yet, so there is no request channel.
use alloc::vec::Vec;
use warden_accept::AcceptStats;
use warden_defs::layout::PAGE_SIZE;
use warden_platform::memory::GpaRange;

use super::guest_memory::GuestMapping;
use super::{SnpPlatform, c_bit, console_write_bytes, vc};
use crate::boot_params::BootFacts;
use crate::boot_steps::{BootStepError, BootSteps, HostHints};
use crate::console;
use crate::cpu::exceptions::VcEntry;
use crate::heap::{self, HeapMemory};
#[cfg(warden_request_loop)]
use crate::request_loop::Transport;

impl BootSteps for SnpPlatform {
    /// COM1 through IOIO exits on the registered GHCB (no #VC needed).
    fn start_console(&mut self) -> Result<(), BootStepError> {
        console::init_forwarded(console_write_bytes);
        Ok(())
    }

    /// The #VC handler; `start` installed it already, before detection (nothing intercepted may run
    /// without it), so the boot's CPU step finds the tables loaded (`cpu::init` runs once).
    fn virtualization_exception_entry(&mut self) -> Result<Option<VcEntry>, BootStepError> {
        Ok(Some(vc::entry()))
    }

    unsafe fn accept_heap(&mut self) -> Result<HeapMemory, BootStepError> {
        let c = self.c_bit();
        // Warden must read the heap through the guest key: its entries get the C-bit first.
        for page in (heap::RANGE.start()..heap::RANGE.end()).step_by(PAGE_SIZE as usize) {
            // SAFETY: the heap is unreferenced and not yet valid (the contract): nothing reads it
            // through either view.
            unsafe { c_bit::set_private(page, c, true) }.map_err(|_| BootStepError::CBit { gpa: page })?;
        }
        let mut stats = AcceptStats::default();
        // SAFETY: the heap is Warden's alone, holds no Rust object (the contract: before `heap::init`)
        // and was never validated (it is not part of the launch image); this runs once, and an error
        // terminates the boot, so no part of it is validated twice.
        let proof = unsafe { warden_accept::early::validate_snp(self, heap::RANGE, &mut stats) }
            .map_err(BootStepError::HeapAcceptance)?;
        Ok(HeapMemory::Accepted(proof))
    }

    /// The RAM of the validated memory map, mapped for Warden (identity, non-executable, private;
    /// `guest_memory`), so that the request loop can copy to and from it.
    fn guest_ram(&mut self, facts: &BootFacts, _hints: &HostHints) -> Result<Vec<GpaRange>, BootStepError> {
        let mapping = GuestMapping::map(&facts.memory_map).map_err(BootStepError::GuestMapping)?;
        self.set_guest_mapping(mapping);
        Ok(mapping.ranges().to_vec())
    }

    #[cfg(warden_request_loop)]
    fn open_request_channel(&mut self) -> Result<Transport, BootStepError> {
        Err(BootStepError::NoGuestChannel)
    }
}
