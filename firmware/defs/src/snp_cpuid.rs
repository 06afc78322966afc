//! The SEV-SNP CPUID page (`layout::SNP_CPUID_PAGE`): the CPUID results the loader supplied and the PSP
//! checked against the CPU's capabilities before the launch (SNP_LAUNCH_UPDATE with the CPUID page
//! type, SEV-SNP Firmware ABI (AMD 56860), "CPUID Reporting" and its CPUID_FUNCTION table). The page is
//! part of the launch measurement, so unlike the CPUID the #VC handler forwards to the hypervisor, its
//! answers are not the hypervisor's to choose.
//!
//! Layout: `count u32, reserved u32, reserved u64`, then up to [`SNP_CPUID_MAX_ENTRIES`] entries of
//! 0x30 bytes (Linux `struct snp_cpuid_info` / `snp_cpuid_fn`). Warden still reads it as hostile bytes:
//! a count above the table's capacity is refused rather than trusted to index the page.
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// How many entries the page holds at most (the ABI's SNP_CPUID_COUNT_MAX).
pub const SNP_CPUID_MAX_ENTRIES: usize = 64;

/// The leaf whose EBX\[5:0\] is the C-bit position (AMD64 APM vol. 3, CPUID Fn8000_001F, "Encrypted
/// Memory Capabilities").
pub const LEAF_ENCRYPTED_MEMORY: u32 = 0x8000_001F;

/// One CPUID_FUNCTION entry: the inputs it answers for and the four result registers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct SnpCpuidFunction {
    /// EAX in: the leaf.
    pub eax_in: u32,
    /// ECX in: the subleaf (0 for leaves without subleaves).
    pub ecx_in: u32,
    /// XCR0 in (leaf 0xD only).
    pub xcr0_in: u64,
    /// IA32_XSS in (leaf 0xD only).
    pub xss_in: u64,
    /// EAX out.
    pub eax: u32,
    /// EBX out.
    pub ebx: u32,
    /// ECX out.
    pub ecx: u32,
    /// EDX out.
    pub edx: u32,
    /// Reserved.
    pub reserved: u64,
}

/// The whole table as it sits at the start of the page.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct SnpCpuidTable {
    /// How many of `functions` are valid.
    pub count: u32,
    /// Reserved.
    pub reserved_1: u32,
    /// Reserved.
    pub reserved_2: u64,
    /// The entries; only the first `count` mean anything.
    pub functions: [SnpCpuidFunction; SNP_CPUID_MAX_ENTRIES],
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<SnpCpuidFunction>() == 0x30);
    assert!(offset_of!(SnpCpuidFunction, xcr0_in) == 0x08);
    assert!(offset_of!(SnpCpuidFunction, eax) == 0x18);
    assert!(offset_of!(SnpCpuidFunction, edx) == 0x24);
    assert!(offset_of!(SnpCpuidTable, functions) == 0x10);
    assert!(size_of::<SnpCpuidTable>() == 0x10 + 0x30 * SNP_CPUID_MAX_ENTRIES);
    assert!(size_of::<SnpCpuidTable>() <= 4096);
};

/// Why the page was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnpCpuidError {
    /// Fewer bytes than the table occupies.
    Truncated,
    /// `count` is larger than the table can hold.
    CountTooLarge(u32),
}

impl SnpCpuidTable {
    /// Reads the table from the start of `page` (a private copy of the CPUID page), refusing a count
    /// the table cannot hold.
    pub fn parse(page: &[u8]) -> Result<Self, SnpCpuidError> {
        let (table, _) = Self::read_from_prefix(page).map_err(|_| SnpCpuidError::Truncated)?;
        if table.count as usize > SNP_CPUID_MAX_ENTRIES {
            return Err(SnpCpuidError::CountTooLarge(table.count));
        }
        Ok(table)
    }

    /// The valid entries. Re-checks the count, so a table built by hand cannot index past its end.
    pub fn entries(&self) -> &[SnpCpuidFunction] {
        let count = (self.count as usize).min(SNP_CPUID_MAX_ENTRIES);
        &self.functions[..count]
    }

