//! The TCG crypto-agile event log (TCG PC Client PFP 1.05 §10.2, "Crypto Agile Log Entry Format"): what
//! was extended into which PCR, so that a verifier can replay the PCRs from it.
//!
//! The log starts with the Spec ID event in the SHA-1 format (EV_NO_ACTION, "Spec ID Event03", listing
//! the digest algorithms); every later entry is a TCG_PCR_EVENT2 carrying one digest per listed
//! algorithm. The list must name every active PCR bank, or a replay of a bank it leaves out cannot
//! match what the TPM reads back. Integers are little-endian; digests are the raw hash bytes.
//!
//! [`EventLog`] writes a log; [`parse`] reads one back and [`ParsedLog::replay`] recomputes a PCR from
//! it, as `tpm2_eventlog` does (the StartupLocality event sets PCR 0's initial last byte).
mod parse;
pub mod wire;

use alloc::vec::Vec;
use zerocopy::IntoBytes;

use crate::crypto::{Digest, HashAlg};
pub use parse::{LogError, ParsedEvent, ParsedLog, parse};
use wire::{
    AlgorithmSize, EV_NO_ACTION, PLATFORM_CLASS_CLIENT, PcClientPcrEventHeader, PcrEvent2Header,
    SPEC_ERRATA_PFP_105, SPEC_ID_SIGNATURE, SPEC_VERSION, STARTUP_LOCALITY_SIGNATURE, SpecIdEventHeader,
    StartupLocalityEvent, UINTN_SIZE_64,
};

/// A log being written. Every event carries a digest for each of its banks, in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventLog {
    banks: Vec<HashAlg>,
    bytes: Vec<u8>,
}

impl EventLog {
    /// A log whose events carry digests of `banks`, starting with the Spec ID event that lists them.
    pub fn new(banks: &[HashAlg]) -> EventLog {
        let mut algorithms = Vec::new();
        for alg in banks {
            let entry =
                AlgorithmSize { algorithm_id: alg.id().0.into(), digest_size: (alg.size() as u16).into() };
            algorithms.extend_from_slice(entry.as_bytes());
        }
        let spec_id = SpecIdEventHeader {
            signature: SPEC_ID_SIGNATURE,
            platform_class: PLATFORM_CLASS_CLIENT.into(),
            spec_version_minor: SPEC_VERSION.1,
            spec_version_major: SPEC_VERSION.0,
            spec_errata: SPEC_ERRATA_PFP_105,
            uintn_size: UINTN_SIZE_64,
            number_of_algorithms: (banks.len() as u32).into(),
        };
        // The event data: the Spec ID header, the algorithms, vendorInfoSize = 0 and no vendor info.
        let data_size = size_of::<SpecIdEventHeader>() + algorithms.len() + 1;
        let header = PcClientPcrEventHeader {
            pcr_index: 0.into(),
            event_type: EV_NO_ACTION.into(),
            digest: [0; 20],
            event_data_size: (data_size as u32).into(),
        };
        let mut bytes = Vec::with_capacity(size_of::<PcClientPcrEventHeader>() + data_size);
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(spec_id.as_bytes());
        bytes.extend_from_slice(&algorithms);
        bytes.push(0);
        EventLog { banks: banks.to_vec(), bytes }
    }

    /// The banks every event has a digest for.
    pub fn banks(&self) -> &[HashAlg] {
        &self.banks
    }

    /// The EV_NO_ACTION Startup Locality event: PCR 0 started from 0…0`locality` (4 after an H-CRTM).
    /// Its digests are zero: it extends nothing.
    pub fn startup_locality(&mut self, locality: u8) {
        let data = StartupLocalityEvent { signature: STARTUP_LOCALITY_SIGNATURE, startup_locality: locality };
        let zeros: Vec<(HashAlg, Digest)> =
            self.banks.iter().map(|&alg| (alg, Digest::zeros(alg.size()))).collect();
        self.record(0, EV_NO_ACTION, &zeros, data.as_bytes());
    }

    /// One TCG_PCR_EVENT2: `pcr`, `event_type`, the `digests` (one per bank, as extended) and the event
    /// data.
    pub fn record(&mut self, pcr: u32, event_type: u32, digests: &[(HashAlg, Digest)], data: &[u8]) {
        let header = PcrEvent2Header {
            pcr_index: pcr.into(),
            event_type: event_type.into(),
            digest_count: (digests.len() as u32).into(),
        };
        self.bytes.extend_from_slice(header.as_bytes());
        for (alg, digest) in digests {
            self.bytes.extend_from_slice(&alg.id().0.to_le_bytes());
            self.bytes.extend_from_slice(digest.as_slice());
        }
        self.bytes.extend_from_slice(&(data.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(data);
    }

    /// The log's bytes, as a verifier or `tpm2_eventlog` reads them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The log's bytes, taken.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}
