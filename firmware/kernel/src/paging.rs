//! Reading the live page tables: what an address maps to, with which rights, and whether it is private.
//!
//! The initial tables are built by the image builder (`xtask/src/image/page_tables.rs`) and measured with
//! the image; on SEV-SNP the boot stub ORs the C-bit into every present entry before paging is on. Warden
//! checks at boot that the live tables say what the layout promises (code not writable, data not
//! executable, guard pages absent, and on SNP every page private), so a loader that altered them is
//! caught. Guest RAM is mapped later by `guest_map`, with tables from the heap.
use core::sync::atomic::{AtomicU64, Ordering};

use warden_defs::layout::{PAGE_TABLES_BASE, PAGE_TABLES_SIZE};
use x86_64::registers::control::Cr3;

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const HUGE: u64 = 1 << 7;
const NO_EXECUTE: u64 = 1 << 63;
const ADDRESS_MASK: u64 = 0x000F_FFFF_FFFF_F000;

/// The C-bit's mask on SEV-SNP (AMD APM vol. 2 §15.34.1: a physical-address bit, so it must be taken out
/// of every address a walk follows); 0 elsewhere. Set once by [`set_encryption_mask`].
static ENCRYPTION_MASK: AtomicU64 = AtomicU64::new(0);

/// Records the C-bit position (SNP only, once its position is known from the CPUID page).
pub fn set_encryption_mask(c_bit: u8) {
    ENCRYPTION_MASK.store(1 << c_bit, Ordering::Relaxed);
}

/// The C-bit's mask, or 0 when Warden runs without memory encryption.
pub fn encryption_mask() -> u64 {
    ENCRYPTION_MASK.load(Ordering::Relaxed)
}

/// How an address is mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The physical address it translates to.
    pub physical: u64,
    /// Writes are allowed (every level allows them).
    pub writable: bool,
    /// Instruction fetches are allowed (no level sets NX).
    pub executable: bool,
    /// The leaf entry carries the C-bit (always false without memory encryption).
    pub encrypted: bool,
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
    let c_bit = encryption_mask();
    let address_mask = ADDRESS_MASK & !c_bit;
    let mut table = Cr3::read_raw().0.start_address().as_u64() & address_mask;
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
        let base = entry & address_mask;
        if level == 1 || (entry & HUGE != 0 && level <= 3) {
            let offset = address & ((1 << shift) - 1);
            let physical = (base & !((1 << shift) - 1)) + offset;
            let encrypted = c_bit != 0 && entry & c_bit != 0;
            return Ok(Mapping { physical, writable, executable, encrypted });
        }
        table = base;
    }
    Err(WalkError::NotPresent)
}
