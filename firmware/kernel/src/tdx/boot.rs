//! The TDX boot steps: the console through TDVMCALL Instruction.IO, the #VE handler (`super::ve`) in
//! the IDT, the heap accepted by the acceptance engine (`warden_accept::early::accept_tdx`) on this
//! platform's TDG.MEM.PAGE.ACCEPT, and the launch measurement (MRTD) from TDG.MR.REPORT. The guest the
//! image carries runs as the TD's L2 VM 1 (`super::l2_guest`): its RAM is found and mapped at the
//! guest-RAM step, the services start for it (a vTPM whose endorsement seed is new at every boot, its
//! state in memory only, and attestation by TDREPORT), and the request channel launches and serves it.
//! An image without a guest, or a TD without an L2 VM, skips the services, says so, and ends after
//! "ready". **Exercised on the emulated TDX machine only**, not on hardware.
use warden_accept::AcceptStats;

use super::{TdxPlatform, console_write_bytes};
use crate::boot_steps::{BootStepError, BootSteps};
use crate::console;
use crate::cpu::exceptions::VirtualizationEntry;
use crate::heap::{self, HeapMemory};

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

    /// RTMR\[0\] ← SHA-384 of the boot parameter page and the memory-map page (TDVF's convention: RTMR\[0\]
    /// holds the firmware's configuration; `warden_svsm::tdx_evidence`). The VMM inserts them unmeasured,
    /// so MRTD says nothing of them; a verifier replays RTMR\[0\] = SHA-384(0⁴⁸ ‖ digest).
    fn measure_boot_config(&mut self, facts: &crate::boot_params::BootFacts) -> Result<(), BootStepError> {
        use warden_svsm::tdx_evidence::{WardenEvent, measure};
        measure(self, WardenEvent::BootConfig(facts.config_digest))
            .map_err(BootStepError::BootConfigMeasurement)
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

    /// The L2 guest's granted ranges (`warden_svsm::tdx_l2_launch::granted_ranges`), mapped for Warden;
    /// none when the image carries no guest or the TD has no L2 VM (said so here).
    #[cfg(warden_request_loop)]
    fn guest_ram(
        &mut self,
        _facts: &crate::boot_params::BootFacts,
        _hints: &crate::boot_steps::HostHints,
    ) -> Result<alloc::vec::Vec<warden_platform::memory::GpaRange>, BootStepError> {
        match super::l2_guest::find() {
            Ok(guest) => {
                self.l2 = Some(guest);
                Ok(guest.mapping.ranges().to_vec())
            }
            Err(why) => {
                crate::println!("warden: no L2 guest to launch: {why:?}");
                Ok(alloc::vec::Vec::new())
            }
        }
    }

    /// The services for the L2 guest. The vTPM's endorsement seed is drawn from the CPU's entropy at
    /// every boot: the TDX module derives no sealing key for a TD (TDG.MR.REPORT is MACed, not a key
    /// source; a migration TD or key broker would be needed, none is chosen), so the EK is new at every
    /// boot and a verifier takes it from the attested services manifest; for the same reason the vTPM's
    /// state is kept in memory only. The launch measurement (MRTD) goes into PCR 0 and is printed.
    /// Without an L2 guest no service would have a caller: none start.
    #[cfg(warden_request_loop)]
    fn start_services(
        &mut self,
        ram: &[warden_platform::memory::GpaRange],
        _facts: &crate::boot_params::BootFacts,
    ) -> Result<warden_svsm::Dispatcher, BootStepError> {
        /// Bytes as lowercase hex, for the console.
        struct Hex<'a>(&'a [u8]);
        impl core::fmt::Display for Hex<'_> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
            }
        }
        let (platform, launch) = self.launch_measurement();
        match launch {
            Some(launch) => crate::println!("warden: launch measurement: TDX MRTD {}", Hex(&launch.digest)),
            None => crate::println!("warden: launch measurement: TDG.MR.REPORT refused"),
        }
        if self.l2.is_none() {
            return Err(BootStepError::NoGuestToServe);
        }
        let mut entropy = crate::entropy::Rdrand::new()
            .ok_or(BootStepError::Services(crate::services::ServiceError::NoEntropy))?;
        let seed = warden_vtpm::EndorsementSeed::from_entropy(&mut entropy);
        crate::println!(
            "warden: vTPM endorsement seed: fresh from RDRAND (TDX gives a TD no sealing key): the EK is new at every boot"
        );
        // The core protocol records a calling area for the boot vCPU; on TDX calls arrive by VMCALL and
        // there is none, so the boot-information page stands in: the guest cannot name it in a call,
        // which costs it nothing, and Warden never reads a `call_pending` there.
        let boot_caa = warden_defs::guest_launch::GUEST_BOOT_INFO;
        let layout = crate::services::GuestLayout { ram, apic_ids: &[0], boot_caa, platform, launch };
        let evidence = warden_svsm::tdx_evidence::TdxEvidence::new(self.report_handle());
        crate::services::start_for(&layout, &seed, Some(alloc::boxed::Box::new(evidence)), None)
            .map_err(BootStepError::Services)
    }

    #[cfg(warden_request_loop)]
    type Channel = super::l2_guest::L2Channel;

    /// Launches the L2 guest (`guest_ram` found it) and returns its channel.
    #[cfg(warden_request_loop)]
    fn open_request_channel(
        &mut self,
        _dispatcher: &mut warden_svsm::Dispatcher,
        _facts: &crate::boot_params::BootFacts,
    ) -> Result<super::l2_guest::L2Channel, BootStepError> {
        let guest = self.l2.take().ok_or(BootStepError::NoGuestChannel)?;
        let channel = super::l2_guest::launch(self, guest).map_err(BootStepError::L2Launch)?;
        crate::println!(
            "warden: guest launched as L2 VM 1: entry {:#x}, image {:#x}..{:#x}",
            guest.payload.entry,
            guest.payload.image_start,
            guest.payload.image_end
        );
        Ok(channel)
    }
}