    /// The first entry for `leaf` and `subleaf`; `None` when the table has none.
    pub fn lookup(&self, leaf: u32, subleaf: u32) -> Option<&SnpCpuidFunction> {
        self.entries().iter().find(|entry| entry.eax_in == leaf && entry.ecx_in == subleaf)
    }

    /// The C-bit position the table reports: CPUID Fn8000_001F EBX\[5:0\].
    pub fn c_bit(&self) -> Option<u8> {
        self.lookup(LEAF_ENCRYPTED_MEMORY, 0).map(|entry| (entry.ebx & 0x3F) as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_with(entries: &[SnpCpuidFunction], count: u32) -> [u8; 4096] {
        let mut page = [0u8; 4096];
        page[..4].copy_from_slice(&count.to_le_bytes());
        for (i, entry) in entries.iter().enumerate() {
            let at = 0x10 + i * 0x30;
            page[at..at + 0x30].copy_from_slice(entry.as_bytes());
        }
        page
    }

    fn leaf(eax_in: u32, ecx_in: u32, ebx: u32) -> SnpCpuidFunction {
        SnpCpuidFunction { eax_in, ecx_in, ebx, ..SnpCpuidFunction::default() }
    }

    #[test]
    fn finds_the_c_bit_at_its_byte_offsets() {
        let page = page_with(&[leaf(0, 0, 0x6874_7541), leaf(LEAF_ENCRYPTED_MEMORY, 0, 0x0000_0133)], 2);
        // The entry's EBX sits at 0x10 + 0x30 + 0x1C in the page: read it back from the raw bytes.
        assert_eq!(page[0x10 + 0x30 + 0x1C], 0x33);
        let table = SnpCpuidTable::parse(&page).unwrap();
        assert_eq!(table.c_bit(), Some(51));
        assert_eq!(table.lookup(0, 0).map(|e| e.ebx), Some(0x6874_7541));
    }

    /// Threat model T3: a count above the page's capacity must be refused, not used as an index.
    #[test]
    fn refuses_a_count_above_64() {
        let page = page_with(&[], 65);
        assert_eq!(SnpCpuidTable::parse(&page).unwrap_err(), SnpCpuidError::CountTooLarge(65));
        let page = page_with(&[], u32::MAX);
        assert_eq!(SnpCpuidTable::parse(&page).unwrap_err(), SnpCpuidError::CountTooLarge(u32::MAX));
    }

    /// A missing leaf is `None` (the caller refuses to guess); entries past `count` do not count.
    /// Threat model T3.
    #[test]
    fn a_missing_leaf_or_one_past_count_is_none() {
        let page = page_with(&[leaf(1, 0, 0), leaf(LEAF_ENCRYPTED_MEMORY, 0, 51)], 1);
        let table = SnpCpuidTable::parse(&page).unwrap();
        assert_eq!(table.c_bit(), None);
        assert!(table.lookup(7, 0).is_none());
        let empty = SnpCpuidTable::parse(&[0u8; 4096]).unwrap();
        assert_eq!(empty.c_bit(), None);
    }

    #[test]
    fn the_subleaf_must_match() {
        let page = page_with(&[leaf(LEAF_ENCRYPTED_MEMORY, 1, 47)], 1);
        assert_eq!(SnpCpuidTable::parse(&page).unwrap().c_bit(), None);
    }

    #[test]
    fn a_short_buffer_is_refused() {
        assert_eq!(SnpCpuidTable::parse(&[0u8; 0x10]).unwrap_err(), SnpCpuidError::Truncated);
    }

    #[test]
    fn a_hand_built_table_cannot_index_past_its_end() {
        let mut table = SnpCpuidTable::parse(&[0u8; 4096]).unwrap();
        table.count = 1000;
        assert_eq!(table.entries().len(), SNP_CPUID_MAX_ENTRIES);
    }
}
