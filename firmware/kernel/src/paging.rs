//! Reading the live page tables: what an address maps to and with which rights.
//!
//! The initial tables are built by the image builder (`xtask/src/image/page_tables.rs`) and measured with
//! the image; Warden checks at boot that the live tables say what the layout promises (code not writable,
//! data not executable, guard pages absent), so a loader that altered them is caught.
use warden_defs::layout::{PAGE_TABLES_BASE, PAGE_TABLES_SIZE};
use x86_64::registers::control::Cr3;

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const HUGE: u64 = 1 << 7;
const NO_EXECUTE: u64 = 1 << 63;
const ADDRESS_MASK: u64 = 0x000F_FFFF_FFFF_F000;

/// How an address is mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The physical address it translates to.
    pub physical: u64,
    /// Writes are allowed (every level allows them).
    pub writable: bool,
    /// Instruction fetches are allowed (no level sets NX).
    pub executable: bool,
}

/// Why a walk stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkError {
    /// Some level's entry is not present: the address is unmapped.
    NotPresent,
    /// A table lies outside the page-table region, so Warden will not read it.
    TableOutsideRegion(u64),
}

fn read_entry(table: u64, index: u64) -> Result<u64, WalkError> {
    if !(PAGE_TABLES_BASE..PAGE_TABLES_BASE + PAGE_TABLES_SIZE).contains(&table) {
        return Err(WalkError::TableOutsideRegion(table));
    }
    let entry = (table + index * 8) as *const u64;
    // SAFETY: `table` is a page inside the page-table region, which the tables map identity, readable, and
    // `index < 512` keeps the read inside that page.
    Ok(unsafe { entry.read_volatile() })
}

/// Walks the live tables for `address`.
pub fn translate(address: u64) -> Result<Mapping, WalkError> {
    let (frame, _) = Cr3::read();
    let mut table = frame.start_address().as_u64();
    let mut writable = true;
    let mut executable = true;
    for level in (1..=4).rev() {
        let shift = 12 + 9 * (level - 1);
        let entry = read_entry(table, (address >> shift) & 0x1FF)?;
        if entry & PRESENT == 0 {
            return Err(WalkError::NotPresent);
        }
        writable &= entry & WRITABLE != 0;
        executable &= entry & NO_EXECUTE == 0;
        let base = entry & ADDRESS_MASK;
        if level == 1 || (entry & HUGE != 0 && level <= 3) {
            let offset = address & ((1 << shift) - 1);
            return Ok(Mapping { physical: (base & !((1 << shift) - 1)) + offset, writable, executable });
        }
        table = base;
    }
    Err(WalkError::NotPresent)
}
