//! The SEV-SNP ATTESTATION_REPORT (version 3 layout), its TCB and policy words, and the certificate
//! table that travels with it out of an extended guest request.
//!
//! Sources: SEV-SNP ABI (AMD 56860), Table 23 (ATTESTATION_REPORT structure), "TCB_VERSION structure",
//! "Guest Policy structure", "PLATFORM_INFO"; the signature format, "ECDSA P-384 with SHA-384
//! signature" (r and s little-endian, zero-padded to 72 bytes); the certificate table, GHCB spec
//! (AMD 56421) §4.1.8.1 "SNP Extended Guest Request" (entries of GUID, offset, length ended by an
//! all-zero entry). The verifiers Warden must satisfy (virtee `sev`, `snpguest`) read the same
//! offsets. All integers are little-endian.
use core::ops::Range;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// ATTESTATION_REPORT, version 3 (SEV-SNP ABI, AMD 56860, Table 23): 0x4A0 bytes. Version 2 reads
/// the CPUID bytes at 0x188 as reserved; version 5 puts LAUNCH_MIT_VECTOR and CURRENT_MIT_VECTOR at
/// 0x1F8 and 0x200, reserved here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct AttestationReport {
    /// 0x000: the report's format version ([`REPORT_VERSION_3`]).
    pub version: u32,
    /// 0x004: the guest SVN from the ID block.
    pub guest_svn: u32,
    /// 0x008: the guest policy ([`POLICY_DEBUG`], …).
    pub policy: u64,
    /// 0x010: FAMILY_ID from the ID block.
    pub family_id: [u8; 16],
    /// 0x020: IMAGE_ID from the ID block.
    pub image_id: [u8; 16],
    /// 0x030: the VMPL of the request (0 for Warden's reports).
    pub vmpl: u32,
    /// 0x034: the signature algorithm ([`SIGNATURE_ALGO_ECDSA_P384_SHA384`]).
    pub signature_algo: u32,
    /// 0x038: the platform's current TCB.
    pub current_tcb: TcbVersion,
    /// 0x040: platform facts ([`PLATFORM_INFO_SMT_EN`], …).
    pub platform_info: u64,
    /// 0x048: bit 0 AUTHOR_KEY_EN, bit 1 MASK_CHIP_KEY, bits 4:2 SIGNING_KEY ([`KEY_INFO_SIGNING_KEY_VCEK`]).
    pub key_info: u32,
    /// 0x04C: reserved, zero.
    pub reserved_0x04c: [u8; 4],
    /// 0x050: the requester's REPORT_DATA (for the SVSM: SHA-512(nonce ‖ manifest)).
    pub report_data: [u8; 64],
    /// 0x090: the launch digest (SHA-384).
    pub measurement: [u8; 48],
    /// 0x0C0: HOST_DATA given at launch.
    pub host_data: [u8; 32],
    /// 0x0E0: SHA-384 of the ID key, zero without an ID block.
    pub id_key_digest: [u8; 48],
    /// 0x110: SHA-384 of the author key, zero unless AUTHOR_KEY_EN.
    pub author_key_digest: [u8; 48],
    /// 0x140: the guest context's report ID.
    pub report_id: [u8; 32],
    /// 0x160: the migration agent's report ID (all ones without one).
    pub report_id_ma: [u8; 32],
    /// 0x180: the TCB the VCEK signing this report was derived from.
    pub reported_tcb: TcbVersion,
    /// 0x188: CPUID Fn0000_0001 extended family + base family (version 3 on).
    pub cpuid_fam_id: u8,
    /// 0x189: CPUID extended model + base model (version 3 on).
    pub cpuid_mod_id: u8,
    /// 0x18A: CPUID stepping (version 3 on).
    pub cpuid_step: u8,
    /// 0x18B: reserved, zero.
    pub reserved_0x18b: [u8; 21],
    /// 0x1A0: the chip's identifier (zero when MASK_CHIP_ID is set); names the VCEK to fetch.
    pub chip_id: [u8; 64],
    /// 0x1E0: the committed TCB.
    pub committed_tcb: TcbVersion,
    /// 0x1E8: the current firmware's build, minor, major; one reserved byte.
    pub current_version: [u8; 4],
    /// 0x1EC: the committed firmware's build, minor, major; one reserved byte.
    pub committed_version: [u8; 4],
    /// 0x1F0: the TCB at the guest's launch.
    pub launch_tcb: TcbVersion,
    /// 0x1F8: reserved in version 3, zero.
    pub reserved_0x1f8: [u8; 168],
    /// 0x2A0: the signature over bytes [`REPORT_SIGNED_RANGE`].
    pub signature: EcdsaP384Signature,
}

