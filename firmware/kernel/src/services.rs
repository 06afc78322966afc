//! Warden's services, assembled once at boot: the SVSM dispatcher with the core protocol built in, the
//! attestation protocol registered as protocol 1 where the platform has evidence (SNP: reports from
//! the PSP; native has no PSP, so protocol 1 is not offered and QUERY_PROTOCOL answers 0 for it), and
//! the vTPM as protocol 2, manufactured with the platform's endorsement seed (its EK's public area is
//! the vTPM's entry in the services manifest protocol 1 reports) and started measured (PCR 0: Warden's
//! launch, PCR 1: the configuration), with the event log of that start-up served by Warden's
//! measured-boot protocol.
use alloc::boxed::Box;
use alloc::vec::Vec;
use warden_defs::attest::VTPM_SERVICE_GUID;
use warden_defs::svsm::{PROTOCOL_ATTEST, PROTOCOL_VTPM, PROTOCOL_WARDEN_MEASURED_BOOT};
use warden_platform::memory::GpaRange;
use warden_platform::memory::{
    PageSize, PscError, PvalidateError, PvalidateOutcome, RmpadjustError, SnpMemory, VmplPerms,
};
use warden_svsm::attest_manifest::{ManifestError, ServiceManifest};
use warden_svsm::attest_protocol::{AttestProtocol, EvidenceSource};
use warden_svsm::vtpm_manifest::{EkError, endorsement_key_public};
use warden_svsm::vtpm_protocol::{TpmEngine, VtpmProtocol};
use warden_svsm::{Caller, CoreConfig, CoreProtocol, Dispatcher};
use warden_vtpm::EndorsementSeed;

use warden_svsm::event_log_protocol::EventLogProtocol;
use warden_vtpm::measured_boot::{LaunchMeasurement, MeasureError, PlatformConfig, PlatformKind};
use warden_vtpm::persistence::keeper::{LoadOutcome, SaveOutcome, StateKeeper};

use crate::entropy::Rdrand;
use crate::state_disk::StateDisk;
use crate::vtpm_clock::TscClock;
use crate::vtpm_state::StateSealing;

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
    /// The vTPM would not create its own EK (a bug: its own well-formed commands refused).
    Ek(EkError),
    /// The services manifest refused an entry (a bug: each service is listed once).
    Manifest(ManifestError),
    /// The vTPM refused its measured start-up (a bug: it was just manufactured).
    Measure(MeasureError),
}

/// The in-firmware vTPM engine behind the protocol, and where its durable state is kept, if anywhere.
/// The engine is boxed at once: it is tens of KiB, and every move of it by value would cost boot-stack
/// space (64 KiB in all) in `start_for`'s frame.
struct Vtpm {
    tpm: Box<warden_vtpm::Tpm>,
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
    /// The platform, recorded in PCR 1.
    pub platform: PlatformKind,
    /// Warden's launch measurement for PCR 0 (`BootSteps::launch_measurement`), `None` where the
    /// platform cannot give it yet: the event log then has no PCR 0 event, which a verifier refuses.
    pub launch: Option<LaunchMeasurement>,
}

/// The dispatcher for the in-firmware tests' guest: `ram_end` bytes of RAM, one vCPU,
/// [`NATIVE_BOOT_CAA`], the native platform's INSECURE fixed endorsement seed.
#[cfg(feature = "insecure_test_image")]
pub fn start(ram_end: u64) -> Result<Dispatcher, ServiceError> {
    let ram = guest_ram(ram_end)?;
    let layout = GuestLayout {
        ram: &ram,
        apic_ids: &[0],
        boot_caa: NATIVE_BOOT_CAA,
        platform: PlatformKind::Native,
        launch: Some(crate::image_digest::native()),
    };
    start_for(&layout, &EndorsementSeed::insecure_fixed(), None, None)
}

