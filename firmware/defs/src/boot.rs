//! The boot hand-off: what the boot stub (or an IGVM loader's VP context) gives Warden's 64-bit entry,
//! and the boot ROM directory the native `-bios` stub reads.
//!
//! Warden's entry is `warden_entry(platform: u64, params: u64)` in the System V ABI: RDI carries the
//! platform the boot path claims ([`BootPlatform`]), RSI the GPA of the boot parameter page. Warden never
//! trusts the claim alone: it cross-checks it against CPUID before it does anything platform-specific.
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The platform the boot path claims, as passed in RDI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum BootPlatform {
    /// No confidentiality: QEMU/KVM or TCG.
    Native = 0,
    /// AMD SEV-SNP at VMPL0.
    Snp = 1,
    /// Intel TDX.
    Tdx = 2,
}

impl BootPlatform {
    /// Reads the claim from its register value; an unknown value is no platform.
    pub const fn from_register(value: u64) -> Option<Self> {
        match value {
            0 => Some(Self::Native),
            1 => Some(Self::Snp),
            2 => Some(Self::Tdx),
            _ => None,
        }
    }
}

/// "WRDNROM1": the boot ROM directory's magic.
pub const BOOT_ROM_MAGIC: u64 = u64::from_le_bytes(*b"WRDNROM1");

/// How many runs fit in the directory page.
pub const BOOT_ROM_MAX_RUNS: usize = 250;

/// One run of pages the stub copies from the ROM to RAM (or zero-fills, when `rom_addr` is 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct BootRomRun {
    /// Where the data sits in the ROM (32-bit physical address), or 0 for zero pages.
    pub rom_addr: u32,
    /// How many 4 KiB pages.
    pub pages: u32,
    /// The destination guest-physical address (below 4 GiB).
    pub gpa: u64,
}

/// The directory at `layout::BOOT_ROM_DIRECTORY`: what the `-bios` stub loads and the state it enters
/// Warden with. It plays the part an IGVM loader plays: the runs are the image's pages, and the entry
/// state is the image's native VP context.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct BootRomDirectory {
    /// [`BOOT_ROM_MAGIC`].
    pub magic: u64,
    /// CR3: the image's PML4.
    pub cr3: u64,
    /// RIP: Warden's 64-bit entry.
    pub rip: u64,
    /// RSP: the top of the boot stack.
    pub rsp: u64,
    /// RDI: the platform claim ([`BootPlatform`]).
    pub rdi: u64,
    /// RSI: the boot parameter page.
    pub rsi: u64,
    /// How many of `runs` are used.
    pub run_count: u32,
    /// Zero.
    pub reserved: u32,
    /// The runs, in order.
    pub runs: [BootRomRun; BOOT_ROM_MAX_RUNS],
    /// Zero; pads the directory to one page.
    pub padding: [u8; 40],
}

/// Byte offsets the assembly stub uses; the asserts below keep them honest.
pub mod rom_offsets {
    /// `BootRomDirectory::magic`.
    pub const MAGIC: usize = 0;
    /// `BootRomDirectory::cr3`.
    pub const CR3: usize = 8;
    /// `BootRomDirectory::rip`.
    pub const RIP: usize = 16;
    /// `BootRomDirectory::rsp`.
    pub const RSP: usize = 24;
    /// `BootRomDirectory::rdi`.
    pub const RDI: usize = 32;
    /// `BootRomDirectory::rsi`.
    pub const RSI: usize = 40;
    /// `BootRomDirectory::run_count`.
    pub const RUN_COUNT: usize = 48;
    /// `BootRomDirectory::runs`.
    pub const RUNS: usize = 56;
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<BootRomRun>() == 16);
    assert!(size_of::<BootRomDirectory>() == 4096);
    assert!(offset_of!(BootRomDirectory, magic) == rom_offsets::MAGIC);
    assert!(offset_of!(BootRomDirectory, cr3) == rom_offsets::CR3);
    assert!(offset_of!(BootRomDirectory, rip) == rom_offsets::RIP);
    assert!(offset_of!(BootRomDirectory, rsp) == rom_offsets::RSP);
    assert!(offset_of!(BootRomDirectory, rdi) == rom_offsets::RDI);
    assert!(offset_of!(BootRomDirectory, rsi) == rom_offsets::RSI);
    assert!(offset_of!(BootRomDirectory, run_count) == rom_offsets::RUN_COUNT);
    assert!(offset_of!(BootRomDirectory, runs) == rom_offsets::RUNS);
};
