//! The native launch measurement predicted on the host: SHA-384 of the firmware ELF's loaded bytes
//! between the two linker symbols `warden_defs::native_measurement` names, exactly the bytes the
//! firmware hashes from memory at boot (`firmware/kernel/src/image_digest.rs`) before it extends PCR 0
//! with them (`docs/measured-boot.md`).
use object::{Object, ObjectSymbol};
use sha2::{Digest, Sha384};
use warden_defs::layout::PAGE_SIZE;
use warden_defs::native_measurement::{DIGEST_LEN, END_SYMBOL, START_SYMBOL};

use crate::Result;

/// SHA-384 of `[START_SYMBOL, END_SYMBOL)` of the firmware ELF as it is loaded (its PT_LOAD pages).
pub fn native_image_digest(elf: &[u8]) -> Result<[u8; DIGEST_LEN]> {
    let file = object::File::parse(elf)?;
    let symbol = |name: &str| -> Result<u64> {
        file.symbols()
            .find(|symbol| symbol.name() == Ok(name))
            .map(|symbol| symbol.address())
            .ok_or_else(|| format!("native measurement: the firmware ELF has no symbol {name}").into())
    };
    let (start, end) = (symbol(START_SYMBOL)?, symbol(END_SYMBOL)?);
    if end <= start || start % PAGE_SIZE != 0 {
        return Err(format!("native measurement: bad range {start:#x}..{end:#x}").into());
    }
    let image = crate::image::elf::read(elf)?;
    let mut hasher = Sha384::new();
    let mut next = start;
    for page in image.pages.iter().filter(|page| page.address + PAGE_SIZE > start && page.address < end) {
        // The range must be loaded without a hole: the firmware reads every byte of it from memory.
        if page.address != next - next % PAGE_SIZE {
            return Err(format!("native measurement: {:#x} is not loaded", next).into());
        }
        let from = (next - page.address) as usize;
        let to = (end.min(page.address + PAGE_SIZE) - page.address) as usize;
        hasher.update(&page.data[from..to]);
        next = page.address + to as u64;
    }
    if next != end {
        return Err(format!("native measurement: {next:#x}..{end:#x} is not loaded").into());
    }
    Ok(hasher.finalize().into())
}