/// The vTPM the firmware runs, manufactured with `endorsement` (the platform's seed, so the EK is the
/// same at every boot of this image), powered on.
fn vtpm(endorsement: &EndorsementSeed) -> Result<Vtpm, ServiceError> {
    // The firmware's configuration (DA parameters) and a running clock, so expirations, tickets and
    // dictionary-attack recovery work as the host tests of `FirmwareConfig::FIRMWARE` show.
    let tpm = Box::new(warden_vtpm::Tpm::firmware(
        Box::new(Rdrand::new().ok_or(ServiceError::NoEntropy)?),
        Box::new(TscClock::start()),
        &warden_vtpm::FirmwareConfig::FIRMWARE,
        endorsement,
    ));
    Ok(Vtpm { tpm, state: None })
}

/// The services manifest: the vTPM's EK, created by TPM2_CreatePrimary on `vtpm` itself, which is then
/// shut down and re-initialised (_TPM_Init), so the guest finds it needing TPM2_Startup, as at power-on.
/// The RSA key it derived stays remembered (`warden_vtpm`'s primary cache keeps endorsement primaries
/// across a TPM Reset), so the guest's own CreatePrimary of the EK is quick.
fn manifest(vtpm: &mut Vtpm) -> Result<ServiceManifest, ServiceError> {
    let ek = endorsement_key_public(vtpm).map_err(ServiceError::Ek)?;
    vtpm.tpm.power_on();
    let mut manifest = ServiceManifest::new();
    manifest.add(VTPM_SERVICE_GUID, &ek).map_err(ServiceError::Manifest)?;
    Ok(manifest)
}

/// The platform's attestation evidence (SNP: the PSP through the guest-request driver).
pub type Evidence = Box<dyn EvidenceSource + Send>;

/// The dispatcher for the guest `layout` describes, its vTPM manufactured with `endorsement`,
/// attesting with `evidence` when there is any, its state kept on the state disk sealed as `state`
/// says (`None`: the platform keeps the vTPM's state in memory only).
pub fn start_for(
    layout: &GuestLayout<'_>,
    endorsement: &EndorsementSeed,
    evidence: Option<Evidence>,
    state: Option<StateSealing>,
) -> Result<Dispatcher, ServiceError> {
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
    let mut vtpm = vtpm(endorsement)?;
    // The EK (an RSA-2048 prime search: milliseconds on the host, much longer on the emulated machine) is
    // created only where a manifest is attested: without evidence nobody could ask for it.
    if let Some(evidence) = evidence {
        let manifest = manifest(&mut vtpm)?;
        dispatcher
            .register(PROTOCOL_ATTEST, Box::new(AttestProtocol::new(manifest, evidence)))
            .expect("protocol 1 is registered once, before the vTPM");
    }
    // The durable state is loaded after the manifest's EK: the EK is derived from the platform's seed,
    // which a stored blob never replaces (one with another EPS is refused, `warden_vtpm::persistence`).
    vtpm.state = if let Some(sealing) = state {
        crate::vtpm_state::keeper(sealing)
    } else {
        crate::println!("warden: vTPM state: kept in memory only on this platform");
        None
    };
    if let Some(keeper) = vtpm.state.as_mut() {
        crate::vtpm_state::report(keeper.load(&mut vtpm.tpm));
    }
    // Measured start-up last: it sends TPM2_Startup, after the manifest's power cycle and the stored
    // state's restore at _TPM_Init.
    let log = measure(&mut vtpm.tpm, layout)?;
    dispatcher
        .register(PROTOCOL_VTPM, Box::new(VtpmProtocol::new(vtpm)))
        .expect("protocol 2 is registered once");
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
    // A VMPL only exists on SEV-SNP; elsewhere (native, TDX's L2) the field is 0, as its layout says.
    let guest_vmpl = if layout.platform == PlatformKind::Snp { u32::from(GUEST_VMPL) } else { 0 };
    let config = PlatformConfig::new(layout.platform, vcpus, guest_vmpl, &ranges);
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
