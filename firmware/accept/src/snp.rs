//! SEV-SNP acceptance with tracking: make owned pages private with batched page-state changes, then
//! PVALIDATE them, 2 MiB where aligned (the rules live in `snp_batch`), tracking every page so
//! none is validated twice.
use warden_platform::memory::{GpaRange, SnpMemory};

use crate::ledger::Ledger;
use crate::snp_batch::SnpBatch;
use crate::tracker::PageTracker;
use crate::{AcceptError, AcceptStats, Clock};

/// The SNP acceptor: the capability to validate the memory it owns.
#[derive(Debug)]
pub struct SnpAcceptor {
    ledger: Ledger,
    batch: SnpBatch,
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
        Self { ledger: Ledger::new(owned), batch: SnpBatch::new() }
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
    #[allow(unsafe_code)]
    pub fn accept_ranges<P: SnpMemory>(
        &mut self,
        platform: &mut P,
        ranges: &[GpaRange],
    ) -> Result<(), AcceptError> {
        let ranges = self.ledger.owned_ranges(ranges)?;
        for range in ranges {
            let mut gpa = range.start();
            while gpa < range.end() {
                let t = self.ledger.tick();
                let (run_end, accepted) = self.ledger.tracker.run_at(gpa, range.end());
                self.ledger.tock(t);
                if !accepted {
                    // SAFETY: the run is owned (`owned_ranges`) and the tracker shows it unvalidated;
                    // by `new`'s contract no Rust object lives in it.
                    unsafe { self.batch.plan(platform, &mut self.ledger, gpa, run_end) }?;
                }
                gpa = run_end;
            }
        }
        // SAFETY: as above, for the pages still planned.
        unsafe { self.batch.flush(platform, &mut self.ledger) }
    }
}
