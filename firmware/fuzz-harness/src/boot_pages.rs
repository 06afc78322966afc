//! Fuzz targets `snp_cpuid_page` and `boot_parameter_pages`: the loader's pages (threat model T3), as
//! `warden_defs::snp_cpuid` and `warden_defs::boot_params` parse Warden's private copies of them.
//!
//! Properties: no panic; an accepted CPUID table never offers more than 64 entries and the C-bit it
//! reports is its own Fn8000_001F entry's; an accepted memory map is sorted, non-overlapping, inside
//! the architectural limit, outside Warden's region and bounded in count; an accepted vCPU count is
//! bounded.
use warden_defs::boot_params::{BootParams, MAX_MEMORY_RANGES, MAX_PHYSICAL_ADDRESS, MAX_VCPUS, MemoryMap};
use warden_defs::layout::{PAGE_SIZE, WARDEN_BASE, WARDEN_END};
use warden_defs::snp_cpuid::{LEAF_ENCRYPTED_MEMORY, SNP_CPUID_MAX_ENTRIES, SnpCpuidTable};

/// Pads (or cuts) the input to one page, as the kernel's copy is always one page.
fn as_page(data: &[u8]) -> [u8; PAGE_SIZE as usize] {
    core::array::from_fn(|i| data.get(i).copied().unwrap_or(0))
}

/// The body of `snp_cpuid_page`.
/// Threat model T3.
pub fn snp_cpuid_page(data: &[u8]) {
    // Short inputs exercise the truncation check; then the page the kernel really parses.
    let _ = SnpCpuidTable::parse(data);
    let Ok(table) = SnpCpuidTable::parse(&as_page(data)) else { return };
    assert!(table.entries().len() <= SNP_CPUID_MAX_ENTRIES);
    assert_eq!(table.entries().len(), table.count as usize);
    if let Some(c_bit) = table.c_bit() {
        let entry = table.lookup(LEAF_ENCRYPTED_MEMORY, 0).expect("the C-bit came from an entry");
        assert_eq!(u32::from(c_bit), entry.ebx & 0x3F);
        assert!(c_bit < 64);
    }
}

/// The body of `boot_parameter_pages`: the first 8 bytes are the parameter page, the rest the map.
/// Threat model T3.
pub fn boot_parameter_pages(data: &[u8]) {
    let (params, map) = data.split_at(data.len().min(8));
    if let Ok(Some(count)) = BootParams::parse(&as_page(params)) {
        assert!((1..=MAX_VCPUS).contains(&count));
    }
    let _ = MemoryMap::parse(map);
    let Ok(map) = MemoryMap::parse(&as_page(map)) else { return };
    assert!(map.ranges().len() <= MAX_MEMORY_RANGES);
    let mut previous_end = 0;
    for range in map.ranges() {
        assert!(range.start >= previous_end && range.start < range.end && range.end <= MAX_PHYSICAL_ADDRESS);
        assert!(range.start.is_multiple_of(PAGE_SIZE) && range.end.is_multiple_of(PAGE_SIZE));
        assert!(range.end <= WARDEN_BASE || range.start >= WARDEN_END, "{range:?} overlaps Warden");
        previous_end = range.end;
    }
}
