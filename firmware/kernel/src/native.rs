//! The native platform: QEMU without confidentiality (KVM or TCG). Memory needs no acceptance, the
//! hypervisor is reached through plain port I/O, and termination is QEMU's `isa-debug-exit` device.
use warden_defs::boot::BootPlatform;
use warden_defs::layout::DEBUG_EXIT_PORT;
#[cfg(warden_request_loop)]
use warden_defs::layout::for_each_unowned;
#[cfg(warden_request_loop)]
use warden_platform::memory::GpaRange;
use warden_platform::{Platform, Termination};

use crate::boot_steps::{BootStepError, BootSteps, HostHints};
use crate::cpu::exceptions::VirtualizationEntry;
use crate::heap::HeapMemory;
#[cfg(warden_request_loop)]
use crate::request_loop::DoorbellChannel;
#[cfg(warden_request_loop)]
use crate::snp::guest_memory::GuestMapping;
use crate::{console, port};

/// The native platform. Only `start` creates it, after the platform check.
#[derive(Debug)]
pub struct NativePlatform {
    /// The guest RAM Warden mapped for the request loop (`BootSteps::guest_ram`).
    #[cfg(warden_request_loop)]
    guest: Option<GuestMapping>,
}

impl NativePlatform {
    /// The native platform; `start` calls this once `warden_platform::detect` said native.
    pub(crate) fn new() -> Self {
        Self {
            #[cfg(warden_request_loop)]
            guest: None,
        }
    }
}

/// The guest RAM QEMU reports in fw_cfg `etc/e820` (type 1 entries), in bytes; `None` without fw_cfg.
///
/// On SNP and TDX the memory map is an IGVM parameter area instead; on native it comes from QEMU.
pub fn ram_bytes() -> Option<u64> {
    const ENTRY: usize = 20;
    let mut table = [0u8; ENTRY * 32];
    let len = crate::fw_cfg::read_file("etc/e820", &mut table)?;
    let total = table[..len - len % ENTRY]
        .chunks_exact(ENTRY)
        .filter(|entry| entry[16..20] == 1u32.to_le_bytes())
        .map(|entry| u64::from_le_bytes(entry[8..16].try_into().unwrap_or_default()))
        .fold(0u64, u64::saturating_add);
    Some(total)
}

/// The fw_cfg file in which a host whose KVM cannot execute guest SIMD says so (contents `off`). KVM-PVM
/// (software virtualization, `/sys/module/kvm_pvm`) runs Warden's SSE/AVX instructions in its emulator and
/// stops the VM on those it lacks (SHA-NI's PSHUFD), and it passes the real CPUID through, so QEMU's
/// `-cpu host,-sha-ni` cannot hide them. Native only: there the host is trusted with availability anyway.
pub const SIMD_HINT_FILE: &str = "opt/warden/simd";

/// Whether the host asked (fw_cfg [`SIMD_HINT_FILE`] = `off`) that Warden use no SIMD.
pub fn host_refuses_simd() -> bool {
    let mut hint = [0u8; 8];
    let len = crate::fw_cfg::read_file(SIMD_HINT_FILE, &mut hint).unwrap_or(0);
    hint.get(..len).is_some_and(|hint| hint.trim_ascii() == b"off")
}

/// The byte written to `isa-debug-exit` for each reason; QEMU exits with `(byte << 1) | 1`.
pub const fn exit_code(reason: Termination) -> u8 {
    match reason {
        Termination::TestsPassed => 0x10,
        Termination::Failure => 0x11,
        Termination::PlatformMismatch => 0x12,
    }
}

/// Ends the VM through `isa-debug-exit`; halts if the device is absent.
pub fn exit(reason: Termination) -> ! {
    // SAFETY: port 0xF4 is QEMU's isa-debug-exit when present (it ends the VM), and an unclaimed port
    // otherwise (the write is dropped).
    unsafe { port::outb(DEBUG_EXIT_PORT, exit_code(reason)) };
    crate::machine::halt_forever()
}

impl Platform for NativePlatform {
    fn kind(&self) -> BootPlatform {
        BootPlatform::Native
    }

