//! SNP guest messages: the encrypted header-plus-payload page a guest sends to the PSP through the
//! hypervisor (SNP_GUEST_REQUEST), and the request and response payloads for reports and derived keys.
//!
//! Sources: SEV-SNP ABI (AMD 56860), "Message Header Format" (the 0x60-byte header, AES-256-GCM with
//! the VMPCK named in the header), "Message Type Encodings", and the MSG_REPORT_REQ, MSG_REPORT_RSP,
//! MSG_KEY_REQ and MSG_KEY_RSP structure tables; the guest's side as
//! Linux `drivers/virt/coco/sev-guest` and `include/uapi/linux/sev-guest.h` implement it, and the
//! secrets page (VMPCK0..3, SEV-SNP ABI "Secrets Page Format"). All integers are little-endian.
//!
//! Encryption (same ABI section): IV = MSG_SEQNO as 8 little-endian bytes then 4 zero bytes; AAD =
//! header bytes 0x30..0x60 ([`MSG_AAD_RANGE`]); the 16-byte tag in the first half of AUTHTAG; the
//! ciphertext is exactly MSG_SZ bytes long.
use core::ops::Range;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The guest message header (SEV-SNP ABI, AMD 56860, "Message Header Format"): 0x60 bytes at the start
/// of the request and response pages, the payload following at [`MSG_HEADER_SIZE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct GuestMessageHeader {
    /// 0x00: the AES-GCM tag in bytes 0..16; bytes 16..32 are zero for AES-256-GCM.
    pub authtag: [u8; 32],
    /// 0x20: the message sequence number, also the IV.
    pub msg_seqno: u64,
    /// 0x28: reserved, must be zero.
    pub reserved_0x28: [u8; 8],
    /// 0x30: the AEAD algorithm ([`MSG_ALGO_AES_256_GCM`]); AAD starts here.
    pub algo: u8,
    /// 0x31: the header version ([`MSG_HDR_VERSION`]).
    pub hdr_version: u8,
    /// 0x32: the header size ([`MSG_HEADER_SIZE`]).
    pub hdr_sz: u16,
    /// 0x34: the message type ([`MsgType`]).
    pub msg_type: u8,
    /// 0x35: the payload's version (1 for every message Warden sends).
    pub msg_version: u8,
    /// 0x36: the payload's (plaintext and ciphertext) length in bytes.
    pub msg_sz: u16,
    /// 0x38: reserved, must be zero.
    pub reserved_0x38: [u8; 4],
    /// 0x3C: which VMPCK (0..3) encrypts the message.
    pub msg_vmpck: u8,
    /// 0x3D: reserved to the end of the header, must be zero.
    pub reserved_0x3d: [u8; 35],
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<GuestMessageHeader>() == MSG_HEADER_SIZE);
    assert!(offset_of!(GuestMessageHeader, msg_seqno) == 0x20);
    assert!(offset_of!(GuestMessageHeader, reserved_0x28) == 0x28);
    assert!(offset_of!(GuestMessageHeader, algo) == MSG_AAD_RANGE.start);
    assert!(offset_of!(GuestMessageHeader, hdr_version) == 0x31);
    assert!(offset_of!(GuestMessageHeader, hdr_sz) == 0x32);
    assert!(offset_of!(GuestMessageHeader, msg_type) == 0x34);
    assert!(offset_of!(GuestMessageHeader, msg_version) == 0x35);
    assert!(offset_of!(GuestMessageHeader, msg_sz) == 0x36);
    assert!(offset_of!(GuestMessageHeader, reserved_0x38) == 0x38);
    assert!(offset_of!(GuestMessageHeader, msg_vmpck) == 0x3C);
    assert!(offset_of!(GuestMessageHeader, reserved_0x3d) == 0x3D);
    assert!(MSG_AAD_RANGE.end == MSG_HEADER_SIZE);
};

impl GuestMessageHeader {
    /// Whether every reserved byte, and the unused half of AUTHTAG, is zero.
    pub fn reserved_clear(&self) -> bool {
        let reserved =
            [&self.authtag[MSG_TAG_SIZE..], &self.reserved_0x28, &self.reserved_0x38, &self.reserved_0x3d];
        reserved.iter().all(|r| r.iter().all(|&b| b == 0))
    }
}

/// The header's size, and where the payload starts in a message page.
pub const MSG_HEADER_SIZE: usize = 0x60;
/// The header bytes authenticated as AAD: ALGO through the end of the header.
pub const MSG_AAD_RANGE: Range<usize> = 0x30..0x60;
/// ALGO 1: AES-256-GCM, the only algorithm defined.
pub const MSG_ALGO_AES_256_GCM: u8 = 1;
/// HDR_VERSION 1, the only header version defined.
pub const MSG_HDR_VERSION: u8 = 1;
/// The AES-GCM tag's size within AUTHTAG.
pub const MSG_TAG_SIZE: usize = 16;
/// The AES-GCM IV's size (the sequence number, zero-padded).
pub const MSG_IV_SIZE: usize = 12;
/// A message page: header and payload together fill one 4 KiB page.
pub const MSG_PAGE_SIZE: usize = 0x1000;
/// The largest payload one page carries.
pub const MSG_MAX_PAYLOAD: usize = MSG_PAGE_SIZE - MSG_HEADER_SIZE;

