//! The attestation step's pure logic: the nonce the host hands over, the buffer sizes SVSM_ATTEST_SERVICES
//! asks for when one is too small, the REPORT_DATA binding, and the evidence lines `cargo xtask attest`
//! parses from the console.
//!
//! Sources: SVSM spec (AMD 58019), "Attestation Protocol" (REPORT_DATA = SHA-512(nonce ‖ manifest);
//! on SVSM_ERR_INVALID_PARAMETER, RCX/RDX/R8 carry the manifest, certificate and report sizes needed);
//! Linux `arch/x86/coco/sev/core.c` (`snp_issue_svsm_attest_req`: page-aligned buffers, retried with
//! the sizes returned). The hash here is the RustCrypto `sha2` crate, not Warden's `warden-sha`, so the
//! binding is checked by code Warden did not write.
use sha2::{Digest, Sha512};
use warden_defs::attest::{
    ATTEST_NONCE_SIZE, REPORT_DATA_SIZE, SERVICES_MANIFEST_GUID, SNP_REPORT_DATA_OFFSET, SNP_REPORT_SIZE,
    ServicesManifestHeader,
};
use warden_defs::layout::PAGE_SIZE;
use warden_defs::tdx_report::{ReportMacStruct, TDREPORT_SIZE, TdReport};
use zerocopy::FromBytes;

/// The test machine's nonce port (`warden-machine --nonce`, its `host_nonce` module names the same):
/// an OUT rewinds; each IN gives the next byte of: 1 if the host has a nonce, then its 64 bytes.
pub const NONCE_PORT: u16 = 0x0A40;

/// The nonce used when the host gives none: fixed, so **not fresh**; the evidence line says so.
pub const FIXED_NONCE: [u8; ATTEST_NONCE_SIZE] =
    *b"warden test guest: FIXED NONCE, NOT FRESH (no host nonce given)!";

/// Where the nonce came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceSource {
    /// The host (the relying party's challenge).
    Host,
    /// None was given: [`FIXED_NONCE`].
    Fixed,
}

/// Reads the nonce stream (the presence byte, then 64 bytes) through `next_byte`.
pub fn read_nonce(mut next_byte: impl FnMut() -> u8) -> ([u8; ATTEST_NONCE_SIZE], NonceSource) {
    if next_byte() != 1 {
        return (FIXED_NONCE, NonceSource::Fixed);
    }
    (core::array::from_fn(|_| next_byte()), NonceSource::Host)
}

/// SHA-512(nonce ‖ manifest): what REPORT_DATA must hold.
pub fn report_data(nonce: &[u8; ATTEST_NONCE_SIZE], manifest: &[u8]) -> [u8; REPORT_DATA_SIZE] {
    let mut hash = Sha512::new();
    hash.update(nonce);
    hash.update(manifest);
    hash.finalize().into()
}

/// The evidence Warden's report buffer holds on each platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    /// The SEV-SNP ATTESTATION_REPORT (SEV-SNP ABI (AMD 56860), Table 23): REPORT_DATA at 0x50.
    Snp,
    /// TDREPORT_STRUCT (Intel TDX Module v1.5 ABI Specification (348551), "TDREPORT_STRUCT"):
    /// REPORTDATA at 0x80, in REPORTMACSTRUCT.
    Tdx,
}

/// Where REPORTDATA lies in a TDREPORT_STRUCT.
pub const TDX_REPORT_DATA_OFFSET: usize =
    core::mem::offset_of!(TdReport, mac_struct) + core::mem::offset_of!(ReportMacStruct, report_data);
const _: () = assert!(TDX_REPORT_DATA_OFFSET == 0x80);

impl ReportFormat {
    /// The report's size: what Warden must say it needs and write.
    pub const fn size(self) -> usize {
        match self {
            Self::Snp => SNP_REPORT_SIZE,
            Self::Tdx => TDREPORT_SIZE,
        }
    }

