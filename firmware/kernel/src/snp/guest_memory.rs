//! Warden's view of guest RAM on SEV-SNP: the RAM the validated memory map names, below 1 GiB, mapped
//! identity with 2 MiB pages (private: C-bit set; writable; not executable) into the image's own page
//! directory for the first GiB, and copies to and from it for the dispatcher (`warden_svsm::GuestMemory`).
//!
//! Minimal by design, for the guest launch and the request loop: every range the memory map gives is
//! mapped, 2 MiB region by region, when the whole region is RAM and the image's directory has no entry
//! there yet (Warden's own region keeps its 4 KiB tables). **Known limit**: a copy from a guest page
//! that is not validated raises #VC 0x404 (page not validated), which the #VC handler does not recover
//! from; Warden then terminates instead of answering the guest with an error.
//! **Not exercised on hardware.**
use core::sync::atomic::{AtomicU64, Ordering};

use warden_defs::layout::{LARGE_PAGE_SIZE, PAGE_TABLES_BASE, PAGE_TABLES_SIZE};
use warden_platform::memory::GpaRange;
use warden_svsm::{GuestMemory, MemoryError};
use x86_64::registers::control::Cr3;

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const HUGE: u64 = 1 << 7;
const NO_EXECUTE: u64 = 1 << 63;
const ADDRESS_MASK: u64 = 0x000F_FFFF_FFFF_F000;
/// What one page directory maps.
const DIRECTORY_SPAN: u64 = 512 * LARGE_PAGE_SIZE;

/// Which 2 MiB regions of the first GiB this module mapped (bit per region, 8 × 64).
static MAPPED: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];

/// Why guest RAM could not be mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestMapError {
    /// The image's tables do not lead to a page directory for the first GiB inside the page-table region.
    NoDirectory,
}

/// Guest RAM as the dispatcher reaches it.
#[derive(Debug)]
pub struct SnpGuestMemory {
    _mapped: (),
}

/// The live entry at `index` of the table at `table` (C-bit stripped from the address), checked to lie
/// in the page-table region.
fn next_table(table: u64, index: u64, c_bit: u8) -> Result<u64, GuestMapError> {
    if !(PAGE_TABLES_BASE..PAGE_TABLES_BASE + PAGE_TABLES_SIZE).contains(&table) {
        return Err(GuestMapError::NoDirectory);
    }
    // SAFETY: a page of the page-table region (mapped, readable: the boot's layout check); index < 512.
    let entry = unsafe { ((table + index * 8) as *const u64).read_volatile() };
    if entry & PRESENT == 0 || entry & HUGE != 0 {
        return Err(GuestMapError::NoDirectory);
    }
    Ok(entry & ADDRESS_MASK & !(1u64 << c_bit))
}

/// Whether `gpa` lies in a 2 MiB region this module mapped.
pub fn maps(gpa: u64) -> bool {
    if gpa >= DIRECTORY_SPAN {
        return false;
    }
    let region = gpa / LARGE_PAGE_SIZE;
    MAPPED[(region / 64) as usize].load(Ordering::Acquire) & (1 << (region % 64)) != 0
}

impl SnpGuestMemory {
    /// Maps `ram` (the memory map's RAM, Warden's region already cut out) below 1 GiB.
    ///
    /// # Safety
    /// Once, on the boot CPU, after the page-table check; nothing else changes the tables meanwhile.
    pub unsafe fn map(ram: &[GpaRange], c_bit: u8) -> Result<Self, GuestMapError> {
        let pml4 = Cr3::read_raw().0.start_address().as_u64() & !(1u64 << c_bit);
        let directory = next_table(next_table(pml4, 0, c_bit)?, 0, c_bit)?;
        if !(PAGE_TABLES_BASE..PAGE_TABLES_BASE + PAGE_TABLES_SIZE).contains(&directory) {
            return Err(GuestMapError::NoDirectory);
        }
        for index in 0..512u64 {
            let (start, end) = (index * LARGE_PAGE_SIZE, (index + 1) * LARGE_PAGE_SIZE);
            if !ram.iter().any(|r| r.start() <= start && end <= r.end()) {
                continue;
            }
            let slot = (directory + index * 8) as *mut u64;
            // SAFETY: the directory is a page of the page-table region (checked), mapped writable; the
            // entry is written only if empty, so no mapping Warden relies on changes, and the region is
            // guest RAM outside Warden's (the memory map cuts Warden's region out).
            unsafe {
                if slot.read_volatile() & PRESENT != 0 {
                    continue;
                }
                slot.write_volatile(start | (1u64 << c_bit) | PRESENT | WRITABLE | HUGE | NO_EXECUTE);
            }
            MAPPED[(index / 64) as usize].fetch_or(1 << (index % 64), Ordering::AcqRel);
        }
        x86_64::instructions::tlb::flush_all();
        Ok(Self { _mapped: () })
    }

    /// The mapped span `[gpa, gpa + len)` as a pointer, if every page of it is mapped here.
    fn span(gpa: u64, len: usize) -> Result<*mut u8, MemoryError> {
        let end = gpa.checked_add(len as u64).ok_or(MemoryError::Unavailable)?;
        if len == 0 {
            return Err(MemoryError::Unavailable);
        }
        let mut region = gpa & !(LARGE_PAGE_SIZE - 1);
        while region < end {
            if !maps(region) {
                return Err(MemoryError::Unavailable);
            }
            region += LARGE_PAGE_SIZE;
        }
        Ok(gpa as *mut u8)
    }
}

impl GuestMemory for SnpGuestMemory {
    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        let from = Self::span(gpa, buf.len())?;
        for (index, byte) in buf.iter_mut().enumerate() {
            // SAFETY: inside guest RAM this module mapped (identity, private); the guest may change it at
            // any time, hence byte-wise volatile reads into Warden's own buffer, never a reference.
            *byte = unsafe { from.add(index).read_volatile() };
        }
        Ok(())
    }

    fn write(&mut self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        let to = Self::span(gpa, data.len())?;
        for (index, &byte) in data.iter().enumerate() {
            // SAFETY: as for `read`: guest RAM mapped here, written through raw volatile stores.
            unsafe { to.add(index).write_volatile(byte) };
        }
        Ok(())
    }
}
