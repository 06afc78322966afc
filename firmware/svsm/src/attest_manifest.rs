//! The services manifest: which services Warden runs and what each one attests to, as the GUID table
//! SVSM_ATTEST_SERVICES returns and SHA-512(nonce ‖ manifest) binds into the report.
//!
//! Source: SVSM spec (AMD 58019), "Attestation Protocol", services manifest; COCONUT
//! `kernel/src/protocols/attest.rs` (`GuidTable`): a [`ServicesManifestHeader`], one
//! [`ServicesManifestEntry`] per service, then the services' data in entry order. A service with no
//! data of its own still appears, with length 0.
//!
//! The manifest's content comes from each service's owner (the vTPM's EK public area, for instance);
//! this module only lays it out, so what a guest is shown is exactly what the owner handed over.
use alloc::vec::Vec;
use warden_defs::attest::{SERVICES_MANIFEST_GUID, ServicesManifestEntry, ServicesManifestHeader};
use zerocopy::IntoBytes;

/// Why a service cannot be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestError {
    /// A service with this GUID is listed already.
    Duplicate,
    /// The manifest would outgrow the table's 32-bit lengths.
    TooLarge,
}

/// One service and its data.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Service {
    guid: [u8; 16],
    data: Vec<u8>,
}

/// The services Warden attests to, in the order they were added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceManifest {
    services: Vec<Service>,
}

const HEADER_SIZE: usize = size_of::<ServicesManifestHeader>();
const ENTRY_SIZE: usize = size_of::<ServicesManifestEntry>();

impl ServiceManifest {
    /// No services.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lists the service `guid` (EFI byte order) with `data` as its manifest.
    pub fn add(&mut self, guid: [u8; 16], data: &[u8]) -> Result<(), ManifestError> {
        if self.service(&guid).is_some() {
            return Err(ManifestError::Duplicate);
        }
        let grown = self.encoded_len().checked_add(ENTRY_SIZE).and_then(|n| n.checked_add(data.len()));
        if grown.is_none_or(|n| u32::try_from(n).is_err()) {
            return Err(ManifestError::TooLarge);
        }
        self.services.push(Service { guid, data: data.to_vec() });
        Ok(())
    }

    /// The data of service `guid` (what SVSM_ATTEST_SINGLE_SERVICE returns), if it is listed.
    pub fn service(&self, guid: &[u8; 16]) -> Option<&[u8]> {
        self.services.iter().find(|s| &s.guid == guid).map(|s| s.data.as_slice())
    }

    /// The table's length in bytes (fits a `u32`: [`ServiceManifest::add`] keeps it so).
    pub fn encoded_len(&self) -> usize {
        let data: usize = self.services.iter().map(|s| s.data.len()).sum();
        HEADER_SIZE + ENTRY_SIZE * self.services.len() + data
    }

    /// The GUID table SVSM_ATTEST_SERVICES returns.
    pub fn encode(&self) -> Vec<u8> {
        let total = self.encoded_len();
        let mut table = Vec::with_capacity(total);
        // `add` bounds the total, every offset and every length below it by `u32::MAX`.
        let header = ServicesManifestHeader {
            guid: SERVICES_MANIFEST_GUID,
            total_len: total as u32,
            count: self.services.len() as u32,
        };
        table.extend_from_slice(header.as_bytes());
        let mut offset = HEADER_SIZE + ENTRY_SIZE * self.services.len();
        for service in &self.services {
            let entry = ServicesManifestEntry {
                guid: service.guid,
                offset: offset as u32,
                len: service.data.len() as u32,
            };
            table.extend_from_slice(entry.as_bytes());
            offset += service.data.len();
        }
        for service in &self.services {
            table.extend_from_slice(&service.data);
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::{ManifestError, ServiceManifest};
    use warden_defs::attest::{SERVICES_MANIFEST_GUID, VTPM_SERVICE_GUID};

    #[test]
    fn the_table_lists_each_service_with_its_data_after_the_entries() {
        let mut manifest = ServiceManifest::new();
        manifest.add(VTPM_SERVICE_GUID, &[1, 2, 3]).unwrap();
        manifest.add([7; 16], &[]).unwrap();
        assert_eq!(manifest.add(VTPM_SERVICE_GUID, &[9]), Err(ManifestError::Duplicate));
        let table = manifest.encode();
        assert_eq!(table.len(), 24 * 3 + 3);
        assert_eq!(table.len(), manifest.encoded_len());
        assert_eq!(&table[..16], &SERVICES_MANIFEST_GUID);
        assert_eq!(&table[16..24], &[75, 0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(&table[24..40], &VTPM_SERVICE_GUID);
        assert_eq!(&table[40..48], &[72, 0, 0, 0, 3, 0, 0, 0]);
        assert_eq!(&table[48..64], &[7; 16]);
        assert_eq!(&table[64..72], &[75, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&table[72..], &[1, 2, 3]);
        assert_eq!(manifest.service(&VTPM_SERVICE_GUID), Some(&[1u8, 2, 3][..]));
        assert_eq!(manifest.service(&[8; 16]), None);
    }
}
