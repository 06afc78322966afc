//! The SVSM protocol's wire facts: call numbering, result codes, the calling area and the PVALIDATE
//! request list.
//!
//! Source: the SVSM spec (AMD 58019): the calling convention, calling area and result codes (chapter
//! "SVSM calling convention"), the core protocol with its PVALIDATE request, and the attestation and
//! vTPM call numbers. Cross-checked with Linux `arch/x86/include/asm/sev.h`, EDK2
//! `MdePkg/Include/Register/Amd/Svsm.h` and COCONUT `kernel/src/protocols/`.
use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// The core protocol.
pub const PROTOCOL_CORE: u32 = 0;
/// The attestation protocol.
pub const PROTOCOL_ATTEST: u32 = 1;
/// The vTPM protocol.
pub const PROTOCOL_VTPM: u32 = 2;

/// Warden's measured-boot protocol: the TCG event log of what Warden measured into its vTPM at start-up
/// (`docs/measured-boot.md`). The SVSM spec (AMD 58019) allocates protocol numbers itself (0 core,
/// 1 attestation, 2 vTPM; later revisions add 3 APIC and 4 UEFI MM) and reserves no range for an
/// implementation's own protocols, so Warden takes a number far above any it allocates, with bit 31 set;
/// a guest finds it with SVSM_CORE_QUERY_PROTOCOL like any other, and an SVSM without it answers
/// SVSM_ERR_UNSUPPORTED_PROTOCOL.
pub const PROTOCOL_WARDEN_MEASURED_BOOT: u32 = 0x8000_0000;

/// Warden measured-boot protocol calls (`docs/measured-boot.md`).
pub mod measured_boot_call {
    /// Copy the event log into a guest buffer: RCX = its GPA (page-aligned), RDX = its size in bytes;
    /// RCX = the log's size on every return.
    pub const GET_EVENT_LOG: u32 = 0;
}

/// Core protocol calls (SVSM spec, AMD 58019, "Core Protocol").
pub mod core_call {
    /// Move the calling vCPU's calling area.
    pub const REMAP_CA: u32 = 0;
    /// Validate or rescind guest pages.
    pub const PVALIDATE: u32 = 1;
    /// Register a VMSA for a vCPU.
    pub const CREATE_VCPU: u32 = 2;
    /// Unregister a VMSA.
    pub const DELETE_VCPU: u32 = 3;
    /// Give the SVSM memory.
    pub const DEPOSIT_MEM: u32 = 4;
    /// Take memory back.
    pub const WITHDRAW_MEM: u32 = 5;
    /// Ask which versions of a protocol are served.
    pub const QUERY_PROTOCOL: u32 = 6;
    /// Configure vTOM.
    pub const CONFIGURE_VTOM: u32 = 7;
}

/// Attestation protocol calls (SVSM spec, "Attestation Protocol").
pub mod attest_call {
    /// Attest all services.
    pub const ATTEST_SERVICES: u32 = 0;
    /// Attest one service.
    pub const ATTEST_SINGLE_SERVICE: u32 = 1;
}

/// vTPM protocol calls (SVSM spec, "vTPM Protocol").
pub mod vtpm_call {
    /// Which platform commands are supported.
    pub const QUERY: u32 = 0;
    /// Run a platform command.
    pub const CMD: u32 = 1;
}

/// A call's identity: protocol in RAX bits 63:32, call in RAX bits 31:0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallId {
    /// RAX bits 63:32.
    pub protocol: u32,
    /// RAX bits 31:0.
    pub call: u32,
}

impl CallId {
    /// Splits RAX.
    pub const fn from_rax(rax: u64) -> Self {
        Self { protocol: (rax >> 32) as u32, call: rax as u32 }
    }
    /// Builds RAX.
    pub const fn to_rax(self) -> u64 {
        ((self.protocol as u64) << 32) | self.call as u64
    }
}

/// An SVSM result code in RAX. Open: a caller reading results (the host test program) keeps unknown
/// values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResultCode(pub u64);

