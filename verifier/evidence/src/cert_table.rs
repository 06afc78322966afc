//! The certificate table a host returns with an extended guest request (GHCB spec (AMD 56421) §4.1.8.1
//! "SNP Extended Guest Request", Table 8 "Certificate table entry"): entries of a GUID in RFC 4122 byte
//! order, a u32 offset from the table's start and a u32 length, ended by an all-zero entry.
use core::fmt;

use warden_defs::snp_report::CertTableEntry;
pub use warden_defs::snp_report::{
    CERT_GUID_ARK as ARK_GUID, CERT_GUID_ASK as ASK_GUID, CERT_GUID_VCEK as VCEK_GUID,
};
use zerocopy::{FromBytes, IntoBytes};

const ENTRY_LEN: usize = size_of::<CertTableEntry>();

/// Why a certificate table was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertTableError {
    /// No all-zero entry ends the table.
    Unterminated,
    /// An entry's data lies outside the table.
    Bounds,
}

impl fmt::Display for CertTableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unterminated => "the certificate table has no terminating entry",
            Self::Bounds => "a certificate lies outside the certificate table",
        })
    }
}

/// The certificate the table holds for `guid` (None when absent).
pub fn find<'t>(table: &'t [u8], wanted: &[u8; 16]) -> Result<Option<&'t [u8]>, CertTableError> {
    let mut found = None;
    for bytes in table.chunks_exact(ENTRY_LEN) {
        let entry = CertTableEntry::read_from_bytes(bytes).map_err(|_| CertTableError::Bounds)?;
        if entry == CertTableEntry::default() {
            return Ok(found);
        }
        let start = usize::try_from(entry.offset).map_err(|_| CertTableError::Bounds)?;
        let end = start.checked_add(usize::try_from(entry.length).map_err(|_| CertTableError::Bounds)?);
        let data = end.and_then(|end| table.get(start..end)).ok_or(CertTableError::Bounds)?;
        if entry.guid == *wanted && found.is_none() {
            found = Some(data);
        }
    }
    Err(CertTableError::Unterminated)
}

/// A table of `entries` (test evidence; the emulated PSP builds its own).
pub fn build(entries: &[([u8; 16], &[u8])]) -> Vec<u8> {
    let mut offset = (entries.len() + 1) * ENTRY_LEN;
    let mut table = Vec::new();
    for (guid, data) in entries {
        let offset32 = u32::try_from(offset).expect("a small table");
        let length = u32::try_from(data.len()).expect("a small table");
        table.extend_from_slice(CertTableEntry { guid: *guid, offset: offset32, length }.as_bytes());
        offset += data.len();
    }
    table.extend_from_slice(CertTableEntry::default().as_bytes());
    for (_, data) in entries {
        table.extend_from_slice(data);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::{ASK_GUID, CertTableError, VCEK_GUID, build, find};

    #[test]
    fn entries_are_found_and_bounds_checked() {
        let table = build(&[(ASK_GUID, b"ask"), (VCEK_GUID, b"vcek")]);
        assert_eq!(find(&table, &VCEK_GUID), Ok(Some(&b"vcek"[..])));
        assert_eq!(find(&table, &[1; 16]), Ok(None));
        let mut beyond = table.clone();
        beyond[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(find(&beyond, &ASK_GUID), Err(CertTableError::Bounds));
        assert_eq!(find(&[1; 16], &ASK_GUID), Err(CertTableError::Unterminated));
    }
}
