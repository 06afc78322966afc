//! Warden's services, assembled once at boot: the SVSM dispatcher with the core protocol built in and
//! the vTPM registered as protocol 2.
use alloc::boxed::Box;
use alloc::vec::Vec;
use warden_defs::svsm::PROTOCOL_VTPM;
use warden_platform::memory::GpaRange;
use warden_platform::memory::{
    PageSize, PscError, PvalidateError, PvalidateOutcome, RmpadjustError, SnpMemory, VmplPerms,
};
use warden_svsm::vtpm_protocol::{TpmEngine, VtpmProtocol};
use warden_svsm::{Caller, CoreConfig, CoreProtocol, Dispatcher};

use warden_vtpm::persistence::keeper::{LoadOutcome, SaveOutcome, StateKeeper};

use crate::entropy::Rdrand;
use crate::state_disk::StateDisk;
use crate::vtpm_clock::TscClock;

/// The guest's VMPL (the peer's choice; Linux's `tpm_svsm` needs a non-zero VMPL).
const GUEST_VMPL: u8 = 2;
/// The boot vCPU's calling area. On SNP the secrets page names it; the native guest is the host test
/// program, which uses this page (its doorbell channel's, `warden_svsm::doorbell`).
pub const NATIVE_BOOT_CAA: u64 = warden_svsm::doorbell::NATIVE_BOOT_CAA;

/// Why the services could not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceError {
    /// The CPU has no RDRAND: the vTPM would have no entropy.
    NoEntropy,
    /// The memory map leaves no guest RAM.
    NoGuestRam,
    /// The core protocol refused its configuration.
    Core(warden_svsm::ConfigError),
}

/// The in-firmware vTPM engine behind the protocol, and where its durable state is kept, if anywhere.
struct Vtpm {
    tpm: warden_vtpm::Tpm,
    state: Option<StateKeeper<StateDisk>>,
}

impl TpmEngine for Vtpm {
    fn execute(&mut self, command: &[u8]) -> Vec<u8> {
        let response = self.tpm.execute(command);
        // Durable once the command completes (TPM 2.0 Part 1 §37): stored before the guest sees the
        // response. A store that fails leaves the state in memory; the next change tries again.
        match self.state.as_mut().map(|keeper| keeper.save_if_changed(&mut self.tpm)) {
            Some(Err(error)) => log::warn!("vTPM state not stored ({error:?})"),
            Some(Ok(SaveOutcome::Refused(why))) => crate::vtpm_state::report(LoadOutcome::Refused(why)),
            _ => {}
        }
        response
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
    /// Whether the vTPM state is kept on the native state disk (`vtpm_state`), when the host gave one.
    pub native_state_disk: bool,
}

/// The dispatcher for the in-firmware tests' guest: `ram_end` bytes of RAM, one vCPU,
/// [`NATIVE_BOOT_CAA`].
#[cfg(feature = "insecure_test_image")]
pub fn start(ram_end: u64) -> Result<Dispatcher, ServiceError> {
    let ram = guest_ram(ram_end)?;
    start_for(&GuestLayout { ram: &ram, apic_ids: &[0], boot_caa: NATIVE_BOOT_CAA, native_state_disk: false })
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
    let mut tpm = warden_vtpm::Tpm::firmware(
        Box::new(Rdrand::new().ok_or(ServiceError::NoEntropy)?),
        Box::new(TscClock::start()),
        &warden_vtpm::FirmwareConfig::FIRMWARE,
    );
    let mut state = if layout.native_state_disk {
        crate::vtpm_state::native_keeper()
    } else {
        crate::println!("warden: vTPM state: kept in memory only on this platform");
        None
    };
    if let Some(keeper) = state.as_mut() {
        crate::vtpm_state::report(keeper.load(&mut tpm));
    }
    dispatcher
        .register(PROTOCOL_VTPM, Box::new(VtpmProtocol::new(Vtpm { tpm, state })))
        .expect("protocol 2 is registered once, on an empty dispatcher");
    Ok(dispatcher)
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
