//! The SVSM attestation protocol's wire formats: the request structures the guest points RCX at, the
//! services manifest Warden returns, and the facts of the SNP report the request is answered with.
//!
//! Sources: SVSM spec (AMD 58019), "Attestation Protocol": Table 11 (SVSM_ATTEST_SERVICES operation)
//! and Table 13 (SVSM_ATTEST_SINGLE_SERVICE operation), and its services-manifest GUID table;
//! Linux `arch/x86/coco/sev/core.c` (`snp_issue_svsm_attest_req`) and `arch/x86/include/asm/sev.h`
//! (`struct svsm_attest_call`), COCONUT `kernel/src/protocols/attest.rs`, which agree on every offset. The report layout is SEV-SNP
//! ABI (AMD 56860), Table 23 (ATTESTATION_REPORT). All integers are little-endian.
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The SVSM_ATTEST_SERVICES operation (SVSM spec, AMD 58019, Table 11): 0x40 bytes at the GPA in RCX.
///
/// Linux writes the nonce size as a `u32` at 0x18 followed by 4 reserved bytes; COCONUT reads a `u16`
/// followed by 6. With the only size accepted (64) both read the same bytes, so the stricter reading
/// (more bytes that must be zero) is the one kept here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct AttestServicesRequest {
    /// 0x00: the attestation report buffer (page-aligned).
    pub report_gpa: u64,
    /// 0x08: its size in bytes.
    pub report_size: u32,
    /// 0x0C: reserved, must be zero.
    pub reserved_0x0c: [u8; 4],
    /// 0x10: the caller's nonce (any alignment, must not cross a page).
    pub nonce_gpa: u64,
    /// 0x18: the nonce's size in bytes (must be [`ATTEST_NONCE_SIZE`]).
    pub nonce_size: u16,
    /// 0x1A: reserved, must be zero.
    pub reserved_0x1a: [u8; 6],
    /// 0x20: the services-manifest buffer (page-aligned).
    pub manifest_gpa: u64,
    /// 0x28: its size in bytes.
    pub manifest_size: u32,
    /// 0x2C: reserved, must be zero.
    pub reserved_0x2c: [u8; 4],
    /// 0x30: the certificate buffer (page-aligned when its size is not 0).
    pub certificate_gpa: u64,
    /// 0x38: its size in bytes; 0 asks for no certificates.
    pub certificate_size: u32,
    /// 0x3C: reserved, must be zero.
    pub reserved_0x3c: [u8; 4],
}

impl AttestServicesRequest {
    /// Whether every reserved byte is zero.
    pub fn reserved_clear(&self) -> bool {
        let reserved =
            [&self.reserved_0x0c[..], &self.reserved_0x1a, &self.reserved_0x2c, &self.reserved_0x3c];
        reserved.iter().all(|r| r.iter().all(|&b| b == 0))
    }
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<AttestServicesRequest>() == 0x40);
    assert!(offset_of!(AttestServicesRequest, report_size) == 0x08);
    assert!(offset_of!(AttestServicesRequest, reserved_0x0c) == 0x0C);
    assert!(offset_of!(AttestServicesRequest, nonce_gpa) == 0x10);
    assert!(offset_of!(AttestServicesRequest, nonce_size) == 0x18);
    assert!(offset_of!(AttestServicesRequest, reserved_0x1a) == 0x1A);
    assert!(offset_of!(AttestServicesRequest, manifest_gpa) == 0x20);
    assert!(offset_of!(AttestServicesRequest, manifest_size) == 0x28);
    assert!(offset_of!(AttestServicesRequest, certificate_gpa) == 0x30);
    assert!(offset_of!(AttestServicesRequest, certificate_size) == 0x38);
    assert!(offset_of!(AttestServicesRequest, reserved_0x3c) == 0x3C);
};

