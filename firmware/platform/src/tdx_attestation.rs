//! What Warden needs from the TDX module to attest: a TDREPORT carrying chosen REPORTDATA
//! (TDG.MR.REPORT) and the run-time measurement registers it extends (TDG.MR.RTMR.EXTEND). Intel TDX
//! Module ABI specification, both leaves; layouts in `warden_defs::tdx_report`.
use warden_defs::tdx::TdxStatus;
use warden_defs::tdx_report::{TD_MEASUREMENT_SIZE, TD_REPORT_DATA_SIZE, TdReport};

/// A TD's report and measurement registers. The real one issues TDCALLs (`warden-kernel`); the
/// simulated one (`warden-sim`, INSECURE) models them.
pub trait TdxAttestation {
    /// TDG.MR.REPORT (subtype 0): a TDREPORT whose REPORTDATA is `report_data`.
    fn report(&mut self, report_data: &[u8; TD_REPORT_DATA_SIZE]) -> Result<TdReport, TdxStatus>;
    /// TDG.MR.RTMR.EXTEND: RTMR\[`index`\] = SHA-384(RTMR\[`index`\] ‖ `digest`); `index` 0..=3.
    fn extend_rtmr(&mut self, index: u8, digest: &[u8; TD_MEASUREMENT_SIZE]) -> Result<(), TdxStatus>;
}
