//! The TDX acceptance core, allocation-free: TDG.MEM.PAGE.ACCEPT of a run at the largest level
//! alignment allows, falling back to smaller levels on size mismatch, retrying OPERAND_BUSY a bounded
//! number of times, and zeroing pages the TDX module reports already accepted. Both the tracking
//! [`crate::tdx::TdxAcceptor`] and the heap-time [`crate::early::accept_tdx`] run through it.
use warden_platform::memory::{TdxAcceptError, TdxLevel, TdxMemory};

use crate::AcceptError;
use crate::ledger::Bookkeeping;
use crate::plan::{Chunks, TDX_SIZES};

/// OPERAND_BUSY retries per page before blaming the VMM (busy means another vCPU or the VMM holds
/// the Secure EPT entry; it clears in a few tries when the VMM is honest).
pub const BUSY_RETRIES: u32 = 64;

/// Accepts every page of `[start, end)`, reporting to `book` what was accepted, even when a later page
/// fails (never accept twice).
///
/// # Safety
/// `[start, end)` must be memory the caller owns, not accepted by it, with no Rust object in it (a
/// successful accept zeroes it, and so does the engine for already-accepted pages).
#[allow(unsafe_code)]
pub(crate) unsafe fn accept_run<P: TdxMemory, B: Bookkeeping>(
    platform: &mut P,
    book: &mut B,
    start: u64,
    end: u64,
) -> Result<(), AcceptError> {
    let mut done = start;
    let mut result = Ok(());
    for (at, size) in Chunks::new(start, end, TDX_SIZES) {
        let level = match size {
            0x4000_0000 => TdxLevel::Size1G,
            0x20_0000 => TdxLevel::Size2M,
            _ => TdxLevel::Size4K,
        };
        // SAFETY: one page of the caller's run.
        if let Err(e) = unsafe { accept_page(platform, book, at, level) } {
            result = Err(e);
            break;
        }
        done = at + size;
    }
    if done > start {
        book.accepted(start, done);
    }
    result
}

/// Accepts one page, falling back to smaller levels on size mismatch, retrying while busy, and
/// zeroing it when it was already accepted.
///
/// # Safety
/// As for [`accept_run`], for this page.
#[allow(unsafe_code)]
unsafe fn accept_page<P: TdxMemory, B: Bookkeeping>(
    platform: &mut P,
    book: &mut B,
    gpa: u64,
    level: TdxLevel,
) -> Result<(), AcceptError> {
    let mut busy = 0;
    loop {
        book.stats().tdx_accepts += 1;
        // SAFETY: the caller's contract: owned, not yet accepted by us, unreferenced; accepting zeroes
        // it, which nothing can observe.
        match unsafe { platform.accept(gpa, level) } {
            Ok(()) => return Ok(()),
            Err(TdxAcceptError::AlreadyAccepted) => {
                // SAFETY: the page is accepted (the TDX module just said so), owned, unreferenced.
                unsafe { platform.zero(gpa, level.bytes()) };
                book.stats().zeroed_bytes += level.bytes();
                return Ok(());
            }
            Err(TdxAcceptError::SizeMismatch) => {
                let Some(smaller) = level.smaller() else {
                    return Err(AcceptError::Unexpected { gpa, code: 0xC000_0B0B_0000_0000 });
                };
                book.stats().fallbacks += 1;
                let step = smaller.bytes();
                return (0..level.bytes() / step).try_for_each(|i| {
                    // SAFETY: one smaller page of this page.
                    unsafe { accept_page(platform, book, gpa + i * step, smaller) }
                });
            }
            Err(TdxAcceptError::OperandBusy) if busy < BUSY_RETRIES => busy += 1,
            Err(TdxAcceptError::OperandBusy) => return Err(AcceptError::Busy { gpa }),
            Err(TdxAcceptError::OperandInvalid) => return Err(AcceptError::NotTdPrivate { gpa }),
            Err(TdxAcceptError::Other(code)) => return Err(AcceptError::Unexpected { gpa, code }),
        }
    }
}
