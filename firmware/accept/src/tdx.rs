//! TDX acceptance: TDG.MEM.PAGE.ACCEPT at 1 GiB where aligned, falling back to 2 MiB and 4 KiB on size
//! mismatch, zeroing pages the TDX module reports already accepted, tracking every page.
use warden_platform::memory::{GpaRange, MapGpaOutcome, TdxAcceptError, TdxLevel, TdxMemory};

use crate::ledger::Ledger;
use crate::plan::{Chunks, TDX_SIZES};
use crate::tracker::PageTracker;
use crate::{AcceptError, AcceptStats, Clock};

/// OPERAND_BUSY retries per page before blaming the VMM (busy means another vCPU or the VMM holds
/// the Secure EPT entry; it clears in a few tries when the VMM is honest).
pub const BUSY_RETRIES: u32 = 64;

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
                    // Mark what was accepted even when a later page fails: never accept twice.
                    let mut done = gpa;
                    let mut result = Ok(());
                    for (at, size) in Chunks::new(gpa, run_end, TDX_SIZES) {
                        let level = match size {
                            0x4000_0000 => TdxLevel::Size1G,
                            0x20_0000 => TdxLevel::Size2M,
                            _ => TdxLevel::Size4K,
                        };
                        if let Err(e) = self.accept_page(platform, at, level) {
                            result = Err(e);
                            break;
                        }
                        done = at + size;
                    }
                    self.ledger.mark(gpa, done, true);
                    result?;
                }
                gpa = run_end;
            }
        }
        Ok(())
    }

    /// Accepts one page, falling back to smaller levels on size mismatch, retrying while busy, and
    /// zeroing it when it was already accepted.
    #[allow(unsafe_code)]
    fn accept_page<P: TdxMemory>(
        &mut self,
        platform: &mut P,
        gpa: u64,
        level: TdxLevel,
    ) -> Result<(), AcceptError> {
        let mut busy = 0;
        loop {
            self.ledger.stats.tdx_accepts += 1;
            // SAFETY: `gpa` is owned by this acceptor (`new`'s contract: no Rust object lives in it)
            // and not yet accepted by us; accepting zeroes it, which nothing can observe.
            match unsafe { platform.accept(gpa, level) } {
                Ok(()) => return Ok(()),
                Err(TdxAcceptError::AlreadyAccepted) => {
                    // SAFETY: the page is accepted (the TDX module just said so), owned, unreferenced.
                    unsafe { platform.zero(gpa, level.bytes()) };
                    self.ledger.stats.zeroed_bytes += level.bytes();
                    return Ok(());
                }
                Err(TdxAcceptError::SizeMismatch) => {
                    let Some(smaller) = level.smaller() else {
                        return Err(AcceptError::Unexpected { gpa, code: 0xC000_0B0B_0000_0000 });
                    };
                    self.ledger.stats.fallbacks += 1;
                    let step = smaller.bytes();
                    return (0..level.bytes() / step)
                        .try_for_each(|i| self.accept_page(platform, gpa + i * step, smaller));
                }
                Err(TdxAcceptError::OperandBusy) if busy < BUSY_RETRIES => busy += 1,
                Err(TdxAcceptError::OperandBusy) => return Err(AcceptError::Busy { gpa }),
                Err(TdxAcceptError::OperandInvalid) => return Err(AcceptError::NotTdPrivate { gpa }),
                Err(TdxAcceptError::Other(code)) => return Err(AcceptError::Unexpected { gpa, code }),
            }
        }
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