    /// The REPORT_DATA the report carries, or `None` when `report` is not a whole report.
    pub fn report_data(self, report: &[u8]) -> Option<&[u8]> {
        let offset = match self {
            Self::Snp => SNP_REPORT_DATA_OFFSET,
            Self::Tdx => TDX_REPORT_DATA_OFFSET,
        };
        if report.len() != self.size() {
            return None;
        }
        report.get(offset..offset + REPORT_DATA_SIZE)
    }

    /// Whether `report` binds `nonce` and `manifest`: its REPORT_DATA is SHA-512(nonce ‖ manifest).
    pub fn binds(self, report: &[u8], nonce: &[u8; ATTEST_NONCE_SIZE], manifest: &[u8]) -> bool {
        self.report_data(report) == Some(&report_data(nonce, manifest)[..])
    }
}

/// A size Warden asked for, page-aligned as Linux rounds it, if it fits `capacity` bytes.
pub fn grown(needed: u64, capacity: u64) -> Option<u64> {
    let aligned = needed.checked_next_multiple_of(PAGE_SIZE)?;
    (aligned <= capacity).then_some(aligned)
}

/// Why the manifest is not a services manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestError {
    /// Shorter than its header.
    Short,
    /// Not the services-manifest GUID.
    Guid,
    /// The header's total length is not the manifest's.
    Length,
    /// The service is not listed.
    Missing,
}

/// Checks the manifest's header and that it lists `service`.
pub fn check_manifest(manifest: &[u8], service: &[u8; 16]) -> Result<(), ManifestError> {
    let (header, rest) =
        ServicesManifestHeader::read_from_prefix(manifest).map_err(|_| ManifestError::Short)?;
    if header.guid != SERVICES_MANIFEST_GUID {
        return Err(ManifestError::Guid);
    }
    if header.total_len as usize != manifest.len() {
        return Err(ManifestError::Length);
    }
    let listed =
        rest.chunks_exact(24).take(header.count as usize).any(|entry| entry.get(..16) == Some(service));
    if listed { Ok(()) } else { Err(ManifestError::Missing) }
}

/// The bytes of a certificate buffer the table uses: its entries up to the all-zero one and the
/// furthest certificate they name (GHCB spec (AMD 56421) §4.1.8.1), at most `total`; the hypervisor's
/// zero padding after them is not evidence, and every hex digit costs the console an exit. `head` is
/// the buffer's start; a table whose terminator is not in it is taken whole.
pub fn certificate_table_len(head: &[u8], total: u64) -> u64 {
    let mut used = 0u64;
    for (index, entry) in (1u64..).zip(head.chunks_exact(24)) {
        if entry.iter().all(|&b| b == 0) {
            return used.max(index * 24).min(total);
        }
        let word = |at: usize| {
            u64::from(u32::from_le_bytes([entry[at], entry[at + 1], entry[at + 2], entry[at + 3]]))
        };
        used = used.max(word(16) + word(20));
    }
    total
}

/// The evidence line prefix for `kind` (`report`, `manifest`, `certs`, `nonce`): `xtask attest` reads
/// `guest: evidence <kind> <hex>` lines, one per kind, hex lowercase, no separators.
pub const EVIDENCE_PREFIX: &str = "guest: evidence";

#[cfg(test)]
mod tests {
    use super::*;
    use warden_defs::attest::VTPM_SERVICE_GUID;

    #[test]
    fn the_host_nonce_is_read_after_its_presence_byte_else_the_fixed_one() {
        let mut stream = [1u8].into_iter().chain(1..=64);
        let (nonce, source) = read_nonce(|| stream.next().unwrap());
        assert_eq!((nonce[0], nonce[63], source), (1, 64, NonceSource::Host));
        assert_eq!(read_nonce(|| 0), (FIXED_NONCE, NonceSource::Fixed));
    }

