//! Acceptance before the heap exists: one range Warden knows was never accepted (its own heap), made
//! usable through the same allocation-free cores as the tracking acceptors (`snp_batch`,
//! `tdx_page`), with no page tracker. Success yields an [`Accepted`] proof for exactly that
//! range, which only this module can make: the firmware's heap initialiser demands one on SEV-SNP and
//! TDX, so the heap cannot come up without this engine.
use warden_platform::memory::{GpaRange, SnpMemory, TdxMemory};

use crate::ledger::Bookkeeping;
use crate::snp_batch::SnpBatch;
use crate::tdx_page::accept_run;
use crate::{AcceptError, AcceptStats};

/// Proof that every page of [`Accepted::range`] was made private and validated (SNP) or accepted (TDX)
/// by this engine. Not `Clone`, not `Copy`, no public constructor.
#[derive(Debug, PartialEq, Eq)]
pub struct Accepted {
    range: GpaRange,
}

impl Accepted {
    /// The range the engine accepted, all of it.
    pub fn range(&self) -> GpaRange {
        self.range
    }
}

/// Without a tracker, the counters are all the early path keeps: pages accepted before an error are
/// not recorded, which is why the contracts below forbid a second attempt.
impl Bookkeeping for AcceptStats {
    fn stats(&mut self) -> &mut AcceptStats {
        self
    }

    fn accepted(&mut self, _start: u64, _end: u64) {}
}

/// Makes `range` private and validates it (SEV-SNP), 2 MiB where aligned, adding what was issued to
/// `stats`.
///
/// # Safety
/// `range` must be guest memory no Rust object lives in, never validated before (not part of the
/// launch image), and nothing else may validate or change its state. Call once per range: after an
/// error some of it may be validated, and the caller must give the range up (terminate) rather than
/// retry, since a retry would see its own pages as the remapping attack.
// Never inlined: the firmware's release-image test (`tests/tests/release_image.rs`) finds this
// function's instance for the kernel's platform in the ELF's symbol table, which proves the heap step
// calls the engine; inlined, it would leave no symbol to find.
#[inline(never)]
#[allow(unsafe_code)]
pub unsafe fn validate_snp<P: SnpMemory>(
    platform: &mut P,
    range: GpaRange,
    stats: &mut AcceptStats,
) -> Result<Accepted, AcceptError> {
    let mut batch = SnpBatch::new();
    // SAFETY: the caller's contract covers every page of `range`.
    unsafe { batch.plan(platform, stats, range.start(), range.end()) }?;
    // SAFETY: as above, for the pages still planned.
    unsafe { batch.flush(platform, stats) }?;
    Ok(Accepted { range })
}

/// Accepts `range` (TDX), 1 GiB where aligned, zeroing pages the TDX module reports already accepted,
/// adding what was issued to `stats`.
///
/// # Safety
/// `range` must be guest memory no Rust object lives in (it is zeroed), that nothing else accepts or
/// converts. Call once per range; after an error the caller must give the range up.
// Never inlined: the firmware's release-image test (`tests/tests/release_image.rs`) finds this
// function's instance for the kernel's platform in the ELF's symbol table, which proves the heap step
// calls the engine; inlined, it would leave no symbol to find.
#[inline(never)]
#[allow(unsafe_code)]
pub unsafe fn accept_tdx<P: TdxMemory>(
    platform: &mut P,
    range: GpaRange,
    stats: &mut AcceptStats,
) -> Result<Accepted, AcceptError> {
    // SAFETY: the caller's contract covers every page of `range`.
    unsafe { accept_run(platform, stats, range.start(), range.end()) }?;
    Ok(Accepted { range })
}
