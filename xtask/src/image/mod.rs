//! Warden's image, platform-neutral: every page the loader places, and the state the boot CPU starts in.
//!
//! `build` assembles an [`Image`] from the firmware ELF, the boot stub and the layout
//! (`warden_defs::layout`); the IGVM writer, the `-bios` boot ROM writer and the measurement all consume
//! the same [`Image`], so what QEMU boots here, what an IGVM loader loads and what a verifier expects are
//! one set of pages.
pub mod elf;
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
    /// The 64-bit entry state.
    pub entry: EntryState,
    /// The boot stub (also one of `pages`).
    pub stub: StubEntries,
}
