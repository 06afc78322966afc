//! Launching the guest the image carries, at VMPL2 (`warden_defs::guest_launch`, the contract): the
//! launch pages and the first VMSA are computed by the host-tested `warden_svsm::launch`; here Warden
//! only places the VMSA in a page of its own (`.bss`), turns that page into a VMSA with RMPADJUST,
//! records it in the core protocol's vCPU table and registers it with the hypervisor (GHCB AP creation,
//! GHCB spec (AMD 56421) §4.1.9, as COCONUT-SVSM registers its guest firmware's VMSA before running it).
//! **Not exercised on hardware.**
use core::cell::UnsafeCell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};

use warden_defs::guest_launch::{GUEST_VMPL, GuestPayload, GuestPayloadError};
use warden_defs::layout::{LARGE_PAGE_SIZE, PAGE_SIZE};
use warden_platform::ghcb_exits::{self, ExitError};
use warden_platform::memory::{PageSize, RmpadjustError, SnpMemory, VmplPerms};
use warden_svsm::launch::{LaunchError, LaunchFacts, guest_vmsa, prepare};
use warden_svsm::{ConfigError, Dispatcher, GuestMemory, Paired};
use x86_64::registers::model_specific::Msr;
use zerocopy::IntoBytes;

use super::ghcb::GHCB;
use super::{Reason, SnpPlatform, terminate_with};
use crate::boot_params;
use warden_platform::Termination;

/// SEV_STATUS (AMD APM vol. 2, 15.34.10): not intercepted under SNP.
const MSR_SEV_STATUS: u32 = 0xC001_0131;
/// SEV_STATUS bits 2 and up are the VMSA's SEV_FEATURES bits 0 and up (SNP active, vTOM, reflect #VC,
/// ...): the APM lists both in the same order, and COCONUT converts one into the other by this shift.
const SEV_STATUS_FEATURES_SHIFT: u32 = 2;

/// Why the guest could not be launched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestLaunchError {
    /// The image carries no guest (`warden.igvm`): there is nobody to serve.
    NoGuest,
    /// The payload descriptor is malformed.
    Payload(GuestPayloadError),
    /// Guest RAM is not mapped for Warden (the boot's `guest_ram` step did not run).
    NoGuestRam,
    /// The launch pages could not be prepared.
    Prepare(LaunchError),
    /// RMPADJUST refused to make Warden's page the guest's VMSA.
    VmsaPage(RmpadjustError),
    /// The VMSA page was handed out already (a second launch), or is 2 MiB aligned (which AMD's
    /// erratum 1467 forbids for a VMSA: Linux and COCONUT avoid such pages too).
    VmsaPageUnavailable,
    /// The core protocol refused to record the VMSA.
    Record(ConfigError),
    /// The hypervisor refused to register the VMSA.
    ApCreation(ExitError),
}

/// A page of Warden's that holds a VMSA: 4 KiB aligned, as the CPU requires.
#[repr(C, align(4096))]
pub struct VmsaPage(UnsafeCell<[u8; PAGE_SIZE as usize]>);

// SAFETY: the page is handed out once (`BOOT_VMSA_TAKEN`) and then reached only through the raw pointer
// `LaunchedGuest` carries, by the one request loop.
unsafe impl Sync for VmsaPage {}

/// The guest boot vCPU's VMSA page. In `.bss`, not the heap: the launch validated the image's pages
/// as 4 KiB RMP entries, and a VMSA must be one (RMPADJUST with the VMSA bit refuses a 4 KiB page
/// inside a 2 MiB entry, and the heap is validated in 2 MiB pages).
static BOOT_VMSA: VmsaPage = VmsaPage(UnsafeCell::new([0; PAGE_SIZE as usize]));
static BOOT_VMSA_TAKEN: AtomicBool = AtomicBool::new(false);

/// The guest's boot vCPU, launched.
#[derive(Debug)]
pub struct LaunchedGuest {
    /// Its VMSA, in Warden's memory (`BOOT_VMSA`).
    pub vmsa: NonNull<VmsaPage>,
    /// Its APIC ID.
    pub apic_id: u32,
    /// The SEV features it runs with (Warden's own).
    pub sev_features: u64,
}

