//! Fuzz target `psc_response`: arbitrary bytes as the hypervisor's page-state-change reply.
//!
//! Threat: the hypervisor writes back the GHCB shared buffer after every page-state-change exit and
//! may put anything there. Two properties are checked for every input:
//! 1. The reply check (`warden_accept::psc::check_reply_bytes`) never panics, and when it reports
//!    progress, the resume point lies strictly after where the exit started and within the request.
//! 2. The acceptor, served by a hypervisor whose every reply comes from the fuzz bytes, stops (with
//!    success or an error) within the number of entries it sent: a hostile `cur_entry` cannot make it
//!    loop, and every page it reports validated was passed to PVALIDATE.
use warden_accept::psc::{PscProgress, check_reply_bytes};
use warden_accept::snp::SnpAcceptor;
use warden_defs::psc::{PSC_MAX_ENTRIES, PscDescriptor, PscEntry, PscHeader};
use warden_platform::memory::{
    GpaRange, PageSize, PscError, PvalidateError, PvalidateOutcome, RmpadjustError, SnpMemory, VmplPerms,
};
use zerocopy::FromBytes;

/// The fuzzed acceptor's map: three batches, with 4 KiB and 2 MiB entries.
const MAP: (u64, u64) = (0x1FF_0000, 0x1FF_0000 + 0x60_0000);

/// A hypervisor whose replies are the fuzz input, 8 header bytes (then 8 entry bytes) at a time.
struct ScriptedHypervisor<'a> {
    replies: &'a [u8],
    exits: u64,
    validated: u64,
}

// Implementing the trait's `unsafe fn`s: the bodies only read the script (no unsafe operations).
#[allow(unsafe_code)]
impl SnpMemory for ScriptedHypervisor<'_> {
    unsafe fn pvalidate(
        &mut self,
        _: u64,
        size: PageSize,
        _: bool,
    ) -> Result<PvalidateOutcome, PvalidateError> {
        self.validated += size.bytes();
        Ok(PvalidateOutcome::Changed)
    }

    unsafe fn rmpadjust(
        &mut self,
        _: u64,
        _: PageSize,
        _: u8,
        _: VmplPerms,
        _: bool,
    ) -> Result<(), RmpadjustError> {
        Ok(())
    }

    unsafe fn page_state_change(&mut self, desc: &mut PscDescriptor) -> Result<(), PscError> {
        self.exits += 1;
        let Ok((header, rest)) = PscHeader::read_from_prefix(self.replies) else {
            return Err(PscError::Generic);
        };
        desc.header = header;
        // The hypervisor also scribbles over an entry: the acceptor must not care.
        if let (Ok((entry, rest)), Some(slot)) = (
            PscEntry::read_from_prefix(rest),
            desc.entries.get_mut(usize::from(header.end_entry) % PSC_MAX_ENTRIES),
        ) {
            *slot = entry;
            self.replies = rest;
        } else {
            self.replies = rest;
        }
        Ok(())
    }
}

/// The fuzz body.
/// Threat model T2.
pub fn psc_response(data: &[u8]) {
    // Property 1: the reply check alone, against a request derived from the first two bytes.
    let end_entry = u16::from(data.first().copied().unwrap_or(0)) % PSC_MAX_ENTRIES as u16;
    let cur_entry = u16::from(data.get(1).copied().unwrap_or(0)) % (end_entry + 1);
    let sent = PscHeader { cur_entry, end_entry, reserved: 0 };
    let reply = data.get(2..).unwrap_or(&[]);
    match check_reply_bytes(sent, reply) {
        Ok(PscProgress::Partial { resume_at }) => assert!(cur_entry < resume_at && resume_at <= end_entry),
        Ok(PscProgress::Done) => {
            let cur = reply.get(..2).and_then(|b| <[u8; 2]>::try_from(b).ok()).map(u16::from_le_bytes);
            assert_eq!(cur, Some(end_entry + 1));
        }
        Err(_) => {}
    }

    // Property 2: the whole acceptor against a scripted hostile hypervisor.
    let Some(range) = GpaRange::new(MAP.0, MAP.1) else { return };
    // SAFETY: the scripted platform has no memory behind any address; nothing can be corrupted.
    #[allow(unsafe_code)]
    let mut acceptor = unsafe { SnpAcceptor::new(&[range]) };
    let mut hv = ScriptedHypervisor { replies: reply, exits: 0, validated: 0 };
    let result = acceptor.accept_all(&mut hv);
    // The map is 16 × 4 KiB, 2 × 2 MiB, 496 × 4 KiB entries; an accepted reply advances by at least
    // one entry and a refused one ends the run, so there can be no more exits than entries.
    let entries = 16 + 2 + 496;
    assert!(hv.exits <= entries, "{} exits for {entries} entries", hv.exits);
    if result.is_ok() {
        assert_eq!(hv.validated, MAP.1 - MAP.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::IntoBytes;

    fn script(headers: &[(u16, u16)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (cur_entry, end_entry) in headers {
            out.extend_from_slice(
                PscHeader { cur_entry: *cur_entry, end_entry: *end_entry, reserved: 0 }.as_bytes(),
            );
            out.extend_from_slice(&[0; 8]);
        }
        out
    }

    fn run(replies: &[u8]) -> (Result<(), warden_accept::AcceptError>, ScriptedHypervisor<'_>) {
        let range = GpaRange::new(MAP.0, MAP.1).unwrap();
        // SAFETY: the scripted platform has no memory behind any address.
        #[allow(unsafe_code)]
        let mut acceptor = unsafe { SnpAcceptor::new(&[range]) };
        let mut hv = ScriptedHypervisor { replies, exits: 0, validated: 0 };
        let result = acceptor.accept_all(&mut hv);
        (result, hv)
    }

    #[test]
    fn the_script_reaches_success_and_each_refusal() {
        // Three batches: 253, 253 and 8 entries, with a partial completion in the first.
        let honest = script(&[(100, 252), (253, 252), (253, 252), (8, 7)]);
        let (result, hv) = run(&honest);
        assert_eq!((result, hv.exits, hv.validated), (Ok(()), 4, MAP.1 - MAP.0));
        let stall = script(&[(100, 252), (100, 252)]);
        let (result, hv) = run(&stall);
        assert!(result.is_err() && hv.exits == 2 && hv.validated == 0);
        let (result, _) = run(&script(&[(254, 252)]));
        assert!(result.is_err());
    }
}
