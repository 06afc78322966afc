//! Reading a crypto-agile event log back and replaying its PCRs: the verifier's side of `EventLog`, used
//! by the tests and by host tools. Every length is checked against what is left; nothing panics.
use alloc::vec::Vec;
use zerocopy::FromBytes;

use super::wire::{
    AlgorithmSize, EV_NO_ACTION, PcClientPcrEventHeader, PcrEvent2Header, SPEC_ID_SIGNATURE,
    STARTUP_LOCALITY_SIGNATURE, SpecIdEventHeader, StartupLocalityEvent,
};
use crate::crypto::{Digest, HashAlg};
use crate::wire::alg_id::AlgId;

/// Why a log does not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogError {
    /// The bytes end inside a structure.
    Truncated,
    /// The first event is not an EV_NO_ACTION "Spec ID Event03" on PCR 0 with a zero digest.
    NotCryptoAgile,
    /// An event carries an algorithm the Spec ID event does not list, or a digest count that differs
    /// from the listed algorithms.
    DigestMismatch,
}

/// One TCG_PCR_EVENT2 as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedEvent {
    /// The PCR.
    pub pcr: u32,
    /// The event type.
    pub event_type: u32,
    /// The digests, in log order.
    pub digests: Vec<(AlgId, Vec<u8>)>,
    /// The event data.
    pub data: Vec<u8>,
}

/// A parsed log: the Spec ID event's algorithms and the events after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedLog {
    /// (TPM_ALG_ID, digest size) from the Spec ID event.
    pub algorithms: Vec<(AlgId, u16)>,
    /// Every event after the Spec ID event.
    pub events: Vec<ParsedEvent>,
}

/// Splits `n` bytes off the front of `rest`.
fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], LogError> {
    let (head, tail) = rest.split_at_checked(n).ok_or(LogError::Truncated)?;
    *rest = tail;
    Ok(head)
}

fn read<T: FromBytes>(rest: &mut &[u8]) -> Result<T, LogError> {
    let (value, tail) = T::read_from_prefix(rest).map_err(|_| LogError::Truncated)?;
    *rest = tail;
    Ok(value)
}

/// Parses a whole log.
pub fn parse(bytes: &[u8]) -> Result<ParsedLog, LogError> {
    let mut rest = bytes;
    let first: PcClientPcrEventHeader = read(&mut rest)?;
    if first.pcr_index.get() != 0 || first.event_type.get() != EV_NO_ACTION || first.digest != [0; 20] {
        return Err(LogError::NotCryptoAgile);
    }
    let mut spec = take(&mut rest, first.event_data_size.get() as usize)?;
    let header: SpecIdEventHeader = read(&mut spec)?;
    if header.signature != SPEC_ID_SIGNATURE {
        return Err(LogError::NotCryptoAgile);
    }
    let mut algorithms = Vec::new();
    for _ in 0..header.number_of_algorithms.get() {
        let entry: AlgorithmSize = read(&mut spec)?;
        algorithms.push((AlgId(entry.algorithm_id.get()), entry.digest_size.get()));
    }
    let vendor_size = *take(&mut spec, 1)?.first().ok_or(LogError::Truncated)?;
    take(&mut spec, usize::from(vendor_size))?;

    let mut events = Vec::new();
    while !rest.is_empty() {
        let header: PcrEvent2Header = read(&mut rest)?;
        if header.digest_count.get() as usize != algorithms.len() {
            return Err(LogError::DigestMismatch);
        }
        let mut digests = Vec::new();
        for _ in 0..algorithms.len() {
            let alg =
                AlgId(u16::from_le_bytes(take(&mut rest, 2)?.try_into().map_err(|_| LogError::Truncated)?));
            let size = algorithms.iter().find(|(a, _)| *a == alg).ok_or(LogError::DigestMismatch)?.1;
            digests.push((alg, take(&mut rest, usize::from(size))?.to_vec()));
        }
        let size = u32::from_le_bytes(take(&mut rest, 4)?.try_into().map_err(|_| LogError::Truncated)?);
        let data = take(&mut rest, size as usize)?.to_vec();
        events.push(ParsedEvent {
            pcr: header.pcr_index.get(),
            event_type: header.event_type.get(),
            digests,
            data,
        });
    }
    Ok(ParsedLog { algorithms, events })
}

impl ParsedLog {
    /// PCR `pcr` of `alg`'s bank as the log says it must read: zero (PCR 0: its last byte the startup
    /// locality, when a Startup Locality event names one), extended with each event's digest for that
    /// bank; EV_NO_ACTION events extend nothing.
    pub fn replay(&self, pcr: u32, alg: HashAlg) -> Digest {
        let mut value = Digest::zeros(alg.size());
        for event in self.events.iter().filter(|e| e.pcr == pcr) {
            if event.event_type == EV_NO_ACTION {
                let locality = StartupLocalityEvent::read_from_bytes(&event.data)
                    .ok()
                    .filter(|e| e.signature == STARTUP_LOCALITY_SIGNATURE);
                if let (0, Some(locality), Some(last)) = (pcr, locality, value.as_mut_slice().last_mut()) {
                    *last = locality.startup_locality;
                }
                continue;
            }
            if let Some((_, digest)) = event.digests.iter().find(|(a, _)| *a == alg.id()) {
                value = alg.digest(&[value.as_slice(), digest]);
            }
        }
        value
    }
}
