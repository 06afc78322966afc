//! The SEV-SNP platform: Warden at VMPL0 of an SNP guest. The console and termination go through the
//! GHCB, memory is validated with PVALIDATE and made shared or private with page-state changes, and the
//! #VC handler (`vc`) emulates the CPUID, port and MSR accesses the CPU no longer lets the hypervisor see.
//!
//! **Not exercised on hardware**: no machine this was written on has SEV-SNP. The semantics it must
//! have are those `warden-sim`'s SNP model enforces and `warden-accept` relies on; the encodings are
//! checked against the public specifications only: AMD64 APM vol. 3 ch. 4 (PVALIDATE, RMPADJUST, VMGEXIT
//! return codes), APM vol. 2 ch. 15 (SEV-ES #VC, SEV-SNP and the RMP), GHCB spec (AMD 56421) §2.3.1 (MSR
//! protocol, termination reason sets) and §4.1 (NAE events).
pub mod boot;
pub mod c_bit;
pub mod ghcb;
#[cfg(warden_request_loop)]
pub mod guest_channel;
#[cfg(warden_request_loop)]
pub mod guest_launch;
pub mod guest_memory;
#[cfg(warden_request_loop)]
pub mod guest_request;
pub mod instructions;
pub mod vc;

use warden_defs::boot::BootPlatform;
use warden_defs::ghcb::exit::IoWidth;
use warden_defs::ghcb::msr::{
    MsrError, REASON_GENERAL, REASON_PROTOCOL_UNSUPPORTED, REASON_SET_GENERAL, REASON_SET_WARDEN,
    REASON_SNP_UNSUPPORTED,
};
use warden_defs::layout::{COM1_PORT, SNP_CPUID_PAGE};
use warden_defs::psc::PscDescriptor;
use warden_defs::snp::{PVALIDATE_SIZE_2M, PVALIDATE_SIZE_4K, SnpRc, rmpadjust_attrs};
use warden_defs::snp_cpuid::{SnpCpuidError, SnpCpuidTable};
use warden_platform::ghcb_exits::{self, PscExitError};
use warden_platform::memory::{
    PageSize, PscError, PvalidateError, PvalidateOutcome, RmpadjustError, SnpMemory, VmplPerms,
};
use warden_platform::{Platform, Termination};

use self::ghcb::{GHCB, GhcbSetupError, SharedGhcb};
use self::guest_memory::{GuestMapping, SnpGuestMemory};

/// Why Warden asks the hypervisor to stop it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A [`Termination`] of the generic boot sequence.
    Termination(Termination),
    /// The hypervisor does not speak GHCB version 2 (set 0, code 1).
    ProtocolUnsupported,
    /// The hypervisor lacks a required SNP feature (set 0, code 2).
    SnpUnsupported,
    /// A value the hypervisor returned failed its check (Warden set, code 3).
    HypervisorMisbehaved,
    /// A #VC Warden cannot emulate (Warden set, code 4): a Warden bug or an unexpected intercept.
    UnhandledVc,
}

impl Reason {
    /// The (reason set, reason code) of the MSR-protocol termination request.
    pub const fn encode(self) -> (u8, u8) {
        match self {
            Reason::Termination(Termination::TestsPassed) => (REASON_SET_WARDEN, 0),
            Reason::Termination(Termination::Failure) => (REASON_SET_WARDEN, 1),
            Reason::Termination(Termination::PlatformMismatch) => (REASON_SET_GENERAL, REASON_GENERAL),
            Reason::ProtocolUnsupported => (REASON_SET_GENERAL, REASON_PROTOCOL_UNSUPPORTED),
            Reason::SnpUnsupported => (REASON_SET_GENERAL, REASON_SNP_UNSUPPORTED),
            Reason::HypervisorMisbehaved => (REASON_SET_WARDEN, 3),
            Reason::UnhandledVc => (REASON_SET_WARDEN, 4),
        }
    }
}

/// Terminates through the GHCB MSR protocol (works before the GHCB is registered, and needs no lock).
pub fn terminate_with(reason: Reason) -> ! {
    let (set, code) = reason.encode();
    ghcb::terminate_msr(set, code)
}

/// Why [`SnpPlatform::init`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnpInitError {
    /// The CPUID page's table is malformed (a count above its capacity).
    CpuidPage(SnpCpuidError),
    /// The CPUID page has no entry for CPUID Fn8000_001F: no C-bit position Warden could trust.
    NoCbitInCpuidPage,
    /// The live page tables do not map Warden's memory with the C-bit at the CPUID page's position
    /// (the boot stub did not set it, or set another bit).
    TablesNotPrivate {
        /// The CPUID page's C-bit position.
        c_bit: u8,
    },
    /// The hypervisor's GHCB set-up failed its checks.
    Ghcb(GhcbSetupError),
}