/// The SVSM_ATTEST_SINGLE_SERVICE operation (SVSM spec, AMD 58019, Table 13): Table 11's fields, then
/// the service; 0x58 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct AttestSingleServiceRequest {
    /// 0x00: the buffers and the nonce, as for SVSM_ATTEST_SERVICES.
    pub services: AttestServicesRequest,
    /// 0x40: the service's GUID, in EFI (mixed-endian) byte order.
    pub guid: [u8; 16],
    /// 0x50: the manifest version asked for (only 0 is defined).
    pub manifest_version: u32,
    /// 0x54: reserved, must be zero.
    pub reserved_0x54: [u8; 4],
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<AttestSingleServiceRequest>() == 0x58);
    assert!(offset_of!(AttestSingleServiceRequest, guid) == 0x40);
    assert!(offset_of!(AttestSingleServiceRequest, manifest_version) == 0x50);
    assert!(offset_of!(AttestSingleServiceRequest, reserved_0x54) == 0x54);
};

/// The nonce's one accepted size: the 64 bytes of SNP REPORT_DATA (Linux sends its 64-byte TSM inblob).
pub const ATTEST_NONCE_SIZE: usize = 64;

/// The services manifest's header (SVSM spec, AMD 58019, services manifest GUID table): the table's
/// GUID, its total length, the entry count; [`ServicesManifestEntry`]s follow, then the data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct ServicesManifestHeader {
    /// 0x00: [`SERVICES_MANIFEST_GUID`].
    pub guid: [u8; 16],
    /// 0x10: the whole manifest's length in bytes, data included.
    pub total_len: u32,
    /// 0x14: how many entries follow.
    pub count: u32,
}

/// One service in the services manifest: its GUID and where its data lies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct ServicesManifestEntry {
    /// 0x00: the service's GUID (EFI byte order).
    pub guid: [u8; 16],
    /// 0x10: its data's offset from the start of the manifest.
    pub offset: u32,
    /// 0x14: its data's length (0 for a service without a manifest of its own).
    pub len: u32,
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<ServicesManifestHeader>() == 24);
    assert!(offset_of!(ServicesManifestHeader, total_len) == 0x10);
    assert!(offset_of!(ServicesManifestHeader, count) == 0x14);
    assert!(size_of::<ServicesManifestEntry>() == 24);
    assert!(offset_of!(ServicesManifestEntry, offset) == 0x10);
    assert!(offset_of!(ServicesManifestEntry, len) == 0x14);
};

/// 63849ebb-3d92-4670-a1ff-58f9c94b87bb, the services manifest's GUID, in EFI byte order.
pub const SERVICES_MANIFEST_GUID: [u8; 16] =
    [0xbb, 0x9e, 0x84, 0x63, 0x92, 0x3d, 0x70, 0x46, 0xa1, 0xff, 0x58, 0xf9, 0xc9, 0x4b, 0x87, 0xbb];

/// c476f1eb-0123-45a5-9641-b4e7dde5bfe3, the vTPM service, in EFI byte order. Its manifest (version 0)
/// is the marshalled TPMT_PUBLIC of the endorsement key (TPM 2.0 Library Part 2, Table 191), without
/// a TPM2B size prefix.
pub const VTPM_SERVICE_GUID: [u8; 16] =
    [0xeb, 0xf1, 0x76, 0xc4, 0x23, 0x01, 0xa5, 0x45, 0x96, 0x41, 0xb4, 0xe7, 0xdd, 0xe5, 0xbf, 0xe3];

/// The size of the SEV-SNP ATTESTATION_REPORT (SEV-SNP ABI, AMD 56860, Table 23; laid out in
/// [`crate::snp_report::AttestationReport`]).
pub const SNP_REPORT_SIZE: usize = crate::snp_report::SNP_REPORT_SIZE;
/// Where REPORT_DATA lies in the ATTESTATION_REPORT (same table).
pub const SNP_REPORT_DATA_OFFSET: usize =
    core::mem::offset_of!(crate::snp_report::AttestationReport, report_data);
/// REPORT_DATA's size: one SHA-512 digest, SHA-512(nonce ‖ manifest) for the SVSM.
pub const REPORT_DATA_SIZE: usize = 64;

const _: () = assert!(SNP_REPORT_DATA_OFFSET + REPORT_DATA_SIZE <= SNP_REPORT_SIZE);
