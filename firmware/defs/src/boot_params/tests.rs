//! Hostile parameter pages (threat model T3): every allegation out of bounds is refused, and no
//! validated range names Warden's own memory.
use zerocopy::IntoBytes;

use super::*;

fn entry(start: u64, end: u64, entry_type: u16) -> MemoryMapEntry {
    MemoryMapEntry {
        starting_gpa_page_number: start / PAGE_SIZE,
        number_of_pages: (end - start) / PAGE_SIZE,
        entry_type,
        ..MemoryMapEntry::default()
    }
}

fn page(entries: &[MemoryMapEntry]) -> [u8; 4096] {
    let mut page = [0u8; 4096];
    for (i, entry) in entries.iter().enumerate() {
        page[i * 24..(i + 1) * 24].copy_from_slice(entry.as_bytes());
    }
    page
}

fn params(vcpu_count: u32, reserved: u32) -> [u8; 4096] {
    let mut page = [0u8; 4096];
    page[..8].copy_from_slice(BootParams { vcpu_count, reserved }.as_bytes());
    page
}

/// Threat model T3.
#[test]
fn vcpu_count_is_bounded() {
    assert_eq!(BootParams::parse(&params(0, 0)), Ok(None));
    assert_eq!(BootParams::parse(&params(4, 0)), Ok(Some(4)));
    assert_eq!(BootParams::parse(&params(MAX_VCPUS, 0)), Ok(Some(MAX_VCPUS)));
    assert_eq!(
        BootParams::parse(&params(MAX_VCPUS + 1, 0)),
        Err(BootParamsError::TooManyVcpus(MAX_VCPUS + 1))
    );
    assert_eq!(BootParams::parse(&params(u32::MAX, 0)), Err(BootParamsError::TooManyVcpus(u32::MAX)));
    assert_eq!(BootParams::parse(&params(1, 7)), Err(BootParamsError::ReservedNotZero(usize::MAX)));
    assert_eq!(BootParams::parse(&[0; 4]), Err(BootParamsError::Truncated));
}

#[test]
fn the_native_zero_page_is_an_empty_map() {
    assert!(MemoryMap::parse(&[0u8; 4096]).unwrap().ranges().is_empty());
}

#[test]
fn a_sorted_map_is_kept_and_ends_at_the_first_empty_entry() {
    let mut entries = [entry(0, 0xA_0000, 0), entry(0x10_0000, 0x800_0000, 0), MemoryMapEntry::default()];
    entries[2].entry_type = 9; // after the terminator: never looked at
    let map = MemoryMap::parse(&page(&entries)).unwrap();
    assert_eq!(
        map.ranges(),
        &[
            MemoryRange { start: 0, end: 0xA_0000, kind: MemoryKind::Memory },
            MemoryRange { start: 0x10_0000, end: 0x800_0000, kind: MemoryKind::Memory },
        ]
    );
}

/// Threat model T3.
#[test]
fn warden_s_region_is_cut_out_of_every_range() {
    let map = MemoryMap::parse(&page(&[
        entry(0, 2 * WARDEN_END, 0),
        entry(2 * WARDEN_END, 2 * WARDEN_END + PAGE_SIZE, 1),
    ]))
    .unwrap();
    for range in map.ranges() {
        assert!(range.end <= WARDEN_BASE || range.start >= WARDEN_END, "{range:?} overlaps Warden");
    }
    assert_eq!(map.ranges().len(), 3);
    assert_eq!(map.ranges()[0], MemoryRange { start: 0, end: WARDEN_BASE, kind: MemoryKind::Memory });
    assert_eq!(map.ranges()[1].start, WARDEN_END);
    // A range wholly inside Warden's region disappears.
    let inside = MemoryMap::parse(&page(&[entry(WARDEN_BASE, WARDEN_BASE + PAGE_SIZE, 0)])).unwrap();
    assert!(inside.ranges().is_empty());
}

/// Threat model T3.
#[test]
fn unsorted_or_overlapping_entries_are_refused() {
    let overlapping = page(&[entry(0, 0x2000, 0), entry(0x1000, 0x3000, 0)]);
    assert_eq!(MemoryMap::parse(&overlapping).unwrap_err(), BootParamsError::Unsorted(1));
    let unsorted = page(&[entry(0x10_0000, 0x20_0000, 0), entry(0, 0x1000, 0)]);
    assert_eq!(MemoryMap::parse(&unsorted).unwrap_err(), BootParamsError::Unsorted(1));
}

/// Threat model T3.
#[test]
fn ranges_beyond_the_architectural_limit_or_overflowing_are_refused() {
    let mut huge = entry(0, 0x1000, 0);
    huge.starting_gpa_page_number = MAX_PHYSICAL_ADDRESS / PAGE_SIZE;
    assert_eq!(MemoryMap::parse(&page(&[huge])).unwrap_err(), BootParamsError::OutOfRange(0));
    let mut wrapping = entry(0, 0x1000, 0);
    wrapping.starting_gpa_page_number = u64::MAX;
    wrapping.number_of_pages = 2;
    assert_eq!(MemoryMap::parse(&page(&[wrapping])).unwrap_err(), BootParamsError::OutOfRange(0));
    let mut up_to_the_limit = entry(0, 0x1000, 0);
    up_to_the_limit.starting_gpa_page_number = MAX_PHYSICAL_ADDRESS / PAGE_SIZE - 1;
    assert_eq!(MemoryMap::parse(&page(&[up_to_the_limit])).unwrap().ranges()[0].end, MAX_PHYSICAL_ADDRESS);
}

/// Threat model T3.
#[test]
fn unknown_kinds_flags_and_reserved_bits_are_refused() {
    let mut bad = [entry(0, 0x1000, 4)];
    assert_eq!(MemoryMap::parse(&page(&bad)).unwrap_err(), BootParamsError::UnknownKind(0));
    bad[0].entry_type = 0;
    bad[0].flags = 1;
    assert_eq!(MemoryMap::parse(&page(&bad)).unwrap_err(), BootParamsError::ReservedNotZero(0));
    bad[0].flags = 0;
    bad[0].reserved = 1;
    assert_eq!(MemoryMap::parse(&page(&bad)).unwrap_err(), BootParamsError::ReservedNotZero(0));
}

/// Threat model T3.
#[test]
fn the_count_is_bounded() {
    let spaced = |i: usize| entry(i as u64 * 0x2000, i as u64 * 0x2000 + 0x1000, 0);
    let many: [MemoryMapEntry; MAX_MEMORY_RANGES + 1] = core::array::from_fn(spaced);
    assert_eq!(MemoryMap::parse(&page(&many)).unwrap_err(), BootParamsError::TooManyRanges);
    assert_eq!(
        MemoryMap::parse(&page(&many[..MAX_MEMORY_RANGES])).unwrap().ranges().len(),
        MAX_MEMORY_RANGES
    );
    // A page of 170 non-empty entries (no terminator) is refused, not read past its end.
    let full: [MemoryMapEntry; 170] = core::array::from_fn(spaced);
    assert_eq!(MemoryMap::parse(&page(&full)).unwrap_err(), BootParamsError::TooManyRanges);
}
