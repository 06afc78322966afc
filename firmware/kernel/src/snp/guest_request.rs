//! Warden's channel to the PSP on SNP: the request, response and certificate pages it shares with the
//! hypervisor, the guest-request exit through the GHCB, and VMPCK0 in Warden's secrets page.
//!
//! The driver's logic (sealing, sequence numbers, checks, the wipe) is `warden_svsm::guest_request`,
//! host-tested against a simulated PSP; here pages are shared, copied and wiped. Threat model T1: the
//! hypervisor may rewrite the shared pages at any moment, so the request is written whole before the
//! exit and the response and certificate pages are copied once, afterwards, into private memory, where
//! the driver checks them. Sources: GHCB spec (AMD 56421) §4.1.8 (SNP guest request: both pages
//! shared; the extended request's certificate buffer), SEV-SNP ABI (AMD 56860) "Secrets Page Format"
//! (VMPCK0 at 0x20). **Not exercised on hardware.**
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use warden_defs::ghcb::exit::GuestRequestError;
use warden_defs::layout::SNP_SECRETS_PAGE;
use warden_defs::snp_guest_msg::{MSG_PAGE_SIZE, SECRETS_VMPCK0_OFFSET, VMPCK_SIZE};
use warden_platform::ghcb_exits::{self, CertificateBuffer, GuestRequestExitError};
use warden_svsm::guest_request::{
    ChannelError, ChannelReply, GuestRequestChannel, GuestRequestDriver, MAX_CERTIFICATE_PAGES, MessagePage,
};
use zeroize::Zeroizing;

use super::ghcb::{self, GHCB, GhcbSetupError};
use super::{Reason, terminate_with};
use warden_platform::Termination;

/// The shared pages: request, response, then the certificate buffer.
const PAGES: usize = 2 + MAX_CERTIFICATE_PAGES;
const REQUEST: usize = 0;
const RESPONSE: usize = 1;
const CERTIFICATES: usize = 2;

/// The pages, in `.bss` (validated with the image) until [`open`] makes them shared.
#[repr(C, align(4096))]
struct Storage(UnsafeCell<[[u8; MSG_PAGE_SIZE]; PAGES]>);

// SAFETY: the pages are touched only by the one `SnpGuestRequestChannel` that `open` creates (`TAKEN`
// admits one), through `&mut self`.
unsafe impl Sync for Storage {}

static STORAGE: Storage = Storage(UnsafeCell::new([[0; MSG_PAGE_SIZE]; PAGES]));
static TAKEN: AtomicBool = AtomicBool::new(false);

/// Why the channel could not be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// It was opened already.
    Taken,
    /// A page could not be made shared.
    Share(GhcbSetupError),
}

/// The shared pages, once shared.
#[derive(Debug)]
pub struct SnpGuestRequestChannel {
    /// The first page's address (virtual = guest-physical: Warden runs identity-mapped).
    base: u64,
}

/// Shares the message pages and returns the driver with VMPCK0 read from Warden's secrets page. Call
/// once, at boot, on the boot CPU, after the GHCB is registered.
pub fn open(c_bit: u8) -> Result<GuestRequestDriver<SnpGuestRequestChannel>, OpenError> {
    if TAKEN.swap(true, Ordering::AcqRel) {
        return Err(OpenError::Taken);
    }
    let base = STORAGE.0.get() as u64;
    {
        // The page-state changes use the GHCB MSR: hold the lock so no exit interleaves.
        let _ghcb = GHCB.lock();
        for page in 0..PAGES as u64 {
            // SAFETY: the storage is Warden's `.bss`, page-aligned, identity-mapped, taken once (just
            // checked) and referenced by nothing; from now on only the channel's volatile copies touch it.
            unsafe { ghcb::share_page(base + page * MSG_PAGE_SIZE as u64, c_bit) }
                .map_err(OpenError::Share)?;
        }
    }
    let mut key = Zeroizing::new([0u8; VMPCK_SIZE]);
    let source = (SNP_SECRETS_PAGE as usize + SECRETS_VMPCK0_OFFSET) as *const u8;
    for (index, byte) in key.iter_mut().enumerate() {
        // SAFETY: the secrets page is a layout page Warden maps readable to itself (the boot's
        // page-table check); `index` < 32 stays inside VMPCK0. Read once, into the driver's own copy.
        *byte = unsafe { source.add(index).read_volatile() };
    }
    Ok(GuestRequestDriver::new(SnpGuestRequestChannel { base }, key))
}

