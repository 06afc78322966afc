//! Warden's GHCB: the page it shares with the hypervisor, its registration through the MSR protocol,
//! and the one VMGEXIT through it that every NAE exit takes.
//!
//! Threat model T1: the hypervisor writes this page whenever it likes. [`SharedGhcb`] is the
//! `GhcbTransport` of `warden_platform::ghcb_exits`: it writes Warden's request into the page whole,
//! VMGEXITs, and copies the whole page back **once** into a private [`Ghcb`]; the exits there build the
//! requests and check only that copy. A failed check terminates. Sources: GHCB spec (AMD 56421)
//! §2.3.1 (the MSR protocol: SEV info, hypervisor features, GHCB registration, termination request)
//! and its GHCB layout (§2.3.2, the standard protocol). **Not exercised on hardware.**
use core::cell::UnsafeCell;

use spin::Mutex;
use warden_defs::ghcb::msr::{self, HvFeatures, MsrError, PscOp};
use warden_defs::ghcb::{Ghcb, offsets};
use warden_defs::snp::{PVALIDATE_SIZE_4K, SnpRc};
use warden_platform::ghcb_exits::GhcbTransport;

use super::c_bit;
use super::instructions::{flush_page_cache, pvalidate, read_ghcb_msr, vmgexit, write_ghcb_msr};

/// The GHCB page: in `.bss`, so it is part of the measured, prevalidated image until `register` turns
/// it into a shared page.
#[repr(C, align(4096))]
struct GhcbStorage(UnsafeCell<[u8; 4096]>);

// SAFETY: the page is only touched through `GHCB` below (its lock serialises all access) and, before
// registration, by `register` alone (which holds the same lock).
unsafe impl Sync for GhcbStorage {}

static STORAGE: GhcbStorage = GhcbStorage(UnsafeCell::new([0; 4096]));

/// The GHCB page's address (virtual = guest-physical: Warden runs identity-mapped).
pub fn page_address() -> u64 {
    STORAGE.0.get() as u64
}

/// The registered GHCB. `None` until [`register`] succeeds: the #VC handler then falls back to the MSR
/// protocol (CPUID only).
pub static GHCB: Mutex<Option<SharedGhcb>> = Mutex::new(None);

/// The GHCB page after registration: shared, C-bit clear, registered with the hypervisor.
#[derive(Debug)]
pub struct SharedGhcb {
    gpa: u64,
}

/// Why SNP set-up failed; every case is the hypervisor's doing (or a firmware/CPU disagreement).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GhcbSetupError {
    /// An MSR-protocol response failed its check (wrong function, version, features, echo, PSC error).
    Msr(MsrError),
    /// The C-bit position from the CPUID page is implausible or differs from SEV_INFO's.
    CbitMismatch {
        /// The CPUID page's Fn8000_001F EBX\[5:0\].
        cpuid_page: u8,
        /// SEV_INFO bits \[31:24\].
        sev_info: u8,
    },
    /// PVALIDATE refused to rescind the GHCB page, or found it not validated (return code, CF).
    Rescind(u32, bool),
    /// The GHCB page's mapping could not be changed to shared.
    Mapping(c_bit::CbitError),
    /// The GHCB is registered already (a second `SnpPlatform::init`).
    AlreadyRegistered,
}

/// One MSR-protocol exchange: the request into the GHCB MSR, VMGEXIT, the response out.
///
/// # Safety
/// As for [`vmgexit`]: the caller has reasoned about the request's effect.
unsafe fn msr_protocol(request: u64) -> u64 {
    // SAFETY: per the contract; the GHCB MSR carries the request and then the response.
    unsafe {
        write_ghcb_msr(request);
        vmgexit();
    }
    read_ghcb_msr()
}

/// Terminates through the MSR protocol (usable before and after registration): reason set in \[15:12\],
/// code in \[23:16\]. Halts if the hypervisor resumes Warden anyway.
pub fn terminate_msr(reason_set: u8, reason_code: u8) -> ! {
    // SAFETY: a termination request asks the hypervisor to stop this VM; no memory is involved.
    unsafe { msr_protocol(msr::terminate_request(reason_set, reason_code)) };
    crate::machine::halt_forever()
}

