//! Warden's services, assembled once at boot: the SVSM dispatcher with the core protocol built in, the
//! vTPM registered as protocol 2 after its measured start-up (PCR 0: Warden's launch, PCR 1: the
//! configuration), and the event log of that start-up served by Warden's measured-boot protocol.
use alloc::boxed::Box;
use alloc::vec::Vec;
use warden_defs::svsm::{PROTOCOL_VTPM, PROTOCOL_WARDEN_MEASURED_BOOT};
use warden_platform::memory::GpaRange;
use warden_platform::memory::{
    PageSize, PscError, PvalidateError, PvalidateOutcome, RmpadjustError, SnpMemory, VmplPerms,
};
use warden_svsm::event_log_protocol::EventLogProtocol;
use warden_svsm::vtpm_protocol::{TpmEngine, VtpmProtocol};
use warden_svsm::{Caller, CoreConfig, CoreProtocol, Dispatcher};
use warden_vtpm::measured_boot::{LaunchMeasurement, MeasureError, PlatformConfig, PlatformKind};

use crate::entropy::Rdrand;
use crate::vtpm_clock::TscClock;

/// The guest's VMPL (the peer's choice; Linux's `tpm_svsm` needs a non-zero VMPL).
const GUEST_VMPL: u8 = 2;
/// The boot vCPU's calling area. On SNP the secrets page names it; the native guest is the host test
/// program, which uses this page.
pub const NATIVE_BOOT_CAA: u64 = 0x10_0000;

/// Why the services could not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceError {
    /// The CPU has no RDRAND: the vTPM would have no entropy.
    NoEntropy,
    /// The memory map leaves no guest RAM.
    NoGuestRam,
    /// The core protocol refused its configuration.
    Core(warden_svsm::ConfigError),
    /// The vTPM refused its measured start-up (a bug: it was just manufactured).
    Measure(MeasureError),
}

/// The in-firmware vTPM engine behind the protocol.
struct Vtpm(warden_vtpm::Tpm);

impl TpmEngine for Vtpm {
    fn execute(&mut self, command: &[u8]) -> Vec<u8> {
        self.0.execute(command)
    }
}

/// Guest RAM: `[0, ram_end)` without Warden's ranges (the in-firmware tests' guest).
#[cfg(feature = "insecure_test_image")]
fn guest_ram(ram_end: u64) -> Result<Vec<GpaRange>, ServiceError> {
    let mut ram = Vec::new();
    warden_defs::layout::for_each_unowned(0, ram_end, |start, end| ram.extend(GpaRange::new(start, end)));
    if ram.is_empty() { Err(ServiceError::NoGuestRam) } else { Ok(ram) }
}

/// The guest the services serve: its RAM, its vCPUs (APIC ID 0 boots) and the boot vCPU's calling area.
#[derive(Clone, Copy, Debug)]
pub struct GuestLayout<'a> {
    /// Its RAM, Warden's ranges excluded (the boot's `BootSteps::guest_ram`).
    pub ram: &'a [GpaRange],
    /// Every APIC ID it may run a vCPU with.
    pub apic_ids: &'a [u32],
    /// The boot vCPU's calling area.
    pub boot_caa: u64,
    /// The platform, recorded in PCR 1.
    pub platform: PlatformKind,
    /// Warden's launch measurement for PCR 0 (`BootSteps::launch_measurement`), `None` where the
    /// platform cannot give it yet: the event log then has no PCR 0 event, which a verifier refuses.
    pub launch: Option<LaunchMeasurement>,
}

/// The dispatcher for the in-firmware tests' guest: `ram_end` bytes of RAM, one vCPU,
/// [`NATIVE_BOOT_CAA`].
#[cfg(feature = "insecure_test_image")]
pub fn start(ram_end: u64) -> Result<Dispatcher, ServiceError> {
    let ram = guest_ram(ram_end)?;
    start_for(&GuestLayout {
        ram: &ram,
        apic_ids: &[0],
        boot_caa: NATIVE_BOOT_CAA,
        platform: PlatformKind::Native,
        launch: Some(crate::image_digest::native()),
    })
}