impl ResultCode {
    /// SVSM_SUCCESS.
    pub const SUCCESS: Self = Self(0);
    /// SVSM_ERR_INCOMPLETE.
    pub const INCOMPLETE: Self = Self(0x8000_0000);
    /// SVSM_ERR_UNSUPPORTED_PROTOCOL.
    pub const UNSUPPORTED_PROTOCOL: Self = Self(0x8000_0001);
    /// SVSM_ERR_UNSUPPORTED_CALL.
    pub const UNSUPPORTED_CALL: Self = Self(0x8000_0002);
    /// SVSM_ERR_INVALID_ADDRESS.
    pub const INVALID_ADDRESS: Self = Self(0x8000_0003);
    /// SVSM_ERR_INVALID_FORMAT.
    pub const INVALID_FORMAT: Self = Self(0x8000_0004);
    /// SVSM_ERR_INVALID_PARAMETER.
    pub const INVALID_PARAMETER: Self = Self(0x8000_0005);
    /// SVSM_ERR_INVALID_REQUEST.
    pub const INVALID_REQUEST: Self = Self(0x8000_0006);
    /// SVSM_ERR_BUSY.
    pub const BUSY: Self = Self(0x8000_0007);
    /// The base of protocol-specific codes.
    pub const PROTOCOL_BASE: Self = Self(0x8000_1000);
    /// SVSM_PVALIDATE_FAIL_INPUT (hardware code 1).
    pub const PVALIDATE_FAIL_INPUT: Self = Self(0x8000_1001);
    /// An RMPADJUST FAIL_PERMISSION passed through the same way (hardware code 2; COCONUT does this).
    pub const PVALIDATE_FAIL_PERMISSION: Self = Self(0x8000_1002);
    /// SVSM_PVALIDATE_FAIL_SIZEMISMATCH (hardware code 6).
    pub const PVALIDATE_FAIL_SIZEMISMATCH: Self = Self(0x8000_1006);
    /// SVSM_PVALIDATE_FAIL_NO_CHANGE: CF = 1, the RMP entry was unchanged (encoded 0x10, as COCONUT).
    pub const PVALIDATE_FAIL_NO_CHANGE: Self = Self(0x8000_1010);

    /// A PVALIDATE/RMPADJUST hardware return code as the protocol-specific result.
    pub const fn protocol_specific(code: u32) -> Self {
        Self(Self::PROTOCOL_BASE.0 + code as u64)
    }
}

/// The calling area's header (SVSM spec, AMD 58019, "Calling Area"): the first 8 bytes of a 4 KiB per-vCPU page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct CallingAreaHeader {
    /// 0x0: the guest sets 1 before VMGEXIT; Warden clears it before acting on the call.
    pub call_pending: u8,
    /// 0x1: meaning unconfirmed (Linux and EDK2 never set it); Warden ignores it.
    pub mem_available: u8,
    /// 0x2: reserved (COCONUT's APIC protocol uses byte 2).
    pub reserved: [u8; 6],
}

/// Where the calling area's free buffer starts (Linux puts the PVALIDATE list here).
pub const CALLING_AREA_BUFFER_OFFSET: u64 = 8;

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<CallingAreaHeader>() == 8);
    assert!(offset_of!(CallingAreaHeader, call_pending) == 0);
    assert!(offset_of!(CallingAreaHeader, mem_available) == 1);
};

/// The PVALIDATE request header (SVSM spec, SVSM_CORE_PVALIDATE request header), at the 8-byte aligned GPA in RCX.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct PvalidateHeader {
    /// 0x0: how many entries follow.
    pub entries: u16,
    /// 0x2: the next entry to process (cur_index); Warden writes it back.
    pub next: u16,
    /// 0x4: reserved.
    pub reserved: u32,
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<PvalidateHeader>() == 8);
    assert!(offset_of!(PvalidateHeader, entries) == 0);
    assert!(offset_of!(PvalidateHeader, next) == 2);
    assert!(offset_of!(PvalidateHeader, reserved) == 4);
};

/// The most entries a list can have when it starts at a page boundary: (4096 − 8) / 8.
pub const PVALIDATE_MAX_ENTRIES: usize = 511;

/// How many entries fit in the page after a header at page offset `offset` (8-byte aligned).
pub const fn pvalidate_entries_that_fit(offset: u64) -> u64 {
    (4096 - (offset & 0xFFF) - 8) / 8
}

const _: () = assert!(pvalidate_entries_that_fit(0) == PVALIDATE_MAX_ENTRIES as u64);
// Linux puts the list in the calling area's buffer, at offset 8: 510 entries (Linux `svsm_pvalidate_call`).
const _: () = assert!(pvalidate_entries_that_fit(CALLING_AREA_BUFFER_OFFSET) == 510);

/// One PVALIDATE entry (SVSM spec, SVSM_CORE_PVALIDATE entry format).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PvalidateEntry(pub u64);

