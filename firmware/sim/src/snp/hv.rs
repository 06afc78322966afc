//! The simulated hypervisor's side of a page-state change, honest or told to misbehave.
//!
//! An honest hypervisor processes entries from `cur_entry` to `end_entry`, advancing `cur_entry` past
//! each, and stops at the first invalid one with an error. Its RMP updates are those of RMPUPDATE:
//! making a page private assigns it with the validated bit clear; making it shared takes it back.
use warden_defs::psc::{
    PSC_ERROR_INVALID_ENTRY, PSC_ERROR_INVALID_HEADER, PSC_MAX_ENTRIES, PscDescriptor, PscEntry, PscOp,
};
use warden_platform::memory::PscError;

use super::SimSnp;
use crate::{LARGE, PAGE, RmpEntry, in_ram};

/// How the simulated hypervisor answers page-state changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PscBehavior {
    /// Does everything asked.
    Honest,
    /// Processes at most `per_exit` entries per exit and reports `cur_entry` truthfully.
    Partial {
        /// Entries per exit.
        per_exit: u16,
    },
    /// Processes `per_exit` entries but claims `claimed` (more) were done.
    OverReport {
        /// Entries actually processed per exit.
        per_exit: u16,
        /// Entries it says it processed.
        claimed: u16,
    },
    /// Processes nothing and returns with `cur_entry` unchanged.
    Stall,
    /// Processes everything, then writes this `cur_entry` back.
    SetCurEntry(u16),
    /// Processes everything, then writes this `end_entry` back.
    SetEndEntry(u16),
    /// Processes `per_exit` entries, then overwrites the rest of the shared buffer's entries with
    /// entries of its own (which a guest that re-reads them would then send).
    CorruptEntries {
        /// Entries processed per exit.
        per_exit: u16,
    },
    /// Refuses the request with this sw_exit_info_2, doing nothing.
    Fail(u64),
}

impl SimSnp {
    pub(super) fn serve_psc(&mut self, desc: &mut PscDescriptor) -> Result<(), PscError> {
        let hdr = desc.header;
        if usize::from(hdr.end_entry) >= PSC_MAX_ENTRIES || hdr.cur_entry > hdr.end_entry || hdr.reserved != 0
        {
            return Err(PscError::from_exit_info2(PSC_ERROR_INVALID_HEADER));
        }
        let (limit, claim_extra) = match self.psc_behavior {
            PscBehavior::Fail(code) => return Err(PscError::from_exit_info2(code)),
            PscBehavior::Stall => return Ok(()),
            PscBehavior::Partial { per_exit } | PscBehavior::CorruptEntries { per_exit } => (per_exit, 0),
            PscBehavior::OverReport { per_exit, claimed } => (per_exit, claimed.saturating_sub(per_exit)),
            PscBehavior::Honest | PscBehavior::SetCurEntry(_) | PscBehavior::SetEndEntry(_) => (u16::MAX, 0),
        };
        let mut done = 0u16;
        while desc.header.cur_entry <= hdr.end_entry && done < limit {
            let entry = desc.entries[usize::from(desc.header.cur_entry)];
            if !self.apply(entry) {
                return Err(PscError::from_exit_info2(PSC_ERROR_INVALID_ENTRY));
            }
            self.counters.psc_entries_done += 1;
            desc.header.cur_entry += 1;
            done += 1;
        }
        desc.header.cur_entry = desc.header.cur_entry.saturating_add(claim_extra);
        match self.psc_behavior {
            PscBehavior::SetCurEntry(c) => desc.header.cur_entry = c,
            PscBehavior::SetEndEntry(e) => desc.header.end_entry = e,
            PscBehavior::CorruptEntries { .. } => {
                for e in desc.entries.iter_mut().skip(usize::from(desc.header.cur_entry)) {
                    *e = PscEntry::new(0x1234, PscOp::SHARED, false);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Applies one entry to the RMP; false if the entry is invalid.
    fn apply(&mut self, entry: PscEntry) -> bool {
        let gpa = entry.gpa();
        let size = if entry.is_2m() { LARGE } else { PAGE };
        if entry.reserved() != 0
            || entry.cur_page() != 0
            || !gpa.is_multiple_of(size)
            || !in_ram(&self.ram, gpa, size)
        {
            return false;
        }
        match (entry.op(), entry.is_2m()) {
            (PscOp::PRIVATE, true) if self.psc_backs_2m_with_4k => {
                self.rmp.set_small_all(gpa, RmpEntry::fresh_private())
            }
            (PscOp::PRIVATE, true) => self.rmp.set_large(gpa, RmpEntry::fresh_private()),
            (PscOp::PRIVATE, false) if self.psc_assigns_2m_for_4k => {
                self.rmp.set_large(gpa & !(LARGE - 1), RmpEntry::fresh_private())
            }
            (PscOp::PRIVATE, false) => self.rmp.set_small(gpa, RmpEntry::fresh_private()),
            (PscOp::SHARED, true) => self.rmp.set_large(gpa, RmpEntry::default()),
            (PscOp::SHARED, false) => self.rmp.set_small(gpa, RmpEntry::default()),
            (PscOp::PSMASH, true) => return self.rmp.psmash(gpa),
            (PscOp::UNSMASH, true) => return self.rmp.unsmash(gpa),
            _ => return false,
        }
        // The page changed hands: whatever the guest had in it is gone.
        self.data.clear(gpa, size);
        true
    }
}
