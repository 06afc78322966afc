//! The boot parameter pages (threat model T3): the boot parameter page (`layout::PARAMS_PAGE`, the IGVM
//! VP_COUNT parameter) and the memory-map page (`layout::MEMORY_MAP_PAGE`, the IGVM MEMORY_MAP
//! parameter, an array of `IGVM_VHS_MEMORY_MAP_ENTRY`, IGVM specification / `igvm_defs`). On SNP and
//! TDX the loader fills them after the launch digest is taken, so every field is an allegation; on
//! native the image carries them (zero pages).
//!
//! The kernel copies each page once into private memory and hands the copy to [`BootParams::parse`]
//! and [`MemoryMap::parse`]; only their validated results are used.
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::layout::{PAGE_SIZE, WARDEN_BASE, WARDEN_END};

/// The boot parameter page's layout.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct BootParams {
    /// The IGVM VP_COUNT parameter: how many vCPUs the guest has.
    pub vcpu_count: u32,
    /// Zero.
    pub reserved: u32,
}

const _: () = assert!(core::mem::size_of::<BootParams>() == 8);

/// The most vCPUs Warden accepts: per-vCPU state stays bounded, and a larger allegation is refused
/// rather than truncated.
pub const MAX_VCPUS: u32 = 1024;

/// One `IGVM_VHS_MEMORY_MAP_ENTRY` (IGVM specification; 24 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct MemoryMapEntry {
    /// The first page's GPA >> 12.
    pub starting_gpa_page_number: u64,
    /// How many 4 KiB pages; 0 ends the list.
    pub number_of_pages: u64,
    /// `MemoryKind` as a number (0 memory, 1 platform reserved, 2 persistent, 3 VTL2-protectable).
    pub entry_type: u16,
    /// No flag is defined: zero.
    pub flags: u16,
    /// Zero.
    pub reserved: u32,
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<MemoryMapEntry>() == 24);
    assert!(offset_of!(MemoryMapEntry, entry_type) == 16);
    assert!(offset_of!(MemoryMapEntry, reserved) == 20);
};

/// The most ranges Warden keeps (counted after its own region is cut out of them).
pub const MAX_MEMORY_RANGES: usize = 64;

/// One past the highest guest-physical address any x86-64 CPU can form: 52 bits (AMD64 APM vol. 2
/// §5.3, "physical-address size"; Intel SDM vol. 3A §4.1.4, MAXPHYADDR ≤ 52).
pub const MAX_PHYSICAL_ADDRESS: u64 = 1 << 52;

/// What a memory-map range is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryKind {
    /// Ordinary RAM.
    Memory,
    /// Reserved by the platform.
    PlatformReserved,
    /// Persistent memory.
    Persistent,
    /// RAM where a higher VTL's protections apply (Hyper-V).
    Vtl2Protectable,
}

/// A validated range: page-aligned, `start < end <= MAX_PHYSICAL_ADDRESS`, outside Warden's region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRange {
    /// The first byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// What it is.
    pub kind: MemoryKind,
}

/// Why a parameter page was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootParamsError {
    /// Fewer bytes than the structure occupies.
    Truncated,
    /// More vCPUs than [`MAX_VCPUS`].
    TooManyVcpus(u32),
    /// A reserved field or an undefined flag is not zero (entry index, or `usize::MAX` for the page).
    ReservedNotZero(usize),
    /// An entry's type is not one the IGVM specification defines.
    UnknownKind(usize),
    /// An entry's range overflows or ends above [`MAX_PHYSICAL_ADDRESS`].
    OutOfRange(usize),
    /// An entry starts below the end of the one before it (unsorted or overlapping).
    Unsorted(usize),
    /// More than [`MAX_MEMORY_RANGES`] ranges.
    TooManyRanges,
}

impl BootParams {
    /// Validates a private copy of the parameter page; returns the vCPU count, `None` when the page
    /// gives none (0: the native image's zero page).
    pub fn parse(page: &[u8]) -> Result<Option<u32>, BootParamsError> {
        let (params, _) = Self::read_from_prefix(page).map_err(|_| BootParamsError::Truncated)?;
        if params.reserved != 0 {
            return Err(BootParamsError::ReservedNotZero(usize::MAX));
        }
        match params.vcpu_count {
            0 => Ok(None),
            count if count > MAX_VCPUS => Err(BootParamsError::TooManyVcpus(count)),
            count => Ok(Some(count)),
        }
    }
}

/// The validated memory map: sorted, non-overlapping ranges with Warden's own region cut out.
#[derive(Clone, Copy, Debug)]
pub struct MemoryMap {
    ranges: [MemoryRange; MAX_MEMORY_RANGES],
    len: usize,
}

impl MemoryMap {
    /// Validates a private copy of the memory-map page, up to its first zero-sized entry (or its end).
    /// A range may contain Warden's region (the loader describes the guest's RAM as a whole): that part
    /// is cut out, so no validated range ever names Warden's memory.
    pub fn parse(page: &[u8]) -> Result<Self, BootParamsError> {
        let empty = MemoryRange { start: 0, end: 0, kind: MemoryKind::Memory };
        let mut map = Self { ranges: [empty; MAX_MEMORY_RANGES], len: 0 };
        let mut previous_end = 0;
        for (index, bytes) in page.chunks_exact(size_of::<MemoryMapEntry>()).enumerate() {
            let entry = MemoryMapEntry::read_from_bytes(bytes).map_err(|_| BootParamsError::Truncated)?;
            if entry.number_of_pages == 0 {
                break;
            }
            let range = validate_entry(index, &entry)?;
            if range.start < previous_end {
                return Err(BootParamsError::Unsorted(index));
            }
            previous_end = range.end;
            let below = MemoryRange { end: range.end.min(WARDEN_BASE), ..range };
            let above = MemoryRange { start: range.start.max(WARDEN_END), ..range };
            for part in [below, above] {
                if part.start < part.end {
                    map.push(part)?;
                }
            }
        }
        Ok(map)
    }

    fn push(&mut self, range: MemoryRange) -> Result<(), BootParamsError> {
        let slot = self.ranges.get_mut(self.len).ok_or(BootParamsError::TooManyRanges)?;
        *slot = range;
        self.len += 1;
        Ok(())
    }

    /// The ranges, in address order.
    pub fn ranges(&self) -> &[MemoryRange] {
        &self.ranges[..self.len]
    }
}

fn validate_entry(index: usize, entry: &MemoryMapEntry) -> Result<MemoryRange, BootParamsError> {
    if entry.flags != 0 || entry.reserved != 0 {
        return Err(BootParamsError::ReservedNotZero(index));
    }
    let kind = match entry.entry_type {
        0 => MemoryKind::Memory,
        1 => MemoryKind::PlatformReserved,
        2 => MemoryKind::Persistent,
        3 => MemoryKind::Vtl2Protectable,
        _ => return Err(BootParamsError::UnknownKind(index)),
    };
    let max_pages = MAX_PHYSICAL_ADDRESS / PAGE_SIZE;
    let end_page = entry.starting_gpa_page_number.checked_add(entry.number_of_pages);
    match end_page {
        Some(end_page) if end_page <= max_pages => Ok(MemoryRange {
            start: entry.starting_gpa_page_number * PAGE_SIZE,
            end: end_page * PAGE_SIZE,
            kind,
        }),
        _ => Err(BootParamsError::OutOfRange(index)),
    }
}

#[cfg(test)]
#[path = "boot_params/tests.rs"]
mod tests;
