//! In-firmware tests (test images only) of the TDX pieces, run on a TD (the emulated TDX machine): the
//! #VE handler's emulation of intercepted instructions, a second accept of an accepted page, and the
//! TDX module's report and RTMR extend. Skipped elsewhere (`ktest::TDX_ONLY`): their TDCALLs raise #UD
//! off TDX.
use alloc::alloc::{Layout, alloc_zeroed, dealloc};
use core::arch::x86_64::__cpuid;

use warden_accept::tdx::TdxAcceptor;
use warden_platform::memory::{GpaRange, TdxAcceptError, TdxLevel, TdxMemory};
use warden_platform::tdx_attestation::TdxAttestation;
use warden_sha::digest::Digest;

use crate::ensure;
use crate::ktest::{TestCase, TestResult};
use crate::port::inb;
use crate::tdx::{TdxPlatform, ve};

/// The TDX cases.
pub const CASES: &[TestCase] = &[
    ("tdx_ve_emulates_cpuid_and_port_io", ve_emulates),
    ("tdx_accepting_an_accepted_page_again_keeps_it", accept_twice),
    ("tdx_report_carries_report_data_and_rtmr_extends", report_and_extend),
    ("tdx_map_gpa_round_trip_through_the_acceptance_engine", map_gpa_round_trip),
];

/// COM1's line status register: bit 5, the transmitter holding register is empty, is set whenever the
/// console is not mid-byte (the console polls it before each byte, through Instruction.IO).
const COM1_LINE_STATUS: u16 = 0x3FD;

/// CPUID's hypervisor range (always a #VE in a TD: the TDX module does not virtualize it) and a port
/// read go through the #VE handler, once each, and the read comes back with the device's answer.
fn ve_emulates() -> TestResult {
    let before = ve::emulated();
    let _ = __cpuid(0x4000_0000);
    ensure!(ve::emulated() == before + 1, "CPUID 0x4000_0000: {} #VEs emulated", ve::emulated() - before);
    // SAFETY: COM1 is Warden's console; reading its line status changes nothing.
    let status = unsafe { inb(COM1_LINE_STATUS) };
    ensure!(ve::emulated() == before + 2, "IN: {} #VEs emulated, expected 1", ve::emulated() - before - 1);
    ensure!(status & (1 << 5) != 0, "COM1 line status {status:#x}: transmitter not empty");
    Ok(())
}

/// TDG.MEM.PAGE.ACCEPT of a page the heap already accepted answers PAGE_ALREADY_ACCEPTED and leaves
/// the page as it was (the TDX module zeroes only what it accepts; the acceptance engine zeroes the
/// rest itself, `warden_accept`).
fn accept_twice() -> TestResult {
    let mut tdx = TdxPlatform::init().map_err(|error| alloc::format!("TDG.VP.INFO: {error:?}"))?;
    let layout = Layout::from_size_align(0x1000, 0x1000).map_err(|_| "layout")?;
    // SAFETY: a non-zero-sized layout; freed below.
    let page = unsafe { alloc_zeroed(layout) };
    ensure!(!page.is_null(), "no heap page");
    // SAFETY: `page` is a fresh 4 KiB allocation, written through the raw pointer only.
    unsafe { page.write_bytes(0xA5, 0x1000) };
    // SAFETY: the page is this test's (no reference into it); the heap is identity-mapped, so the address
    // is the GPA; an already accepted page is not changed by the TDX module.
    let outcome = unsafe { tdx.accept(page as u64, TdxLevel::Size4K) };
    // SAFETY: the page is still this allocation; the accept above wrote nothing through Rust.
    let kept = unsafe { core::slice::from_raw_parts(page, 0x1000) }.iter().all(|&byte| byte == 0xA5);
    // SAFETY: allocated above with this layout.
    unsafe { dealloc(page, layout) };
    ensure!(outcome == Err(TdxAcceptError::AlreadyAccepted), "second accept: {outcome:?}");
    ensure!(kept, "the page changed on a second accept");
    Ok(())
}

