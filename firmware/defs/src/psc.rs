//! The GHCB page-state-change descriptor: what the guest writes into the GHCB shared buffer before
//! VMGEXIT(0x8000_0010), and what the hypervisor writes back.
//!
//! GHCB specification #56421, "Page State Change" (section 4.1.6, table "Page State Change
//! Structure"; Linux `arch/x86/include/asm/sev-common.h` `struct psc_desc`). The descriptor fills the shared
//! buffer (0x7F0 bytes at GHCB offset 0x800): an 8-byte header and (0x7F0 − 8) / 8 = 253 entries.
//! Everything the hypervisor writes back is an allegation: `cur_entry` must be checked (in bounds and
//! advancing) before it is believed, and the entries it may have rewritten are never read back.
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// GHCB exit code of a page-state change (sw_exit_code).
pub const SVM_EXIT_PSC: u64 = 0x8000_0010;

/// Entries per descriptor: (0x7F0 − 8) / 8.
pub const PSC_MAX_ENTRIES: usize = 253;

/// The shared buffer's size in the GHCB (0x800..0xFF0), which the descriptor exactly fills.
pub const GHCB_SHARED_BUFFER_SIZE: usize = 0x7F0;

/// sw_exit_info_2 on a refused request: the header is invalid.
pub const PSC_ERROR_INVALID_HEADER: u64 = (1 << 32) | 1;
/// sw_exit_info_2 on a refused request: an entry is invalid.
pub const PSC_ERROR_INVALID_ENTRY: u64 = (1 << 32) | 2;
/// sw_exit_info_2 on a refused request: a generic hypervisor error.
pub const PSC_ERROR_GENERIC: u64 = 0x100 << 32;

/// The descriptor header (GHCB spec, Page State Change header: offsets 0, 2, 4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct PscHeader {
    /// The first entry still to process. The hypervisor advances it as it works; after a complete
    /// request it is `end_entry + 1`.
    pub cur_entry: u16,
    /// The last entry to process (inclusive index, at most 252).
    pub end_entry: u16,
    /// Must be zero.
    pub reserved: u32,
}

/// A page-state-change operation, bits \[55:52\] of an entry. Open: a value the hypervisor wrote back
/// survives and is refused where it matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PscOp(pub u8);

impl PscOp {
    /// Assign the page to the guest (RMP assigned, not yet validated).
    pub const PRIVATE: Self = Self(1);
    /// Give the page back to the hypervisor (shared; the RMP entry is no longer the guest's).
    pub const SHARED: Self = Self(2);
    /// Split a 2 MiB RMP entry into 512 4 KiB entries with the same state.
    pub const PSMASH: Self = Self(3);
    /// Merge 512 identical 4 KiB RMP entries into one 2 MiB entry.
    pub const UNSMASH: Self = Self(4);
}

/// One 64-bit entry (GHCB spec, Page State Change entry): \[11:0\] cur_page, \[51:12\] GFN,
/// \[55:52\] operation, \[56\] page size (1 = 2 MiB), \[63:57\] reserved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(transparent)]
pub struct PscEntry(pub u64);

const GFN_MASK: u64 = (1 << 40) - 1;
const CUR_PAGE_MASK: u64 = 0xFFF;
const RESERVED_SHIFT: u32 = 57;

impl PscEntry {
    /// An entry for `gfn` (a guest frame number: GPA >> 12) with `cur_page` 0. `gfn` is truncated
    /// to its 40 bits; callers pass GFNs they computed from checked GPAs.
    pub const fn new(gfn: u64, op: PscOp, large: bool) -> Self {
        Self(((gfn & GFN_MASK) << 12) | (((op.0 & 0xF) as u64) << 52) | ((large as u64) << 56))
    }
    /// The guest frame number.
    pub const fn gfn(self) -> u64 {
        (self.0 >> 12) & GFN_MASK
    }
    /// The guest-physical address of the (first) page.
    pub const fn gpa(self) -> u64 {
        self.gfn() << 12
    }
    /// The operation.
    pub const fn op(self) -> PscOp {
        PscOp(((self.0 >> 52) & 0xF) as u8)
    }
    /// Whether the entry covers a 2 MiB page.
    pub const fn is_2m(self) -> bool {
        (self.0 >> 56) & 1 == 1
    }
    /// How many 4 KiB pages of a 2 MiB entry the hypervisor reports done.
    pub const fn cur_page(self) -> u16 {
        (self.0 & CUR_PAGE_MASK) as u16
    }
    /// Bits \[63:57\], which must be zero.
    pub const fn reserved(self) -> u8 {
        (self.0 >> RESERVED_SHIFT) as u8
    }
}

/// The whole descriptor as it sits in the GHCB shared buffer.
#[derive(Clone, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct PscDescriptor {
    /// `cur_entry`, `end_entry`.
    pub header: PscHeader,
    /// The entries; only `..=end_entry` are meaningful.
    pub entries: [PscEntry; PSC_MAX_ENTRIES],
}

impl PscDescriptor {
    /// An all-zero descriptor.
    pub fn zeroed() -> Self {
        <Self as zerocopy::FromZeros>::new_zeroed()
    }
}

// GHCB spec, Page State Change Structure: header at 0 (cur_entry 0, end_entry 2, reserved 4),
// entries from 8, eight bytes each; the descriptor fills the 0x7F0-byte shared buffer exactly.
const _: () = assert!(size_of::<PscHeader>() == 8);
const _: () = assert!(core::mem::offset_of!(PscHeader, cur_entry) == 0);
const _: () = assert!(core::mem::offset_of!(PscHeader, end_entry) == 2);
const _: () = assert!(core::mem::offset_of!(PscHeader, reserved) == 4);
const _: () = assert!(size_of::<PscEntry>() == 8);
const _: () = assert!(core::mem::offset_of!(PscDescriptor, entries) == 8);
const _: () = assert!(size_of::<PscDescriptor>() == GHCB_SHARED_BUFFER_SIZE);
const _: () = assert!(PSC_MAX_ENTRIES == (GHCB_SHARED_BUFFER_SIZE - 8) / 8);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_fields_sit_at_their_bits() {
        let e = PscEntry::new(0x12_3456_789A, PscOp::SHARED, true);
        assert_eq!(e.0, 0x0121_2345_6789_A000);
        assert_eq!(e.gfn(), 0x12_3456_789A);
        assert_eq!(e.op(), PscOp::SHARED);
        assert!(e.is_2m());
        assert_eq!(e.cur_page(), 0);
        assert_eq!(e.reserved(), 0);
        assert_eq!(PscEntry(1 << 57).reserved(), 1);
        assert_eq!(PscEntry(0x1FF).cur_page(), 0x1FF);
    }

    #[test]
    fn descriptor_round_trips_through_bytes() {
        let mut d = PscDescriptor::zeroed();
        d.header = PscHeader { cur_entry: 1, end_entry: 252, reserved: 0 };
        d.entries[252] = PscEntry::new(5, PscOp::PRIVATE, false);
        let bytes = d.as_bytes();
        assert_eq!(&bytes[0..4], &[1, 0, 252, 0]);
        assert_eq!(bytes[8 + 252 * 8 + 1], 0x50);
        assert_eq!(bytes[8 + 252 * 8 + 6], 0x10);
    }
}
