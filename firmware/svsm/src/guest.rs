//! How the dispatcher reaches guest memory, and which guest-physical addresses a guest may name.
use crate::error::AddressError;
use alloc::vec::Vec;
use warden_defs::layout::owned_overlap;
use warden_platform::memory::GpaRange;

/// Why Warden could not copy to or from a guest page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryError {
    /// The page is not validated (SNP #VC 0x404), so Warden's access would fault.
    NotValidated,
    /// The page is not assigned to the guest, or outside the guest's memory.
    Unavailable,
}

/// Copies between Warden's private memory and the guest's, by guest-physical address.
///
/// Implementations: the firmware's (through Warden's mapping of guest RAM, catching the #VC an access
/// to a non-validated page raises and turning it into [`MemoryError::NotValidated`]), the simulated
/// SNP guest in tests, and the test transport's page set. Contract: a failed access returns an error,
/// never faults fatally; a read fills all of `buf` or fails. The dispatcher calls this only with
/// addresses it has checked against [`GuestRam`].
pub trait GuestMemory {
    /// Copies `buf.len()` bytes from guest-physical `gpa`.
    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemoryError>;
    /// Copies `data` to guest-physical `gpa`.
    fn write(&mut self, gpa: u64, data: &[u8]) -> Result<(), MemoryError>;
}

/// A platform and a guest memory that are separate objects, as one `SnpMemory + GuestMemory` for the
/// dispatcher (the firmware's RMP primitives and its guest mapping; the transport's page set).
#[derive(Debug)]
pub struct Paired<'a, P, M> {
    /// The RMP primitives.
    pub platform: &'a mut P,
    /// Guest memory.
    pub memory: &'a mut M,
}

impl<P, M: GuestMemory> GuestMemory for Paired<'_, P, M> {
    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        self.memory.read(gpa, buf)
    }
    fn write(&mut self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        self.memory.write(gpa, data)
    }
}

/// The guest's RAM: the ranges a guest may name, never including a page Warden owns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestRam {
    ranges: Vec<GpaRange>,
}

impl GuestRam {
    /// From the memory map (as the loader's parameter area describes it: an allegation). Whatever the
    /// map says, [`GuestRam::check`] refuses every range of `WARDEN_OWNED`.
    pub fn new(ranges: &[GpaRange]) -> Self {
        Self { ranges: ranges.to_vec() }
    }

    /// Checks that `[gpa, gpa + len)` is non-empty, does not overflow, misses every page Warden owns
    /// (`warden_defs::layout::WARDEN_OWNED`), and lies
    /// inside one RAM range.
    pub fn check(&self, gpa: u64, len: u64) -> Result<(), AddressError> {
        let end = match gpa.checked_add(len) {
            Some(end) if len != 0 => end,
            _ => return Err(AddressError::NotGuestRam),
        };
        if owned_overlap(gpa, len).is_some() {
            return Err(AddressError::Warden);
        }
        if self.ranges.iter().any(|r| r.start() <= gpa && end <= r.end()) {
            Ok(())
        } else {
            Err(AddressError::NotGuestRam)
        }
    }
}

/// Whether `[a, a + a_len)` and `[b, b + b_len)` overlap (saturating: callers checked for overflow).
pub(crate) const fn overlaps(a: u64, a_len: u64, b: u64, b_len: u64) -> bool {
    a < b.saturating_add(b_len) && b < a.saturating_add(a_len)
}
