//! TDX evidence for the attestation protocol, and Warden's own measurements in the TD's RTMRs.
//!
//! Evidence: the 1024-byte TDREPORT_STRUCT from TDG.MR.REPORT (Intel TDX Module ABI specification)
//! whose REPORTDATA is the protocol's REPORT_DATA, SHA-512(nonce ‖ manifest), exactly as SNP's report
//! carries it; no certificates (a TDREPORT is MACed for this CPU only: a remote verifier needs it turned
//! into a quote by the host's quoting service, TDG.VP.VMCALL<GetQuote>, which is outside Warden).
//!
//! Measurements. MRTD covers Warden's image as built; what Warden takes in at run time is extended
//! into RTMRs following the TDVF convention (TDX guest firmware: RTMR0 = firmware configuration,
//! RTMR1 = the OS loader and kernel, RTMR2 = the OS's command line and applications, RTMR3 = reserved):
//! - RTMR\[0\] ← SHA-384 of the boot configuration the host hands Warden, which MRTD does not cover
//!   (IGVM parameter areas are inserted unmeasured): the boot parameter page followed by the
//!   memory-map page, 8 KiB, as the loader placed them;
//! - RTMR\[1\] ← SHA-384 of the guest payload Warden launches (the role of TDVF's OS loader);
//! - RTMR\[2\] and RTMR\[3\] are left to the guest.
//!
//! Each extend is the SHA-384 digest of the event's bytes, so a verifier replays RTMR\[i\] =
//! SHA-384(RTMR\[i\] ‖ SHA-384(event)) from the same inputs, starting from 48 zero bytes.
use alloc::vec::Vec;
use warden_defs::attest::REPORT_DATA_SIZE;
use warden_defs::tdx::TdxStatus;
use warden_defs::tdx_report::{REPORT_TYPE_TDX, TD_MEASUREMENT_SIZE};
use warden_platform::tdx_attestation::TdxAttestation;
use zerocopy::IntoBytes;

use crate::attest_protocol::{Evidence, EvidenceSource};
use crate::error::EvidenceError;

/// A run-time measurement Warden makes: the SHA-384 digest of the event's bytes, and by its kind the
/// RTMR it goes to. The caller hashes the bytes as it reads them (a guest image of megabytes is read a
/// page at a time, never held as one slice).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WardenEvent {
    /// The boot configuration the host handed Warden (the boot parameter page, then the memory-map
    /// page): RTMR\[0\], TDVF's firmware-configuration register.
    BootConfig([u8; TD_MEASUREMENT_SIZE]),
    /// The guest payload Warden launches: RTMR\[1\], TDVF's OS-loader register.
    GuestPayload([u8; TD_MEASUREMENT_SIZE]),
}

impl WardenEvent {
    /// The RTMR the event is extended into.
    pub const fn rtmr(self) -> u8 {
        match self {
            WardenEvent::BootConfig(_) => 0,
            WardenEvent::GuestPayload(_) => 1,
        }
    }

    /// The 48 bytes extended: SHA-384 of the event's bytes.
    pub const fn digest(self) -> [u8; TD_MEASUREMENT_SIZE] {
        match self {
            WardenEvent::BootConfig(digest) | WardenEvent::GuestPayload(digest) => digest,
        }
    }
}

/// Extends `event`'s digest into its RTMR.
pub fn measure(platform: &mut impl TdxAttestation, event: WardenEvent) -> Result<(), TdxStatus> {
    platform.extend_rtmr(event.rtmr(), &event.digest())
}

/// The TDX platform's [`EvidenceSource`]: TDREPORTs from the TDX module.
#[derive(Debug)]
pub struct TdxEvidence<P> {
    platform: P,
}

impl<P: TdxAttestation> TdxEvidence<P> {
    /// Evidence from `platform`'s TDG.MR.REPORT.
    pub fn new(platform: P) -> Self {
        Self { platform }
    }

    /// The platform (for the host tests).
    pub fn platform(&self) -> &P {
        &self.platform
    }
}

impl<P: TdxAttestation> EvidenceSource for TdxEvidence<P> {
    fn report(
        &mut self,
        report_data: &[u8; REPORT_DATA_SIZE],
        _with_certificates: bool,
    ) -> Result<Evidence, EvidenceError> {
        let report = self.platform.report(report_data).map_err(|status| {
            if status.is_recoverable() { EvidenceError::Busy } else { EvidenceError::Unavailable }
        })?;
        // The TDX module is trusted, but a report of another type, or without the REPORTDATA asked
        // for, binds nothing: refuse it rather than hand it on.
        let mac = &report.mac_struct;
        if mac.report_type[0] != REPORT_TYPE_TDX || mac.report_data != *report_data {
            return Err(EvidenceError::Unavailable);
        }
        let report: Vec<u8> = report.as_bytes().to_vec();
        Ok(Evidence { report, certificates: None })
    }
}
