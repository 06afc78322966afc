//! The SEV-SNP boot steps: the console through the GHCB, the #VC handler in the IDT, the heap made
//! private and validated — the C-bit on its page-table entries here, everything else by the acceptance
//! engine (`warden_accept::early::validate_snp`) on this platform's PVALIDATE and page-state changes —
//! and the guest's RAM mapped for Warden. The request channel launches the guest the image carries at
//! VMPL2 (`guest_launch`) and serves it (`guest_channel`). **Not exercised on hardware.**
use alloc::vec::Vec;
use warden_accept::AcceptStats;
use warden_defs::layout::PAGE_SIZE;
use warden_platform::memory::GpaRange;

use super::guest_memory::GuestMapping;
use super::{SnpPlatform, c_bit, console_write_bytes, vc};
use crate::boot_params::BootFacts;
use crate::boot_steps::{BootStepError, BootSteps, HostHints};
use crate::console;
use crate::cpu::exceptions::VirtualizationEntry;
use crate::heap::{self, HeapMemory};
#[cfg(warden_request_loop)]
use warden_defs::guest_launch::{GUEST_CAA, GUEST_VMPL};

#[cfg(warden_request_loop)]
use super::guest_channel::GuestChannel;
#[cfg(warden_request_loop)]
use super::guest_launch::{self, GuestLaunchError};
#[cfg(warden_request_loop)]
use super::guest_memory::SnpGuestMemory;
#[cfg(warden_request_loop)]
use super::guest_request;
#[cfg(warden_request_loop)]
use crate::println;
#[cfg(warden_request_loop)]
use crate::services::{self, GuestLayout};
#[cfg(warden_request_loop)]
use crate::vtpm_state::StateSealing;
#[cfg(warden_request_loop)]
use alloc::boxed::Box;
#[cfg(warden_request_loop)]
use warden_svsm::endorsement_key::{SNP_ENDORSEMENT_LABEL, snp_endorsement_key};
#[cfg(warden_request_loop)]
use warden_svsm::snp_evidence::SnpEvidence;
#[cfg(warden_request_loop)]
use warden_vtpm::EndorsementSeed;
#[cfg(warden_request_loop)]
use warden_vtpm::persistence::seal::{ImageId, SealingKey};

/// The MEASUREMENT of a fresh VMPL0 report (MSG_REPORT_REQ; SEV-SNP ABI (AMD 56860) Table 23): the
/// launch digest the PSP computed, which measured boot extends into PCR 0. `None` when the PSP does not
/// answer; the driver has then wiped VMPCK0, and the endorsement key request after it fails the boot.
#[cfg(warden_request_loop)]
fn snp_launch_measurement(
    driver: &mut warden_svsm::guest_request::GuestRequestDriver<guest_request::SnpGuestRequestChannel>,
) -> Option<warden_vtpm::measured_boot::LaunchMeasurement> {
    use zerocopy::FromBytes;
    // The report binds nothing here: only its MEASUREMENT is read, so REPORT_DATA is zero.
    let (report, _) = driver.report(&[0; 64], false).ok()?;
    let report = warden_defs::snp_report::AttestationReport::read_from_bytes(&report).ok()?;
    Some(warden_vtpm::measured_boot::LaunchMeasurement {
        root: warden_vtpm::measured_boot::LaunchRoot::SnpLaunchDigest,
        digest: report.measurement,
    })
}

impl BootSteps for SnpPlatform {
    /// COM1 through IOIO exits on the registered GHCB (no #VC needed).
    fn start_console(&mut self) -> Result<(), BootStepError> {
        console::init_forwarded(console_write_bytes);
        Ok(())
    }