impl PvalidateEntry {
    /// Bits bits 1:0: 0 = 4K, 1 = 2M, 2 and 3 are invalid.
    pub const PAGE_SIZE_MASK: u64 = 0x3;
    /// Bit 2: 1 = validate, 0 = rescind.
    pub const VALIDATE: u64 = 1 << 2;
    /// Bit 3: treat "unchanged" (CF = 1) as success.
    pub const IGNORE_CF: u64 = 1 << 3;
    /// Bits bits 11:4: must be zero.
    pub const RESERVED_MASK: u64 = 0xFF0;
    /// Bits bits 63:12: the GFN (the page's address with the low bits cleared).
    pub const GPA_MASK: u64 = !0xFFF;

    /// The page-size field.
    pub const fn page_size(self) -> u64 {
        self.0 & Self::PAGE_SIZE_MASK
    }
    /// Whether the entry asks to validate (else rescind).
    pub const fn validate(self) -> bool {
        self.0 & Self::VALIDATE != 0
    }
    /// Whether "unchanged" counts as success.
    pub const fn ignore_cf(self) -> bool {
        self.0 & Self::IGNORE_CF != 0
    }
    /// The reserved bits.
    pub const fn reserved(self) -> u64 {
        self.0 & Self::RESERVED_MASK
    }
    /// The page's guest-physical address.
    pub const fn gpa(self) -> u64 {
        self.0 & Self::GPA_MASK
    }
    /// Builds an entry (the guest side: tests and the host test program).
    pub const fn new(gpa: u64, huge: bool, validate: bool, ignore_cf: bool) -> Self {
        let mut v = gpa & Self::GPA_MASK;
        if huge {
            v |= 1;
        }
        if validate {
            v |= Self::VALIDATE;
        }
        if ignore_cf {
            v |= Self::IGNORE_CF;
        }
        Self(v)
    }
}

/// QUERY_PROTOCOL's input in RCX: `protocol << 32 | version`.
pub const fn query_protocol_input(protocol: u32, version: u32) -> u64 {
    ((protocol as u64) << 32) | version as u64
}

/// QUERY_PROTOCOL's answer in RCX: `max << 32 | min`, or 0 when unsupported.
pub const fn query_protocol_answer(min: u32, max: u32) -> u64 {
    ((max as u64) << 32) | min as u64
}

/// CONFIGURE_VTOM's RCX bit 0: the call is a query.
pub const CONFIGURE_VTOM_QUERY: u64 = 1;

/// The SVSM_VTPM_CMD request header for TPM_SEND_COMMAND (SVSM spec, AMD 58019, vTPM protocol,
/// SVSM_VTPM_CMD; Linux `include/linux/tpm_svsm.h` `struct svsm_vtpm_request`): packed, little-endian,
/// at the start of the 4 KiB buffer, the TPM command right after it. Unaligned integer types keep it
/// packed without `repr(packed)`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct VtpmRequestHeader {
    /// 0x0: the platform command (8 = TPM_SEND_COMMAND).
    pub platform_command: U32,
    /// 0x4: the locality (must be 0).
    pub locality: u8,
    /// 0x5: the TPM command's size in bytes.
    pub size: U32,
}

/// The SVSM_VTPM_CMD response header (Linux `struct svsm_vtpm_response`): the TPM response's size,
/// the response right after it, in the same buffer.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct VtpmResponseHeader {
    /// 0x0: the TPM response's size in bytes.
    pub size: U32,
}

/// The vTPM buffer's size: one 4 KiB page, read and written whole.
pub const VTPM_BUFFER_SIZE: usize = 4096;

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<VtpmRequestHeader>() == 9);
    assert!(offset_of!(VtpmRequestHeader, locality) == 4);
    assert!(offset_of!(VtpmRequestHeader, size) == 5);
    assert!(size_of::<VtpmResponseHeader>() == 4);
};

#[cfg(test)]
mod tests {
    use super::{CallId, PvalidateEntry, ResultCode};

    #[test]
    fn rax_splits_into_protocol_and_call() {
        let id = CallId::from_rax(0x0000_0002_0000_0001);
        assert_eq!((id.protocol, id.call), (2, 1));
        assert_eq!(id.to_rax(), 0x0000_0002_0000_0001);
    }

    #[test]
    fn entry_fields_follow_the_reference_bits() {
        let e = PvalidateEntry(0x1234_5000 | 0x800 | 0x8 | 0x4 | 0x1);
        assert_eq!((e.page_size(), e.validate(), e.ignore_cf()), (1, true, true));
        assert_eq!((e.reserved(), e.gpa()), (0x800, 0x1234_5000));
        assert_eq!(PvalidateEntry::new(0x20_0000, true, true, false).0, 0x20_0005);
        assert_eq!(ResultCode::protocol_specific(6), ResultCode::PVALIDATE_FAIL_SIZEMISMATCH);
    }
}
