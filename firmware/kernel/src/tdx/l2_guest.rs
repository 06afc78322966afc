//! The guest Warden serves on TDX, as L2 VM 1 of the partitioned TD (Warden is its L1): found
//! ([`find`]: the image's payload and the TD's L2 VM), launched ([`launch`]: its free RAM accepted,
//! its launch pages written, its pages granted, its VMCS written) and served ([`L2Channel`]:
//! TDG.VP.ENTER, then the exit decoded and answered by the host-tested `warden_svsm::tdx_l2_serve`,
//! SVSM calls through the same `Dispatcher::handle` as on SNP).
//!
//! What the L2 may touch is what Warden granted with TDG.MEM.PAGE.ATTR.WR (`warden_svsm::tdx_l2_launch`):
//! its page tables map all of `[0, 1 GiB)`, Warden's region included, so an access there is a real one
//! the TDX module stops (an EPT violation), and Warden then stops the guest for good.
//! **Exercised on the emulated TDX machine only** (`tests/machine`), not on hardware.
use alloc::boxed::Box;

use warden_accept::AcceptStats;
use warden_defs::guest_launch::{GUEST_FREE_BASE, GUEST_FREE_END, GuestPayload, GuestPayloadError};
use warden_defs::layout::PAGE_SIZE;
use warden_defs::tdx_partition::{L2GuestState, MD_TDCS_NUM_L2_VMS, l2_vmcs_field};
use warden_platform::memory::GpaRange;
use warden_svsm::tdx_l2_launch::{
    GrantSize, grant_plan, granted_ranges, grants, start_state, start_vmcs, write_launch_pages,
};
use warden_svsm::tdx_l2_serve::{Service, complete_cpuid, complete_port_in, serve};
use warden_svsm::{Dispatcher, GuestMemory, MemoryError, Paired};

use super::partition::{TdcallError, page_attr_wr, vm_rd, vp_enter, vp_wr};
use super::{TdxPlatform, port_io};
use crate::boot_params;
use crate::boot_steps::RequestChannel;
use crate::services::{NATIVE_CALLER, NoRmp};
use crate::snp::guest_memory::{GuestMapError, GuestMapping, SnpGuestMemory};

/// Why the L2 guest cannot be launched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L2LaunchError {
    /// The image carries no guest (`warden.igvm`).
    NoGuest,
    /// The payload descriptor is malformed.
    Payload(GuestPayloadError),
    /// The TD was built without an L2 VM (TDG.VM.RD of MD_TDCS_NUM_L2_VMS: 0), or the read failed.
    NoL2Vm(Option<TdcallError>),
    /// The L2's ranges could not be mapped for Warden.
    Map(GuestMapError),
    /// The free RAM could not be accepted.
    Accept(warden_accept::AcceptError),
    /// A launch page could not be written.
    Write(u64, MemoryError),
    /// TDG.MEM.PAGE.ATTR.WR refused to grant this page.
    Grant(u64, TdcallError),
    /// TDG.VP.WR refused this VMCS field.
    Vmcs(u32, TdcallError),
    /// The guest image could not be read for its measurement, at this GPA.
    ReadImage(u64, MemoryError),
    /// TDG.MR.RTMR.EXTEND refused the guest image's measurement.
    Measure(warden_defs::tdx::TdxStatus),
}

/// The L2 guest found, and its RAM mapped for Warden: what `start_services` serves.
#[derive(Clone, Copy, Debug)]
pub struct L2Guest {
    /// The payload.
    pub payload: GuestPayload,
    /// The L2's granted ranges, mapped (identity, non-executable) for Warden's copies.
    pub mapping: GuestMapping,
}

/// Finds the guest the image carries and the TD's L2 VM, and maps the L2's ranges
/// (`tdx_l2_launch::granted_ranges`) for Warden. Run once.
pub fn find() -> Result<L2Guest, L2LaunchError> {
    let payload = match GuestPayload::parse(&boot_params::copy_guest_payload_page()) {
        Ok(Some(payload)) => payload,
        Ok(None) => return Err(L2LaunchError::NoGuest),
        Err(error) => return Err(L2LaunchError::Payload(error)),
    };
    match vm_rd(MD_TDCS_NUM_L2_VMS) {
        Ok(0) => return Err(L2LaunchError::NoL2Vm(None)),
        Ok(_) => {}
        Err(error) => return Err(L2LaunchError::NoL2Vm(Some(error))),
    }
    let mapping = GuestMapping::map_ranges(granted_ranges(&payload)).map_err(L2LaunchError::Map)?;
    Ok(L2Guest { payload, mapping })
}

/// A 4 KiB page of Warden's for the L2's virtual-APIC page, which TDG.VP.ENTER requires.
#[repr(C, align(4096))]
struct ApicPage([u8; PAGE_SIZE as usize]);

