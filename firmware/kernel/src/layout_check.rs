//! Checks that the live page tables give each part of Warden the rights the layout promises, and on
//! SEV-SNP that each is private (the C-bit set: reached through the guest's key, not the hypervisor's).
use warden_defs::layout::{self, PAGE_SIZE, StackId};

use crate::paging::{Mapping, WalkError, encryption_mask, translate};

unsafe extern "C" {
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __data_start: u8;
    static __image_end: u8;
}

/// Which promise the tables break.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// The region at this address is mapped, but not identity or with the wrong rights.
    WrongRights {
        /// What the address is.
        what: &'static str,
        /// The address.
        address: u64,
    },
    /// The region at this address should be mapped and is not.
    Unmapped(&'static str, u64, WalkError),
    /// A guard page is mapped.
    GuardMapped(&'static str),
    /// SEV-SNP: the region at this address is mapped without the C-bit, as a page the hypervisor shares.
    NotPrivate {
        /// What the address is.
        what: &'static str,
        /// The address.
        address: u64,
    },
}

/// The linker's section boundaries.
pub fn sections() -> [(&'static str, u64); 5] {
    // Only the symbols' addresses are taken, never their contents.
    {
        [
            ("text", &raw const __text_start as u64),
            ("text end", &raw const __text_end as u64),
            ("rodata", &raw const __rodata_start as u64),
            ("data", &raw const __data_start as u64),
            ("image end", &raw const __image_end as u64),
        ]
    }
}

fn expect(what: &'static str, address: u64, writable: bool, executable: bool) -> Result<(), LayoutError> {
    let encrypting = encryption_mask() != 0;
    match translate(address) {
        Ok(Mapping { encrypted, .. }) if encrypted != encrypting => {
            Err(LayoutError::NotPrivate { what, address })
        }
        Ok(Mapping { physical, writable: w, executable: x, .. })
            if physical == address && w == writable && x == executable =>
        {
            Ok(())
        }
        Ok(_) => Err(LayoutError::WrongRights { what, address }),
        Err(error) => Err(LayoutError::Unmapped(what, address, error)),
    }
}

/// Text is read-only and executable, rodata read-only, data/bss, stacks, heap and page tables writable and
/// not executable, every stack's guard page unmapped, and on SNP each of them private.
pub fn check() -> Result<(), LayoutError> {
    let [(_, text), (_, text_end), (_, rodata), (_, data), (_, image_end)] = sections();
    expect("text", text, false, true)?;
    expect("text (last page)", (text_end - 1) & !(PAGE_SIZE - 1), false, true)?;
    expect("rodata", rodata, false, false)?;
    expect("data", data, true, false)?;
    expect("bss (last page)", image_end - PAGE_SIZE, true, false)?;
    expect("page tables", layout::PAGE_TABLES_BASE, true, false)?;
    expect("heap", layout::HEAP_BASE, true, false)?;
    expect("heap (last page)", layout::WARDEN_END - PAGE_SIZE, true, false)?;
    let stacks =
        [StackId::Boot, StackId::DoubleFault, StackId::Nmi, StackId::MachineCheck, StackId::Exception];
    for id in stacks {
        let name = layout::STACKS[id as usize].name;
        expect(name, layout::stack_bottom(id), true, false)?;
        if translate(layout::stack_guard(id)).is_ok() {
            return Err(LayoutError::GuardMapped(name));
        }
    }
    Ok(())
}
