//! TDG.MR.REPORT's TDREPORT_STRUCT (1024 bytes; "Intel TDX Module v1.5 ABI Specification" (348551)
//! TDREPORT_STRUCT, REPORTMACSTRUCT, TDINFO_STRUCT, TEE_TCB_INFO; layout: `warden_defs::tdx_report`).
//! The TDX module fills TDINFO from the TD's registers (ATTRIBUTES, XFAM, MRTD, RTMRs), hashes it and
//! TEE_TCB_INFO into REPORTMACSTRUCT with the caller's REPORTDATA, and the CPU MACs REPORTMACSTRUCT
//! with a key only it holds. **The model's MAC is HMAC-SHA-256 under [`INSECURE_REPORT_KEY`], a fixed
//! machine-local test key**: it lets a test see that a report was not altered, nothing more.
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha384};
use warden_defs::tdx_report::{
    REPORT_TYPE_TDX, RTMR_COUNT, TD_MEASUREMENT_SIZE, TD_REPORT_DATA_SIZE, TdReport,
};
use zerocopy::{FromZeros, IntoBytes};

/// The model's report MAC key. INSECURE: public, fixed, for tests only.
pub const INSECURE_REPORT_KEY: &[u8; 32] = b"INSECURE warden-machine TDX MAC!";

/// The bytes of REPORTMACSTRUCT the MAC covers: everything before the MAC field (0xE0).
const MACED_BYTES: usize = 0xE0;

/// What the TDX module knows about the TD when it writes a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TdMeasurements {
    /// TD ATTRIBUTES.
    pub attributes: u64,
    /// XFAM.
    pub xfam: u64,
    /// MRTD.
    pub mrtd: [u8; TD_MEASUREMENT_SIZE],
    /// RTMR\[0..4\].
    pub rtmr: [[u8; TD_MEASUREMENT_SIZE]; RTMR_COUNT],
}

impl TdMeasurements {
    /// TDG.MR.RTMR.EXTEND: `RTMR[index] = SHA-384(RTMR[index] || digest)`.
    pub fn extend(&mut self, index: usize, digest: &[u8; TD_MEASUREMENT_SIZE]) {
        let mut h = Sha384::new();
        h.update(self.rtmr[index]);
        h.update(digest);
        self.rtmr[index] = h.finalize().into();
    }

    /// The TDREPORT with `report_data`, MACed.
    pub fn report(&self, report_data: &[u8; TD_REPORT_DATA_SIZE]) -> TdReport {
        let mut r = TdReport::new_zeroed();
        r.td_info.attributes = self.attributes.to_le_bytes();
        r.td_info.xfam = self.xfam.to_le_bytes();
        r.td_info.mr_td = self.mrtd;
        r.td_info.rtmr = self.rtmr;
        // TEE_TCB_INFO: the model's TDX module has no measurement (MRSEAM zero) and SVN 0; VALID says
        // which fields are filled (TEE_TCB_SVN, MRSEAM, MRSIGNERSEAM, ATTRIBUTES).
        r.tee_tcb_info.valid = [0xFF, 0x03, 0, 0, 0, 0, 0, 0];
        r.mac_struct.report_type = [REPORT_TYPE_TDX, 0, 0, 0];
        r.mac_struct.tee_tcb_info_hash = Sha384::digest(r.tee_tcb_info.as_bytes()).into();
        r.mac_struct.tee_info_hash = Sha384::digest(r.td_info.as_bytes()).into();
        r.mac_struct.report_data = *report_data;
        r.mac_struct.mac = mac(&r);
        r
    }
}

/// The model's MAC over `report`'s REPORTMACSTRUCT.
pub fn mac(report: &TdReport) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(INSECURE_REPORT_KEY).expect("HMAC takes any key size");
    m.update(&report.mac_struct.as_bytes()[..MACED_BYTES]);
    m.finalize().into_bytes().into()
}

/// Whether `report` is one the model wrote unaltered: the MAC matches and the hashes match TDINFO
/// and TEE_TCB_INFO.
pub fn verify(report: &TdReport) -> bool {
    let tdinfo: [u8; 48] = Sha384::digest(report.td_info.as_bytes()).into();
    let tcb: [u8; 48] = Sha384::digest(report.tee_tcb_info.as_bytes()).into();
    mac(report) == report.mac_struct.mac
        && tdinfo == report.mac_struct.tee_info_hash
        && tcb == report.mac_struct.tee_tcb_info_hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn td() -> TdMeasurements {
        TdMeasurements { attributes: 1 << 28, xfam: 0xE7, mrtd: [0x42; 48], rtmr: [[0; 48]; 4] }
    }

    #[test]
    fn a_report_carries_the_registers_and_report_data_and_verifies() {
        let r = td().report(&[7; 64]);
        assert!(verify(&r));
        let bytes = r.as_bytes();
        assert_eq!(&bytes[0x80..0xC0], &[7; 64]);
        assert_eq!(&bytes[0x210..0x240], &[0x42; 48]);
        assert_eq!(bytes[0], REPORT_TYPE_TDX);
    }

    #[test]
    fn an_altered_report_does_not_verify() {
        let mut r = td().report(&[7; 64]);
        r.td_info.rtmr[2][0] ^= 1;
        assert!(!verify(&r), "TDINFO changed without the hash");
        let mut r = td().report(&[7; 64]);
        r.mac_struct.report_data[0] ^= 1;
        assert!(!verify(&r), "REPORTDATA changed under the MAC");
    }

    #[test]
    fn rtmr_extend_is_sha384_of_old_and_digest() {
        let mut m = td();
        m.extend(2, &[9; 48]);
        let mut h = Sha384::new();
        h.update([0u8; 48]);
        h.update([9u8; 48]);
        assert_eq!(m.rtmr[2], <[u8; 48]>::from(h.finalize()));
        assert_eq!(m.rtmr[0], [0; 48]);
    }
}