impl SnpInitError {
    /// The termination reason this failure calls for.
    pub const fn reason(self) -> Reason {
        match self {
            SnpInitError::Ghcb(GhcbSetupError::Msr(MsrError::UnsupportedVersion { .. })) => {
                Reason::ProtocolUnsupported
            }
            SnpInitError::Ghcb(GhcbSetupError::Msr(MsrError::MissingFeatures(_))) => Reason::SnpUnsupported,
            SnpInitError::Ghcb(GhcbSetupError::AlreadyRegistered) => {
                Reason::Termination(Termination::Failure)
            }
            // The CPUID page is the loader's (checked by the PSP): a bad one is the host's doing too.
            _ => Reason::HypervisorMisbehaved,
        }
    }
}

/// The SNP platform. Only [`SnpPlatform::init`] creates it, once the GHCB is registered.
#[derive(Debug)]
pub struct SnpPlatform {
    c_bit: u8,
    /// The guest RAM Warden mapped (a boot step after the heap: `BootSteps::guest_ram`).
    guest: Option<GuestMapping>,
}

/// How many times the console polls the UART's transmitter before writing anyway (a hostile hypervisor
/// could report it busy forever).
const UART_POLLS: u32 = 1024;
const UART_LINE_STATUS: u16 = 5;
const UART_TX_EMPTY: u64 = 1 << 5;

impl SnpPlatform {
    /// Sets up SNP: takes the C-bit position from the CPUID page, checks the hypervisor's GHCB version
    /// and features (refusing to run without SNP, AP creation and multiple VMPLs), makes the GHCB page
    /// shared and registers it.
    ///
    /// The C-bit comes from the CPUID page because the PSP checked that page's entries against the CPU
    /// before the launch (SEV-SNP ABI (AMD 56860), CPUID Reporting), and it is measured: CPUID itself
    /// would raise #VC and be answered by the hypervisor, as is SEV_INFO, so comparing those two would
    /// compare the hypervisor with itself. SEV_INFO must still agree with the page, or Warden stops.
    pub fn init() -> Result<Self, SnpInitError> {
        let table = SnpCpuidTable::parse(&crate::boot_params::copy_snp_cpuid_page())
            .map_err(SnpInitError::CpuidPage)?;
        let c_bit = table.c_bit().ok_or(SnpInitError::NoCbitInCpuidPage)?;
        // The boot stub read the same page and put this bit into every entry; the walk must now find it
        // where Warden's memory is mapped (the full check of every region is the boot's layout check).
        if !(32..=51).contains(&c_bit) {
            return Err(SnpInitError::TablesNotPrivate { c_bit });
        }
        crate::paging::set_encryption_mask(c_bit);
        match crate::paging::translate(SNP_CPUID_PAGE) {
            Ok(mapping) if mapping.encrypted && mapping.physical == SNP_CPUID_PAGE => {}
            _ => return Err(SnpInitError::TablesNotPrivate { c_bit }),
        }
        // SAFETY: called once by `start` after detection said SNP; nothing has used the GHCB yet.
        let c_bit = unsafe { ghcb::register(c_bit) }.map_err(SnpInitError::Ghcb)?;
        Ok(Self { c_bit, guest: None })
    }

    /// The C-bit position.
    pub fn c_bit(&self) -> u8 {
        self.c_bit
    }

    /// The guest RAM Warden mapped, once the boot mapped it.
    #[expect(dead_code, reason = "for the SNP request loop over the guest's VMSA (issue #11), next")]
    pub fn guest_mapping(&self) -> Option<GuestMapping> {
        self.guest
    }

    /// Copies to and from the guest's RAM, once the boot mapped it.
    #[cfg_attr(
        not(warden_request_loop),
        expect(dead_code, reason = "the request loop's (SNP guest channel)")
    )]
    pub fn guest_memory(&self) -> Option<SnpGuestMemory> {
        self.guest.map(SnpGuestMemory::new)
    }

    /// Records the guest mapping (`snp::boot`).
    fn set_guest_mapping(&mut self, mapping: GuestMapping) {
        self.guest = Some(mapping);
    }

    /// Checks that the page at `gpa` is mapped to itself (the instructions take a virtual address): in
    /// Warden's region by the image's 4 KiB entry of its first page (the heap is validated in 2 MiB
    /// pages through them), in guest RAM by the guest mapping (2 MiB entries where aligned; the page's
    /// size decides nothing about the mapping the instruction goes through).
    fn mapped(&self, gpa: u64, size: PageSize) -> bool {
        self.guest.is_some_and(|guest| guest.covers(gpa, size.bytes()))
            || c_bit::check_identity(gpa, self.c_bit).is_ok()
    }
}

