//! Small synthetic [`Image`]s for the IGVM, measurement and reference-value tests.
use warden_defs::layout::{self, PAGE_SIZE, StackId};

use crate::image::{EntryState, Image, ImagePage, PageKind, ParameterKind, StubEntries};

/// The stub's 32-bit entry in the synthetic image.
pub const ENTRY32: u64 = layout::BOOT_STUB_PAGE + 0x800;

/// A page of `kind` at `gpa` whose bytes are `fill(offset)`.
pub fn page(gpa: u64, kind: PageKind, fill: impl Fn(usize) -> u8) -> ImagePage {
    let mut data = Box::new([0u8; PAGE_SIZE as usize]);
    for (i, byte) in data.iter_mut().enumerate() {
        *byte = fill(i);
    }
    ImagePage { gpa, kind, data }
}

/// A page whose bytes depend on its address, so that no two data pages are alike.
fn data_page(gpa: u64) -> ImagePage {
    page(gpa, PageKind::Normal, |i| (i as u64 ^ (gpa >> 12)).wrapping_mul(31) as u8)
}

/// A small image shaped like Warden's: page tables, parameter and SNP pages, a stack, code, the boot
/// ROM directory and the stub page, sorted by GPA.
pub fn synthetic_image() -> Image {
    let zero = |gpa| page(gpa, PageKind::Zero, |_| 0);
    let stub = data_page(layout::BOOT_STUB_PAGE);
    let mut pages = vec![
        data_page(layout::PAGE_TABLES_BASE),
        data_page(layout::PAGE_TABLES_BASE + PAGE_SIZE),
        page(layout::PARAMS_PAGE, PageKind::Parameter(ParameterKind::BootParams), |_| 0),
        page(layout::MEMORY_MAP_PAGE, PageKind::Parameter(ParameterKind::MemoryMap), |_| 0),
        page(layout::SNP_SECRETS_PAGE, PageKind::SnpSecrets, |_| 0),
        page(layout::SNP_CPUID_PAGE, PageKind::SnpCpuid, |_| 0),
        zero(layout::GUEST_PAYLOAD_PAGE),
        zero(layout::stack_bottom(StackId::Boot)),
        zero(layout::stack_bottom(StackId::Boot) + PAGE_SIZE),
        data_page(layout::IMAGE_BASE),
        data_page(layout::IMAGE_BASE + PAGE_SIZE),
        zero(layout::IMAGE_BASE + 2 * PAGE_SIZE),
        data_page(layout::BOOT_ROM_DIRECTORY),
    ];
    pages.push(stub.clone());
    Image {
        pages,
        guest: None,
        entry: EntryState {
            rip: layout::IMAGE_BASE + 0x40,
            rsp: layout::stack_top(StackId::Boot),
            cr3: layout::PAGE_TABLES_BASE,
            cr0: 0x8001_0033,
            cr4: 0x620,
            efer: 0xD00,
            rsi: layout::PARAMS_PAGE,
        },
        stub: StubEntries { page: *stub.data, entry32: ENTRY32 },
    }
}
