//! The TDX boot steps: the console through TDVMCALL Instruction.IO, the #VE handler (`super::ve`) in
//! the IDT, the heap accepted by the acceptance engine (`warden_accept::early::accept_tdx`) on this
//! platform's TDG.MEM.PAGE.ACCEPT, and the launch measurement (MRTD) from TDG.MR.REPORT. No guest runs
//! yet (the L2 guest of TD partitioning is not launched), so the services are skipped, said so, and
//! the boot ends after its "ready" line. **Not exercised on hardware.**
use warden_accept::AcceptStats;

use super::{TdxPlatform, console_write_bytes};
use crate::boot_steps::{BootStepError, BootSteps};
use crate::console;
use crate::cpu::exceptions::VirtualizationEntry;
use crate::heap::{self, HeapMemory};
#[cfg(warden_request_loop)]
use crate::request_loop::DoorbellChannel;

impl BootSteps for TdxPlatform {
    fn start_console(&mut self) -> Result<(), BootStepError> {
        console::init_forwarded(console_write_bytes);
        Ok(())
    }

    /// TDX raises #VE (vector 20), not #VC. Nothing before this step executes an instruction the TDX
    /// module leaves to the VMM (`start::warden_start`'s CPUID leaves and the TDCALLs are the module's
    /// own), so an intercepted instruction before it is a Warden bug and stops the TD (no IDT: a triple
    /// fault), rather than being answered by the VMM.
    fn virtualization_exception_entry(&mut self) -> Result<Option<VirtualizationEntry>, BootStepError> {
        Ok(Some(super::ve::entry()))
    }

    unsafe fn accept_heap(&mut self) -> Result<HeapMemory, BootStepError> {
        let mut stats = AcceptStats::default();
        // SAFETY: the heap is Warden's alone and holds no Rust object (the contract: before
        // `heap::init`), so zeroing it is unobservable; this runs once, and an error terminates the boot.
        let proof = unsafe { warden_accept::early::accept_tdx(self, heap::RANGE, &mut stats) }
            .map_err(BootStepError::HeapAcceptance)?;
        Ok(HeapMemory::Accepted(proof))
    }

    /// The TDREPORT's MRTD (TDG.MR.REPORT; Intel TDX Module v1.5 ABI Specification (348551),
    /// TDINFO_STRUCT): the TDX module's measurement of the pages the VMM added at build time. `None`
    /// if the module refuses the report.
    #[cfg(warden_request_loop)]
    fn launch_measurement(
        &mut self,
    ) -> (warden_vtpm::measured_boot::PlatformKind, Option<warden_vtpm::measured_boot::LaunchMeasurement>)
    {
        use warden_platform::tdx_attestation::TdxAttestation;
        use warden_vtpm::measured_boot::{LaunchMeasurement, LaunchRoot, PlatformKind};
        let launch = self
            .report(&[0; warden_defs::tdx_report::TD_REPORT_DATA_SIZE])
            .ok()
            .map(|report| LaunchMeasurement { root: LaunchRoot::TdxMrtd, digest: report.td_info.mr_td });
        (PlatformKind::Tdx, launch)
    }

    /// No services: no guest runs yet (the L2 guest is not launched), so none would have a caller,
    /// and the TDX module derives no sealing key a stable vTPM EK could come from (TDG.MR.REPORT is
    /// MACed, not a key source; a migration TD or key broker would be needed, none is chosen). The
    /// launch measurement is read and printed all the same: it is what measured boot will extend
    /// into PCR 0, and what a verifier compares with the image's `tdx_mrtd`.
    #[cfg(warden_request_loop)]
    fn start_services(
        &mut self,
        _ram: &[warden_platform::memory::GpaRange],
        _facts: &crate::boot_params::BootFacts,
    ) -> Result<warden_svsm::Dispatcher, BootStepError> {
        /// Bytes as lowercase hex, for the console.
        struct Hex<'a>(&'a [u8]);
        impl core::fmt::Display for Hex<'_> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
            }
        }
        match self.launch_measurement() {
            (_, Some(launch)) => {
                crate::println!("warden: launch measurement: TDX MRTD {}", Hex(&launch.digest))
            }
            (_, None) => crate::println!("warden: launch measurement: TDG.MR.REPORT refused"),
        }
        Err(BootStepError::NoGuestToServe)
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
