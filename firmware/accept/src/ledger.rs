//! What both acceptors keep: the page-state map, the counters of what was issued, and the clock that
//! times the bookkeeping. One place, so the SNP and TDX engines differ only in how they accept.
use alloc::vec::Vec;

use warden_platform::memory::GpaRange;

use crate::tracker::{PageTracker, normalize};
use crate::{AcceptError, AcceptStats, Clock};

/// The state every acceptor keeps.
#[derive(Debug)]
pub struct Ledger {
    /// Which owned pages are accepted.
    pub tracker: PageTracker,
    /// What has been issued so far.
    pub stats: AcceptStats,
    clock: Option<Clock>,
}

impl Ledger {
    /// A ledger owning `owned`, none of it accepted.
    pub fn new(owned: &[GpaRange]) -> Self {
        Self { tracker: PageTracker::new(owned), stats: AcceptStats::default(), clock: None }
    }

    /// Times bookkeeping with `clock` (see [`AcceptStats::bookkeeping_ns`]).
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = Some(clock);
    }

    /// `ranges` sorted and merged, provided the acceptor owns all of them (nothing is issued otherwise:
    /// the caller asked wrongly).
    pub fn owned_ranges(&self, ranges: &[GpaRange]) -> Result<Vec<GpaRange>, AcceptError> {
        let ranges = normalize(ranges);
        match ranges.iter().find(|r| !self.tracker.owns(**r)) {
            Some(r) => Err(AcceptError::NotOwned { gpa: r.start() }),
            None => Ok(ranges),
        }
    }

    /// Records `[start, end)` as accepted (`value`) or not, timing it as bookkeeping.
    pub fn mark(&mut self, start: u64, end: u64, value: bool) {
        let t = self.tick();
        if let Some(r) = GpaRange::new(start, end) {
            self.tracker.set(r, value);
        }
        self.tock(t);
    }

    /// Starts timing a span of bookkeeping.
    pub fn tick(&self) -> u64 {
        self.clock.map_or(0, |c| c())
    }

    /// Ends a span started by [`Ledger::tick`].
    pub fn tock(&mut self, start: u64) {
        if let Some(c) = self.clock {
            self.stats.bookkeeping_ns += c().saturating_sub(start);
        }
    }
}

/// What the acceptance cores (`snp_batch`, `tdx_page`) record as they go: the
/// counters, and each span they have just accepted (so a page accepted before an error is known).
pub(crate) trait Bookkeeping {
    /// The counters to add to.
    fn stats(&mut self) -> &mut AcceptStats;
    /// `[start, end)` is now accepted.
    fn accepted(&mut self, start: u64, end: u64);
}

impl Bookkeeping for Ledger {
    fn stats(&mut self) -> &mut AcceptStats {
        &mut self.stats
    }

    fn accepted(&mut self, start: u64, end: u64) {
        self.mark(start, end, true);
    }
}
