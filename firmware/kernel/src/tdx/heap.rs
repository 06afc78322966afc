//! Accepting Warden's heap on TDX before the allocator exists (`warden-accept` keeps its bookkeeping on
//! the heap): TDG.MEM.PAGE.ACCEPT at 2 MiB with a 4 KiB fallback, a bounded retry on OPERAND_BUSY, and
//! pages the TDX module reports already accepted zeroed by Warden (the module did not zero them), as the
//! acceptance engine does. **Not exercised on hardware.**
use warden_accept::AcceptError;
use warden_defs::layout::{HEAP_BASE, HEAP_SIZE, LARGE_PAGE_SIZE, PAGE_SIZE};
use warden_platform::memory::{TdxAcceptError, TdxLevel, TdxMemory};

use super::TdxPlatform;

/// OPERAND_BUSY answers tolerated per page before the VMM is blamed.
const BUSY_RETRIES: u32 = 1000;

const _: () = assert!(HEAP_BASE.is_multiple_of(LARGE_PAGE_SIZE) && HEAP_SIZE.is_multiple_of(LARGE_PAGE_SIZE));

/// Accepts `layout::HEAP_BASE..+HEAP_SIZE`.
///
/// # Safety
/// Call once, before `heap::init`: nothing may reference the heap, and nothing else accepts it.
pub unsafe fn accept_heap(platform: &mut TdxPlatform) -> Result<(), AcceptError> {
    for large in (HEAP_BASE..HEAP_BASE + HEAP_SIZE).step_by(LARGE_PAGE_SIZE as usize) {
        // SAFETY: the heap is owned and unreferenced (the contract).
        match unsafe { accept(platform, large, TdxLevel::Size2M) } {
            Err(TdxAcceptError::SizeMismatch) => {
                for small in (large..large + LARGE_PAGE_SIZE).step_by(PAGE_SIZE as usize) {
                    // SAFETY: as above, one 4 KiB page of it.
                    unsafe { accept(platform, small, TdxLevel::Size4K) }.map_err(|e| blame(small, e))?;
                }
            }
            other => other.map_err(|e| blame(large, e))?,
        }
    }
    Ok(())
}

/// One accept, retried while busy; an already-accepted page is zeroed and counts as accepted.
///
/// # Safety
/// The page is owned and unreferenced.
unsafe fn accept(platform: &mut TdxPlatform, gpa: u64, level: TdxLevel) -> Result<(), TdxAcceptError> {
    for _ in 0..BUSY_RETRIES {
        // SAFETY: per the contract.
        match unsafe { platform.accept(gpa, level) } {
            Err(TdxAcceptError::OperandBusy) => continue,
            Err(TdxAcceptError::AlreadyAccepted) => {
                // SAFETY: accepted (the module says so), owned and unreferenced (the contract).
                unsafe { platform.zero(gpa, level.bytes()) };
                return Ok(());
            }
            other => return other,
        }
    }
    Err(TdxAcceptError::OperandBusy)
}

fn blame(gpa: u64, error: TdxAcceptError) -> AcceptError {
    match error {
        TdxAcceptError::OperandBusy => AcceptError::Busy { gpa },
        TdxAcceptError::OperandInvalid => AcceptError::NotTdPrivate { gpa },
        TdxAcceptError::Other(code) => AcceptError::Unexpected { gpa, code },
        // Handled by the callers; here only if a 4 KiB accept reports them, which no request causes.
        TdxAcceptError::SizeMismatch | TdxAcceptError::AlreadyAccepted => {
            AcceptError::Unexpected { gpa, code: 0 }
        }
    }
}
