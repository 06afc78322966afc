//! Warden's image, platform-neutral: every page the loader places, and the state the boot CPU starts in.
//!
//! `build` assembles an [`Image`] from the firmware ELF, the boot stub and the layout
//! (`warden_defs::layout`); the IGVM writer, the `-bios` boot ROM writer and the measurement all consume
//! the same [`Image`], so what QEMU boots here, what an IGVM loader loads and what a verifier expects are
//! one set of pages.
pub mod elf;
pub mod guest;
pub mod page_tables;
pub mod rom;

use warden_defs::layout::PAGE_SIZE;

/// What a page is, for the loader and the measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageKind {
    /// Measured contents (code, data, page tables, the boot stub).
    Normal,
    /// Measured, all zeros (stacks, bss).
    Zero,
    /// A parameter area the loader fills (boot parameters, memory map): unmeasured on SNP/TDX.
    Parameter(ParameterKind),
    /// The SNP secrets page (SNP only; other platforms get a zero page).
    SnpSecrets,
    /// The SNP CPUID page (SNP only; other platforms get a zero page).
    SnpCpuid,
}

/// Which parameter an IGVM parameter area carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParameterKind {
    /// `BootParams`: the vCPU count.
    BootParams,
    /// The memory map.
    MemoryMap,
}

/// One 4 KiB page of the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImagePage {
    /// Its guest-physical address (page aligned).
    pub gpa: u64,
    /// What it is.
    pub kind: PageKind,
    /// Its contents; all zeros for `Zero`, `SnpSecrets`, `SnpCpuid` and parameter pages.
    pub data: Box<[u8; PAGE_SIZE as usize]>,
}

/// The boot CPU's start state in 64-bit mode (the IGVM native VP context; the `-bios` stub reproduces it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryState {
    /// Warden's 64-bit entry point.
    pub rip: u64,
    /// The top of the boot stack.
    pub rsp: u64,
    /// The image's PML4.
    pub cr3: u64,
    /// CR0: PE, MP, ET, NE, WP, PG.
    pub cr0: u64,
    /// CR4: PAE, OSFXSR, OSXMMEXCPT.
    pub cr4: u64,
    /// EFER: LME, LMA, NXE.
    pub efer: u64,
    /// RSI: the boot parameter page. (RDI, the platform claim, differs per platform.)
    pub rsi: u64,
}

/// The 32-bit entry of the boot stub, for platforms that start in protected mode without paging
/// (the SNP VMSA under KVM's rules, and TDX's reset vector).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StubEntries {
    /// The stub's page (one 4 KiB page at `layout::BOOT_STUB_PAGE`).
    pub page: [u8; PAGE_SIZE as usize],
    /// The GPA of its 32-bit protected-mode entry (`boot32_long_mode` in `boot/src/main.rs`).
    pub entry32: u64,
}

/// The whole image: pages sorted by GPA, no GPA twice, and the entry state.
#[derive(Clone, Debug)]
pub struct Image {
    /// Every page, sorted by GPA.
    pub pages: Vec<ImagePage>,
    /// The guest payload (`guest::add`), loaded and measured on its one platform only; `None` for an
    /// image without a guest.
    pub guest: Option<GuestPages>,
    /// The 64-bit entry state.
    pub entry: EntryState,
    /// The boot stub (also one of `pages`).
    pub stub: StubEntries,
}

/// The platform a guest payload is loaded and measured for: Warden launches it there only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestPlatform {
    /// SEV-SNP: the guest at VMPL2.
    Snp,
    /// TDX: the guest as the L2 VM 1 of a partitioned TD.
    Tdx,
}

/// A guest payload's pages: sorted by GPA, none at a GPA of [`Image::pages`].
#[derive(Clone, Debug)]
pub struct GuestPages {
    /// The one platform that loads them.
    pub platform: GuestPlatform,
    /// The ELF's pages and the launch pages.
    pub pages: Vec<ImagePage>,
}

