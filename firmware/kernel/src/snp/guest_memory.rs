//! Warden's view of the guest's RAM on SEV-SNP: [`GuestMapping`], the identity mapping of the RAM the
//! validated memory map names (non-executable, writable, private), and [`SnpGuestMemory`], the
//! dispatcher's `GuestMemory` over it.
//!
//! A guest page Warden touches may not be validated: the guest decides that, and touching such a page
//! raises #VC with error code 0x404 (AMD64 APM vol. 2 §15.36.3, "Page Validation"; GHCB spec (AMD 56421)
//! §4.1, #VC error codes). The design: every access to guest RAM is one `rep movsb` in
//! [`warden_guest_copy`]; the #VC handler, given 0x404 at exactly that instruction, resumes at the
//! routine's fault exit instead (an exception-table fixup, one entry), and the copy reports
//! [`MemoryError::NotValidated`]. A 0x404 anywhere else is fatal, as before. Writes are probed first (one
//! byte read per page), so a refused write leaves the guest's memory as it was.
//!
//! **Exercised on the emulated SNP machine only** (`tests/machine`), not on hardware.
use alloc::vec::Vec;
use warden_defs::boot_params::{MemoryKind, MemoryMap};
use warden_defs::layout::{PAGE_SIZE, for_each_unowned};
use warden_platform::memory::GpaRange;
use warden_svsm::{GuestMemory, MemoryError};

use crate::paging::{MapError, map_identity};

core::arch::global_asm!(
    r#"
    .section .text.guest_copy, "ax"
    .balign 16
    .global warden_guest_copy
    /* RDI = destination, RSI = source, RDX = length. RAX = 0 when copied, 1 when a page was not
     * validated (the #VC handler resumed at the fault exit). DF is clear (the ABI's promise). */
warden_guest_copy:
    mov %rdx, %rcx
    .global warden_guest_copy_access
warden_guest_copy_access:
    rep movsb
    xor %eax, %eax
    ret
    .global warden_guest_copy_fault
warden_guest_copy_fault:
    mov $1, %eax
    ret
    "#,
    options(att_syntax)
);

unsafe extern "C" {
    /// The copy above.
    fn warden_guest_copy(destination: *mut u8, source: *const u8, len: usize) -> u64;
    /// The one instruction of the copy that touches guest memory.
    static warden_guest_copy_access: u8;
    /// Where the copy resumes after a #VC 0x404 at that instruction.
    static warden_guest_copy_fault: u8;
}

/// Where to resume after a #VC for a not-validated page (0x404) at `rip`: the copy's fault exit when
/// `rip` is the copy's access, `None` (fatal) anywhere else. Called by the #VC handler.
pub fn not_validated_fixup(rip: u64) -> Option<u64> {
    // Only the symbols' addresses are taken.
    let access = &raw const warden_guest_copy_access as u64;
    (rip == access).then_some(&raw const warden_guest_copy_fault as u64)
}

/// Why the guest's RAM could not be mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestMapError {
    /// The memory map names no RAM outside Warden's own ranges.
    NoGuestRam,
    /// The page tables refused a range.
    Map(MapError),
}

/// The guest RAM Warden has mapped: identity, non-executable, writable, with the C-bit (2 MiB entries
/// where aligned). Made once, after the heap exists; lives for good.
#[derive(Clone, Copy, Debug)]
pub struct GuestMapping {
    ranges: &'static [GpaRange],
}

impl GuestMapping {
    /// Maps every `Memory` range of the validated map, Warden's own ranges cut out (the map is the
    /// loader's word: threat model T4). A second call fails (its entries exist already).
    pub fn map(memory_map: &MemoryMap) -> Result<Self, GuestMapError> {
        let mut ranges = Vec::new();
        for range in memory_map.ranges().iter().filter(|range| range.kind == MemoryKind::Memory) {
            for_each_unowned(range.start, range.end, |start, end| ranges.extend(GpaRange::new(start, end)));
        }
        Self::map_ranges(ranges)
    }

    /// Maps `ranges`, which must miss Warden's own ranges (native: `[0, RAM)` cut by `for_each_unowned`,
    /// whose mapping lets the native channel reach the host program's call in guest RAM).
    pub fn map_ranges(ranges: Vec<GpaRange>) -> Result<Self, GuestMapError> {
        if ranges.is_empty() {
            return Err(GuestMapError::NoGuestRam);
        }
        for range in &ranges {
            // SAFETY: guest RAM outside WARDEN_OWNED holds no Rust object of Warden's (Warden reaches it
            // only through `SnpGuestMemory`'s copies), and the boot runs on one CPU, so nothing else
            // edits the tables; `map_identity` never replaces an entry that exists.
            unsafe { map_identity(range.start(), range.end()) }.map_err(GuestMapError::Map)?;
        }
        Ok(Self { ranges: ranges.leak() })
    }

    /// The mapped ranges, in address order.
    pub fn ranges(&self) -> &'static [GpaRange] {
        self.ranges
    }

    /// Whether `[gpa, gpa + len)` lies inside one mapped range (false for an empty or overflowing one).
    pub fn covers(&self, gpa: u64, len: u64) -> bool {
        match gpa.checked_add(len) {
            Some(end) if len != 0 => self.ranges.iter().any(|r| r.start() <= gpa && end <= r.end()),
            _ => false,
        }
    }
}

/// Copies to and from the guest's RAM through [`GuestMapping`]: the firmware's `GuestMemory`.
#[derive(Clone, Copy, Debug)]
pub struct SnpGuestMemory {
    mapping: GuestMapping,
}

impl SnpGuestMemory {
    /// Guest memory through `mapping`.
    pub fn new(mapping: GuestMapping) -> Self {
        Self { mapping }
    }

    fn check(&self, gpa: u64, len: usize) -> Result<(), MemoryError> {
        if self.mapping.covers(gpa, len as u64) { Ok(()) } else { Err(MemoryError::Unavailable) }
    }
}

/// One copy through the fixup routine.
///
/// # Safety
/// `destination` and `source` are valid for `len` bytes; the guest side lies in the guest mapping.
unsafe fn copy(destination: *mut u8, source: *const u8, len: usize) -> Result<(), MemoryError> {
    // SAFETY: per the contract; a not-validated guest page ends the copy early through the #VC
    // handler's fixup, which is reported, never a fault.
    match unsafe { warden_guest_copy(destination, source, len) } {
        0 => Ok(()),
        _ => Err(MemoryError::NotValidated),
    }
}

impl GuestMemory for SnpGuestMemory {
    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        if buf.is_empty() {
            return Ok(());
        }
        self.check(gpa, buf.len())?;
        // SAFETY: `buf` is Warden's own; `[gpa, gpa + len)` is mapped guest RAM (checked), identity, and
        // no Rust object lives there (the guest may change it meanwhile: this is the one copy taken).
        unsafe { copy(buf.as_mut_ptr(), gpa as *const u8, buf.len()) }
    }

    fn write(&mut self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        if data.is_empty() {
            return Ok(());
        }
        self.check(gpa, data.len())?;
        // Every page is probed before the first byte is written, so a refusal changes nothing.
        let mut probe = [0u8; 1];
        let last = gpa + data.len() as u64 - 1;
        for page in (gpa & !(PAGE_SIZE - 1)..=last).step_by(PAGE_SIZE as usize) {
            self.read(page.max(gpa), &mut probe)?;
        }
        // SAFETY: as for `read`, the other way: `data` is Warden's, the guest range mapped (checked).
        unsafe { copy(gpa as *mut u8, data.as_ptr(), data.len()) }
    }
}