/// The AES-GCM IV for `seqno`: its 8 little-endian bytes, then 4 zero bytes.
pub const fn msg_iv(seqno: u64) -> [u8; MSG_IV_SIZE] {
    let le = seqno.to_le_bytes();
    [le[0], le[1], le[2], le[3], le[4], le[5], le[6], le[7], 0, 0, 0, 0]
}

/// A MSG_TYPE (SEV-SNP ABI, AMD 56860, "Message Type Encodings"). Open: a value the PSP or a hostile
/// hypervisor writes that is not listed survives and is refused by whoever checks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MsgType(pub u8);

impl MsgType {
    /// MSG_CPUID_REQ.
    pub const CPUID_REQ: Self = Self(1);
    /// MSG_CPUID_RSP.
    pub const CPUID_RSP: Self = Self(2);
    /// MSG_KEY_REQ: derive a key ([`KeyRequest`]).
    pub const KEY_REQ: Self = Self(3);
    /// MSG_KEY_RSP ([`KeyResponse`]).
    pub const KEY_RSP: Self = Self(4);
    /// MSG_REPORT_REQ: an attestation report ([`ReportRequest`]).
    pub const REPORT_REQ: Self = Self(5);
    /// MSG_REPORT_RSP ([`ReportResponse`]).
    pub const REPORT_RSP: Self = Self(6);

    /// The response type the PSP answers this request type with: always the request's type + 1.
    pub const fn response(self) -> Self {
        Self(self.0.wrapping_add(1))
    }
}

/// The payload version Warden sends for every message type (MSG_VERSION 1).
pub const MSG_VERSION_1: u8 = 1;

/// MSG_REPORT_REQ's payload (SEV-SNP ABI, AMD 56860, MSG_REPORT_REQ table): 0x60 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct ReportRequest {
    /// 0x00: REPORT_DATA, copied into the report unchanged.
    pub report_data: [u8; 64],
    /// 0x40: the VMPL the report is for; not lower (more privileged) than the requester's.
    pub vmpl: u32,
    /// 0x44: bits 1:0 KEY_SEL ([`REPORT_KEY_SEL_DEFAULT`], …); the rest reserved, zero.
    pub flags: u32,
    /// 0x48: reserved, must be zero.
    pub reserved_0x48: [u8; 24],
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<ReportRequest>() == 0x60);
    assert!(offset_of!(ReportRequest, vmpl) == 0x40);
    assert!(offset_of!(ReportRequest, flags) == 0x44);
    assert!(offset_of!(ReportRequest, reserved_0x48) == 0x48);
};

/// KEY_SEL 0: sign with the VLEK if one is installed, else the VCEK.
pub const REPORT_KEY_SEL_DEFAULT: u32 = 0;
/// KEY_SEL 1: sign with the VCEK.
pub const REPORT_KEY_SEL_VCEK: u32 = 1;
/// KEY_SEL 2: sign with the VLEK.
pub const REPORT_KEY_SEL_VLEK: u32 = 2;
/// The KEY_SEL bits in [`ReportRequest::flags`].
pub const REPORT_KEY_SEL_MASK: u32 = 0b11;

/// MSG_REPORT_RSP's payload (SEV-SNP ABI, AMD 56860, MSG_REPORT_RSP table): status, size, then the
/// ATTESTATION_REPORT ([`crate::snp_report::AttestationReport`]); 0x4C0 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct ReportResponse {
    /// 0x00: the PSP's status ([`PspStatus`]); 0 = success.
    pub status: u32,
    /// 0x04: the report's size in bytes (0x4A0).
    pub report_size: u32,
    /// 0x08: reserved, must be zero.
    pub reserved_0x08: [u8; 24],
    /// 0x20: the report.
    pub report: crate::snp_report::AttestationReport,
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(offset_of!(ReportResponse, report_size) == 0x04);
    assert!(offset_of!(ReportResponse, reserved_0x08) == 0x08);
    assert!(offset_of!(ReportResponse, report) == 0x20);
    assert!(size_of::<ReportResponse>() == 0x20 + crate::snp_report::SNP_REPORT_SIZE);
    assert!(size_of::<ReportResponse>() <= MSG_MAX_PAYLOAD);
};

