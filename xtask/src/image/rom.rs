//! The `-bios` boot ROM: the image's pages packed below the boot stub, and the directory that tells the
//! stub where each run of pages goes. QEMU maps the ROM so that it ends at 4 GiB.
//!
//! ```text
//! 4 GiB - size   padding (0xFF), then the data pages, packed in GPA order
//! 0xFFFF_E000    the directory (`BootRomDirectory`)
//! 0xFFFF_F000    the boot stub, reset vector at 0xFFFF_FFF0
//! ```
use warden_defs::boot::{BOOT_ROM_MAGIC, BOOT_ROM_MAX_RUNS, BootPlatform, BootRomDirectory, BootRomRun};
use warden_defs::layout::{BOOT_ROM_ALIGN, BOOT_ROM_DIRECTORY, BOOT_STUB_PAGE, PAGE_SIZE};
use zerocopy::{FromZeros, IntoBytes};

use super::{EntryState, ImagePage};

const FOUR_GIB: u64 = 1 << 32;

/// Whether a page goes into the ROM as data, or is zero-filled by the stub.
fn is_zero(page: &ImagePage) -> bool {
    page.data.iter().all(|&byte| byte == 0)
}

/// The pages the stub must place: everything except the two pages that live in the ROM itself.
fn loaded(pages: &[ImagePage]) -> impl Iterator<Item = &ImagePage> {
    pages.iter().filter(|page| page.gpa != BOOT_STUB_PAGE && page.gpa != BOOT_ROM_DIRECTORY)
}

/// The directory for `pages` (sorted by GPA) and `entry`: runs of contiguous pages, data packed
/// downwards from the directory in GPA order. Deterministic: the same pages give the same bytes.
pub fn directory(pages: &[ImagePage], entry: &EntryState) -> crate::Result<Box<[u8; PAGE_SIZE as usize]>> {
    let data_pages = loaded(pages).filter(|page| !is_zero(page)).count() as u64;
    let mut rom_addr = BOOT_ROM_DIRECTORY - data_pages * PAGE_SIZE;
    let mut runs: Vec<BootRomRun> = Vec::new();
    for page in loaded(pages) {
        if page.gpa >= FOUR_GIB {
            return Err(format!("page {:#x} lies above 4 GiB, out of the stub's reach", page.gpa).into());
        }
        let source = if is_zero(page) { 0 } else { rom_addr as u32 };
        let extends = runs.last().is_some_and(|run| {
            run.gpa + u64::from(run.pages) * PAGE_SIZE == page.gpa
                && (run.rom_addr == 0) == (source == 0)
                && (source == 0
                    || u64::from(run.rom_addr) + u64::from(run.pages) * PAGE_SIZE == u64::from(source))
        });
        match runs.last_mut() {
            Some(run) if extends => run.pages += 1,
            _ => runs.push(BootRomRun { rom_addr: source, pages: 1, gpa: page.gpa }),
        }
        if source != 0 {
            rom_addr += PAGE_SIZE;
        }
    }
    if runs.len() > BOOT_ROM_MAX_RUNS {
        return Err(format!("{} runs do not fit the ROM directory ({BOOT_ROM_MAX_RUNS})", runs.len()).into());
    }
    let mut directory = BootRomDirectory::new_zeroed();
    directory.magic = BOOT_ROM_MAGIC;
    directory.cr3 = entry.cr3;
    directory.rip = entry.rip;
    directory.rsp = entry.rsp;
    directory.rdi = BootPlatform::Native as u64;
    directory.rsi = entry.rsi;
    directory.run_count = runs.len() as u32;
    directory.runs[..runs.len()].copy_from_slice(&runs);
    let mut page = Box::new([0u8; PAGE_SIZE as usize]);
    page.copy_from_slice(directory.as_bytes());
    Ok(page)
}

/// The ROM file for an image whose pages include the stub and the directory.
pub fn write(pages: &[ImagePage]) -> crate::Result<Vec<u8>> {
    let find = |gpa: u64| {
        pages.iter().find(|page| page.gpa == gpa).ok_or(format!("the image has no page at {gpa:#x}"))
    };
    let stub = find(BOOT_STUB_PAGE)?;
    let directory = find(BOOT_ROM_DIRECTORY)?;
    let data: Vec<&ImagePage> = loaded(pages).filter(|page| !is_zero(page)).collect();
    let used = (data.len() as u64 + 2) * PAGE_SIZE;
    let size = used.div_ceil(BOOT_ROM_ALIGN) * BOOT_ROM_ALIGN;
    let mut rom = vec![0xFF; (size - used) as usize];
    for page in data {
        rom.extend_from_slice(&page.data[..]);
    }
    rom.extend_from_slice(&directory.data[..]);
    rom.extend_from_slice(&stub.data[..]);
    debug_assert_eq!(rom.len() as u64, size);
    Ok(rom)
}
