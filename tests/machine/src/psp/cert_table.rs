//! The certificate table the hypervisor returns with an extended guest request (GHCB spec (AMD 56421)
//! §4.1.8.1 "SNP Extended Guest Request"): entries of GUID (RFC 4122 byte order), offset and length,
//! ended by an all-zero entry, then the certificates (DER) the entries point at. In real life the host
//! installs this blob (SNP_SET_EXT_CONFIG); here the machine builds it from the test chain.
use der::Encode;
use warden_defs::snp_report::{CERT_GUID_ARK, CERT_GUID_ASK, CERT_GUID_VCEK, CertTableEntry};
use zerocopy::IntoBytes;

use super::cert_chain::CertChain;

/// The table for `chain`: VCEK, ASK, ARK entries, the terminator, then the three DER certificates.
pub fn certificate_table(chain: &CertChain) -> Result<Vec<u8>, String> {
    let certs = [(CERT_GUID_VCEK, &chain.vcek), (CERT_GUID_ASK, &chain.ask), (CERT_GUID_ARK, &chain.ark)];
    let entries_size = (certs.len() + 1) * size_of::<CertTableEntry>();
    let mut entries = Vec::with_capacity(entries_size);
    let mut data = Vec::new();
    for (guid, cert) in certs {
        let der = cert.to_der().map_err(|e| e.to_string())?;
        let offset = u32::try_from(entries_size + data.len()).map_err(|e| e.to_string())?;
        let length = u32::try_from(der.len()).map_err(|e| e.to_string())?;
        entries.extend_from_slice(CertTableEntry { guid, offset, length }.as_bytes());
        data.extend_from_slice(&der);
    }
    entries.extend_from_slice(CertTableEntry::default().as_bytes());
    entries.extend_from_slice(&data);
    Ok(entries)
}

/// The 4 KiB pages `bytes` of table need (what RBX says after INVALID_LEN).
pub fn pages_needed(bytes: usize) -> u64 {
    bytes.div_ceil(4096) as u64
}