/// MSG_KEY_REQ's payload (SEV-SNP ABI, AMD 56860, MSG_KEY_REQ table): 0x20 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct KeyRequest {
    /// 0x00: bit 0 ROOT_KEY_SELECT ([`KEY_ROOT_VCEK`] or [`KEY_ROOT_VMRK`]); Warden sets no other bit.
    pub root_key_select: u32,
    /// 0x04: reserved, must be zero.
    pub reserved_0x04: u32,
    /// 0x08: which guest fields are mixed into the key ([`GuestFieldSelect`]).
    pub guest_field_select: u64,
    /// 0x10: the VMPL the key is for; not lower than the requester's.
    pub vmpl: u32,
    /// 0x14: the guest SVN mixed in (when selected); not above the guest's own.
    pub guest_svn: u32,
    /// 0x18: the TCB version mixed in (when selected); not above the committed TCB.
    pub tcb_version: u64,
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<KeyRequest>() == 0x20);
    assert!(offset_of!(KeyRequest, reserved_0x04) == 0x04);
    assert!(offset_of!(KeyRequest, guest_field_select) == 0x08);
    assert!(offset_of!(KeyRequest, vmpl) == 0x10);
    assert!(offset_of!(KeyRequest, guest_svn) == 0x14);
    assert!(offset_of!(KeyRequest, tcb_version) == 0x18);
};

/// ROOT_KEY_SELECT 0: derive from the VCEK (chip-unique, TCB-dependent).
pub const KEY_ROOT_VCEK: u32 = 0;
/// ROOT_KEY_SELECT 1: derive from the VM root key (migration agent's; absent without one).
pub const KEY_ROOT_VMRK: u32 = 1;

/// MSG_KEY_RSP's payload (SEV-SNP ABI, AMD 56860, MSG_KEY_RSP table): 0x40 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct KeyResponse {
    /// 0x00: the PSP's status ([`PspStatus`]); 0 = success.
    pub status: u32,
    /// 0x04: reserved, must be zero.
    pub reserved_0x04: [u8; 28],
    /// 0x20: the derived key. A secret: whoever holds it wipes it.
    pub derived_key: [u8; 32],
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<KeyResponse>() == 0x40);
    assert!(offset_of!(KeyResponse, reserved_0x04) == 0x04);
    assert!(offset_of!(KeyResponse, derived_key) == 0x20);
};

/// MSG_KEY_REQ's GUEST_FIELD_SELECT bits (SEV-SNP ABI, AMD 56860, MSG_KEY_REQ table): each set bit
/// mixes that launch field into the derived key, so the key changes when the field does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GuestFieldSelect(pub u64);

impl GuestFieldSelect {
    /// Bit 0: the guest policy.
    pub const POLICY: Self = Self(1 << 0);
    /// Bit 1: IMAGE_ID.
    pub const IMAGE_ID: Self = Self(1 << 1);
    /// Bit 2: FAMILY_ID.
    pub const FAMILY_ID: Self = Self(1 << 2);
    /// Bit 3: the launch MEASUREMENT.
    pub const MEASUREMENT: Self = Self(1 << 3);
    /// Bit 4: GUEST_SVN.
    pub const GUEST_SVN: Self = Self(1 << 4);
    /// Bit 5: TCB_VERSION.
    pub const TCB_VERSION: Self = Self(1 << 5);
    /// Bit 6: LAUNCH_MIT_VECTOR (newer firmware; reserved before).
    pub const LAUNCH_MIT_VECTOR: Self = Self(1 << 6);

    /// Both selections together.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether every bit of `other` is selected.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

/// A PSP status in a response payload (SEV-SNP ABI, AMD 56860, "Status Codes"). Open: values the
/// table does not list survive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PspStatus(pub u32);

impl PspStatus {
    /// SUCCESS.
    pub const SUCCESS: Self = Self(0);
    /// INVALID_PARAM: a field of the request is out of range (a VMPL below the requester's, …).
    pub const INVALID_PARAM: Self = Self(0x16);
    /// INVALID_KEY: the key selected is not available (no VLEK, no VMRK).
    pub const INVALID_KEY: Self = Self(0x27);
}

/// SEV-SNP ABI "Secrets Page Format": VMPCK0's offset; VMPCKn is at `VMPCK0 + 32 * n`.
pub const SECRETS_VMPCK0_OFFSET: usize = 0x20;
/// A VMPCK's size: an AES-256 key.
pub const VMPCK_SIZE: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::FromZeros;

    #[test]
    fn iv_is_the_sequence_number_little_endian_zero_padded() {
        assert_eq!(msg_iv(1), [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(msg_iv(0x0102_0304_0506_0708), [8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 0, 0]);
    }

    #[test]
    fn response_types_follow_their_requests() {
        assert_eq!(MsgType::REPORT_REQ.response(), MsgType::REPORT_RSP);
        assert_eq!(MsgType::KEY_REQ.response(), MsgType::KEY_RSP);
        assert_eq!(MsgType(0xFF).response(), MsgType(0));
    }

    #[test]
    fn reserved_bytes_include_the_unused_tag_half() {
        let mut header = GuestMessageHeader::new_zeroed();
        assert!(header.reserved_clear());
        header.authtag[MSG_TAG_SIZE - 1] = 1;
        assert!(header.reserved_clear(), "the tag itself is not reserved");
        header.authtag[MSG_TAG_SIZE] = 1;
        assert!(!header.reserved_clear());
        header = GuestMessageHeader { reserved_0x3d: [0; 35], reserved_0x38: [0, 0, 0, 1], ..header };
        assert!(!header.reserved_clear());
    }
}
