//! The certificate table a host returns with an extended guest request (GHCB spec (AMD 56421) §4.1.8.1
//! "SNP Extended Guest Request", Table 8 "Certificate table entry"): entries of a GUID in RFC 4122 byte
//! order, a u32 offset from the table's start and a u32 length, ended by an all-zero entry.
use core::fmt;

/// The ARK, c0b406a4-a803-4952-9743-3fb6014cd0ae.
pub const ARK_GUID: [u8; 16] =
    guid(0xc0b4_06a4, 0xa803, 0x4952, [0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae]);
/// The ASK, 4ab7b379-bbac-4fe4-a02f-05aef327c782.
pub const ASK_GUID: [u8; 16] =
    guid(0x4ab7_b379, 0xbbac, 0x4fe4, [0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82]);
/// The VCEK, 63da758d-e664-4564-adc5-f4b93be8accd.
pub const VCEK_GUID: [u8; 16] =
    guid(0x63da_758d, 0xe664, 0x4564, [0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd]);
const ENTRY_LEN: usize = 24;

/// RFC 4122 byte order: every field big-endian.
const fn guid(a: u32, b: u16, c: u16, d: [u8; 8]) -> [u8; 16] {
    let (a, b, c) = (a.to_be_bytes(), b.to_be_bytes(), c.to_be_bytes());
    [a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]
}

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
    for entry in table.chunks(ENTRY_LEN) {
        if entry.len() < ENTRY_LEN {
            break;
        }
        if entry.iter().all(|&b| b == 0) {
            return Ok(found);
        }
        let offset = u32::from_le_bytes([entry[16], entry[17], entry[18], entry[19]]);
        let len = u32::from_le_bytes([entry[20], entry[21], entry[22], entry[23]]);
        let start = usize::try_from(offset).map_err(|_| CertTableError::Bounds)?;
        let end = start.checked_add(usize::try_from(len).map_err(|_| CertTableError::Bounds)?);
        let data = end.and_then(|end| table.get(start..end)).ok_or(CertTableError::Bounds)?;
        if entry[..16] == *wanted && found.is_none() {
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
        table.extend_from_slice(guid);
        table.extend_from_slice(&u32::try_from(offset).expect("a small table").to_le_bytes());
        table.extend_from_slice(&u32::try_from(data.len()).expect("a small table").to_le_bytes());
        offset += data.len();
    }
    table.extend_from_slice(&[0; ENTRY_LEN]);
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