/// The report's signature (SEV-SNP ABI, AMD 56860, "ECDSA P-384 with SHA-384 signature"): r and s
/// as little-endian integers zero-padded to 72 bytes; 0x200 bytes with the reserved tail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct EcdsaP384Signature {
    /// 0x00: r, little-endian; bytes 48..72 zero for P-384.
    pub r: [u8; 72],
    /// 0x48: s, little-endian; bytes 48..72 zero for P-384.
    pub s: [u8; 72],
    /// 0x90: reserved, zero.
    pub reserved: [u8; 368],
}

const _: () = {
    use core::mem::{offset_of, size_of};
    type R = AttestationReport;
    assert!(size_of::<R>() == SNP_REPORT_SIZE);
    assert!(size_of::<EcdsaP384Signature>() == 0x200);
    assert!(offset_of!(EcdsaP384Signature, s) == 0x48);
    assert!(offset_of!(EcdsaP384Signature, reserved) == 0x90);
    assert!(offset_of!(R, guest_svn) == 0x004);
    assert!(offset_of!(R, policy) == 0x008);
    assert!(offset_of!(R, family_id) == 0x010);
    assert!(offset_of!(R, image_id) == 0x020);
    assert!(offset_of!(R, vmpl) == 0x030);
    assert!(offset_of!(R, signature_algo) == 0x034);
    assert!(offset_of!(R, current_tcb) == 0x038);
    assert!(offset_of!(R, platform_info) == 0x040);
    assert!(offset_of!(R, key_info) == 0x048);
    assert!(offset_of!(R, reserved_0x04c) == 0x04C);
    assert!(offset_of!(R, report_data) == 0x050);
    assert!(offset_of!(R, measurement) == 0x090);
    assert!(offset_of!(R, host_data) == 0x0C0);
    assert!(offset_of!(R, id_key_digest) == 0x0E0);
    assert!(offset_of!(R, author_key_digest) == 0x110);
    assert!(offset_of!(R, report_id) == 0x140);
    assert!(offset_of!(R, report_id_ma) == 0x160);
    assert!(offset_of!(R, reported_tcb) == 0x180);
    assert!(offset_of!(R, cpuid_fam_id) == 0x188);
    assert!(offset_of!(R, cpuid_mod_id) == 0x189);
    assert!(offset_of!(R, cpuid_step) == 0x18A);
    assert!(offset_of!(R, reserved_0x18b) == 0x18B);
    assert!(offset_of!(R, chip_id) == 0x1A0);
    assert!(offset_of!(R, committed_tcb) == 0x1E0);
    assert!(offset_of!(R, current_version) == 0x1E8);
    assert!(offset_of!(R, committed_version) == 0x1EC);
    assert!(offset_of!(R, launch_tcb) == 0x1F0);
    assert!(offset_of!(R, reserved_0x1f8) == 0x1F8);
    assert!(offset_of!(R, signature) == REPORT_SIGNED_RANGE.end);
};

/// The report's size.
pub const SNP_REPORT_SIZE: usize = 0x4A0;
/// The bytes the signature covers: everything before it.
pub const REPORT_SIGNED_RANGE: Range<usize> = 0..0x2A0;
/// VERSION 3: the layout above (CPUID bytes present).
pub const REPORT_VERSION_3: u32 = 3;
/// SIGNATURE_ALGO 1: ECDSA P-384 with SHA-384.
pub const SIGNATURE_ALGO_ECDSA_P384_SHA384: u32 = 1;