impl SnpGuestRequestChannel {
    fn page(&self, index: usize) -> u64 {
        self.base + (index * MSG_PAGE_SIZE) as u64
    }

    /// Copies `len` bytes of the shared pages from `index` on into private memory, once, 8 bytes at a
    /// time (a volatile read of a whole page compiles to byte moves).
    fn copy_out(&self, index: usize, len: usize) -> Vec<u8> {
        let words = self.page(index) as *const u64;
        let mut copy = Vec::with_capacity(len);
        for word in 0..len / 8 {
            // SAFETY: the callers keep `index` and `len` inside the storage (a response page or the
            // certificate pages); the pages are shared and mapped readable, no Rust object lives there.
            let value = unsafe { words.add(word).read_volatile() };
            copy.extend_from_slice(&value.to_le_bytes());
        }
        copy
    }
}

impl GuestRequestChannel for SnpGuestRequestChannel {
    fn exchange(
        &mut self,
        request: &MessagePage,
        certificate_pages: Option<usize>,
    ) -> Result<ChannelReply, ChannelError> {
        let pages = certificate_pages.map(|pages| pages.min(MAX_CERTIFICATE_PAGES));
        // SAFETY: the request page is the channel's shared page (`&mut self`: no other user), mapped
        // writable; the hypervisor is meant to read it.
        unsafe { (self.page(REQUEST) as *mut MessagePage).write_volatile(*request) };
        let certificates =
            pages.map(|pages| CertificateBuffer { gpa: self.page(CERTIFICATES), pages: pages as u64 });
        let outcome = {
            let mut slot = GHCB.lock();
            // The driver exists only after `open`, which needs the registered GHCB: `None` is a bug.
            let Some(ghcb) = slot.as_mut() else { terminate_with(Reason::Termination(Termination::Failure)) };
            ghcb_exits::guest_request(ghcb, self.page(REQUEST), self.page(RESPONSE), certificates)
        };
        outcome.map_err(|error| match error {
            GuestRequestExitError::CertificatePages(pages) => ChannelError::InvalidLength { pages },
            GuestRequestExitError::Refused(GuestRequestError::Busy) => ChannelError::Busy,
            GuestRequestExitError::Refused(GuestRequestError::Firmware(code)) => ChannelError::Firmware(code),
            GuestRequestExitError::Refused(GuestRequestError::Vmm(code)) => ChannelError::Vmm(code),
            GuestRequestExitError::Refused(GuestRequestError::InvalidLength)
            | GuestRequestExitError::Ghcb(_)
            | GuestRequestExitError::Misbehaved(_) => ChannelError::Misbehaved,
        })?;
        let mut response = Box::new([0u8; MSG_PAGE_SIZE]);
        response.copy_from_slice(&self.copy_out(RESPONSE, MSG_PAGE_SIZE));
        let certificates = pages.map(|pages| self.copy_out(CERTIFICATES, pages * MSG_PAGE_SIZE));
        Ok(ChannelReply { response, certificates })
    }

    fn wipe_vmpck0(&mut self) {
        let key = (SNP_SECRETS_PAGE as usize + SECRETS_VMPCK0_OFFSET) as *mut u8;
        for index in 0..VMPCK_SIZE {
            // SAFETY: the secrets page is Warden's private layout page, mapped writable to itself (the
            // boot's page-table check); `index` < 32 stays inside VMPCK0, which no Rust object aliases.
            unsafe { key.add(index).write_volatile(0) };
        }
    }
}