    /// The #VC handler; `start` installed it already, before detection (nothing intercepted may run
    /// without it), so the boot's CPU step finds the tables loaded (`cpu::init` runs once).
    fn virtualization_exception_entry(&mut self) -> Result<Option<VirtualizationEntry>, BootStepError> {
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

    /// The guest's vCPUs and its boot vCPU's calling area are the launch contract's.
    #[cfg(warden_request_loop)]
    fn start_services(
        &mut self,
        ram: &[GpaRange],
        facts: &BootFacts,
    ) -> Result<warden_svsm::Dispatcher, BootStepError> {
        let apic_ids: Vec<u32> = (0..vcpu_table_size(facts)).collect();
        // The guest-request driver shares its message pages now, at boot. It first asks the PSP for
        // a report, whose MEASUREMENT is the launch digest measured boot records in PCR 0, then for the
        // vTPM's endorsement key (bound to this launch; `warden_svsm::endorsement_key`), then serves
        // the attestation protocol's reports.
        let mut driver = guest_request::open(self.c_bit()).map_err(BootStepError::GuestRequest)?;
        let (platform, _) = self.launch_measurement();
        let launch = snp_launch_measurement(&mut driver);
        let layout = GuestLayout { ram, apic_ids: &apic_ids, boot_caa: GUEST_CAA, platform, launch };
        let key = snp_endorsement_key(&mut driver).map_err(|_| BootStepError::NoEndorsementSeed)?;
        let seed = EndorsementSeed::from_platform_key(&key, SNP_ENDORSEMENT_LABEL);
        // The vTPM state's sealing key: the same MSG_KEY_REQ key (measurement, policy, VMPL0, the chip,
        // the reported TCB) through another HKDF info, bound to the launch digest as the image's
        // identity. Without the digest the boot fails at the key request anyway; no state then.
        let state = launch.map(|launch| {
            let sealing = SealingKey::from_platform_key(&key, SNP_ENDORSEMENT_LABEL);
            StateSealing::platform(sealing, ImageId(launch.digest), "the PSP's MSG_KEY_REQ key")
        });
        drop(key);
        services::start_for(&layout, &seed, Some(Box::new(SnpEvidence::new(driver))), state)
            .map_err(BootStepError::Services)
    }

    /// The launch digest is the MEASUREMENT of an attestation report (SEV-SNP ABI, AMD 56860, Table 23),
    /// which only a guest request to the PSP returns: `start_services` asks for it
    /// (`snp_launch_measurement`) once the guest-request driver is open, so there is none here.
    #[cfg(warden_request_loop)]
    fn launch_measurement(
        &mut self,
    ) -> (warden_vtpm::measured_boot::PlatformKind, Option<warden_vtpm::measured_boot::LaunchMeasurement>)
    {
        (warden_vtpm::measured_boot::PlatformKind::Snp, None)
    }

    #[cfg(warden_request_loop)]
    type Channel = GuestChannel<SnpGuestMemory>;

    /// Launches the guest the image carries (none: the boot ends here, said so) and serves it.
    #[cfg(warden_request_loop)]
    fn open_request_channel(
        &mut self,
        dispatcher: &mut warden_svsm::Dispatcher,
        facts: &BootFacts,
    ) -> Result<Self::Channel, BootStepError> {
        let payload = guest_launch::payload().map_err(BootStepError::GuestLaunch)?;
        // The boot mapped guest RAM (`guest_ram`) before the services started.
        let mut memory =
            self.guest_memory().ok_or(BootStepError::GuestLaunch(GuestLaunchError::NoGuestRam))?;
        let guest = guest_launch::launch(self, &mut memory, dispatcher, payload, vcpu_table_size(facts))
            .map_err(BootStepError::GuestLaunch)?;
        println!(
            "warden: guest launched at VMPL{GUEST_VMPL}: entry {:#x}, image {:#x}..{:#x}, VMSA at {:#x}",
            payload.entry,
            payload.image_start,
            payload.image_end,
            guest.vmsa.as_ptr() as u64
        );
        // The request loop's copy of the platform: the RMP primitives, whose only state is the C-bit
        // position and the guest mapping, both fixed now (the GHCB behind them has its own lock).
        Ok(GuestChannel::new(SnpPlatform { c_bit: self.c_bit, guest: self.guest }, memory, guest))
    }
}

/// The vCPU table's size: the loader's VP count, and at least two, because the guest may bring up a
/// second vCPU itself (CREATE_VCPU, then the hypervisor's AP creation) although the launch starts one.
#[cfg(warden_request_loop)]
fn vcpu_table_size(facts: &BootFacts) -> u32 {
    facts.vcpu_count.unwrap_or(1).max(2)
}
