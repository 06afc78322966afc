//! The SEV-SNP acceptance core, allocation-free: up to 253 planned pages, one page-state change to
//! private for all of them (resumed after partial completion), then a PVALIDATE per page with the
//! size-mismatch fallbacks. Both the tracking [`crate::snp::SnpAcceptor`] and the heap-time
//! [`crate::early::validate_snp`] run through it, so there is one implementation of these rules.
use warden_defs::psc::{PSC_MAX_ENTRIES, PscDescriptor, PscEntry, PscOp};
use warden_platform::memory::{PageSize, PvalidateError, PvalidateOutcome, SnpMemory};

use crate::ledger::Bookkeeping;
use crate::plan::{Chunks, SNP_SIZES};
use crate::{AcceptError, psc};

const PAGE: u64 = 0x1000;
const LARGE: u64 = 0x20_0000;

/// Pages planned for the next exit, kept in private memory (the descriptor is re-filled from them
/// before every exit), and the descriptor the exits use. About 4 KiB, no heap.
#[derive(Debug)]
pub(crate) struct SnpBatch {
    entries: [PscEntry; PSC_MAX_ENTRIES],
    len: usize,
    desc: PscDescriptor,
}

impl SnpBatch {
    /// An empty batch.
    pub(crate) fn new() -> Self {
        Self { entries: [PscEntry(0); PSC_MAX_ENTRIES], len: 0, desc: PscDescriptor::zeroed() }
    }

    /// Plans every page of `[start, end)` (largest size first), flushing whenever the batch is full.
    ///
    /// # Safety
    /// `[start, end)` must be memory the caller owns, never validated by it, with no Rust object in
    /// it and nothing else changing its state (the acceptors' `new` contracts).
    #[allow(unsafe_code)]
    pub(crate) unsafe fn plan<P: SnpMemory, B: Bookkeeping>(
        &mut self,
        platform: &mut P,
        book: &mut B,
        start: u64,
        end: u64,
    ) -> Result<(), AcceptError> {
        for (at, size) in Chunks::new(start, end, SNP_SIZES) {
            if self.len == PSC_MAX_ENTRIES {
                // SAFETY: the batch holds only pages planned under this function's contract.
                unsafe { self.flush(platform, book) }?;
            }
            if let Some(slot) = self.entries.get_mut(self.len) {
                *slot = PscEntry::new(at / PAGE, PscOp::PRIVATE, size == LARGE);
                self.len += 1;
            }
        }
        Ok(())
    }

    /// One page-state change for the batch, then a PVALIDATE per page; reports each validated span to
    /// `book` as it goes, so pages validated before an error are never validated again.
    ///
    /// # Safety
    /// As for [`SnpBatch::plan`], for every planned page.
    #[allow(unsafe_code)]
    pub(crate) unsafe fn flush<P: SnpMemory, B: Bookkeeping>(
        &mut self,
        platform: &mut P,
        book: &mut B,
    ) -> Result<(), AcceptError> {
        let planned = self.len;
        self.len = 0;
        let Some(entries) = self.entries.get(..planned).filter(|e| !e.is_empty()) else {
            return Ok(());
        };
        // SAFETY: the entries name only pages planned under `plan`'s contract.
        unsafe { psc::run(platform, &mut self.desc, entries, book.stats()) }?;
        let mut done: Option<(u64, u64)> = None;
        let mut result = Ok(());
        for entry in entries.iter().copied() {
            let (gpa, size) = (entry.gpa(), if entry.is_2m() { PageSize::Size2M } else { PageSize::Size4K });
            // SAFETY: `gpa` was just made private and is owned, unvalidated and unreferenced (`plan`).
            if let Err(e) = unsafe { validate(platform, &mut self.desc, book, gpa, size) } {
                result = Err(e);
                break;
            }
            done = match done {
                Some((s, e)) if e == gpa => Some((s, e + size.bytes())),
                Some((s, e)) => {
                    book.accepted(s, e);
                    Some((gpa, gpa + size.bytes()))
                }
                None => Some((gpa, gpa + size.bytes())),
            };
        }
        if let Some((s, e)) = done {
            book.accepted(s, e);
        }
        result
    }
}

/// PVALIDATEs one planned page that was just made private. Size mismatches fall back: a 2 MiB request
/// on 4 KiB RMP entries becomes 512 4 KiB ones; a 4 KiB request on a 2 MiB RMP entry asks the
/// hypervisor to PSMASH it, then retries once.
///
/// # Safety
/// `gpa` is owned, private, not validated by us, and unreferenced.
#[allow(unsafe_code)]
unsafe fn validate<P: SnpMemory, B: Bookkeeping>(
    platform: &mut P,
    desc: &mut PscDescriptor,
    book: &mut B,
    gpa: u64,
    size: PageSize,
) -> Result<(), AcceptError> {
    book.stats().pvalidate += 1;
    // SAFETY: the caller's contract; validating cannot alias a page we validated elsewhere.
    match unsafe { platform.pvalidate(gpa, size, true) } {
        Err(PvalidateError::FailSizeMismatch) if size == PageSize::Size2M => {
            book.stats().fallbacks += 1;
            for i in 0..LARGE / PAGE {
                // SAFETY: one 4 KiB page of the caller's 2 MiB page.
                if let Err(e) = unsafe { validate(platform, desc, book, gpa + i * PAGE, PageSize::Size4K) } {
                    // The pages before this one are validated: record them, never validate twice.
                    if i > 0 {
                        book.accepted(gpa, gpa + i * PAGE);
                    }
                    return Err(e);
                }
            }
            Ok(())
        }
        Err(PvalidateError::FailSizeMismatch) => {
            book.stats().fallbacks += 1;
            let smash = [PscEntry::new((gpa & !(LARGE - 1)) / PAGE, PscOp::PSMASH, true)];
            // SAFETY: PSMASH only splits the RMP entry; every page keeps its assignment and validated
            // state, so no page in use changes.
            unsafe { psc::run(platform, desc, &smash, book.stats()) }?;
            book.stats().pvalidate += 1;
            // SAFETY: as above for `gpa`.
            let retry = unsafe { platform.pvalidate(gpa, size, true) };
            outcome(gpa, retry)
        }
        other => outcome(gpa, other),
    }
}

/// What a PVALIDATE that set the bit on a page we never validated means, fallbacks aside.
fn outcome(gpa: u64, r: Result<PvalidateOutcome, PvalidateError>) -> Result<(), AcceptError> {
    match r {
        Ok(PvalidateOutcome::Changed) => Ok(()),
        // We never validated it: someone mapped a validated page here (the remapping attack).
        Ok(PvalidateOutcome::Unchanged) => Err(AcceptError::AlreadyValidated { gpa }),
        Err(PvalidateError::NotAssigned) => Err(AcceptError::NotPrivate { gpa }),
        Err(PvalidateError::FailSizeMismatch) => Err(AcceptError::Unexpected { gpa, code: 6 }),
        Err(PvalidateError::FailInput) => Err(AcceptError::Unexpected { gpa, code: 1 }),
        Err(PvalidateError::Unknown(code)) => Err(AcceptError::Unexpected { gpa, code: u64::from(code) }),
    }
}
