//! Validating Warden's heap on SNP before the allocator exists. `warden-accept` keeps its bookkeeping on
//! the heap, so the heap itself is accepted here, with the same primitives and the same checks: one
//! page-state change to private (the reply checked by `warden_accept::psc::check_reply`, resumed only on
//! progress), then PVALIDATE at 2 MiB with a 4 KiB fallback, and any page found already validated is the
//! remapping attack. The heap's entries get the C-bit first, so Warden reads it through the guest key.
//! **Not exercised on hardware.**
use warden_accept::AcceptError;
use warden_accept::psc::{PscProgress, check_reply};
use warden_defs::layout::{HEAP_BASE, HEAP_SIZE, LARGE_PAGE_SIZE, PAGE_SIZE};
use warden_defs::psc::{PSC_MAX_ENTRIES, PscDescriptor, PscEntry, PscHeader, PscOp};
use warden_platform::memory::{PageSize, PvalidateError, PvalidateOutcome, SnpMemory};

use super::{SnpPlatform, c_bit};

/// The heap's 2 MiB pages: one descriptor holds them all (the layout aligns the heap to 2 MiB).
const LARGE_PAGES: usize = (HEAP_SIZE / LARGE_PAGE_SIZE) as usize;
const _: () = assert!(LARGE_PAGES >= 1 && LARGE_PAGES <= PSC_MAX_ENTRIES);
const _: () = assert!(HEAP_BASE.is_multiple_of(LARGE_PAGE_SIZE) && HEAP_SIZE.is_multiple_of(LARGE_PAGE_SIZE));

/// Makes `layout::HEAP_BASE..+HEAP_SIZE` private and validated.
///
/// # Safety
/// Call once, before `heap::init`: nothing may reference the heap, and nothing else validates it.
pub unsafe fn accept_heap(platform: &mut SnpPlatform) -> Result<(), AcceptError> {
    let c = platform.c_bit();
    let mut page = HEAP_BASE;
    while page < HEAP_BASE + HEAP_SIZE {
        // SAFETY: the heap is unreferenced and not yet valid: nothing reads it through either view.
        unsafe { c_bit::set_private(page, c, true) }
            .map_err(|_| AcceptError::Unexpected { gpa: page, code: 0 })?;
        page += PAGE_SIZE;
    }

    let entries: [PscEntry; LARGE_PAGES] = core::array::from_fn(|i| {
        PscEntry::new((HEAP_BASE + i as u64 * LARGE_PAGE_SIZE) >> 12, PscOp::PRIVATE, true)
    });
    let end_entry = (LARGE_PAGES - 1) as u16;
    let mut cur_entry = 0;
    let mut desc = PscDescriptor::zeroed();
    loop {
        let sent = PscHeader { cur_entry, end_entry, reserved: 0 };
        desc.header = sent;
        // Re-copied on every exit: the hypervisor may have rewritten the shared buffer.
        desc.entries[..LARGE_PAGES].copy_from_slice(&entries);
        // SAFETY: the descriptor names only the heap, which nothing references (the contract).
        unsafe { platform.page_state_change(&mut desc) }.map_err(AcceptError::PscRefused)?;
        match check_reply(sent, desc.header).map_err(AcceptError::PscResponse)? {
            PscProgress::Done => break,
            PscProgress::Partial { resume_at } => cur_entry = resume_at,
        }
    }

    for large in entries.iter().map(|entry| entry.gpa()) {
        // SAFETY: the heap page was just made private and is unreferenced (the contract); it was never
        // validated before (it is not in the image).
        match unsafe { platform.pvalidate(large, PageSize::Size2M, true) } {
            // The hypervisor backed it with 4 KiB RMP entries.
            Err(PvalidateError::FailSizeMismatch) => {
                for small in (large..large + LARGE_PAGE_SIZE).step_by(PAGE_SIZE as usize) {
                    // SAFETY: as above, one 4 KiB page of it.
                    check(small, unsafe { platform.pvalidate(small, PageSize::Size4K, true) })?;
                }
            }
            other => check(large, other)?,
        }
    }
    Ok(())
}

/// A PVALIDATE that must have taken a page from not validated to validated.
fn check(gpa: u64, result: Result<PvalidateOutcome, PvalidateError>) -> Result<(), AcceptError> {
    match result {
        Ok(PvalidateOutcome::Changed) => Ok(()),
        // The heap was never validated: someone mapped a validated page here (threat model T6).
        Ok(PvalidateOutcome::Unchanged) => Err(AcceptError::AlreadyValidated { gpa }),
        Err(PvalidateError::NotAssigned) => Err(AcceptError::NotPrivate { gpa }),
        Err(PvalidateError::FailSizeMismatch) => Err(AcceptError::Unexpected { gpa, code: 6 }),
        Err(PvalidateError::FailInput) => Err(AcceptError::Unexpected { gpa, code: 1 }),
        Err(PvalidateError::Unknown(code)) => Err(AcceptError::Unexpected { gpa, code: u64::from(code) }),
    }
}
