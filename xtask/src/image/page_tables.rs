//! The initial page tables: built at image-build time, measured with the image, so Warden's first
//! instruction already runs with code read-only, data non-executable and guard pages unmapped.
//!
//! Everything is identity mapped with 4 KiB pages: Warden's region (`layout::WARDEN_BASE..WARDEN_END`)
//! and the boot stub page (it runs the instructions that turn paging on). Tables are allocated from
//! `layout::PAGE_TABLES_BASE` upwards, PML4 first.
use std::collections::BTreeMap;

use warden_defs::layout::{PAGE_SIZE, PAGE_TABLES_BASE, PAGE_TABLES_SIZE};

/// Present.
const PRESENT: u64 = 1 << 0;
/// Writable.
const WRITABLE: u64 = 1 << 1;
/// Accessed: set ahead so the CPU need not write the (measured) tables on first use.
const ACCESSED: u64 = 1 << 5;
/// Dirty: likewise, on writable pages.
const DIRTY: u64 = 1 << 6;
/// No-execute (EFER.NXE is set before paging is turned on).
const NO_EXECUTE: u64 = 1 << 63;

/// The rights of one 4 KiB mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rights {
    /// Code: read and execute.
    ReadExecute,
    /// Constants: read only.
    Read,
    /// Data, stacks, heap, tables: read and write.
    ReadWrite,
}

/// Builds the tables for `mappings` (page address -> rights). Returns the table pages, by address.
pub fn build(
    mappings: &BTreeMap<u64, Rights>,
) -> crate::Result<BTreeMap<u64, Box<[u8; PAGE_SIZE as usize]>>> {
    let mut tables: BTreeMap<u64, [u64; 512]> = BTreeMap::new();
    tables.insert(PAGE_TABLES_BASE, [0; 512]);
    let mut next = PAGE_TABLES_BASE + PAGE_SIZE;
    for (&address, &rights) in mappings {
        if address % PAGE_SIZE != 0 {
            return Err(format!("mapping {address:#x} is not page aligned").into());
        }
        let mut table = PAGE_TABLES_BASE;
        for level in (2..=4).rev() {
            let index = ((address >> (12 + 9 * (level - 1))) & 0x1FF) as usize;
            let entry = tables[&table][index];
            table = if entry & PRESENT != 0 {
                entry & 0x000F_FFFF_FFFF_F000
            } else {
                if next >= PAGE_TABLES_BASE + PAGE_TABLES_SIZE {
                    return Err("the page tables outgrew layout::PAGE_TABLES_SIZE".into());
                }
                let child = next;
                next += PAGE_SIZE;
                tables.insert(child, [0; 512]);
                tables.get_mut(&table).expect("parent exists")[index] = child | PRESENT | WRITABLE | ACCESSED;
                child
            };
        }
        let leaf = match rights {
            Rights::ReadExecute => PRESENT | ACCESSED,
            Rights::Read => PRESENT | ACCESSED | NO_EXECUTE,
            Rights::ReadWrite => PRESENT | WRITABLE | ACCESSED | DIRTY | NO_EXECUTE,
        };
        let index = ((address >> 12) & 0x1FF) as usize;
        tables.get_mut(&table).expect("table exists")[index] = address | leaf;
    }
    Ok(tables
        .into_iter()
        .map(|(address, entries)| {
            let mut page = Box::new([0u8; PAGE_SIZE as usize]);
            for (chunk, entry) in page.chunks_exact_mut(8).zip(entries) {
                chunk.copy_from_slice(&entry.to_le_bytes());
            }
            (address, page)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tables: &BTreeMap<u64, Box<[u8; 4096]>>, table: u64, index: u64) -> u64 {
        let page = &tables[&table];
        u64::from_le_bytes(page[index as usize * 8..index as usize * 8 + 8].try_into().unwrap())
    }

    /// Walks the built tables like the CPU would.
    fn walk(tables: &BTreeMap<u64, Box<[u8; 4096]>>, address: u64) -> Option<u64> {
        let mut table = PAGE_TABLES_BASE;
        for level in (1..=4).rev() {
            let e = entry(tables, table, (address >> (12 + 9 * (level - 1))) & 0x1FF);
            if e & PRESENT == 0 {
                return None;
            }
            if level == 1 {
                return Some(e);
            }
            table = e & 0x000F_FFFF_FFFF_F000;
        }
        None
    }

    #[test]
    fn each_page_gets_its_rights_and_nothing_else_is_mapped() {
        let mut mappings = BTreeMap::new();
        mappings.insert(0x0810_0000, Rights::ReadExecute);
        mappings.insert(0x0810_1000, Rights::Read);
        mappings.insert(0x0810_2000, Rights::ReadWrite);
        mappings.insert(0xFFFF_F000, Rights::ReadExecute);
        let tables = build(&mappings).unwrap();
        let code = walk(&tables, 0x0810_0000).unwrap();
        assert_eq!(code & !0xFFF & !NO_EXECUTE, 0x0810_0000);
        assert!(code & WRITABLE == 0 && code & NO_EXECUTE == 0);
        let rodata = walk(&tables, 0x0810_1000).unwrap();
        assert!(rodata & WRITABLE == 0 && rodata & NO_EXECUTE != 0);
        let data = walk(&tables, 0x0810_2000).unwrap();
        assert!(data & WRITABLE != 0 && data & NO_EXECUTE != 0);
        assert!(walk(&tables, 0xFFFF_F000).is_some());
        assert_eq!(walk(&tables, 0x0810_3000), None);
        assert_eq!(walk(&tables, 0x080F_F000), None);
        // PML4, one PDPT, two PDs, two PTs.
        assert_eq!(tables.len(), 6);
    }

    #[test]
    fn outgrowing_the_reserved_region_is_an_error() {
        let mappings: BTreeMap<u64, Rights> = (0..20u64).map(|i| (i << 30, Rights::Read)).collect();
        assert!(build(&mappings).is_err());
    }
}
