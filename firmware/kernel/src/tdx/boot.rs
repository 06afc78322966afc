//! The TDX boot steps: the console through TDVMCALL Instruction.IO, and the heap accepted by the
//! acceptance engine (`warden_accept::early::accept_tdx`) on this platform's TDG.MEM.PAGE.ACCEPT.
//! Warden has no #VE handler yet, so the boot stops, reported, at the CPU-tables step.
//! **Not exercised on hardware.**
use warden_accept::AcceptStats;

use super::{TdxPlatform, console_write_bytes};
use crate::boot_steps::{BootStepError, BootSteps};
use crate::console;
use crate::cpu::exceptions::VcEntry;
use crate::heap::{self, HeapMemory};
#[cfg(warden_request_loop)]
use crate::request_loop::DoorbellChannel;

impl BootSteps for TdxPlatform {
    fn start_console(&mut self) -> Result<(), BootStepError> {
        console::init_forwarded(console_write_bytes);
        Ok(())
    }

    /// TDX raises #VE (vector 20), not #VC; Warden has no handler for it.
    fn virtualization_exception_entry(&mut self) -> Result<Option<VcEntry>, BootStepError> {
        Err(BootStepError::NoVeHandler)
    }

    unsafe fn accept_heap(&mut self) -> Result<HeapMemory, BootStepError> {
        let mut stats = AcceptStats::default();
        // SAFETY: the heap is Warden's alone and holds no Rust object (the contract: before
        // `heap::init`), so zeroing it is unobservable; this runs once, and an error terminates the boot.
        let proof = unsafe { warden_accept::early::accept_tdx(self, heap::RANGE, &mut stats) }
            .map_err(BootStepError::HeapAcceptance)?;
        Ok(HeapMemory::Accepted(proof))
    }

    /// The MRTD is in the TDREPORT (TDG.MR.REPORT, Intel TDX Module ABI), which Warden does not ask for
    /// yet; TDX serves no guest either (`open_request_channel`), so nothing reads the log.
    #[cfg(warden_request_loop)]
    fn launch_measurement(
        &mut self,
    ) -> (warden_vtpm::measured_boot::PlatformKind, Option<warden_vtpm::measured_boot::LaunchMeasurement>)
    {
        (warden_vtpm::measured_boot::PlatformKind::Tdx, None)
    }

    /// The TDX module derives no sealing keys (TDG.MR.REPORT is MACed, not a key source), so a stable
    /// EK would need a key from elsewhere (a migration TD or a key broker); none is chosen yet, and no
    /// services start (the boot stops earlier anyway, at the missing #VE handler).
    #[cfg(warden_request_loop)]
    fn start_services(
        &mut self,
        _ram: &[warden_platform::memory::GpaRange],
        _facts: &crate::boot_params::BootFacts,
    ) -> Result<warden_svsm::Dispatcher, BootStepError> {
        Err(BootStepError::NoEndorsementSeed)
    }

    #[cfg(warden_request_loop)]
    type Channel = DoorbellChannel;

    #[cfg(warden_request_loop)]
    fn open_request_channel(
        &mut self,
        _dispatcher: &mut warden_svsm::Dispatcher,
        _facts: &crate::boot_params::BootFacts,
    ) -> Result<DoorbellChannel, BootStepError> {
        Err(BootStepError::NoGuestChannel)
    }
}