/// Checks the hypervisor's protocol version and features, makes the GHCB page shared and registers it.
/// `page_c_bit` is the CPUID page's Fn8000_001F EBX\[5:0\] (`SnpPlatform::init`); SEV_INFO's must agree.
/// Returns the C-bit position.
///
/// # Safety
/// Call once, on the boot CPU, on SNP (after detection), before anything uses [`GHCB`].
pub unsafe fn register(page_c_bit: u8) -> Result<u8, GhcbSetupError> {
    let mut slot = GHCB.lock();
    if slot.is_some() {
        return Err(GhcbSetupError::AlreadyRegistered);
    }
    // SAFETY: SEV_INFO only asks for information.
    let info =
        msr::parse_sev_info(unsafe { msr_protocol(msr::SEV_INFO_REQ) }).map_err(GhcbSetupError::Msr)?;
    // A C-bit below 32 would put private memory below 4 GiB out of reach; above 51 is no physical bit.
    if info.c_bit != page_c_bit || !(32..=51).contains(&page_c_bit) {
        return Err(GhcbSetupError::CbitMismatch { cpuid_page: page_c_bit, sev_info: info.c_bit });
    }
    // SAFETY: HV_FEATURES only asks for information.
    let features =
        msr::parse_hv_features(unsafe { msr_protocol(msr::HV_FEATURES_REQ) }).map_err(GhcbSetupError::Msr)?;
    // COCONUT only logs a missing feature; Warden refuses to run without them.
    features.require(HvFeatures::REQUIRED).map_err(GhcbSetupError::Msr)?;

    let gpa = page_address();
    let gfn = gpa >> 12;
    // SAFETY: the GHCB page is Warden's own `.bss` page, identity-mapped, and nothing references it
    // (only this module does, under the lock we hold); from here on it is only accessed through
    // `SharedGhcb::exchange`, as the shared view.
    unsafe { share_page(gpa, page_c_bit) }?;
    // SAFETY: registration names a page that is shared, which it now is.
    let response = unsafe { msr_protocol(msr::register_gpa_request(gfn)) };
    msr::check_register_gpa(response, gfn).map_err(GhcbSetupError::Msr)?;
    *slot = Some(SharedGhcb { gpa });
    Ok(page_c_bit)
}

/// Makes Warden's `.bss` page at `gpa` shared with the hypervisor and zeroes it: no dirty line of the
/// private view may be written back over it later, so the cache is flushed; validation is rescinded
/// first, so that a hypervisor that does not make it shared cannot leave Warden writing to a validated
/// page it believes shared; then the page-state change (MSR protocol) and the C-bit cleared.
///
/// # Safety
/// The page is Warden's own, page-aligned, identity-mapped, and referenced by no Rust object; from now
/// on it is only accessed as shared memory (volatile copies), and never while another CPU uses the GHCB
/// MSR (the boot CPU at boot, or under the [`GHCB`] lock).
pub unsafe fn share_page(gpa: u64, c_bit: u8) -> Result<(), GhcbSetupError> {
    flush_page_cache(gpa);
    // SAFETY: per the contract, nothing references the page.
    let (rc, unchanged) = unsafe { pvalidate(gpa, PVALIDATE_SIZE_4K, false) };
    if SnpRc(rc) != SnpRc::SUCCESS || unchanged {
        return Err(GhcbSetupError::Rescind(rc, unchanged));
    }
    // SAFETY: the page is rescinded and unreferenced; handing it to the hypervisor is the point.
    let response = unsafe { msr_protocol(msr::psc_request(gpa >> 12, PscOp::Shared)) };
    msr::check_psc(response).map_err(GhcbSetupError::Msr)?;
    // SAFETY: the page is shared in the RMP now and nothing references it (the contract).
    unsafe { c_bit::set_private(gpa, c_bit, false) }.map_err(GhcbSetupError::Mapping)?;
    // SAFETY: the page is mapped writable (shared view) and unreferenced.
    unsafe { (gpa as *mut [u8; 4096]).write_volatile([0; 4096]) };
    Ok(())
}

impl GhcbTransport for SharedGhcb {
    /// One NAE exit: `ghcb` (built privately) is written to the shared page whole, the GHCB MSR set to
    /// the page's GPA, VMGEXIT, and the page copied back once into `ghcb`, replacing the request.
    fn exchange(&mut self, ghcb: &mut Ghcb) {
        let page = self.gpa as *mut Ghcb;
        // SAFETY: `page` is the registered shared GHCB page, mapped writable, only accessed here (`&mut
        // self` under the `GHCB` lock); the hypervisor reads it during VMGEXIT, which is its purpose. The
        // single volatile read afterwards is the one copy Warden takes of what the hypervisor wrote.
        unsafe {
            page.write_volatile(*ghcb);
            write_ghcb_msr(self.gpa);
            vmgexit();
            *ghcb = page.read_volatile();
        }
    }

    fn shared_buffer_gpa(&self) -> u64 {
        self.gpa + offsets::SHARED_BUFFER as u64
    }
}
