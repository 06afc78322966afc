//! The GHCB MSR protocol: request encodings and checks of the hypervisor's responses.
//!
//! Source: GHCB spec (AMD 56421) "GHCB MSR Protocol" (Linux
//! `arch/x86/include/asm/sev-common.h`, COCONUT `msr_protocol.rs`). Bits bits 11:0 of MSR 0xC001_0130 carry the function, the rest its data. Every
//! response is an allegation: its function code must be the one expected for the request, and any
//! echoed or reported value is checked here before the firmware acts on it.

/// The GHCB MSR.
pub const GHCB_MSR: u32 = 0xC001_0130;

const FUNCTION_MASK: u64 = 0xFFF;

/// SEV information request / response.
pub const SEV_INFO_REQ: u64 = 0x002;
/// SEV information response.
pub const SEV_INFO_RESP: u64 = 0x001;
/// Register-GHCB-GPA request.
pub const REGISTER_GPA_REQ: u64 = 0x012;
/// Register-GHCB-GPA response.
pub const REGISTER_GPA_RESP: u64 = 0x013;
/// Page-state-change request.
pub const PSC_REQ: u64 = 0x014;
/// Page-state-change response.
pub const PSC_RESP: u64 = 0x015;
/// Run-at-VMPL request.
pub const RUN_VMPL_REQ: u64 = 0x016;
/// Run-at-VMPL response.
pub const RUN_VMPL_RESP: u64 = 0x017;
/// Hypervisor-features request.
pub const HV_FEATURES_REQ: u64 = 0x080;
/// Hypervisor-features response.
pub const HV_FEATURES_RESP: u64 = 0x081;
/// Termination request (no response).
pub const TERMINATE_REQ: u64 = 0x100;

/// What is wrong with an MSR-protocol response (the hypervisor misbehaved or refused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsrError {
    /// The response's function code is not the one this request expects.
    WrongFunction {
        /// The expected response code.
        expected: u16,
        /// What bits 11:0 held.
        got: u16,
    },
    /// The hypervisor's protocol range does not include [`super::GHCB_PROTOCOL_VERSION`].
    UnsupportedVersion {
        /// Its minimum.
        min: u16,
        /// Its maximum.
        max: u16,
    },
    /// The registration response echoes another GFN than the one requested.
    GfnMismatch {
        /// What Warden asked for.
        requested: u64,
        /// What came back.
        echoed: u64,
    },
    /// A nonzero error in bits 63:32 (page state change, run-at-VMPL).
    Failed(u32),
    /// Features Warden requires and the hypervisor does not report (the missing bits).
    MissingFeatures(u64),
}

fn expect(response: u64, expected: u64) -> Result<(), MsrError> {
    let got = response & FUNCTION_MASK;
    if got == expected {
        Ok(())
    } else {
        Err(MsrError::WrongFunction { expected: expected as u16, got: got as u16 })
    }
}

/// The SEV information the hypervisor reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SevInfo {
    /// bits 63:48: the highest GHCB protocol version.
    pub max_version: u16,
    /// bits 47:32: the lowest.
    pub min_version: u16,
    /// bits 31:24: the C-bit position.
    pub c_bit: u8,
}

/// Checks a SEV_INFO response and that it supports GHCB version 2, which SNP needs.
pub fn parse_sev_info(response: u64) -> Result<SevInfo, MsrError> {
    expect(response, SEV_INFO_RESP)?;
    let info = SevInfo {
        max_version: (response >> 48) as u16,
        min_version: (response >> 32) as u16,
        c_bit: (response >> 24) as u8,
    };
    let version = super::GHCB_PROTOCOL_VERSION;
    if info.min_version > version || info.max_version < version {
        return Err(MsrError::UnsupportedVersion { min: info.min_version, max: info.max_version });
    }
    Ok(info)
}

/// The request that registers the GHCB at page frame `gfn` (bits 63:12).
pub const fn register_gpa_request(gfn: u64) -> u64 {
    (gfn << 12) | REGISTER_GPA_REQ
}