/// One exit through the registered GHCB (`ghcb_exits`); a refusal or a malformed reply terminates.
fn with_ghcb<R, E>(exit: impl FnOnce(&mut SharedGhcb) -> Result<R, E>) -> R {
    let mut slot = GHCB.lock();
    // `SnpPlatform` exists only once the GHCB is registered: `None` would be a Warden bug.
    let Some(ghcb) = slot.as_mut() else { terminate_with(Reason::Termination(Termination::Failure)) };
    match exit(ghcb) {
        Ok(value) => value,
        Err(_) => terminate_with(Reason::HypervisorMisbehaved),
    }
}

/// COM1 through IOIO exits: two per byte (poll the line status, then write). Only once the GHCB is
/// registered (an `SnpPlatform` exists).
pub fn console_write_bytes(bytes: &[u8]) {
    for &byte in bytes {
        for _ in 0..UART_POLLS {
            let status = with_ghcb(|g| ghcb_exits::io_in(g, COM1_PORT + UART_LINE_STATUS, IoWidth::Byte));
            if status & UART_TX_EMPTY != 0 {
                break;
            }
        }
        with_ghcb(|g| ghcb_exits::io_out(g, COM1_PORT, IoWidth::Byte, u64::from(byte)));
    }
}

/// Terminates with a [`Termination`] of the generic boot (for `machine::record`).
pub fn terminate(reason: Termination) -> ! {
    terminate_with(Reason::Termination(reason))
}

impl Platform for SnpPlatform {
    fn kind(&self) -> BootPlatform {
        BootPlatform::Snp
    }

    fn console_write(&self, bytes: &[u8]) {
        console_write_bytes(bytes);
    }

    fn terminate(&self, reason: Termination) -> ! {
        terminate_with(Reason::Termination(reason))
    }
}

const fn size_code(size: PageSize) -> u32 {
    match size {
        PageSize::Size4K => PVALIDATE_SIZE_4K,
        PageSize::Size2M => PVALIDATE_SIZE_2M,
    }
}

impl SnpMemory for SnpPlatform {
    unsafe fn pvalidate(
        &mut self,
        gpa: u64,
        size: PageSize,
        validate: bool,
    ) -> Result<PvalidateOutcome, PvalidateError> {
        // An unmapped address would fault: refuse it as the instruction refuses bad input.
        if !gpa.is_multiple_of(size.bytes()) || !self.mapped(gpa, size) {
            return Err(PvalidateError::FailInput);
        }
        // SAFETY: the caller upholds the trait's contract for this page; it is identity-mapped (checked).
        let (rc, unchanged) = unsafe { instructions::pvalidate(gpa, size_code(size), validate) };
        match SnpRc(rc) {
            SnpRc::SUCCESS if unchanged => Ok(PvalidateOutcome::Unchanged),
            SnpRc::SUCCESS => Ok(PvalidateOutcome::Changed),
            SnpRc::FAIL_INPUT => Err(PvalidateError::FailInput),
            SnpRc::FAIL_SIZEMISMATCH => Err(PvalidateError::FailSizeMismatch),
            SnpRc(other) => Err(PvalidateError::Unknown(other)),
        }
    }

    unsafe fn rmpadjust(
        &mut self,
        gpa: u64,
        size: PageSize,
        target_vmpl: u8,
        perms: VmplPerms,
        vmsa: bool,
    ) -> Result<(), RmpadjustError> {
        if !gpa.is_multiple_of(size.bytes()) || !self.mapped(gpa, size) {
            return Err(RmpadjustError::FailInput);
        }
        let attrs = rmpadjust_attrs(target_vmpl, perms.bits(), vmsa);
        // SAFETY: the caller upholds the trait's contract for this page; it is identity-mapped (checked).
        let rc = unsafe { instructions::rmpadjust(gpa, u64::from(size_code(size)), attrs) };
        match SnpRc(rc) {
            SnpRc::SUCCESS => Ok(()),
            SnpRc::FAIL_INPUT => Err(RmpadjustError::FailInput),
            SnpRc::FAIL_PERMISSION => Err(RmpadjustError::FailPermission),
            SnpRc::FAIL_SIZEMISMATCH => Err(RmpadjustError::FailSizeMismatch),
            SnpRc(other) => Err(RmpadjustError::Unknown(other)),
        }
    }

    unsafe fn page_state_change(&mut self, desc: &mut PscDescriptor) -> Result<(), PscError> {
        let mut slot = GHCB.lock();
        // `SnpPlatform` exists only once the GHCB is registered: `None` would be a Warden bug.
        let Some(ghcb) = slot.as_mut() else { terminate_with(Reason::Termination(Termination::Failure)) };
        // The caller upholds this method's contract for the pages the descriptor names, which is what
        // makes the exit sound; `ghcb_exits` only builds the request and checks the reply.
        match ghcb_exits::page_state_change(ghcb, desc) {
            Ok(()) => Ok(()),
            Err(PscExitError::Refused(error)) => Err(error),
            // An exception to inject, an unknown status or a missing valid bit: not a protocol outcome.
            Err(PscExitError::Misbehaved(_)) => terminate_with(Reason::HypervisorMisbehaved),
        }
    }
}