/// Guest policy (SEV-SNP ABI "Guest Policy"): bits 7:0 ABI minor, 15:8 ABI major.
pub const POLICY_ABI_MASK: u64 = 0xFFFF;
/// Policy bit 16: SMT allowed.
pub const POLICY_SMT: u64 = 1 << 16;
/// Policy bit 17: reserved, must be one.
pub const POLICY_RESERVED_ONE: u64 = 1 << 17;
/// Policy bit 18: a migration agent may be associated.
pub const POLICY_MIGRATE_MA: u64 = 1 << 18;
/// Policy bit 19: debugging allowed (the hypervisor may read guest memory): a verifier refuses it.
pub const POLICY_DEBUG: u64 = 1 << 19;
/// Policy bit 20: single socket only.
pub const POLICY_SINGLE_SOCKET: u64 = 1 << 20;

/// PLATFORM_INFO bit 0: SMT enabled.
pub const PLATFORM_INFO_SMT_EN: u64 = 1 << 0;
/// PLATFORM_INFO bit 1: TSME enabled.
pub const PLATFORM_INFO_TSME_EN: u64 = 1 << 1;
/// PLATFORM_INFO bit 2: ECC memory.
pub const PLATFORM_INFO_ECC_EN: u64 = 1 << 2;

/// KEY_INFO bit 0: AUTHOR_KEY_EN.
pub const KEY_INFO_AUTHOR_KEY_EN: u32 = 1 << 0;
/// KEY_INFO bit 1: MASK_CHIP_KEY (no signature).
pub const KEY_INFO_MASK_CHIP_KEY: u32 = 1 << 1;
/// KEY_INFO bits 4:2: which key signed.
pub const KEY_INFO_SIGNING_KEY_SHIFT: u32 = 2;
/// SIGNING_KEY 0: the VCEK.
pub const KEY_INFO_SIGNING_KEY_VCEK: u32 = 0;
/// SIGNING_KEY 1: the VLEK.
pub const KEY_INFO_SIGNING_KEY_VLEK: u32 = 1;
/// SIGNING_KEY 7: none.
pub const KEY_INFO_SIGNING_KEY_NONE: u32 = 7;

/// TCB_VERSION (SEV-SNP ABI, "TCB_VERSION structure"): one SVN byte per firmware component; which
/// byte is which depends on the processor generation ([`TcbLayout`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(transparent)]
pub struct TcbVersion(pub [u8; 8]);

/// Where TCB_VERSION's SVNs lie: Milan and Genoa (family 19h) use bytes 0, 1, 6, 7; Turin and later
/// (family 1Ah) add an FMC byte and move the others. A v3 report's CPUID_FAM_ID tells them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcbLayout {
    /// Bootloader 0, TEE 1, reserved 2..6, SNP 6, microcode 7.
    MilanGenoa,
    /// FMC 0, bootloader 1, TEE 2, SNP 3, reserved 4..7, microcode 7.
    Turin,
}

/// TCB_VERSION's SVNs by name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcbParts {
    /// FMC SVN (Turin on; 0 before).
    pub fmc: u8,
    /// Boot loader SVN.
    pub bootloader: u8,
    /// PSP OS (TEE) SVN.
    pub tee: u8,
    /// SNP firmware SVN.
    pub snp: u8,
    /// CPU microcode SVN.
    pub microcode: u8,
}

impl TcbLayout {
    /// The layout for a report's CPUID_FAM_ID (family 1Ah and later: Turin's).
    pub const fn for_family(family: u8) -> Self {
        if family >= 0x1A { Self::Turin } else { Self::MilanGenoa }
    }
}