impl GuestPlatform {
    /// The platform's IGVM compatibility mask.
    pub fn mask(self) -> u32 {
        match self {
            Self::Snp => crate::igvm::SNP_MASK,
            Self::Tdx => crate::igvm::TDX_MASK,
        }
    }
}

impl Image {
    /// The bytes `page` (one of [`Image::pages`]) holds on the platforms of IGVM compatibility `mask`:
    /// its own, except the guest payload descriptor, which only the guest's platform sees filled (a
    /// platform that does not load the guest's pages must not be told a guest is there).
    pub fn page_data_on<'a>(&'a self, page: &'a ImagePage, mask: u32) -> &'a [u8] {
        static ZEROS: [u8; PAGE_SIZE as usize] = [0; PAGE_SIZE as usize];
        match &self.guest {
            Some(guest)
                if page.gpa == warden_defs::layout::GUEST_PAYLOAD_PAGE
                    && mask & guest.platform.mask() == 0 =>
            {
                &ZEROS
            }
            _ => page.data.as_slice(),
        }
    }

    /// The guest payload's pages if it is loaded on `platform`, else none (for the measurement oracles).
    #[cfg(test)]
    pub fn guest_pages(&self, platform: GuestPlatform) -> &[ImagePage] {
        match &self.guest {
            Some(guest) if guest.platform == platform => &guest.pages,
            _ => &[],
        }
    }
}

/// The 64-bit control-register state Warden is entered with (what the boot stub sets up).
mod entry_registers {
    /// CR0: PE | MP | ET | NE | WP | PG.
    pub const CR0: u64 = 0x8001_0033;
    /// CR4: PAE | OSFXSR | OSXMMEXCPT.
    pub const CR4: u64 = (1 << 5) | (1 << 9) | (1 << 10);
    /// EFER: LME | LMA | NXE.
    pub const EFER: u64 = (1 << 8) | (1 << 10) | (1 << 11);
}

