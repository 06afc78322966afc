//! SEV-SNP acceptance: make owned pages private with batched page-state changes, then PVALIDATE them,
//! 2 MiB where aligned, tracking every page so none is validated twice.
use alloc::vec::Vec;

use warden_defs::psc::{PSC_MAX_ENTRIES, PscDescriptor, PscEntry, PscOp};
use warden_platform::memory::{GpaRange, PageSize, PvalidateError, PvalidateOutcome, SnpMemory};

use crate::ledger::Ledger;
use crate::plan::{Chunks, SNP_SIZES};
use crate::tracker::PageTracker;
use crate::{AcceptError, AcceptStats, Clock, psc};

const PAGE: u64 = 0x1000;
const LARGE: u64 = 0x20_0000;

/// The SNP acceptor: the capability to validate the memory it owns.
#[derive(Debug)]
pub struct SnpAcceptor {
    ledger: Ledger,
    /// Pages planned for the current exit: (gpa, size); mirrors `entries`.
    batch: Vec<(u64, PageSize)>,
    entries: Vec<PscEntry>,
    desc: PscDescriptor,
}

impl SnpAcceptor {
    /// An acceptor owning `owned`, all of it not yet validated.
    ///
    /// # Safety
    /// Every page in `owned` must be guest memory that no Rust object lives in and that nothing but
    /// this acceptor validates, invalidates or changes the state of while it exists; in particular
    /// none of it is Warden's image, stacks, heap, page tables or GHCB, and none of it was validated
    /// before (at launch or by another acceptor). The acceptor will validate these pages, and relies
    /// on this to argue that the hypervisor, not we, is at fault when PVALIDATE finds one validated.
    #[allow(unsafe_code)]
    pub unsafe fn new(owned: &[GpaRange]) -> Self {
        Self {
            ledger: Ledger::new(owned),
            batch: Vec::with_capacity(PSC_MAX_ENTRIES),
            entries: Vec::with_capacity(PSC_MAX_ENTRIES),
            desc: PscDescriptor::zeroed(),
        }
    }

    /// Times bookkeeping with `clock` (see [`AcceptStats::bookkeeping_ns`]).
    pub fn set_clock(&mut self, clock: Clock) {
        self.ledger.set_clock(clock);
    }

    /// What has been issued so far.
    pub fn stats(&self) -> AcceptStats {
        self.ledger.stats
    }

    /// The page-state map.
    pub fn tracker(&self) -> &PageTracker {
        &self.ledger.tracker
    }

    /// Validates everything owned.
    pub fn accept_all<P: SnpMemory>(&mut self, platform: &mut P) -> Result<(), AcceptError> {
        let owned = self.ledger.tracker.owned().to_vec();
        self.accept_ranges(platform, &owned)
    }

    /// Validates `range` on demand; pages already validated are skipped (and cost nothing).
    pub fn accept_range<P: SnpMemory>(
        &mut self,
        platform: &mut P,
        range: GpaRange,
    ) -> Result<(), AcceptError> {
        self.accept_ranges(platform, &[range])
    }

    /// Validates every page of `ranges` not yet validated, batching page-state changes across ranges.
    pub fn accept_ranges<P: SnpMemory>(
        &mut self,
        platform: &mut P,
        ranges: &[GpaRange],
    ) -> Result<(), AcceptError> {
        let ranges = self.ledger.owned_ranges(ranges)?;
        self.batch.clear();
        for range in ranges {
            let mut gpa = range.start();
            while gpa < range.end() {
                let t = self.ledger.tick();
                let (run_end, accepted) = self.ledger.tracker.run_at(gpa, range.end());
                self.ledger.tock(t);
                if !accepted {
                    for (at, size) in Chunks::new(gpa, run_end, SNP_SIZES) {
                        if self.batch.len() == PSC_MAX_ENTRIES {
                            self.flush(platform)?;
                        }
                        self.batch
                            .push((at, if size == LARGE { PageSize::Size2M } else { PageSize::Size4K }));
                    }
                }
                gpa = run_end;
            }
        }
        self.flush(platform)
    }

