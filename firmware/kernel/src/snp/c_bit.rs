//! One page's C-bit in the live page tables: private (encrypted, C = 1) or shared with the hypervisor
//! (C = 0). In the style of `paging.rs`: only tables inside `layout::PAGE_TABLES_BASE..+SIZE` are read or
//! written, and only 4 KiB leaf entries (what the image builder makes) are changed.
//!
//! The C-bit position comes from CPUID 0x8000_001F EBX\[5:0\] (AMD APM vol. 2, 15.34.1), cross-checked by
//! the caller against the hypervisor's SEV_INFO. **Not exercised on hardware.**
use warden_defs::layout::{PAGE_TABLES_BASE, PAGE_TABLES_SIZE};
use x86_64::VirtAddr;
use x86_64::registers::control::Cr3;

const PRESENT: u64 = 1 << 0;
const HUGE: u64 = 1 << 7;
const ADDRESS_MASK: u64 = 0x000F_FFFF_FFFF_F000;

/// Why a page's C-bit cannot be changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CbitError {
    /// A table lies outside the page-table region.
    TableOutsideRegion(u64),
    /// Some level's entry is not present.
    NotPresent,
    /// The address is mapped by a 2 MiB or 1 GiB entry: changing it would change 511 other pages too.
    NotA4KPage,
    /// The mapping is not the identity (Warden's tables map every page to itself).
    NotIdentity(u64),
}

/// The mask of the C-bit at position `c_bit` (32..=51, checked by the caller).
pub const fn mask(c_bit: u8) -> u64 {
    1 << c_bit
}

/// The live 4 KiB leaf entry that maps `vaddr`, found by a walk that ignores the C-bit in table addresses.
fn leaf_entry(vaddr: u64, c_bit: u8) -> Result<*mut u64, CbitError> {
    let address_mask = ADDRESS_MASK & !mask(c_bit);
    let mut table = Cr3::read_raw().0.start_address().as_u64() & address_mask;
    for level in (1..=4u32).rev() {
        if !(PAGE_TABLES_BASE..PAGE_TABLES_BASE + PAGE_TABLES_SIZE).contains(&table) {
            return Err(CbitError::TableOutsideRegion(table));
        }
        let index = (vaddr >> (12 + 9 * (level - 1))) & 0x1FF;
        let slot = (table + index * 8) as *mut u64;
        // SAFETY: `table` is a page inside the page-table region, which the initial tables map identity
        // and writable (layout_check), and `index < 512` keeps the read inside it.
        let entry = unsafe { slot.read_volatile() };
        if entry & PRESENT == 0 {
            return Err(CbitError::NotPresent);
        }
        if level == 1 {
            let physical = entry & address_mask;
            if physical != vaddr & !0xFFF {
                return Err(CbitError::NotIdentity(physical));
            }
            return Ok(slot);
        }
        if entry & HUGE != 0 {
            return Err(CbitError::NotA4KPage);
        }
        table = entry & address_mask;
    }
    Err(CbitError::NotPresent)
}

/// Checks that `vaddr`'s page is identity-mapped by a 4 KiB entry (what PVALIDATE/RMPADJUST through
/// Warden's mapping need, and what [`set_private`] can change).
pub fn check_identity(vaddr: u64, c_bit: u8) -> Result<(), CbitError> {
    leaf_entry(vaddr, c_bit).map(|_| ())
}

/// The raw leaf entry that maps `vaddr` (for the in-firmware tests).
#[cfg(feature = "insecure_test_image")]
pub fn leaf_value(vaddr: u64, c_bit: u8) -> Result<u64, CbitError> {
    let slot = leaf_entry(vaddr, c_bit)?;
    // SAFETY: `leaf_entry` returned a slot inside the page-table region, which is mapped readable.
    Ok(unsafe { slot.read_volatile() })
}

/// Sets (`private`) or clears the C-bit of the 4 KiB page at `vaddr` and flushes its TLB entry.
///
/// # Safety
/// After the change, accesses to the page go to the other view of it: making it shared exposes what is
/// written there to the hypervisor and reads back what the hypervisor wrote; making it private reads the
/// page through the guest key. The page must not be referenced by any Rust object that assumes either
/// view, and its RMP state must match (rescinded and shared first, or private and validated after).
pub unsafe fn set_private(vaddr: u64, c_bit: u8, private: bool) -> Result<(), CbitError> {
    let slot = leaf_entry(vaddr, c_bit)?;
    // SAFETY: `leaf_entry` returned a slot inside the page-table region (mapped writable); the caller
    // vouches for the page's use. Only the C-bit of this one leaf changes.
    unsafe {
        let entry = slot.read_volatile();
        let entry = if private { entry | mask(c_bit) } else { entry & !mask(c_bit) };
        slot.write_volatile(entry);
    }
    x86_64::instructions::tlb::flush(VirtAddr::new(vaddr));
    Ok(())
}
