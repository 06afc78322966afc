//! The SVSM services manifest (SVSM spec (AMD 58019) Table 14 "Services Manifest" and Table 15 "Service
//! Entry") and its vTPM entry: the guest's EK, which the report binds through REPORT_DATA.
//!
//! All integers little-endian; GUIDs in the EFI mixed-endian byte order the SVSM spec uses (the
//! certificate table's GUIDs are in RFC 4122 order instead: see `cert_table.rs`).
use core::fmt;

/// Builds a GUID's EFI byte order (first three fields little-endian).
const fn efi_guid(a: u32, b: u16, c: u16, d: [u8; 8]) -> [u8; 16] {
    let (a, b, c) = (a.to_le_bytes(), b.to_le_bytes(), c.to_le_bytes());
    [a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]
}

/// The manifest header GUID, 63849ebb-3d92-4670-a1ff-58f9c94b87bb (SVSM spec Table 14).
pub const MANIFEST_GUID: [u8; 16] =
    efi_guid(0x6384_9ebb, 0x3d92, 0x4670, [0xa1, 0xff, 0x58, 0xf9, 0xc9, 0x4b, 0x87, 0xbb]);
/// The vTPM service, c476f1eb-0123-45a5-9641-b4e7dde5bfe3 (SVSM spec §8 "vTPM Protocol").
pub const VTPM_SERVICE_GUID: [u8; 16] =
    efi_guid(0xc476_f1eb, 0x0123, 0x45a5, [0x96, 0x41, 0xb4, 0xe7, 0xdd, 0xe5, 0xbf, 0xe3]);
/// Header: GUID, u32 total length, u32 entry count.
const HEADER_LEN: usize = 24;
/// Entry: GUID, u32 offset from the manifest's start, u32 length.
const ENTRY_LEN: usize = 24;

/// Why a manifest or its EK was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestError {
    /// Shorter than its header, a wrong header GUID, or a total length that is not the manifest's size.
    Header,
    /// An entry table or an entry's data outside the manifest.
    Bounds,
    /// No vTPM entry.
    NoVtpm,
    /// The vTPM entry is not the TPMT_PUBLIC of an EK made from template L-1.
    NotEkTemplate,
    /// The EK differs from the one the caller read from the vTPM.
    UnexpectedEk,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Header => "the manifest header is malformed",
            Self::Bounds => "a manifest entry lies outside the manifest",
            Self::NoVtpm => "the manifest has no vTPM entry",
            Self::NotEkTemplate => "the vTPM entry is not an RSA-2048 EK from template L-1",
            Self::UnexpectedEk => "the manifest's EK is not the vTPM's",
        })
    }
}

/// The data of the entry for `service`.
pub fn service_entry<'m>(manifest: &'m [u8], service: &[u8; 16]) -> Result<&'m [u8], ManifestError> {
    let header = manifest.get(..HEADER_LEN).ok_or(ManifestError::Header)?;
    let total = le_u32(&header[16..20]);
    if header[..16] != MANIFEST_GUID || usize::try_from(total).ok() != Some(manifest.len()) {
        return Err(ManifestError::Header);
    }
    let count = usize::try_from(le_u32(&header[20..24])).map_err(|_| ManifestError::Bounds)?;
    let table_len = count.checked_mul(ENTRY_LEN).ok_or(ManifestError::Bounds)?;
    let table = manifest.get(HEADER_LEN..HEADER_LEN + table_len).ok_or(ManifestError::Bounds)?;
    for entry in table.chunks_exact(ENTRY_LEN) {
        if entry[..16] != *service {
            continue;
        }
        let offset = usize::try_from(le_u32(&entry[16..20])).map_err(|_| ManifestError::Bounds)?;
        let len = usize::try_from(le_u32(&entry[20..24])).map_err(|_| ManifestError::Bounds)?;
        let end = offset.checked_add(len).ok_or(ManifestError::Bounds)?;
        return manifest.get(offset..end).ok_or(ManifestError::Bounds);
    }
    Err(ManifestError::NoVtpm)
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// The marshaled TPMT_PUBLIC of template L-1 up to the modulus (TCG EK Credential Profile 2.5 Table 2;
/// TPM 2.0 Library Part 2 Table 191 "TPMT_PUBLIC"), big-endian: type RSA, nameAlg SHA-256,
/// objectAttributes fixedTPM|fixedParent|sensitiveDataOrigin|adminWithPolicy|restricted|decrypt,
/// authPolicy PolicySecret(TPM_RH_ENDORSEMENT), AES-128-CFB, scheme NULL, 2048 bits, exponent 0 (65537),
/// then a 256-byte modulus.
const EK_L1_PREFIX: [u8; 58] = [
    0x00, 0x01, // type: TPM_ALG_RSA
    0x00, 0x0B, // nameAlg: TPM_ALG_SHA256
    0x00, 0x03, 0x00, 0xB2, // objectAttributes
    0x00, 0x20, // authPolicy size
    0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xB3, 0xF8, 0x1A, 0x90, 0xCC, 0x8D, 0x46, 0xA5, 0xD7, 0x24, 0xFD,
    0x52, 0xD7, 0x6E, 0x06, 0x52, 0x0B, 0x64, 0xF2, 0xA1, 0xDA, 0x1B, 0x33, 0x14, 0x69,
    0xAA, // authPolicy
    0x00, 0x06, 0x00, 0x80, 0x00, 0x43, // symmetric: AES, 128, CFB
    0x00, 0x10, // scheme: TPM_ALG_NULL
    0x08, 0x00, // keyBits: 2048
    0x00, 0x00, 0x00, 0x00, // exponent: default
    0x01, 0x00, // unique: 256-byte modulus follows
];
const EK_MODULUS_LEN: usize = 256;