    /// One exit for the batch, then a PVALIDATE per page; marks what was validated, even on error.
    #[allow(unsafe_code)]
    fn flush<P: SnpMemory>(&mut self, platform: &mut P) -> Result<(), AcceptError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.entries.clear();
        self.entries.extend(
            self.batch
                .iter()
                .map(|(gpa, size)| PscEntry::new(gpa / PAGE, PscOp::PRIVATE, *size == PageSize::Size2M)),
        );
        // SAFETY: the batch holds only owned pages the tracker shows unvalidated; by `new`'s contract
        // no Rust object lives in them.
        unsafe { psc::run(platform, &mut self.desc, &self.entries, &mut self.ledger.stats) }?;
        let batch = core::mem::take(&mut self.batch);
        let mut done: Option<(u64, u64)> = None;
        let mut result = Ok(());
        for (gpa, size) in batch.iter().copied() {
            if let Err(e) = self.validate(platform, gpa, size) {
                result = Err(e);
                break;
            }
            done = match done {
                Some((s, e)) if e == gpa => Some((s, e + size.bytes())),
                Some((s, e)) => {
                    self.ledger.mark(s, e, true);
                    Some((gpa, gpa + size.bytes()))
                }
                None => Some((gpa, gpa + size.bytes())),
            };
        }
        if let Some((s, e)) = done {
            self.ledger.mark(s, e, true);
        }
        self.batch = batch;
        self.batch.clear();
        result
    }

    /// PVALIDATEs one planned page that was just made private. Size mismatches fall back: a 2 MiB
    /// request on 4 KiB RMP entries becomes 512 4 KiB ones; a 4 KiB request on a 2 MiB RMP entry
    /// asks the hypervisor to PSMASH it, then retries once.
    #[allow(unsafe_code)]
    fn validate<P: SnpMemory>(
        &mut self,
        platform: &mut P,
        gpa: u64,
        size: PageSize,
    ) -> Result<(), AcceptError> {
        self.ledger.stats.pvalidate += 1;
        // SAFETY: `gpa` is an owned page (`new`'s contract: no Rust object in it) that the tracker
        // shows unvalidated, so validating cannot alias a page we validated elsewhere.
        match unsafe { platform.pvalidate(gpa, size, true) } {
            Err(PvalidateError::FailSizeMismatch) if size == PageSize::Size2M => {
                self.ledger.stats.fallbacks += 1;
                for i in 0..LARGE / PAGE {
                    if let Err(e) = self.validate(platform, gpa + i * PAGE, PageSize::Size4K) {
                        // The pages before this one are validated: track them, never validate twice.
                        if i > 0 {
                            self.ledger.mark(gpa, gpa + i * PAGE, true);
                        }
                        return Err(e);
                    }
                }
                Ok(())
            }
            Err(PvalidateError::FailSizeMismatch) => {
                self.ledger.stats.fallbacks += 1;
                let smash = [PscEntry::new((gpa & !(LARGE - 1)) / PAGE, PscOp::PSMASH, true)];
                // SAFETY: PSMASH only splits the RMP entry; every page keeps its assignment and
                // validated state, so no page in use changes.
                unsafe { psc::run(platform, &mut self.desc, &smash, &mut self.ledger.stats) }?;
                self.ledger.stats.pvalidate += 1;
                // SAFETY: as above for `gpa`.
                let retry = unsafe { platform.pvalidate(gpa, size, true) };
                outcome(gpa, retry)
            }
            other => outcome(gpa, other),
        }
    }
}

/// What a PVALIDATE that set the bit on a page we never validated means, fallbacks aside.
fn outcome(gpa: u64, r: Result<PvalidateOutcome, PvalidateError>) -> Result<(), AcceptError> {
    match r {
        Ok(PvalidateOutcome::Changed) => Ok(()),
        Ok(PvalidateOutcome::Unchanged) => Err(AcceptError::AlreadyValidated { gpa }),
        Err(PvalidateError::NotAssigned) => Err(AcceptError::NotPrivate { gpa }),
        Err(PvalidateError::FailSizeMismatch) => Err(AcceptError::Unexpected { gpa, code: 6 }),
        Err(PvalidateError::FailInput) => Err(AcceptError::Unexpected { gpa, code: 1 }),
        Err(PvalidateError::Unknown(code)) => Err(AcceptError::Unexpected { gpa, code: u64::from(code) }),
    }
}