    #[test]
    fn report_data_is_sha512_of_nonce_then_manifest() {
        // SHA-512("abc") split as nonce-less input is not possible (the nonce is 64 bytes), so check
        // the concatenation against one hash of the joined bytes.
        let nonce = [7u8; 64];
        let mut joined = nonce.to_vec();
        joined.extend_from_slice(b"manifest");
        let expected: [u8; 64] = Sha512::digest(&joined).into();
        assert_eq!(report_data(&nonce, b"manifest"), expected);
        assert_ne!(report_data(&nonce, b"manifesT"), expected);
    }

    #[test]
    fn a_tdreport_binds_through_its_reportdata_at_0x80_and_an_snp_report_at_0x50() {
        let nonce = [3u8; 64];
        let bound = report_data(&nonce, b"manifest");
        let mut td = vec![0u8; TDREPORT_SIZE];
        td[0x80..0xC0].copy_from_slice(&bound);
        assert!(ReportFormat::Tdx.binds(&td, &nonce, b"manifest"));
        assert!(!ReportFormat::Tdx.binds(&td, &nonce, b"manifesT"));
        assert!(!ReportFormat::Tdx.binds(&td, &[4u8; 64], b"manifest"));
        assert!(!ReportFormat::Snp.binds(&td, &nonce, b"manifest"), "a TDREPORT is not an SNP report");
        assert!(!ReportFormat::Tdx.binds(&td[..TDREPORT_SIZE - 1], &nonce, b"manifest"), "cut short");
        // The same bytes one field over (where an SNP report keeps them) do not count on TDX.
        let mut shifted = vec![0u8; TDREPORT_SIZE];
        shifted[0x50..0x90].copy_from_slice(&bound);
        assert!(!ReportFormat::Tdx.binds(&shifted, &nonce, b"manifest"));
        let mut snp = vec![0u8; SNP_REPORT_SIZE];
        snp[0x50..0x90].copy_from_slice(&bound);
        assert!(ReportFormat::Snp.binds(&snp, &nonce, b"manifest"));
        assert_eq!(ReportFormat::Tdx.size(), 1024);
    }

    #[test]
    fn the_certificate_table_ends_at_its_furthest_certificate() {
        let mut table = [0u8; 96];
        table[16..20].copy_from_slice(&72u32.to_le_bytes());
        table[20..24].copy_from_slice(&100u32.to_le_bytes());
        table[24] = 1;
        table[40..44].copy_from_slice(&172u32.to_le_bytes());
        table[44..48].copy_from_slice(&8u32.to_le_bytes());
        assert_eq!(certificate_table_len(&table, 0x2000), 180);
        assert_eq!(certificate_table_len(&table, 100), 100);
        assert_eq!(certificate_table_len(&[0; 24], 0x2000), 24, "an empty table is its terminator");
        assert_eq!(certificate_table_len(&[1; 48], 0x2000), 0x2000, "no terminator: all of it");
    }

    #[test]
    fn sizes_grow_to_pages_within_capacity() {
        assert_eq!(grown(0x4A0, 0x10000), Some(0x1000));
        assert_eq!(grown(0x1001, 0x10000), Some(0x2000));
        assert_eq!(grown(0x10001, 0x10000), None);
        assert_eq!(grown(u64::MAX, u64::MAX), None);
    }

    #[test]
    fn a_manifest_must_be_whole_and_list_the_service() {
        let mut manifest = SERVICES_MANIFEST_GUID.to_vec();
        manifest.extend_from_slice(&48u32.to_le_bytes());
        manifest.extend_from_slice(&1u32.to_le_bytes());
        manifest.extend_from_slice(&VTPM_SERVICE_GUID);
        manifest.extend_from_slice(&[48, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(check_manifest(&manifest, &VTPM_SERVICE_GUID), Ok(()));
        assert_eq!(check_manifest(&manifest, &[0; 16]), Err(ManifestError::Missing));
        assert_eq!(check_manifest(&manifest[..40], &VTPM_SERVICE_GUID), Err(ManifestError::Length));
        assert_eq!(check_manifest(&manifest[..8], &VTPM_SERVICE_GUID), Err(ManifestError::Short));
    }
}
