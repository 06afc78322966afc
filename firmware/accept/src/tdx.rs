//! TDX acceptance with tracking: TDG.MEM.PAGE.ACCEPT at 1 GiB where aligned (the rules: fallback,
//! busy retry, zeroing, live in `tdx_page`), tracking every page; and MapGPA conversion.
use warden_platform::memory::{GpaRange, MapGpaOutcome, TdxMemory};

use crate::ledger::Ledger;
use crate::tdx_page::accept_run;
use crate::tracker::PageTracker;
use crate::{AcceptError, AcceptStats, Clock};

pub use crate::tdx_page::BUSY_RETRIES;

/// The TDX acceptor: the capability to accept the memory it owns.
#[derive(Debug)]
pub struct TdxAcceptor {
    ledger: Ledger,
}

impl TdxAcceptor {
    /// An acceptor owning `owned`, none of it accepted as far as it knows.
    ///
    /// # Safety
    /// Every page in `owned` must be memory no Rust object lives in and that nothing but this acceptor
    /// accepts or converts while it exists (not Warden's image, stacks, heap or page tables): the
    /// acceptor zeroes pages as it accepts them, including pages the TDX module says were accepted
    /// before (added at build time, or by an earlier stage).
    #[allow(unsafe_code)]
    pub unsafe fn new(owned: &[GpaRange]) -> Self {
        Self { ledger: Ledger::new(owned) }
    }

    /// Times bookkeeping with `clock`.
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

    /// Accepts everything owned.
    pub fn accept_all<P: TdxMemory>(&mut self, platform: &mut P) -> Result<(), AcceptError> {
        let owned = self.ledger.tracker.owned().to_vec();
        self.accept_ranges(platform, &owned)
    }

    /// Accepts `range` on demand; pages already accepted are skipped.
    pub fn accept_range<P: TdxMemory>(
        &mut self,
        platform: &mut P,
        range: GpaRange,
    ) -> Result<(), AcceptError> {
        self.accept_ranges(platform, &[range])
    }

    /// Accepts every page of `ranges` not yet accepted.
    #[allow(unsafe_code)]
    pub fn accept_ranges<P: TdxMemory>(
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
                    // SAFETY: the run is owned (`owned_ranges`) and the tracker shows it unaccepted;
                    // by `new`'s contract no Rust object lives in it.
                    unsafe { accept_run(platform, &mut self.ledger, gpa, run_end) }?;
                }
                gpa = run_end;
            }
        }
        Ok(())
    }

    /// Converts owned `range` to shared (or back to private, pending) with MapGPA, resuming after
    /// partial completion only from a GPA inside the range and past the last start. The pages are no
    /// longer accepted afterwards either way.
    ///
    /// # Safety
    /// No Rust reference may point into `range`: its private contents are dropped, and shared pages
    /// are readable and writable by the VMM.
    #[allow(unsafe_code)]
    pub unsafe fn convert_range<P: TdxMemory>(
        &mut self,
        platform: &mut P,
        range: GpaRange,
        shared: bool,
    ) -> Result<(), AcceptError> {
        if !self.ledger.tracker.owns(range) {
            return Err(AcceptError::NotOwned { gpa: range.start() });
        }
        let mut rest = range;
        loop {
            // SAFETY: the caller guarantees no reference into `range`, and `rest` lies inside it.
            let out = unsafe { platform.map_gpa(rest, shared) };
            // Whatever happened, the VMM may have converted part of it: it is not accepted now.
            self.ledger.mark(range.start(), range.end(), false);
            match out.map_err(AcceptError::MapGpa)? {
                MapGpaOutcome::Done => return Ok(()),
                MapGpaOutcome::Retry { resume_at } => {
                    if resume_at <= rest.start() || resume_at >= rest.end() {
                        return Err(AcceptError::MapGpaResume { gpa: resume_at });
                    }
                    rest = GpaRange::new(resume_at, rest.end())
                        .ok_or(AcceptError::MapGpaResume { gpa: resume_at })?;
                }
            }
        }
    }
}
