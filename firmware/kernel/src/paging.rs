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

/// Why [`map_identity`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// The range is not 4 KiB-aligned, or empty.
    Unaligned,
    /// Some page of the range is mapped already (Warden never replaces an entry it did not make here).
    AlreadyMapped(u64),
    /// A table lies outside the page-table region and the heap (a table Warden did not make).
    TableOutsideWarden(u64),
    /// The heap has no page left for a table.
    OutOfMemory,
}

const ACCESSED: u64 = 1 << 5;
const DIRTY: u64 = 1 << 6;
/// A table entry: present, writable (rights are decided at the leaf), accessed.
const TABLE_FLAGS: u64 = PRESENT | WRITABLE | ACCESSED;
/// A guest-RAM leaf: present, writable, never executable, accessed and dirty set ahead.
const DATA_FLAGS: u64 = PRESENT | WRITABLE | ACCESSED | DIRTY | NO_EXECUTE;
const SIZE_2M: u64 = 0x20_0000;
const SIZE_4K: u64 = 0x1000;

/// Whether a table at `table` is one Warden may write: the image's tables or a page of the heap.
fn writable_table(table: u64) -> bool {
    let heap = crate::heap::RANGE;
    (PAGE_TABLES_BASE..PAGE_TABLES_BASE + PAGE_TABLES_SIZE).contains(&table)
        || (heap.start()..heap.end()).contains(&table)
}

/// The table the `index`th entry of `table` names, made (zeroed, from the heap) if the entry is not
/// present. An entry that maps a large page is refused: something is mapped there already.
///
/// # Safety
/// `table` is a live table that [`writable_table`] accepts; no other code edits the tables meanwhile.
unsafe fn next_table(table: u64, index: u64, vaddr: u64) -> Result<u64, MapError> {
    let slot = (table + index * 8) as *mut u64;
    let c_bit = encryption_mask();
    // SAFETY: `table` is a page-table page in Warden's region (the contract), mapped identity and
    // writable (the boot's layout check: page tables and heap), and `index < 512` keeps it inside.
    let entry = unsafe { slot.read_volatile() };
    if entry & PRESENT != 0 {
        if entry & HUGE != 0 {
            return Err(MapError::AlreadyMapped(vaddr));
        }
        let child = entry & ADDRESS_MASK & !c_bit;
        return if writable_table(child) { Ok(child) } else { Err(MapError::TableOutsideWarden(child)) };
    }
    let layout = core::alloc::Layout::from_size_align(SIZE_4K as usize, SIZE_4K as usize)
        .map_err(|_| MapError::OutOfMemory)?;
    // SAFETY: the layout has a non-zero size. The page is leaked on purpose: a table lives as long as
    // the mapping, which is for good.
    let child = unsafe { alloc::alloc::alloc_zeroed(layout) } as u64;
    if child == 0 {
        return Err(MapError::OutOfMemory);
    }
    // SAFETY: as above; the slot was not present, so no mapping changes but the new one, whose table is
    // all zeros (nothing present). The C-bit: tables are always read through the guest key.
    unsafe { slot.write_volatile(child | TABLE_FLAGS | c_bit) };
    Ok(child)
}

/// Maps `[start, end)` to itself, writable and never executable, with the C-bit where memory is
/// encrypted: 2 MiB entries where an aligned 2 MiB fits, 4 KiB entries elsewhere (`warden_accept::plan`,
/// the one place page sizes are chosen). Tables that do not exist yet come from the heap. Returns how
/// many entries of each size were written.
///
/// # Safety
/// The range must be memory no Rust object of Warden's lives in (Warden reaches it only by copies), and
/// no other code may edit the page tables meanwhile. Entries that exist are refused, never replaced, so
/// no mapping Warden relies on changes.
pub unsafe fn map_identity(start: u64, end: u64) -> Result<(usize, usize), MapError> {
    if start >= end || !start.is_multiple_of(SIZE_4K) || !end.is_multiple_of(SIZE_4K) {
        return Err(MapError::Unaligned);
    }
    let c_bit = encryption_mask();
    let root = Cr3::read_raw().0.start_address().as_u64() & ADDRESS_MASK & !c_bit;
    let (mut large, mut small) = (0, 0);
    for (vaddr, size) in warden_accept::plan::Chunks::new(start, end, warden_accept::plan::SNP_SIZES) {
        let index = |level: u32| (vaddr >> (12 + 9 * (level - 1))) & 0x1FF;
        // SAFETY: (each step) the root is the live PML4 in the page-table region, and each table
        // `next_table` returns is one `writable_table` accepts; the caller keeps others off the tables.
        let pd = unsafe { next_table(next_table(root, index(4), vaddr)?, index(3), vaddr)? };
        let (table, level, leaf) = if size == SIZE_2M {
            (pd, 2, vaddr | DATA_FLAGS | HUGE | c_bit)
        } else {
            // SAFETY: as above.
            (unsafe { next_table(pd, index(2), vaddr)? }, 1, vaddr | DATA_FLAGS | c_bit)
        };
        let slot = (table + index(level) * 8) as *mut u64;
        // SAFETY: `table` is a writable table page (as above) and the index is below 512. Only a slot
        // that is not present is written, so nothing mapped before changes; the new leaf maps guest RAM
        // that no Rust object lives in (the contract).
        unsafe {
            if slot.read_volatile() & PRESENT != 0 {
                return Err(MapError::AlreadyMapped(vaddr));
            }
            slot.write_volatile(leaf);
        }
        if size == SIZE_2M {
            large += 1;
        } else {
            small += 1;
        }
    }
    // No entry changed but ones that were not present, which no TLB holds; flushed anyway, cheaply.
    x86_64::instructions::tlb::flush_all();
    Ok((large, small))
}
