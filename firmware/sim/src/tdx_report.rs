//! The simulated TDX module's measurements (**insecure: test only**, the report MAC key is a labelled
//! constant): MRTD fixed at build, four RTMRs extended as TDG.MR.RTMR.EXTEND does
//! (RTMR\[i\] = SHA-384(RTMR\[i\] ‖ data)), and TDG.MR.REPORT assembling a TDREPORT_STRUCT (Intel TDX
//! Module ABI specification) over them with the caller's REPORTDATA.
//!
//! The real MAC is an HMAC with a CPU-internal key that only the CPU (EVERIFYREPORT2) or the quoting
//! enclave checks; the model's is SHA-384 over an INSECURE labelled key and the MACed bytes, truncated to
//! 32 bytes, so a test can tell a report the model made from one altered afterwards.
use warden_defs::tdx::TdxStatus;
use warden_defs::tdx_report::{
    REPORT_TYPE_TDX, RTMR_COUNT, ReportMacStruct, TD_MEASUREMENT_SIZE, TD_REPORT_DATA_SIZE, TdInfo, TdReport,
    TeeTcbInfo,
};
use warden_platform::tdx_attestation::TdxAttestation;
use warden_sha::Sha384;
use warden_sha::digest::Digest;
use zerocopy::{FromZeros, IntoBytes};

/// The model's report MAC key. INSECURE: a constant.
const INSECURE_MAC_KEY: &[u8] = b"warden sim INSECURE TEST TDREPORT MAC key";

/// The TD's measurement registers and attributes, as the simulated TDX module holds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimTdMeasurements {
    /// MRTD: the build-time measurement.
    pub mr_td: [u8; TD_MEASUREMENT_SIZE],
    /// RTMR\[0..4\].
    pub rtmr: [[u8; TD_MEASUREMENT_SIZE]; RTMR_COUNT],
    /// TD attributes (bit 0: DEBUG).
    pub attributes: u64,
    /// How many extends each RTMR received.
    pub extends: [u32; RTMR_COUNT],
}

impl Default for SimTdMeasurements {
    fn default() -> Self {
        Self { mr_td: [0x7D; TD_MEASUREMENT_SIZE], rtmr: [[0; 48]; 4], attributes: 0, extends: [0; 4] }
    }
}

/// The MAC the model puts in a report: over REPORTMACSTRUCT's bytes before the MAC field.
pub fn insecure_report_mac(mac_struct: &ReportMacStruct) -> [u8; 32] {
    let bytes = mac_struct.as_bytes();
    let mut hash = Sha384::new();
    hash.update(INSECURE_MAC_KEY);
    hash.update(&bytes[..0xE0]);
    let digest = hash.finalize();
    let mut mac = [0u8; 32];
    mac.copy_from_slice(&digest[..32]);
    mac
}

impl TdxAttestation for SimTdMeasurements {
    fn report(&mut self, report_data: &[u8; TD_REPORT_DATA_SIZE]) -> Result<TdReport, TdxStatus> {
        let mut report = TdReport::new_zeroed();
        report.td_info = TdInfo::new_zeroed();
        report.td_info.attributes = self.attributes.to_le_bytes();
        report.td_info.mr_td = self.mr_td;
        report.td_info.rtmr = self.rtmr;
        report.tee_tcb_info = TeeTcbInfo::new_zeroed();
        report.tee_tcb_info.mr_seam = [0x5E; 48];
        let mac = &mut report.mac_struct;
        mac.report_type = [REPORT_TYPE_TDX, 0, 0, 0];
        mac.report_data = *report_data;
        mac.tee_tcb_info_hash.copy_from_slice(&Sha384::digest(report.tee_tcb_info.as_bytes()));
        mac.tee_info_hash.copy_from_slice(&Sha384::digest(report.td_info.as_bytes()));
        mac.mac = insecure_report_mac(mac);
        Ok(report)
    }

    fn extend_rtmr(&mut self, index: u8, digest: &[u8; TD_MEASUREMENT_SIZE]) -> Result<(), TdxStatus> {
        let i = usize::from(index);
        let rtmr = self.rtmr.get_mut(i).ok_or(TdxStatus::OPERAND_INVALID)?;
        let mut hash = Sha384::new();
        hash.update(*rtmr);
        hash.update(digest);
        rtmr.copy_from_slice(&hash.finalize());
        self.extends[i] += 1;
        Ok(())
    }
}

impl TdxAttestation for crate::tdx::SimTdx {
    fn report(&mut self, report_data: &[u8; TD_REPORT_DATA_SIZE]) -> Result<TdReport, TdxStatus> {
        self.measurements.report(report_data)
    }

    fn extend_rtmr(&mut self, index: u8, digest: &[u8; TD_MEASUREMENT_SIZE]) -> Result<(), TdxStatus> {
        self.measurements.extend_rtmr(index, digest)
    }
}