/// Checks a registration response: it must echo the requested GFN.
pub fn check_register_gpa(response: u64, gfn: u64) -> Result<(), MsrError> {
    expect(response, REGISTER_GPA_RESP)?;
    let echoed = response >> 12;
    let requested = gfn & (u64::MAX >> 12);
    if echoed != requested {
        return Err(MsrError::GfnMismatch { requested, echoed });
    }
    Ok(())
}

/// The page-state operation of an MSR-protocol PSC request (bits 55:52).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum PscOp {
    /// Make the page private.
    Private = 1,
    /// Make the page shared.
    Shared = 2,
}

/// The request that changes the state of one 4 KiB page: GFN in bits 51:12 (40 bits), op in bits 55:52.
pub const fn psc_request(gfn: u64, op: PscOp) -> u64 {
    ((op as u64) << 52) | ((gfn & 0xFF_FFFF_FFFF) << 12) | PSC_REQ
}

/// Checks a PSC response: bits 63:32 is 0 on success.
pub fn check_psc(response: u64) -> Result<(), MsrError> {
    expect(response, PSC_RESP)?;
    match (response >> 32) as u32 {
        0 => Ok(()),
        code => Err(MsrError::Failed(code)),
    }
}

/// The request that runs `vmpl` (bits 39:32).
pub const fn run_vmpl_request(vmpl: u8) -> u64 {
    ((vmpl as u64) << 32) | RUN_VMPL_REQ
}

/// Checks a run-at-VMPL response: 0x017 in bits 11:0, 0 in bits 63:32 (an older Linux macro got this wrong).
pub fn check_run_vmpl(response: u64) -> Result<(), MsrError> {
    expect(response, RUN_VMPL_RESP)?;
    match (response >> 32) as u32 {
        0 => Ok(()),
        code => Err(MsrError::Failed(code)),
    }
}

/// The hypervisor's feature bits (bits 63:12 of the HV_FEATURES response).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HvFeatures(pub u64);

impl HvFeatures {
    /// SEV-SNP.
    pub const SNP: u64 = 1 << 0;
    /// AP creation.
    pub const AP_CREATION: u64 = 1 << 1;
    /// Multiple VMPLs (what an SVSM needs to run a guest below it).
    pub const MULTI_VMPL: u64 = 1 << 5;
    /// What Warden needs on SNP. COCONUT only logs a missing feature; Warden refuses to run.
    pub const REQUIRED: u64 = Self::SNP | Self::AP_CREATION | Self::MULTI_VMPL;

    /// Refuses unless every bit of `needed` is reported.
    pub const fn require(self, needed: u64) -> Result<(), MsrError> {
        let missing = needed & !self.0;
        if missing == 0 { Ok(()) } else { Err(MsrError::MissingFeatures(missing)) }
    }
}

/// Checks an HV_FEATURES response and extracts the feature bits.
pub fn parse_hv_features(response: u64) -> Result<HvFeatures, MsrError> {
    expect(response, HV_FEATURES_RESP)?;
    Ok(HvFeatures(response >> 12))
}

/// Termination reason set 0 (the GHCB specification's general set).
pub const REASON_SET_GENERAL: u8 = 0;
/// Set 0, code 0: general termination.
pub const REASON_GENERAL: u8 = 0;
/// Set 0, code 1: the GHCB protocol version is not supported.
pub const REASON_PROTOCOL_UNSUPPORTED: u8 = 1;
/// Set 0, code 2: SEV-SNP is not supported.
pub const REASON_SNP_UNSUPPORTED: u8 = 2;
/// Warden's own reason set (4 bits). The GHCB specification defines set 0 (general) and Linux uses
/// set 1; Warden reports its own reasons in set 0xF and the specification's in set 0.
pub const REASON_SET_WARDEN: u8 = 0xF;
/// Warden set, code 5: the measured CPUID page names no C-bit position in 32..=51 (the boot stub's
/// refusal, before any page table is used).
pub const REASON_WARDEN_NO_C_BIT: u8 = 5;

/// The termination request: reason set in bits 15:12 (4 bits), reason code in bits 23:16.
pub const fn terminate_request(reason_set: u8, reason_code: u8) -> u64 {
    ((reason_code as u64) << 16) | (((reason_set & 0xF) as u64) << 12) | TERMINATE_REQ
}
