//! Page-state changes through the GHCB: one exit per up to 253 entries, resumed after partial
//! completion, with the hypervisor's reply checked before anything in it is believed.
//!
//! Only the reply's header is read back. The entries we sent stay in private memory and are copied
//! into the descriptor again before every exit, so a hypervisor that rewrites them (to make us ask
//! for a different page on resume) changes nothing.
use warden_defs::psc::{PSC_MAX_ENTRIES, PscDescriptor, PscEntry, PscHeader};
use warden_platform::memory::SnpMemory;
use zerocopy::FromBytes;

use crate::{AcceptError, AcceptStats};

/// Why a page-state-change reply was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PscResponseError {
    /// Fewer bytes than a header.
    Truncated,
    /// The reserved header field is not zero.
    ReservedSet,
    /// `end_entry` differs from what we sent.
    EndChanged {
        /// What came back.
        end_entry: u16,
    },
    /// `cur_entry` beyond `end_entry + 1`: it claims work on entries we never sent.
    OutOfBounds {
        /// What came back.
        cur_entry: u16,
    },
    /// `cur_entry` did not advance past where this exit started (a stall or a rewind).
    NoProgress {
        /// What came back.
        cur_entry: u16,
    },
}

/// What a valid reply says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PscProgress {
    /// Every entry is done.
    Done,
    /// Entries before `resume_at` are done; call again from there.
    Partial {
        /// The next entry to process; strictly greater than where the exit started.
        resume_at: u16,
    },
}

/// Checks the hypervisor's reply header against the header we `sent`.
pub fn check_reply(sent: PscHeader, reply: PscHeader) -> Result<PscProgress, PscResponseError> {
    if reply.reserved != 0 {
        return Err(PscResponseError::ReservedSet);
    }
    if reply.end_entry != sent.end_entry {
        return Err(PscResponseError::EndChanged { end_entry: reply.end_entry });
    }
    let done = u32::from(sent.end_entry) + 1;
    let cur = u32::from(reply.cur_entry);
    if cur > done {
        return Err(PscResponseError::OutOfBounds { cur_entry: reply.cur_entry });
    }
    if cur <= u32::from(sent.cur_entry) {
        return Err(PscResponseError::NoProgress { cur_entry: reply.cur_entry });
    }
    Ok(if cur == done { PscProgress::Done } else { PscProgress::Partial { resume_at: reply.cur_entry } })
}

/// [`check_reply`] on the raw bytes the hypervisor left in the shared buffer (the fuzzed surface).
pub fn check_reply_bytes(sent: PscHeader, reply: &[u8]) -> Result<PscProgress, PscResponseError> {
    let (header, _) = PscHeader::read_from_prefix(reply).map_err(|_| PscResponseError::Truncated)?;
    check_reply(sent, header)
}

/// Runs one batch (1..=253 entries) to completion: exits until the hypervisor reports every entry
/// done, at most `entries.len()` times since each accepted reply advances `cur_entry`.
///
/// # Safety
/// Every page the entries name must be owned by the caller with no Rust reference into it.
#[allow(unsafe_code)]
pub(crate) unsafe fn run<P: SnpMemory>(
    platform: &mut P,
    desc: &mut PscDescriptor,
    entries: &[PscEntry],
    stats: &mut AcceptStats,
) -> Result<(), AcceptError> {
    let Some(last) = entries.len().checked_sub(1).filter(|l| *l < PSC_MAX_ENTRIES) else {
        return Ok(());
    };
    // `last` < 253, so it fits in u16.
    let end_entry = last as u16;
    let mut cur_entry = 0u16;
    loop {
        let sent = PscHeader { cur_entry, end_entry, reserved: 0 };
        desc.header = sent;
        // Re-copied on every exit: the hypervisor may have rewritten the shared buffer.
        if let Some(slots) = desc.entries.get_mut(..entries.len()) {
            slots.copy_from_slice(entries);
        }
        stats.psc_exits += 1;
        // SAFETY: the caller guarantees the named pages are its own and unreferenced; the descriptor
        // names only `entries`, from `cur_entry`, which was checked to lie within them.
        unsafe { platform.page_state_change(desc) }.map_err(AcceptError::PscRefused)?;
        match check_reply(sent, desc.header).map_err(AcceptError::PscResponse)? {
            PscProgress::Done => return Ok(()),
            PscProgress::Partial { resume_at } => cur_entry = resume_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENT: PscHeader = PscHeader { cur_entry: 3, end_entry: 9, reserved: 0 };

    fn reply(cur_entry: u16, end_entry: u16) -> PscHeader {
        PscHeader { cur_entry, end_entry, reserved: 0 }
    }

    /// Threat model T2.
    #[test]
    fn reply_must_advance_within_bounds() {
        assert_eq!(check_reply(SENT, reply(10, 9)), Ok(PscProgress::Done));
        assert_eq!(check_reply(SENT, reply(4, 9)), Ok(PscProgress::Partial { resume_at: 4 }));
        assert_eq!(check_reply(SENT, reply(3, 9)), Err(PscResponseError::NoProgress { cur_entry: 3 }));
        assert_eq!(check_reply(SENT, reply(1, 9)), Err(PscResponseError::NoProgress { cur_entry: 1 }));
        assert_eq!(check_reply(SENT, reply(11, 9)), Err(PscResponseError::OutOfBounds { cur_entry: 11 }));
        assert_eq!(check_reply(SENT, reply(10, 12)), Err(PscResponseError::EndChanged { end_entry: 12 }));
        let reserved = PscHeader { reserved: 1, ..reply(10, 9) };
        assert_eq!(check_reply(SENT, reserved), Err(PscResponseError::ReservedSet));
    }

    /// Threat model T1.
    #[test]
    fn reply_bytes_are_parsed_without_trusting_length() {
        assert_eq!(check_reply_bytes(SENT, &[10, 0, 9, 0, 0, 0, 0]), Err(PscResponseError::Truncated));
        assert_eq!(check_reply_bytes(SENT, &[10, 0, 9, 0, 0, 0, 0, 0, 0xFF]), Ok(PscProgress::Done));
        assert_eq!(
            check_reply_bytes(SENT, &[0xFF, 0xFF, 9, 0, 0, 0, 0, 0]),
            Err(PscResponseError::OutOfBounds { cur_entry: 0xFFFF })
        );
    }
}
