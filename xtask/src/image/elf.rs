//! Reading the firmware ELF and the boot stub ELF: their loadable segments, page by page, with rights.
use object::elf::{PF_W, PF_X, PT_LOAD};
use object::read::elf::{ElfFile64, ProgramHeader};
use object::{Endianness, Object};
use warden_defs::layout::PAGE_SIZE;

/// One page of a loadable segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfPage {
    /// Its address (page aligned; Warden is identity mapped, so also its GPA).
    pub address: u64,
    /// Writable (from the segment's PF_W).
    pub writable: bool,
    /// Executable (from the segment's PF_X).
    pub executable: bool,
    /// Its contents (zero beyond the segment's file size: bss).
    pub data: Box<[u8; PAGE_SIZE as usize]>,
}

/// A linked ELF: its pages and its entry point.
#[derive(Clone, Debug)]
pub struct ElfImage {
    /// Every page of every PT_LOAD segment, sorted by address.
    pub pages: Vec<ElfPage>,
    /// The entry point.
    pub entry: u64,
}

/// Reads an ELF's PT_LOAD segments. Segments must be page aligned and must not share a page (the
/// linker scripts in `linker/` guarantee both, so rights can be set per page).
pub fn read(bytes: &[u8]) -> crate::Result<ElfImage> {
    let file = ElfFile64::<Endianness>::parse(bytes)?;
    let endian = file.endian();
    let mut pages: Vec<ElfPage> = Vec::new();
    for header in file.elf_program_headers() {
        if header.p_type(endian) != PT_LOAD || header.p_memsz(endian) == 0 {
            continue;
        }
        let start = header.p_vaddr(endian);
        let memsz = header.p_memsz(endian);
        let flags = header.p_flags(endian);
        if start % PAGE_SIZE != 0 {
            return Err(format!("segment at {start:#x} is not page aligned").into());
        }
        let data = header
            .data(endian, bytes)
            .map_err(|()| format!("segment at {start:#x} lies outside the file"))?;
        let page_count = memsz.div_ceil(PAGE_SIZE);
        for index in 0..page_count {
            let address = start + index * PAGE_SIZE;
            if pages.iter().any(|page| page.address == address) {
                return Err(format!("two segments share the page at {address:#x}").into());
            }
            let mut contents = Box::new([0u8; PAGE_SIZE as usize]);
            let from = (index * PAGE_SIZE) as usize;
            if from < data.len() {
                let to = data.len().min(from + PAGE_SIZE as usize);
                contents[..to - from].copy_from_slice(&data[from..to]);
            }
            pages.push(ElfPage {
                address,
                writable: flags & PF_W != 0,
                executable: flags & PF_X != 0,
                data: contents,
            });
        }
    }
    pages.sort_by_key(|page| page.address);
    Ok(ElfImage { pages, entry: file.entry() })
}
