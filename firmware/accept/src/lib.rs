//! The memory acceptance engine: makes owned guest memory usable — SEV-SNP page-state change to
//! private plus PVALIDATE ([`snp::SnpAcceptor`]), or TDX TDG.MEM.PAGE.ACCEPT ([`tdx::TdxAcceptor`]) —
//! with as few instructions and hypervisor exits as the memory map allows.
//!
//! Rules (each has a test in `tests/`):
//! 1. The largest page size alignment allows: 2 MiB on SNP, 1 GiB on TDX, 4 KiB only at the edges
//!    ([`plan`]). A size mismatch falls back to the next smaller size.
//! 2. SNP page-state changes go 253 entries per exit, using 2 MiB entries where aligned, batched
//!    across ranges ([`psc`]).
//! 3. The hypervisor's reply is an allegation: `cur_entry` must lie in bounds and advance on every
//!    exit, `end_entry` must be what we sent, and its rewritten entries are never read back; a
//!    partial completion is resumed from the checked `cur_entry` (COCONUT ignores it).
//! 4. Every owned page's state is tracked ([`tracker::PageTracker`]); a page is never validated or
//!    accepted twice, and PVALIDATE reporting "unchanged" for a page we never validated is treated as
//!    the double-validation attack it may be.
//! 5. TDX pages reported PAGE_ALREADY_ACCEPTED are zeroed by the engine (the TDX module does not).
//! 6. Memory beyond what Warden needs at boot is accepted on demand with `accept_range`.
//!
//! One implementation of rules 1-3 and 5: the allocation-free cores `snp_batch` and `tdx_page`
//! (fixed-capacity batches, no heap). The tracking acceptors add the page tracker (rule 4) on top;
//! [`early`] runs the same cores before the heap exists, for the heap itself, and returns an
//! [`Accepted`] proof the firmware's heap initialiser requires.
//!
//! Authority: an acceptor is a capability built by an `unsafe fn new`, whose contract is that the
//! owned memory is free (no Rust object lives in it) and belongs to this acceptor alone. Its own
//! methods are then safe; the unsafe platform calls inside carry `// SAFETY:` arguments from it.
//!
//! unsafe: denied crate-wide; allowed per function only to call the memory traits' `unsafe fn`s and to
//! declare the acceptors' and cores' own contracts, each call argued.
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

pub mod early;
mod ledger;
pub mod plan;
pub mod psc;
pub mod snp;
mod snp_batch;
pub mod tdx;
mod tdx_page;
pub mod tracker;

use warden_platform::memory::{MapGpaError, PscError};

pub use early::Accepted;
pub use psc::PscResponseError;

/// Who is at fault for an [`AcceptError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blame {
    /// The caller asked for something outside its contract (a range it does not own).
    Caller,
    /// The hypervisor (or VMM) refused, lied, or did not do what it reported.
    Hypervisor,
    /// The platform answered in a way our requests cannot cause: a bug in Warden.
    Warden,
}

/// Why acceptance stopped. Pages accepted before the error stay accepted and tracked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcceptError {
    /// Caller: the range is not wholly inside the owned memory map.
    NotOwned {
        /// The range's start.
        gpa: u64,
    },
    /// Hypervisor: it refused a page-state change.
    PscRefused(PscError),
    /// Hypervisor: its page-state-change reply failed the checks.
    PscResponse(PscResponseError),
    /// Hypervisor: it reported a page private but PVALIDATE finds it unassigned.
    NotPrivate {
        /// The page.
        gpa: u64,
    },
    /// Hypervisor (remapping attack): PVALIDATE says the page was already validated, yet we never
    /// validated it since it was last made private.
    AlreadyValidated {
        /// The page.
        gpa: u64,
    },
    /// Hypervisor: TDX accept kept answering OPERAND_BUSY.
    Busy {
        /// The page.
        gpa: u64,
    },
    /// Hypervisor: the TDX module calls the GPA invalid (not private TD memory, or shared).
    NotTdPrivate {
        /// The page.
        gpa: u64,
    },
    /// Hypervisor: MapGPA refused.
    MapGpa(MapGpaError),
    /// Hypervisor: MapGPA asked to resume outside the range or without progress.
    MapGpaResume {
        /// The GPA it alleged.
        gpa: u64,
    },
    /// Warden: an answer our well-formed request cannot produce (the platform's raw code).
    Unexpected {
        /// The page.
        gpa: u64,
        /// What came back (PVALIDATE/RMPADJUST EAX, or the TDX status).
        code: u64,
    },
}

impl AcceptError {
    /// Who is at fault.
    pub const fn blame(self) -> Blame {
        match self {
            AcceptError::NotOwned { .. } => Blame::Caller,
            AcceptError::Unexpected { .. } => Blame::Warden,
            _ => Blame::Hypervisor,
        }
    }
}

/// What an acceptor has issued and spent, for tests and the benchmark.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AcceptStats {
    /// PVALIDATE instructions issued.
    pub pvalidate: u64,
    /// Page-state-change exits issued.
    pub psc_exits: u64,
    /// TDG.MEM.PAGE.ACCEPT calls issued.
    pub tdx_accepts: u64,
    /// Size-mismatch fallbacks taken.
    pub fallbacks: u64,
    /// Bytes zeroed because the TDX module reported them already accepted.
    pub zeroed_bytes: u64,
    /// Nanoseconds spent in page-state bookkeeping (only when a clock was given).
    pub bookkeeping_ns: u64,
}

/// A monotonic nanosecond clock for [`AcceptStats::bookkeeping_ns`]; the firmware may pass none.
pub type Clock = fn() -> u64;
