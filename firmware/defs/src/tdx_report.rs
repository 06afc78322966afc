//! The TDX attestation definitions: TDREPORT_STRUCT as TDG.MR.REPORT writes it, and the TDCALL leaves
//! that produce and extend its measurements.
//!
//! Source: Intel TDX Module ABI specification, "TDREPORT_STRUCT" (REPORTMACSTRUCT, TEE_TCB_INFO,
//! TDINFO_STRUCT), TDG.MR.REPORT (leaf 4: RCX = TDREPORT GPA, 1024-aligned; RDX = REPORTDATA GPA,
//! 64-aligned; R8 = subtype 0) and TDG.MR.RTMR.EXTEND (leaf 2: RCX = GPA of 48 bytes, 64-aligned;
//! RDX = RTMR index 0..3; RTMR\[i\] = SHA-384(RTMR\[i\] ‖ data)); Linux
//! `tools/testing/selftests/tdx` and `arch/x86/include/asm/shared/tdx.h` agree on every offset.
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// TDCALL leaf TDG.MR.RTMR.EXTEND.
pub const TDG_MR_RTMR_EXTEND: u64 = 2;
/// TDCALL leaf TDG.MR.REPORT.
pub const TDG_MR_REPORT: u64 = 4;
/// The size of TDREPORT_STRUCT, and its required alignment.
pub const TDREPORT_SIZE: usize = 1024;
/// REPORTDATA's size and alignment.
pub const TD_REPORT_DATA_SIZE: usize = 64;
/// One RTMR (and MRTD): a SHA-384 digest.
pub const TD_MEASUREMENT_SIZE: usize = 48;
/// How many RTMRs a TD has.
pub const RTMR_COUNT: usize = 4;
/// REPORTTYPE.TYPE of a TDX report (0x00 is SGX).
pub const REPORT_TYPE_TDX: u8 = 0x81;

/// REPORTMACSTRUCT: the part of the report the CPU MACs (TDX Module ABI, "REPORTMACSTRUCT"): 256 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct ReportMacStruct {
    /// 0x00: REPORTTYPE: TYPE ([`REPORT_TYPE_TDX`]), SUBTYPE, VERSION, reserved.
    pub report_type: [u8; 4],
    /// 0x04: reserved, zero.
    pub reserved_0x04: [u8; 12],
    /// 0x10: the CPU's security version.
    pub cpu_svn: [u8; 16],
    /// 0x20: SHA-384 of TEE_TCB_INFO.
    pub tee_tcb_info_hash: [u8; 48],
    /// 0x50: SHA-384 of TDINFO.
    pub tee_info_hash: [u8; 48],
    /// 0x80: the caller's REPORTDATA.
    pub report_data: [u8; TD_REPORT_DATA_SIZE],
    /// 0xC0: reserved, zero.
    pub reserved_0xc0: [u8; 32],
    /// 0xE0: the MAC over the fields above, with a key only the CPU holds.
    pub mac: [u8; 32],
}

/// TEE_TCB_INFO: the TDX module's identity and TCB (TDX Module ABI, "TEE_TCB_INFO"): 239 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct TeeTcbInfo {
    /// 0x00: which of the fields below are valid.
    pub valid: [u8; 8],
    /// 0x08: the TDX module's SVN.
    pub tee_tcb_svn: [u8; 16],
    /// 0x18: the TDX module's measurement.
    pub mr_seam: [u8; 48],
    /// 0x48: its signer's measurement (zero for Intel's module).
    pub mr_signer_seam: [u8; 48],
    /// 0x78: the TDX module's attributes.
    pub attributes: [u8; 8],
    /// 0x80: the SVN of the module the TD was migrated or updated to (TDX 1.5).
    pub tee_tcb_svn2: [u8; 16],
    /// 0x90: reserved, zero.
    pub reserved_0x90: [u8; 95],
}

/// TDINFO_STRUCT: the TD's own measurements (TDX Module ABI, "TDINFO_STRUCT"): 512 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct TdInfo {
    /// 0x000: TD attributes (bit 0: DEBUG).
    pub attributes: [u8; 8],
    /// 0x008: the extended features allowed (XFAM).
    pub xfam: [u8; 8],
    /// 0x010: the build-time measurement of the TD (Warden's image).
    pub mr_td: [u8; 48],
    /// 0x040: the host's configuration ID.
    pub mr_config_id: [u8; 48],
    /// 0x070: the TD owner's ID.
    pub mr_owner: [u8; 48],
    /// 0x0A0: the owner's configuration.
    pub mr_owner_config: [u8; 48],
    /// 0x0D0: RTMR\[0..4\], the run-time extended measurements.
    pub rtmr: [[u8; TD_MEASUREMENT_SIZE]; RTMR_COUNT],
    /// 0x190: the service TDs' hash.
    pub servtd_hash: [u8; 48],
    /// 0x1C0: reserved, zero.
    pub reserved_0x1c0: [u8; 64],
}

/// TDREPORT_STRUCT (TDX Module ABI, "TDREPORT_STRUCT"): 1024 bytes, what TDG.MR.REPORT writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct TdReport {
    /// 0x000: the MACed part.
    pub mac_struct: ReportMacStruct,
    /// 0x100: the TDX module's TCB.
    pub tee_tcb_info: TeeTcbInfo,
    /// 0x1EF: reserved, zero.
    pub reserved_0x1ef: [u8; 17],
    /// 0x200: the TD's measurements.
    pub td_info: TdInfo,
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<ReportMacStruct>() == 256);
    assert!(offset_of!(ReportMacStruct, cpu_svn) == 0x10);
    assert!(offset_of!(ReportMacStruct, tee_tcb_info_hash) == 0x20);
    assert!(offset_of!(ReportMacStruct, tee_info_hash) == 0x50);
    assert!(offset_of!(ReportMacStruct, report_data) == 0x80);
    assert!(offset_of!(ReportMacStruct, reserved_0xc0) == 0xC0);
    assert!(offset_of!(ReportMacStruct, mac) == 0xE0);
    assert!(size_of::<TeeTcbInfo>() == 239);
    assert!(offset_of!(TeeTcbInfo, mr_seam) == 0x18);
    assert!(offset_of!(TeeTcbInfo, attributes) == 0x78);
    assert!(offset_of!(TeeTcbInfo, reserved_0x90) == 0x90);
    assert!(size_of::<TdInfo>() == 512);
    assert!(offset_of!(TdInfo, mr_td) == 0x10);
    assert!(offset_of!(TdInfo, rtmr) == 0xD0);
    assert!(offset_of!(TdInfo, servtd_hash) == 0x190);
    assert!(size_of::<TdReport>() == TDREPORT_SIZE);
    assert!(offset_of!(TdReport, tee_tcb_info) == 0x100);
    assert!(offset_of!(TdReport, reserved_0x1ef) == 0x1EF);
    assert!(offset_of!(TdReport, td_info) == 0x200);
    // Absolute offsets verifiers read: MRTD at 0x210, RTMR0 at 0x2D0, REPORTDATA at 0x80.
    assert!(offset_of!(TdReport, td_info) + offset_of!(TdInfo, mr_td) == 0x210);
    assert!(offset_of!(TdReport, td_info) + offset_of!(TdInfo, rtmr) == 0x2D0);
};