    fn console_write(&self, bytes: &[u8]) {
        console::write_bytes(bytes);
    }

    fn terminate(&self, reason: Termination) -> ! {
        exit(reason)
    }
}

impl BootSteps for NativePlatform {
    fn start_console(&mut self) -> Result<(), BootStepError> {
        console::init();
        Ok(())
    }

    fn start_timing(&mut self) {
        // The PIT counts while Warden boots; the ready line reads it to know the TSC rate.
        crate::tsc::start_window();
    }

    /// No #VC or #VE off confidential hardware: vectors 20 and 29 stay fatal reports.
    fn virtualization_exception_entry(&mut self) -> Result<Option<VirtualizationEntry>, BootStepError> {
        Ok(None)
    }

    fn host_hints(&mut self) -> HostHints {
        // The guest's RAM as QEMU reports it (fw_cfg: many port reads, so once).
        HostHints { simd_refused: host_refuses_simd(), ram_bytes: ram_bytes().unwrap_or(0) }
    }

    /// Native memory is usable as it is.
    unsafe fn accept_heap(&mut self) -> Result<HeapMemory, BootStepError> {
        Ok(HeapMemory::Plain)
    }

    /// No hardware root: the image digest Warden computes itself (`image_digest`).
    #[cfg(warden_request_loop)]
    fn launch_measurement(
        &mut self,
    ) -> (warden_vtpm::measured_boot::PlatformKind, Option<warden_vtpm::measured_boot::LaunchMeasurement>)
    {
        (warden_vtpm::measured_boot::PlatformKind::Native, Some(crate::image_digest::native()))
    }

    /// One vCPU whose calling area is `services::NATIVE_BOOT_CAA`. Native QEMU has no confidential
    /// platform, so no key to derive the endorsement seed from and no evidence: its vTPM gets the
    /// INSECURE fixed seed (every native Warden has the same EK) and no attestation protocol is offered.
    /// The one place outside the test image that uses that seed; the confidential platforms derive theirs.
    #[cfg(warden_request_loop)]
    fn start_services(
        &mut self,
        ram: &[warden_platform::memory::GpaRange],
        _facts: &crate::boot_params::BootFacts,
    ) -> Result<warden_svsm::Dispatcher, BootStepError> {
        let (platform, launch) = self.launch_measurement();
        let layout = crate::services::GuestLayout {
            ram,
            apic_ids: &[0],
            boot_caa: crate::services::NATIVE_BOOT_CAA,
            platform,
            launch,
        };
        let seed = warden_vtpm::EndorsementSeed::insecure_fixed();
        let state = crate::vtpm_state::StateSealing::insecure_native();
        crate::services::start_for(&layout, &seed, None, Some(state)).map_err(BootStepError::Services)
    }

    /// `[0, RAM)` as QEMU reports it, Warden's ranges cut out, mapped for Warden (identity,
    /// non-executable) where the request loop serves: the host program's calls live in guest RAM.
    #[cfg(warden_request_loop)]
    fn guest_ram(
        &mut self,
        _facts: &crate::boot_params::BootFacts,
        hints: &HostHints,
    ) -> Result<alloc::vec::Vec<GpaRange>, BootStepError> {
        let mut ram = alloc::vec::Vec::new();
        for_each_unowned(0, hints.ram_bytes, |start, end| ram.extend(GpaRange::new(start, end)));
        let mapping = GuestMapping::map_ranges(ram).map_err(BootStepError::GuestMapping)?;
        self.guest = Some(mapping);
        Ok(mapping.ranges().to_vec())
    }

    #[cfg(warden_request_loop)]
    type Channel = DoorbellChannel;

    #[cfg(warden_request_loop)]
    fn open_request_channel(
        &mut self,
        _dispatcher: &mut warden_svsm::Dispatcher,
        _facts: &crate::boot_params::BootFacts,
    ) -> Result<DoorbellChannel, BootStepError> {
        // The boot mapped guest RAM (`guest_ram`) before the services started.
        let mapping = self.guest.ok_or(BootStepError::NoGuestChannel)?;
        Ok(DoorbellChannel::open(mapping))
    }
}
