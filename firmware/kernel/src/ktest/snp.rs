//! In-firmware tests (test images only) of the SNP pieces that run without SNP hardware: the #VC
//! handler's instruction fetch and decode against the assembler's own encodings, and the page-table walk
//! and C-bit change of `c_bit` on the live tables (with the live C-bit on SNP, a spare bit elsewhere).
//! PVALIDATE, RMPADJUST and VMGEXIT fault off SNP and are not tested here.
use warden_defs::ghcb::exit::{IoDirection, IoWidth};
use warden_defs::layout::{StackId, stack_guard};
use warden_vc_decode::{IoAccess, Port, VcKind, decode};

use crate::ensure;
use crate::ktest::{TestCase, TestResult};
use crate::snp::c_bit::{self, CbitError};
use crate::snp::{ghcb, vc};

/// The SNP cases.
pub const CASES: &[TestCase] = &[
    ("snp_vc_decodes_the_assemblers_encodings_from_text", decodes_own_text),
    ("snp_vc_fetch_stays_inside_the_text_section", fetch_bounds),
    ("snp_page_walk_finds_identity_4k_leaves", page_walk),
    ("snp_c_bit_change_round_trips", c_bit_round_trip),
];

// Never executed: the assembler's encodings of what the #VC handler must emulate, placed in the text
// section where `vc::fetch` reads instructions from.
core::arch::global_asm!(
    r#"
    .section .text.vc_ktest, "ax"
    .global warden_vc_ktest_start
warden_vc_ktest_start:
    in %dx, %al
    in %dx, %eax
    out %al, %dx
    out %ax, %dx
    in $0x71, %eax
    outb %al, $0x80
    cpuid
    rdmsr
    wrmsr
    .global warden_vc_ktest_end
warden_vc_ktest_end:
    "#,
    options(att_syntax)
);

unsafe extern "C" {
    static warden_vc_ktest_start: u8;
    static warden_vc_ktest_end: u8;
}

/// A bit Warden's tables never set off SNP (the highest physical-address bit; the test never accesses
/// the page while it is set).
const TEST_C_BIT: u8 = 51;

/// The bit the walks must treat as the C-bit: the live one on SNP, [`TEST_C_BIT`] elsewhere.
fn c_bit_under_test() -> u8 {
    match crate::paging::encryption_mask() {
        0 => TEST_C_BIT,
        mask => mask.trailing_zeros() as u8,
    }
}

fn io(direction: IoDirection, port: Port, width: IoWidth) -> VcKind {
    VcKind::Io(IoAccess { direction, port, width })
}

fn decodes_own_text() -> TestResult {
    use IoDirection::{In, Out};
    let expected = [
        (io(In, Port::Dx, IoWidth::Byte), 1),
        (io(In, Port::Dx, IoWidth::Dword), 1),
        (io(Out, Port::Dx, IoWidth::Byte), 1),
        (io(Out, Port::Dx, IoWidth::Word), 2),
        (io(In, Port::Immediate(0x71), IoWidth::Dword), 2),
        (io(Out, Port::Immediate(0x80), IoWidth::Byte), 2),
        (VcKind::Cpuid, 2),
        (VcKind::Rdmsr, 2),
        (VcKind::Wrmsr, 2),
    ];
    let mut rip = &raw const warden_vc_ktest_start as u64;
    for (kind, length) in expected {
        let bytes = vc::fetch(rip).ok_or_else(|| alloc::format!("no bytes fetched at {rip:#x}"))?;
        let decoded = decode(bytes).map_err(|e| alloc::format!("{bytes:02x?}: {e:?}"))?;
        ensure!(decoded.kind == kind && decoded.length == length, "at {rip:#x}: {decoded:?}, want {kind:?}");
        rip += u64::from(decoded.length);
    }
    ensure!(rip == &raw const warden_vc_ktest_end as u64, "the instructions end at {rip:#x}");
    Ok(())
}

fn fetch_bounds() -> TestResult {
    let [(_, text), (_, text_end), (_, rodata), ..] = crate::layout_check::sections();
    ensure!(vc::fetch(text).map(<[u8]>::len) == Some(15), "a fetch reads at most 15 bytes");
    ensure!(vc::fetch(text_end - 2).map(<[u8]>::len) == Some(2), "a fetch stops at the end of text");
    for outside in [text - 1, text_end, rodata, stack_guard(StackId::Boot)] {
        ensure!(vc::fetch(outside).is_none(), "fetched outside the text section at {outside:#x}");
    }
    Ok(())
}

fn page_walk() -> TestResult {
    let c = c_bit_under_test();
    let [(_, text), ..] = crate::layout_check::sections();
    ensure!(c_bit::check_identity(text, c).is_ok(), "text is not an identity 4K page");
    ensure!(c_bit::check_identity(ghcb::page_address(), c).is_ok(), "the GHCB page is not mapped");
    let guard = stack_guard(StackId::Exception);
    ensure!(c_bit::check_identity(guard, c) == Err(CbitError::NotPresent), "guard page found mapped");
    ensure!(c_bit::check_identity(1 << 40, c) == Err(CbitError::NotPresent), "1 TiB found mapped");
    Ok(())
}

fn c_bit_round_trip() -> TestResult {
    // The GHCB page is unused off SNP; nothing touches it while its entry carries the reserved bit. On
    // SNP it is the shared GHCB (C-bit clear), and no exit runs while its entry carries the C-bit.
    let c = c_bit_under_test();
    let page = ghcb::page_address();
    let mask = c_bit::mask(c);
    let before = c_bit::leaf_value(page, c).map_err(|e| alloc::format!("{e:?}"))?;
    ensure!(before & mask == 0, "the entry already has bit {c}: {before:#x}");
    // SAFETY: the page is Warden's unused GHCB page (native); it is not accessed until the bit is clear.
    let set = unsafe { c_bit::set_private(page, c, true) };
    let with_bit = c_bit::leaf_value(page, c);
    // SAFETY: as above; this restores the entry the tables had.
    let cleared = unsafe { c_bit::set_private(page, c, false) };
    ensure!(set.is_ok() && cleared.is_ok(), "set {set:?}, clear {cleared:?}");
    ensure!(with_bit == Ok(before | mask), "with the bit: {with_bit:?}, before {before:#x}");
    ensure!(c_bit::leaf_value(page, c) == Ok(before), "the entry was not restored");
    // SAFETY: the page is mapped again exactly as before, readable, and unused.
    let first = unsafe { (page as *const u64).read_volatile() };
    let snp = crate::paging::encryption_mask() != 0;
    ensure!(snp || first == 0, "the GHCB page is not the zero page it should be off SNP: {first:#x}");
    // Pages mapped by no 4 KiB entry are refused, not written.
    // SAFETY: the guard page is unmapped, so nothing is changed.
    let guard = unsafe { c_bit::set_private(stack_guard(StackId::Exception), c, true) };
    ensure!(guard == Err(CbitError::NotPresent), "guard page: {guard:?}");
    Ok(())
}
