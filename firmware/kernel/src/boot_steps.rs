//! What the generic boot (`start::boot`) needs from a platform beyond `warden_platform::Platform`: the
//! steps that differ between native, SEV-SNP and TDX and that need the kernel's own types (the IDT
//! entry, the heap's proof of acceptance, the request transport). A step a platform cannot do yet
//! returns a [`BootStepError`], which the boot reports and terminates with.
use alloc::vec::Vec;
use warden_accept::AcceptError;
use warden_defs::layout::for_each_unowned;
use warden_platform::Platform;
use warden_platform::memory::GpaRange;

use crate::boot_params::BootFacts;

use crate::cpu::exceptions::VirtualizationEntry;
use crate::heap::HeapMemory;
#[cfg(warden_request_loop)]
use warden_svsm::Dispatcher;
#[cfg(warden_request_loop)]
use warden_vtpm::measured_boot::{LaunchMeasurement, PlatformKind};

/// Why a boot step cannot run on this platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootStepError {
    /// SEV-SNP: the heap's page-table entries could not be given the C-bit.
    CBit {
        /// The page whose entry was refused.
        gpa: u64,
    },
    /// TDX: the TDX module refused to extend RTMR\[0\] with the boot configuration.
    BootConfigMeasurement(warden_defs::tdx::TdxStatus),
    /// The acceptance engine refused or failed on the heap.
    HeapAcceptance(AcceptError),
    /// SEV-SNP: the guest RAM the memory map names could not be mapped for Warden.
    GuestMapping(crate::snp::guest_memory::GuestMapError),
    /// There is no request channel: on native, guest RAM was not mapped for the doorbell channel.
    #[cfg(warden_request_loop)]
    NoGuestChannel,
    /// The platform has no guest to launch (TDX: the image carries none, or the TD has no L2 VM), so no
    /// service would have a caller: the services are skipped and the boot ends after "ready".
    #[cfg(warden_request_loop)]
    NoGuestToServe,
    /// The services could not start.
    #[cfg(warden_request_loop)]
    Services(crate::services::ServiceError),
    /// The vTPM's endorsement seed cannot be had: the platform gives no key to derive it from (TDX:
    /// the TDX module offers no sealing-key derivation), or asking for one failed.
    #[cfg(warden_request_loop)]
    NoEndorsementSeed,
    /// SEV-SNP: the guest the image carries could not be launched (or it carries none).
    #[cfg(warden_request_loop)]
    GuestLaunch(crate::snp::guest_launch::GuestLaunchError),
    /// TDX: the L2 guest the image carries could not be launched.
    #[cfg(warden_request_loop)]
    L2Launch(crate::tdx::l2_guest::L2LaunchError),
    /// SEV-SNP: the guest-request channel to the PSP could not be opened (its pages not shared).
    #[cfg(warden_request_loop)]
    GuestRequest(crate::snp::guest_request::OpenError),
}

/// Where guest calls arrive and are served, forever.
#[cfg(warden_request_loop)]
pub trait RequestChannel {
    /// Serves every call through `dispatcher`; never returns.
    fn serve_forever(self, dispatcher: &mut Dispatcher) -> !;
}

/// Facts a host offers the boot (native only: a confidential platform's host is not believed).
#[derive(Clone, Copy, Debug, Default)]
pub struct HostHints {
    /// The host says its hypervisor cannot run guest SIMD (see `native::host_refuses_simd`).
    pub simd_refused: bool,
    /// The guest RAM the host reports, in bytes (0: unknown).
    pub ram_bytes: u64,
}

/// The platform-specific boot steps, in the order `start::boot` runs them.
pub trait BootSteps: Platform {
    /// Makes `println!` work.
    fn start_console(&mut self) -> Result<(), BootStepError>;
    /// Starts anything the boot times (native: the PIT window the TSC rate is measured against).
    fn start_timing(&mut self) {}
    /// The returning handler the IDT gets for this platform's virtualization exception, if any.
    fn virtualization_exception_entry(&mut self) -> Result<Option<VirtualizationEntry>, BootStepError>;
    /// What the host says about itself.
    fn host_hints(&mut self) -> HostHints {
        HostHints::default()
    }
    /// Makes `heap::RANGE` usable, through the acceptance engine where memory must be accepted.
    ///
    /// # Safety
    /// Call once, before `heap::init`: nothing references the heap.
    unsafe fn accept_heap(&mut self) -> Result<HeapMemory, BootStepError>;
    /// Records the boot configuration (`facts.config_digest`) once the heap exists, where the platform
    /// has a register for what its launch measurement does not cover: TDX extends RTMR\[0\]. Elsewhere
    /// nothing: on SEV-SNP and native the parameter pages are not measured (yet).
    fn measure_boot_config(&mut self, _facts: &BootFacts) -> Result<(), BootStepError> {
        Ok(())
    }
    /// The guest's RAM, as the services accept it, after the heap exists. By default what the host
    /// reports, `[0, hints.ram_bytes)` without Warden's ranges (native: Warden reaches the test
    /// transport's pages only); SNP maps the validated memory map's RAM for Warden and answers that.
    fn guest_ram(&mut self, _facts: &BootFacts, hints: &HostHints) -> Result<Vec<GpaRange>, BootStepError> {
        let mut ram = Vec::new();
        for_each_unowned(0, hints.ram_bytes, |start, end| ram.extend(GpaRange::new(start, end)));
        Ok(ram)
    }
    /// The services (the dispatcher with the core protocol, the vTPM and, where the platform has
    /// evidence, attestation) for the guest this platform serves, over `ram` (`guest_ram`). No default:
    /// each platform says where its vTPM's endorsement seed comes from (`warden_vtpm::EndorsementSeed`):
    /// derived from a key only this launch can obtain where the platform has one (SEV-SNP:
    /// MSG_KEY_REQ), so the EK is stable across boots of the same image.
    #[cfg(warden_request_loop)]
    fn start_services(
        &mut self,
        ram: &[GpaRange],
        facts: &BootFacts,
    ) -> Result<warden_svsm::Dispatcher, BootStepError>;
    /// The platform and Warden's launch measurement, which measured boot extends into PCR 0: native,
    /// the image digest Warden computes itself (`image_digest`); SEV-SNP, the attestation report's
    /// MEASUREMENT; TDX, the TDREPORT's MRTD. `None` where the platform cannot give it (yet).
    #[cfg(warden_request_loop)]
    fn launch_measurement(&mut self) -> (PlatformKind, Option<LaunchMeasurement>);
    /// The channel guest calls arrive on.
    #[cfg(warden_request_loop)]
    type Channel: RequestChannel;
    /// Opens it (on SEV-SNP: launches the guest, whose VMSA `dispatcher`'s vCPU table records).
    #[cfg(warden_request_loop)]
    fn open_request_channel(
        &mut self,
        dispatcher: &mut Dispatcher,
        facts: &BootFacts,
    ) -> Result<Self::Channel, BootStepError>;
}
