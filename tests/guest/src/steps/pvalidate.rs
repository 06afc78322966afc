//! PVALIDATE of the guest's own free RAM through Warden (SVSM spec (AMD 58019), SVSM_CORE_PVALIDATE):
//! the guest makes the pages private itself (page-state change, GHCB spec (AMD 56421) §4.1.6, by the
//! MSR protocol for 4 KiB pages and by the GHCB for the 2 MiB one), then asks Warden to validate one
//! 4 KiB page, a list of several, and one 2 MiB page, and proves each by a pattern written and read
//! back. Then it rescinds the single page: once, then again expecting "unchanged" unless ignore_cf.
use warden_defs::layout::{LARGE_PAGE_SIZE, PAGE_SIZE};
use warden_defs::psc::{PscDescriptor, PscEntry, PscOp};
use warden_defs::svsm::{CALLING_AREA_BUFFER_OFFSET, PROTOCOL_CORE, PvalidateEntry, ResultCode, core_call};
use warden_platform::ghcb_exits;
use warden_test_guest::pvalidate_list;

use super::{Code, Run, work};
use crate::ghcb_page::{self, SharedGhcb};
use crate::guest_pages;

/// Writes the list into the calling area's buffer (CAA + 8) and calls PVALIDATE with it; answers the
/// result code and how many entries Warden processed, or `None` (after a FAIL line) when the call did
/// not reach Warden.
pub fn call(run: &mut Run, step: &str, entries: &[PvalidateEntry]) -> Option<(ResultCode, u16)> {
    let list = run.caa + CALLING_AREA_BUFFER_OFFSET;
    let mut buffer = [0u8; 8 + 8 * 8];
    let Ok(size) = pvalidate_list::write(&mut buffer, CALLING_AREA_BUFFER_OFFSET, entries) else {
        run.check(step, false, format_args!("the list does not fit (a bug in the guest)"));
        return None;
    };
    // SAFETY: the calling area is a validated page of the guest's; the list fits after its header.
    unsafe { guest_pages::write(list, &buffer[..size]) };
    match run.call(PROTOCOL_CORE, core_call::PVALIDATE, [list, 0, 0, 0]) {
        Ok(answer) => {
            let mut header = [0u8; 8];
            // SAFETY: as above.
            unsafe { guest_pages::read(list, &mut header) };
            Some((answer.result, pvalidate_list::progress(&header).unwrap_or(0)))
        }
        Err(error) => {
            run.check(step, false, format_args!("the call did not reach Warden: {error:?}"));
            None
        }
    }
}

/// Validates `[gpa, gpa + len)` with `entries` and checks the pattern in it.
fn validate(run: &mut Run, step: &str, entries: &[PvalidateEntry], gpa: u64, len: u64) -> bool {
    let Some((result, done)) = call(run, step, entries) else { return false };
    if result != ResultCode::SUCCESS || usize::from(done) != entries.len() {
        run.check(step, false, format_args!("{} after {done} of {} entries", Code(result), entries.len()));
        return false;
    }
    // SAFETY: Warden just validated the range for the guest, which uses it for nothing else yet.
    match unsafe { guest_pages::pattern_test(gpa, len) } {
        Ok(()) => {
            run.check(
                step,
                true,
                format_args!("{} entries, {len:#x} bytes at {gpa:#x} hold a pattern", entries.len()),
            );
            true
        }
        Err(at) => {
            run.check(step, false, format_args!("validated, but {at:#x} did not keep the pattern"));
            false
        }
    }
}

/// Makes 4 KiB pages private with the MSR protocol.
fn make_private(run: &mut Run, step: &str, gpa: u64, pages: u64) -> bool {
    for page in 0..pages {
        let at = gpa + page * PAGE_SIZE;
        if let Err(error) = ghcb_page::make_private(at) {
            run.check(step, false, format_args!("page-state change of {at:#x} refused: {error:?}"));
            return false;
        }
    }
    true
}

/// Makes one 2 MiB page private with a GHCB page-state change; the reply must say it was done whole.
fn make_large_private(run: &mut Run, step: &str, gpa: u64) -> bool {
    let mut desc = PscDescriptor::zeroed();
    desc.header.end_entry = 0;
    desc.entries[0] = PscEntry::new(gpa / PAGE_SIZE, PscOp::PRIVATE, true);
    match ghcb_exits::page_state_change(&mut SharedGhcb, &mut desc) {
        // The hypervisor's header is an allegation; done means cur_entry moved past end_entry.
        Ok(()) if desc.header.cur_entry > desc.header.end_entry => true,
        Ok(()) => {
            run.check(
                step,
                false,
                format_args!("page-state change left undone (cur {})", desc.header.cur_entry),
            );
            false
        }
        Err(error) => {
            run.check(step, false, format_args!("page-state change refused: {error:?}"));
            false
        }
    }
}

/// The whole step.
pub fn run(run: &mut Run) {
    let single = run.free(work::SINGLE);
    if make_private(run, "pvalidate 4k", single, 1) {
        validate(run, "pvalidate 4k", &[PvalidateEntry::new(single, false, true, false)], single, PAGE_SIZE);
    }

    let list = run.free(work::LIST);
    if make_private(run, "pvalidate list", list, work::LIST_PAGES) {
        let mut entries = [PvalidateEntry(0); work::LIST_PAGES as usize];
        for (page, entry) in entries.iter_mut().enumerate() {
            *entry = PvalidateEntry::new(list + page as u64 * PAGE_SIZE, false, true, false);
        }
        validate(run, "pvalidate list", &entries, list, work::LIST_PAGES * PAGE_SIZE);
    }

    let large = run.free(work::LARGE);
    if make_large_private(run, "pvalidate 2m", large) {
        validate(
            run,
            "pvalidate 2m",
            &[PvalidateEntry::new(large, true, true, false)],
            large,
            LARGE_PAGE_SIZE,
        );
    }

    // Rescind the single page, then again: the second is "unchanged" (CF = 1), an error unless
    // ignore_cf says to count it as success.
    let rescind = PvalidateEntry::new(single, false, false, false);
    if let Some((result, _)) = call(run, "pvalidate rescind", &[rescind]) {
        run.check("pvalidate rescind", result == ResultCode::SUCCESS, format_args!("{}", Code(result)));
    }
    if let Some((result, done)) = call(run, "pvalidate rescind again", &[rescind]) {
        run.check(
            "pvalidate rescind again",
            result == ResultCode::PVALIDATE_FAIL_NO_CHANGE && done == 0,
            format_args!("{} with ignore_cf clear", Code(result)),
        );
    }
    let ignoring = PvalidateEntry::new(single, false, false, true);
    if let Some((result, _)) = call(run, "pvalidate rescind ignore_cf", &[ignoring]) {
        run.check(
            "pvalidate rescind ignore_cf",
            result == ResultCode::SUCCESS,
            format_args!("{} with ignore_cf set", Code(result)),
        );
    }
}