/// TDG.MR.REPORT returns the REPORTDATA asked for and an MRTD, and TDG.MR.RTMR.EXTEND follows
/// RTMR = SHA-384(RTMR ‖ digest) (Intel TDX Module v1.5 ABI Specification (348551)), checked on RTMR 3,
/// the guest's register (TDVF convention, `warden_svsm::tdx_evidence`), which no guest uses in a test
/// image.
fn report_and_extend() -> TestResult {
    let mut tdx = TdxPlatform::init().map_err(|error| alloc::format!("TDG.VP.INFO: {error:?}"))?;
    let data: [u8; 64] = core::array::from_fn(|i| i as u8);
    let before = tdx.report(&data).map_err(|status| alloc::format!("TDG.MR.REPORT: {status:?}"))?;
    ensure!(before.mac_struct.report_data == data, "REPORTDATA not as asked");
    ensure!(before.td_info.mr_td != [0; 48], "MRTD is zero");
    let digest = [0x3C; 48];
    tdx.extend_rtmr(3, &digest).map_err(|status| alloc::format!("TDG.MR.RTMR.EXTEND: {status:?}"))?;
    let after = tdx.report(&data).map_err(|status| alloc::format!("TDG.MR.REPORT: {status:?}"))?;
    let mut hasher = warden_sha::Sha384::new();
    hasher.update(before.td_info.rtmr[3]);
    hasher.update(digest);
    let expected: [u8; 48] = hasher.finalize().into();
    ensure!(after.td_info.rtmr[3] == expected, "RTMR 3 after the extend is not SHA-384(old ‖ digest)");
    ensure!(after.td_info.mr_td == before.td_info.mr_td, "MRTD changed");
    Ok(())
}

/// Two heap pages made shared with MapGPA and back, then accepted, by the acceptance engine
/// (`TdxAcceptor::convert_range`, `accept_range`): they come back private and zeroed. A VMM that lies in
/// MapGPA (a resume GPA outside the range, or not past its start) is refused with `MapGpaResume`,
/// which fails this case, and the pages are then never handed back to the heap (their state is
/// unknown).
fn map_gpa_round_trip() -> TestResult {
    let mut tdx = TdxPlatform::init().map_err(|error| alloc::format!("TDG.VP.INFO: {error:?}"))?;
    let layout = Layout::from_size_align(0x2000, 0x1000).map_err(|_| "layout")?;
    // SAFETY: a non-zero-sized layout; freed below only if the round trip succeeded.
    let pages = unsafe { alloc_zeroed(layout) };
    ensure!(!pages.is_null(), "no heap pages");
    // SAFETY: `pages` is a fresh allocation, written through the raw pointer only.
    unsafe { pages.write_bytes(0x77, 0x2000) };
    let range = GpaRange::from_len(pages as u64, 0x2000).ok_or("range")?;
    // SAFETY: the two pages are this test's allocation (identity-mapped: the address is the GPA); no
    // Rust object lives in them and nothing else accepts or converts them while the acceptor exists.
    let mut acceptor = unsafe { TdxAcceptor::new(&[range]) };
    // SAFETY: no reference points into the pages (raw pointer only) while they are shared.
    let shared = unsafe { acceptor.convert_range(&mut tdx, range, true) };
    ensure!(shared.is_ok(), "MapGPA to shared: {shared:?} (the pages are leaked)");
    // SAFETY: as above.
    let private = unsafe { acceptor.convert_range(&mut tdx, range, false) };
    ensure!(private.is_ok(), "MapGPA to private: {private:?} (the pages are leaked)");
    let accepted = acceptor.accept_range(&mut tdx, range);
    ensure!(accepted.is_ok(), "accept after MapGPA: {accepted:?} (the pages are leaked)");
    // SAFETY: the pages are accepted again and still this test's allocation.
    let zeroed = unsafe { core::slice::from_raw_parts(pages, 0x2000) }.iter().all(|&byte| byte == 0);
    // SAFETY: allocated above with this layout, private and accepted again.
    unsafe { dealloc(pages, layout) };
    ensure!(zeroed, "the pages are not zero after the round trip");
    Ok(())
}