/// The payload descriptor the image carries, if any.
pub fn payload() -> Result<GuestPayload, GuestLaunchError> {
    match GuestPayload::parse(&boot_params::copy_guest_payload_page()) {
        Ok(Some(payload)) => Ok(payload),
        Ok(None) => Err(GuestLaunchError::NoGuest),
        Err(error) => Err(GuestLaunchError::Payload(error)),
    }
}

/// Warden's own SEV features, from SEV_STATUS (which the CPU answers, not the hypervisor).
pub fn sev_features() -> u64 {
    // SAFETY: SEV_STATUS exists on every CPU that runs the SNP platform and reading it has no side
    // effects; SNP does not intercept it (the #VC handler refuses to emulate it, `vc::PROTECTED_MSRS`).
    unsafe { Msr::new(MSR_SEV_STATUS).read() >> SEV_STATUS_FEATURES_SHIFT }
}

/// Launches the guest: prepares its launch pages through `memory`, builds its first VMSA in Warden's
/// `.bss`, records it in `dispatcher`'s vCPU table for APIC ID 0 and registers it with the hypervisor.
/// The guest's first instruction runs at the request loop's first RUN_VMPL.
pub fn launch<M: GuestMemory>(
    platform: &mut SnpPlatform,
    memory: &mut M,
    dispatcher: &mut Dispatcher,
    payload: GuestPayload,
    vcpu_count: u32,
) -> Result<LaunchedGuest, GuestLaunchError> {
    let facts = LaunchFacts {
        payload,
        c_bit: platform.c_bit(),
        apic_id: 0,
        vcpu_count,
        sev_features: sev_features(),
    };
    let secrets = boot_params::copy_snp_secrets_page();
    prepare(&mut Paired { platform: &mut *platform, memory }, &facts, &secrets)
        .map_err(GuestLaunchError::Prepare)?;

    let page = NonNull::from(&BOOT_VMSA);
    let gpa = page.as_ptr() as u64;
    if BOOT_VMSA_TAKEN.swap(true, Ordering::AcqRel) || gpa.is_multiple_of(LARGE_PAGE_SIZE) {
        return Err(GuestLaunchError::VmsaPageUnavailable);
    }
    // SAFETY: the page is taken once (just checked) and nothing else refers to it; `.bss`, mapped
    // writable to itself and validated at VMPL0 by the launch.
    unsafe { BOOT_VMSA.0.get().write(vmsa_bytes(&facts)) };
    // SAFETY: the page is Warden's (`.bss`, identity-mapped, validated at VMPL0) and only this module
    // refers to it, through the raw pointer the request loop gets; from now on the CPU runs it and
    // Warden reads and writes it only while the guest's vCPU is stopped in the loop.
    unsafe { platform.rmpadjust(gpa, PageSize::Size4K, GUEST_VMPL, VmplPerms::NONE, true) }
        .map_err(GuestLaunchError::VmsaPage)?;
    dispatcher.core_mut().register_warden_vmsa(facts.apic_id, gpa).map_err(GuestLaunchError::Record)?;

    let mut slot = GHCB.lock();
    // `SnpPlatform` exists only once the GHCB is registered: `None` would be a Warden bug.
    let Some(ghcb) = slot.as_mut() else { terminate_with(Reason::Termination(Termination::Failure)) };
    ghcb_exits::ap_create(ghcb, facts.apic_id, GUEST_VMPL, gpa, facts.sev_features)
        .map_err(GuestLaunchError::ApCreation)?;
    Ok(LaunchedGuest { vmsa: page, apic_id: facts.apic_id, sev_features: facts.sev_features })
}

/// The first VMSA's bytes.
fn vmsa_bytes(facts: &LaunchFacts) -> [u8; PAGE_SIZE as usize] {
    let mut bytes = [0u8; PAGE_SIZE as usize];
    bytes.copy_from_slice(guest_vmsa(facts).as_bytes());
    bytes
}