/// Launches the L2: accepts its free RAM, writes its boot information and page tables, grants it its
/// ranges (and nothing else) and writes its first VMCS state. Returns the channel that runs it.
pub fn launch(platform: &mut TdxPlatform, guest: L2Guest) -> Result<L2Channel, L2LaunchError> {
    let mut memory = SnpGuestMemory::new(guest.mapping);
    // The free RAM is not part of the image: pending until accepted. The launch pages and the image were
    // added (and so accepted) at build time.
    let free = GpaRange::new(GUEST_FREE_BASE, GUEST_FREE_END)
        .ok_or(L2LaunchError::Map(GuestMapError::NoGuestRam))?;
    let mut stats = AcceptStats::default();
    // SAFETY: the free RAM is the guest's, outside Warden's ranges, mapped for Warden (`find`) but holding
    // no Rust object (Warden reaches it only by copies); nothing else accepts it, and this runs once.
    unsafe { warden_accept::early::accept_tdx(platform, free, &mut stats) }.map_err(L2LaunchError::Accept)?;
    write_launch_pages(&mut memory).map_err(|(gpa, error)| L2LaunchError::Write(gpa, error))?;
    measure_image(platform, &memory, &guest.payload)?;

    for (gpa, size, attributes) in grant_plan(&grants(&guest.payload)) {
        let level = match size {
            GrantSize::Size4K => 0,
            GrantSize::Size2M => 1,
        };
        // SAFETY: a page of the L2's own ranges (the launch contract's): never Warden's.
        unsafe { page_attr_wr(gpa, level, attributes) }.map_err(|e| L2LaunchError::Grant(gpa, e))?;
    }

    // The virtual-APIC page: Warden's heap (identity-mapped: the address is the GPA), leaked, never
    // touched by Warden again; only the TDX module uses it.
    let apic = Box::leak(Box::new(ApicPage([0; PAGE_SIZE as usize])));
    let apic_gpa = core::ptr::from_mut(apic) as u64;
    for (encoding, value) in start_vmcs(apic_gpa) {
        // SAFETY: the L2's first state as the launch contract gives it; the virtual-APIC page is Warden's
        // own, handed over for good.
        unsafe { vp_wr(l2_vmcs_field(encoding), value) }.map_err(|e| L2LaunchError::Vmcs(encoding, e))?;
    }
    // The guest-state buffer: Warden's heap, 256-aligned by its type.
    let state = Box::new(start_state(&guest.payload));
    Ok(L2Channel { memory, state })
}

/// Extends RTMR\[1\] with SHA-384 of the guest image as loaded, before the guest's first instruction
/// (TDVF's convention: RTMR\[1\] holds the OS loader; `warden_svsm::tdx_evidence`). The image is also in
/// MRTD, but a verifier reading the TDREPORT then finds the payload Warden launched in the register
/// meant for it, as it would under a TDVF: RTMR\[1\] = SHA-384(0⁴⁸ ‖ SHA-384(image)). Read a page at a
/// time, so a guest firmware of megabytes never sits on Warden's heap.
fn measure_image(
    platform: &mut TdxPlatform,
    memory: &SnpGuestMemory,
    payload: &GuestPayload,
) -> Result<(), L2LaunchError> {
    use warden_sha::Sha384;
    use warden_sha::digest::Digest;
    use warden_svsm::tdx_evidence::{WardenEvent, measure};
    let mut hash = Sha384::new();
    let mut page = [0u8; PAGE_SIZE as usize];
    for gpa in (payload.image_start..payload.image_end).step_by(PAGE_SIZE as usize) {
        memory.read(gpa, &mut page).map_err(|e| L2LaunchError::ReadImage(gpa, e))?;
        hash.update(page);
    }
    measure(platform, WardenEvent::GuestPayload(hash.finalize().into())).map_err(L2LaunchError::Measure)
}

/// The L2 guest, launched: its memory as Warden reaches it and its guest-state buffer.
#[derive(Debug)]
pub struct L2Channel {
    memory: SnpGuestMemory,
    /// The buffer TDG.VP.ENTER names: the module loads the L2 from it and stores it there at an exit.
    state: Box<L2GuestState>,
}

impl L2Channel {
    /// Runs the L2 until it exits; returns the exit's information and a private copy of its registers.
    fn run(&mut self) -> (warden_svsm::tdx_l2_exit::ExitInfo, L2GuestState) {
        // SAFETY: the buffer is Warden's heap (private, accepted); the L2's VMCS and attributes were set by
        // `launch`, which granted it only its own ranges.
        let info = unsafe { vp_enter(&mut self.state) };
        // One copy of what the module stored: every decision below uses it.
        (info, *self.state)
    }
}

impl RequestChannel for L2Channel {
    fn serve_forever(mut self, dispatcher: &mut Dispatcher) -> ! {
        crate::println!("warden: serving the L2 guest's SVSM calls (core, attestation, vTPM) by VMCALL");
        let mut rmp = NoRmp;
        loop {
            let (info, mut state) = self.run();
            let mut env = Paired { platform: &mut rmp, memory: &mut self.memory };
            let service = serve(dispatcher, &mut env, NATIVE_CALLER, &mut state, &info);
            match service {
                Service::Resume => {}
                Service::PortOut { port, size, value } => {
                    port_io(port, size, Some(value));
                }
                Service::PortIn { port } => complete_port_in(&mut state, port_io(port, 1, None) as u8),
                Service::Cpuid { leaf, subleaf } => {
                    // Warden's own CPUID: the TDX module answers it, or the #VE handler asks the VMM.
                    let r = core::arch::x86_64::__cpuid_count(leaf, subleaf);
                    complete_cpuid(&mut state, [r.eax, r.ebx, r.ecx, r.edx]);
                }
                Service::Halted => {
                    crate::println!("warden: the L2 guest halted");
                    crate::machine::halt_forever()
                }
                Service::Denied { gpa, qualification } => {
                    crate::println!(
                        "warden: L2 guest denied at GPA {gpa:#x} (qualification {:#x}): guest stopped",
                        qualification.0
                    );
                    crate::machine::halt_forever()
                }
                Service::Stop(why) => {
                    crate::println!("warden: L2 guest stopped: {why:?} (exit {info:x?})");
                    crate::machine::halt_forever()
                }
            }
            *self.state = state;
        }
    }
}