/// The dispatcher for the guest `layout` describes.
pub fn start_for(layout: &GuestLayout<'_>) -> Result<Dispatcher, ServiceError> {
    if layout.ram.is_empty() {
        return Err(ServiceError::NoGuestRam);
    }
    let core = CoreProtocol::new(CoreConfig {
        guest_vmpl: GUEST_VMPL,
        apic_ids: layout.apic_ids,
        boot_apic_id: 0,
        boot_caa: layout.boot_caa,
        ram: layout.ram,
    })
    .map_err(ServiceError::Core)?;
    let mut dispatcher = Dispatcher::new(core);
    // The firmware's configuration (DA parameters) and a running clock, so expirations, tickets and
    // dictionary-attack recovery work as the host tests of `FirmwareConfig::FIRMWARE` show.
    let tpm = warden_vtpm::Tpm::firmware(
        Box::new(Rdrand::new().ok_or(ServiceError::NoEntropy)?),
        Box::new(TscClock::start()),
        &warden_vtpm::FirmwareConfig::FIRMWARE,
    );
    let mut vtpm = Box::new(VtpmProtocol::new(Vtpm(tpm)));
    let log = measure(&mut vtpm.engine().0, layout)?;
    dispatcher.register(PROTOCOL_VTPM, vtpm).expect("protocol 2 is registered once, on an empty dispatcher");
    dispatcher
        .register(PROTOCOL_WARDEN_MEASURED_BOOT, Box::new(EventLogProtocol::new(log)))
        .expect("the measured-boot protocol is registered once");
    Ok(dispatcher)
}

/// Measured boot, before any guest command can reach the vTPM: the guest sees PCR 0 and 1 as Warden
/// left them and cannot reset them (`warden_vtpm::measured_boot`). Returns the event log. Not inlined:
/// its locals would otherwise join `start_for`'s frame, which already holds a whole `Tpm`, and the
/// boot stack is 64 KiB.
#[inline(never)]
fn measure(tpm: &mut warden_vtpm::Tpm, layout: &GuestLayout<'_>) -> Result<Vec<u8>, ServiceError> {
    let ranges: Vec<(u64, u64)> = layout.ram.iter().map(|r| (r.start(), r.end())).collect();
    let vcpus = layout.apic_ids.len() as u32;
    let config = PlatformConfig::new(layout.platform, vcpus, u32::from(GUEST_VMPL), &ranges);
    let log = tpm.measured_startup(layout.launch.as_ref(), &config).map_err(ServiceError::Measure)?;
    Ok(log.into_bytes())
}

/// The native platform's RMP: there is none. Memory needs no validation, so PVALIDATE and RMPADJUST
/// succeed without effect, and there are no page states to change.
#[derive(Debug)]
pub struct NoRmp;

impl SnpMemory for NoRmp {
    unsafe fn pvalidate(
        &mut self,
        _gpa: u64,
        _size: PageSize,
        _validate: bool,
    ) -> Result<PvalidateOutcome, PvalidateError> {
        Ok(PvalidateOutcome::Changed)
    }

    unsafe fn rmpadjust(
        &mut self,
        _gpa: u64,
        _size: PageSize,
        _target_vmpl: u8,
        _perms: VmplPerms,
        _vmsa: bool,
    ) -> Result<(), RmpadjustError> {
        Ok(())
    }

    unsafe fn page_state_change(
        &mut self,
        _desc: &mut warden_defs::psc::PscDescriptor,
    ) -> Result<(), PscError> {
        Err(PscError::Generic)
    }
}

/// The boot vCPU, as the native transport's caller.
pub const NATIVE_CALLER: Caller = Caller { apic_id: 0, sev_features: 0 };