impl TcbVersion {
    /// The word for `parts` laid out as `layout` (Milan/Genoa drop the FMC SVN).
    pub const fn new(layout: TcbLayout, parts: TcbParts) -> Self {
        match layout {
            TcbLayout::MilanGenoa => {
                Self([parts.bootloader, parts.tee, 0, 0, 0, 0, parts.snp, parts.microcode])
            }
            TcbLayout::Turin => {
                Self([parts.fmc, parts.bootloader, parts.tee, parts.snp, 0, 0, 0, parts.microcode])
            }
        }
    }

    /// The SVNs read as `layout`.
    pub const fn parts(self, layout: TcbLayout) -> TcbParts {
        let b = self.0;
        match layout {
            TcbLayout::MilanGenoa => {
                TcbParts { fmc: 0, bootloader: b[0], tee: b[1], snp: b[6], microcode: b[7] }
            }
            TcbLayout::Turin => {
                TcbParts { fmc: b[0], bootloader: b[1], tee: b[2], snp: b[3], microcode: b[7] }
            }
        }
    }

    /// The word as MSG_KEY_REQ's TCB_VERSION carries it.
    pub const fn to_u64(self) -> u64 {
        u64::from_le_bytes(self.0)
    }
}

/// One certificate-table entry (GHCB spec, AMD 56421, §4.1.8.1): the certificate's GUID and where its
/// bytes lie in the table. The table ends with an all-zero entry; the data follows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct CertTableEntry {
    /// 0x00: the GUID, in RFC 4122 (string) byte order, as `snpguest`, the `sev` crate and AMD's
    /// `sev-guest` tools write it (not the EFI mixed-endian order of the services manifest).
    pub guid: [u8; 16],
    /// 0x10: the certificate's offset from the start of the table.
    pub offset: u32,
    /// 0x14: its length in bytes.
    pub length: u32,
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<CertTableEntry>() == 24);
    assert!(offset_of!(CertTableEntry, offset) == 0x10);
    assert!(offset_of!(CertTableEntry, length) == 0x14);
};

/// c0b406a4-a803-4952-9743-3fb6014cd0ae: the AMD root key (ARK) certificate.
pub const CERT_GUID_ARK: [u8; 16] =
    [0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52, 0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae];
/// 4ab7b379-bbac-4fe4-a02f-05aef327c782: the AMD SEV key (ASK) certificate.
pub const CERT_GUID_ASK: [u8; 16] =
    [0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4, 0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82];
/// 63da758d-e664-4564-adc5-f4b93be8accd: the chip's VCEK certificate.
pub const CERT_GUID_VCEK: [u8; 16] =
    [0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd];
/// a8074bc2-a25a-483e-aae6-39c045a0b8a1: a VLEK certificate.
pub const CERT_GUID_VLEK: [u8; 16] =
    [0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e, 0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8, 0xa1];
/// 92f81bc3-5811-4d3d-97ff-d19f88dc67ea: a certificate revocation list.
pub const CERT_GUID_CRL: [u8; 16] =
    [0x92, 0xf8, 0x1b, 0xc3, 0x58, 0x11, 0x4d, 0x3d, 0x97, 0xff, 0xd1, 0x9f, 0x88, 0xdc, 0x67, 0xea];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcb_layouts_place_each_svn_where_the_abi_says() {
        let parts = TcbParts { fmc: 9, bootloader: 1, tee: 2, snp: 3, microcode: 4 };
        let milan = TcbVersion::new(TcbLayout::MilanGenoa, parts);
        assert_eq!(milan.0, [1, 2, 0, 0, 0, 0, 3, 4]);
        assert_eq!(milan.parts(TcbLayout::MilanGenoa), TcbParts { fmc: 0, ..parts });
        let turin = TcbVersion::new(TcbLayout::Turin, parts);
        assert_eq!(turin.0, [9, 1, 2, 3, 0, 0, 0, 4]);
        assert_eq!(turin.parts(TcbLayout::Turin), parts);
        assert_eq!(milan.to_u64(), 0x0403_0000_0000_0201);
        assert_eq!(TcbLayout::for_family(0x19), TcbLayout::MilanGenoa);
        assert_eq!(TcbLayout::for_family(0x1A), TcbLayout::Turin);
    }
}