/// Checks that `ek` is an EK made from template L-1 with a full-size modulus, and, when the caller read
/// the vTPM's EK itself (TPM2_ReadPublic), that it is that EK.
pub fn check_ek(ek: &[u8], expected: Option<&[u8]>) -> Result<(), ManifestError> {
    let modulus = ek.strip_prefix(&EK_L1_PREFIX[..]).ok_or(ManifestError::NotEkTemplate)?;
    // A 2048-bit modulus has its top bit set; anything else is not a key of the template's size.
    if modulus.len() != EK_MODULUS_LEN || modulus[0] & 0x80 == 0 {
        return Err(ManifestError::NotEkTemplate);
    }
    match expected {
        Some(expected) if expected != ek => Err(ManifestError::UnexpectedEk),
        _ => Ok(()),
    }
}

/// A manifest with one vTPM entry carrying `ek` (test evidence; the firmware builds its own).
pub fn single_vtpm_manifest(ek: &[u8]) -> Vec<u8> {
    let total = HEADER_LEN + ENTRY_LEN + ek.len();
    let len32 = |n: usize| u32::try_from(n).expect("a test manifest is small").to_le_bytes();
    let mut m = Vec::with_capacity(total);
    m.extend_from_slice(&MANIFEST_GUID);
    m.extend_from_slice(&len32(total));
    m.extend_from_slice(&1u32.to_le_bytes());
    m.extend_from_slice(&VTPM_SERVICE_GUID);
    m.extend_from_slice(&len32(HEADER_LEN + ENTRY_LEN));
    m.extend_from_slice(&len32(ek.len()));
    m.extend_from_slice(ek);
    m
}

/// An L-1 EK TPMT_PUBLIC with `modulus` (test evidence).
pub fn l1_ek_public(modulus: &[u8; EK_MODULUS_LEN]) -> Vec<u8> {
    [&EK_L1_PREFIX[..], &modulus[..]].concat()
}

#[cfg(test)]
mod tests {
    use super::{
        ManifestError, VTPM_SERVICE_GUID, check_ek, l1_ek_public, service_entry, single_vtpm_manifest,
    };

    #[test]
    fn the_vtpm_entry_round_trips() {
        let ek = l1_ek_public(&[0xC5; 256]);
        let manifest = single_vtpm_manifest(&ek);
        assert_eq!(service_entry(&manifest, &VTPM_SERVICE_GUID), Ok(&ek[..]));
        assert_eq!(check_ek(&ek, None), Ok(()));
        assert_eq!(check_ek(&ek, Some(&ek)), Ok(()));
    }

    #[test]
    fn hostile_manifests_are_refused_without_panicking() {
        let manifest = single_vtpm_manifest(&l1_ek_public(&[0xC5; 256]));
        for cut in 0..manifest.len() {
            assert!(service_entry(&manifest[..cut], &VTPM_SERVICE_GUID).is_err());
        }
        let mut huge_count = manifest.clone();
        huge_count[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(service_entry(&huge_count, &VTPM_SERVICE_GUID), Err(ManifestError::Bounds));
        let mut far_offset = manifest.clone();
        far_offset[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(service_entry(&far_offset, &VTPM_SERVICE_GUID), Err(ManifestError::Bounds));
        assert_eq!(service_entry(&manifest, &[0; 16]), Err(ManifestError::NoVtpm));
    }

    #[test]
    fn another_key_or_template_is_not_the_ek() {
        let ek = l1_ek_public(&[0xC5; 256]);
        let other = l1_ek_public(&[0xC7; 256]);
        assert_eq!(check_ek(&other, Some(&ek)), Err(ManifestError::UnexpectedEk));
        let mut user_auth = ek.clone();
        user_auth[7] |= 0x40; // userWithAuth: anyone could use the key without the policy
        assert_eq!(check_ek(&user_auth, None), Err(ManifestError::NotEkTemplate));
        assert_eq!(check_ek(&l1_ek_public(&[0x05; 256]), None), Err(ManifestError::NotEkTemplate));
    }
}
