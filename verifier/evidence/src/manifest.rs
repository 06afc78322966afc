//! The SVSM services manifest (SVSM spec (AMD 58019) Table 14 "Services Manifest" and Table 15 "Service
//! Entry") and its vTPM entry: the guest's EK, which the report binds through REPORT_DATA.
//!
//! All integers little-endian; GUIDs in the EFI mixed-endian byte order the SVSM spec uses (the
//! certificate table's GUIDs are in RFC 4122 order instead: see `cert_table.rs`).
use core::fmt;

pub use warden_defs::attest::{SERVICES_MANIFEST_GUID as MANIFEST_GUID, VTPM_SERVICE_GUID};
use warden_defs::attest::{ServicesManifestEntry, ServicesManifestHeader};
use warden_defs::ek_template::{EK_L1_MODULUS_SIZE, EK_TEMPLATE_L1, is_l1_public, l1_modulus};
use zerocopy::{FromBytes, IntoBytes};

const HEADER_LEN: usize = size_of::<ServicesManifestHeader>();
const ENTRY_LEN: usize = size_of::<ServicesManifestEntry>();

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
    let (header, rest) =
        ServicesManifestHeader::read_from_prefix(manifest).map_err(|_| ManifestError::Header)?;
    if header.guid != MANIFEST_GUID || usize::try_from(header.total_len).ok() != Some(manifest.len()) {
        return Err(ManifestError::Header);
    }
    let count = usize::try_from(header.count).map_err(|_| ManifestError::Bounds)?;
    let table_len = count.checked_mul(ENTRY_LEN).ok_or(ManifestError::Bounds)?;
    let table = rest.get(..table_len).ok_or(ManifestError::Bounds)?;
    for bytes in table.chunks_exact(ENTRY_LEN) {
        let entry = ServicesManifestEntry::read_from_bytes(bytes).map_err(|_| ManifestError::Bounds)?;
        if entry.guid != *service {
            continue;
        }
        let offset = usize::try_from(entry.offset).map_err(|_| ManifestError::Bounds)?;
        let len = usize::try_from(entry.len).map_err(|_| ManifestError::Bounds)?;
        let end = offset.checked_add(len).ok_or(ManifestError::Bounds)?;
        return manifest.get(offset..end).ok_or(ManifestError::Bounds);
    }
    Err(ManifestError::NoVtpm)
}

/// Checks that `ek` is an EK made from template L-1 (TCG EK Credential Profile, template L-1; TPM 2.0
/// Library Part 2 Table 191 "TPMT_PUBLIC") with a full-size modulus, and, when the caller read the
/// vTPM's EK itself (TPM2_ReadPublic), that it is that EK.
pub fn check_ek(ek: &[u8], expected: Option<&[u8]>) -> Result<(), ManifestError> {
    let modulus = l1_modulus(ek).ok_or(ManifestError::NotEkTemplate)?;
    // A 2048-bit modulus has its top bit set; anything else is not a key of the template's size.
    if modulus.first().is_none_or(|top| top & 0x80 == 0) {
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
    let len32 = |n: usize| u32::try_from(n).expect("a test manifest is small");
    let header = ServicesManifestHeader { guid: MANIFEST_GUID, total_len: len32(total), count: 1 };
    let entry = ServicesManifestEntry {
        guid: VTPM_SERVICE_GUID,
        offset: len32(HEADER_LEN + ENTRY_LEN),
        len: len32(ek.len()),
    };
    [header.as_bytes(), entry.as_bytes(), ek].concat()
}

/// An L-1 EK TPMT_PUBLIC with `modulus` (test evidence).
pub fn l1_ek_public(modulus: &[u8; EK_L1_MODULUS_SIZE]) -> Vec<u8> {
    let mut ek = EK_TEMPLATE_L1.to_vec();
    ek[EK_TEMPLATE_L1.len() - EK_L1_MODULUS_SIZE..].copy_from_slice(modulus);
    debug_assert!(is_l1_public(&ek));
    ek
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