/// Assembles the image from the firmware ELF and the boot stub ELF, following `warden_defs::layout`.
pub fn assemble(firmware_elf: &[u8], stub_elf: &[u8]) -> crate::Result<Image> {
    use std::collections::BTreeMap;

    use page_tables::Rights;
    use warden_defs::layout::{self, StackId};

    let firmware = elf::read(firmware_elf)?;
    let stub = elf::read(stub_elf)?;
    let stub_page = match stub.pages.as_slice() {
        [page] if page.address == layout::BOOT_STUB_PAGE => page.clone(),
        _ => return Err("the boot stub must be exactly one page at layout::BOOT_STUB_PAGE".into()),
    };
    let entry32 = stub_symbol(stub_elf, "boot32_long_mode")?;

    let zero = || Box::new([0u8; PAGE_SIZE as usize]);
    let mut pages: BTreeMap<u64, ImagePage> = BTreeMap::new();
    let mut rights: BTreeMap<u64, Rights> = BTreeMap::new();
    let add = |pages: &mut BTreeMap<u64, ImagePage>,
               rights: &mut BTreeMap<u64, Rights>,
               page: ImagePage,
               right: Option<Rights>|
     -> crate::Result {
        let gpa = page.gpa;
        if let Some(right) = right {
            rights.insert(gpa, right);
        }
        match pages.insert(gpa, page) {
            Some(_) => Err(format!("two parts of the image claim the page at {gpa:#x}").into()),
            None => Ok(()),
        }
    };

    for page in firmware.pages {
        if !(layout::IMAGE_BASE..layout::IMAGE_LIMIT).contains(&page.address) {
            return Err(format!(
                "firmware page {:#x} lies outside layout::IMAGE_BASE..IMAGE_LIMIT",
                page.address
            )
            .into());
        }
        let right = match (page.writable, page.executable) {
            (false, true) => Rights::ReadExecute,
            (false, false) => Rights::Read,
            (true, false) => Rights::ReadWrite,
            (true, true) => {
                return Err(format!("firmware page {:#x} is writable and executable", page.address).into());
            }
        };
        let kind = if page.data.iter().all(|&b| b == 0) && page.writable {
            PageKind::Zero
        } else {
            PageKind::Normal
        };
        add(&mut pages, &mut rights, ImagePage { gpa: page.address, kind, data: page.data }, Some(right))?;
    }
    add(
        &mut pages,
        &mut rights,
        ImagePage { gpa: layout::BOOT_STUB_PAGE, kind: PageKind::Normal, data: stub_page.data.clone() },
        Some(Rights::ReadExecute),
    )?;
    let boot_pages = [
        (layout::PARAMS_PAGE, PageKind::Parameter(ParameterKind::BootParams)),
        (layout::MEMORY_MAP_PAGE, PageKind::Parameter(ParameterKind::MemoryMap)),
        (layout::SNP_SECRETS_PAGE, PageKind::SnpSecrets),
        (layout::SNP_CPUID_PAGE, PageKind::SnpCpuid),
    ];
    for (gpa, kind) in boot_pages {
        add(&mut pages, &mut rights, ImagePage { gpa, kind, data: zero() }, Some(Rights::ReadWrite))?;
    }
    // The guest payload descriptor: measured zeros until `guest::add` fills it; Warden only reads it.
    add(
        &mut pages,
        &mut rights,
        ImagePage { gpa: layout::GUEST_PAYLOAD_PAGE, kind: PageKind::Zero, data: zero() },
        Some(Rights::Read),
    )?;
    for id in [StackId::Boot, StackId::DoubleFault, StackId::Nmi, StackId::MachineCheck, StackId::Exception] {
        for gpa in (layout::stack_bottom(id)..layout::stack_top(id)).step_by(PAGE_SIZE as usize) {
            add(
                &mut pages,
                &mut rights,
                ImagePage { gpa, kind: PageKind::Zero, data: zero() },
                Some(Rights::ReadWrite),
            )?;
        }
    }
    // The heap is mapped but not part of the image: the firmware accepts it at boot.
    for gpa in (layout::HEAP_BASE..layout::WARDEN_END).step_by(PAGE_SIZE as usize) {
        rights.insert(gpa, Rights::ReadWrite);
    }
    // The tables map themselves (writable), so the firmware can change them later. Mapping them can need
    // no new table (they share the 2 MiB of the stacks), which the second build checks.
    let table_count = page_tables::build(&rights)?.len() as u64;
    for index in 0..table_count {
        rights.insert(layout::PAGE_TABLES_BASE + index * PAGE_SIZE, Rights::ReadWrite);
    }
    let tables = page_tables::build(&rights)?;
    if tables.len() as u64 != table_count {
        return Err("mapping the page tables needed another table".into());
    }
    for (gpa, data) in tables {
        add(&mut pages, &mut rights, ImagePage { gpa, kind: PageKind::Normal, data }, None)?;
    }

    let entry = EntryState {
        rip: firmware.entry,
        rsp: layout::stack_top(StackId::Boot),
        cr3: layout::PAGE_TABLES_BASE,
        cr0: entry_registers::CR0,
        cr4: entry_registers::CR4,
        efer: entry_registers::EFER,
        rsi: layout::PARAMS_PAGE,
    };
    let sorted: Vec<ImagePage> = pages.into_values().collect();
    let directory = rom::directory(&sorted, &entry)?;
    let mut pages = sorted;
    pages.push(ImagePage { gpa: layout::BOOT_ROM_DIRECTORY, kind: PageKind::Normal, data: directory });
    pages.sort_by_key(|page| page.gpa);
    Ok(Image { pages, guest: None, entry, stub: StubEntries { page: *stub_page.data, entry32 } })
}

/// The address of a global symbol of the stub ELF.
fn stub_symbol(stub_elf: &[u8], name: &str) -> crate::Result<u64> {
    use object::{Object, ObjectSymbol};
    let file = object::File::parse(stub_elf)?;
    file.symbols()
        .find(|symbol| symbol.name() == Ok(name))
        .map(|symbol| symbol.address())
        .ok_or_else(|| format!("the boot stub has no symbol {name}").into())
}
