//! The two guest messages Warden sends to the PSP, MSG_REPORT_REQ and MSG_KEY_REQ, and the SNP
//! [`EvidenceSource`] of the attestation protocol over them.
//!
//! Sources: SEV-SNP ABI (AMD 56860), MSG_REPORT_REQ/RSP, MSG_KEY_REQ/RSP and Table 23
//! (ATTESTATION_REPORT); SVSM spec (AMD 58019), "Attestation Protocol" (the report is for VMPL0 and
//! carries SHA-512(nonce ‖ manifest) as REPORT_DATA; certificates come from the extended request).
//!
//! Reports are requested at VMPL0 with KEY_SEL 0 (the VLEK if the host installed one, else the VCEK),
//! as COCONUT does; the verifier follows KEY_INFO's signing-key field.
use alloc::vec::Vec;

use warden_defs::attest::REPORT_DATA_SIZE;
use warden_defs::snp_guest_msg::{
    KeyRequest, KeyResponse, MsgType, PspStatus, REPORT_KEY_SEL_DEFAULT, ReportRequest, ReportResponse,
    VMPCK_SIZE,
};
use warden_defs::snp_report::SNP_REPORT_SIZE;
use zerocopy::{FromBytes, IntoBytes};
use zeroize::{Zeroize, Zeroizing};

use crate::attest_protocol::{Evidence, EvidenceSource};
use crate::error::EvidenceError;
use crate::guest_request::{GuestRequestChannel, GuestRequestDriver, GuestRequestError};

/// The VMPL Warden asks reports and keys for: its own.
const WARDEN_VMPL: u32 = 0;

impl<C: GuestRequestChannel> GuestRequestDriver<C> {
    /// An ATTESTATION_REPORT for VMPL0 carrying `report_data`, with the certificate table when
    /// `with_certificates` (an extended request).
    pub fn report(
        &mut self,
        report_data: &[u8; REPORT_DATA_SIZE],
        with_certificates: bool,
    ) -> Result<(Vec<u8>, Option<Vec<u8>>), GuestRequestError> {
        let request = ReportRequest {
            report_data: *report_data,
            vmpl: WARDEN_VMPL,
            flags: REPORT_KEY_SEL_DEFAULT,
            reserved_0x48: [0; 24],
        };
        let size = size_of::<ReportResponse>();
        let reply = self.request(MsgType::REPORT_REQ, request.as_bytes(), size, with_certificates)?;
        let response =
            ReportResponse::read_from_bytes(&reply.payload).map_err(|_| GuestRequestError::Payload)?;
        if PspStatus(response.status) != PspStatus::SUCCESS {
            return Err(GuestRequestError::Psp(PspStatus(response.status)));
        }
        // The PSP is trusted, but a report that does not carry what was asked for binds nothing: a
        // size or REPORT_DATA mismatch means the layouts disagree, and nothing is returned.
        let report = response.report;
        if response.report_size as usize != SNP_REPORT_SIZE || report.report_data != *report_data {
            return Err(GuestRequestError::Payload);
        }
        Ok((report.as_bytes().to_vec(), reply.certificates))
    }

    /// A key derived by the PSP (MSG_KEY_REQ) from the root and the guest fields `request` selects.
    /// The VMPL is forced to Warden's own (0): the key then cannot be asked for by the guest, whose
    /// VMPCK only reaches its own VMPL and above. The caller wipes the key after use (it is returned
    /// in a wiping box).
    pub fn derive_key(
        &mut self,
        request: &KeyRequest,
    ) -> Result<Zeroizing<[u8; VMPCK_SIZE]>, GuestRequestError> {
        let request = KeyRequest { vmpl: WARDEN_VMPL, reserved_0x04: 0, ..*request };
        let size = size_of::<KeyResponse>();
        let reply = self.request(MsgType::KEY_REQ, request.as_bytes(), size, false)?;
        let mut response =
            KeyResponse::read_from_bytes(&reply.payload).map_err(|_| GuestRequestError::Payload)?;
        let status = PspStatus(response.status);
        let key = Zeroizing::new(response.derived_key);
        response.derived_key.zeroize();
        if status != PspStatus::SUCCESS {
            return Err(GuestRequestError::Psp(status));
        }
        Ok(key)
    }
}

/// Attestation evidence from the PSP (the SNP platform's [`EvidenceSource`]).
#[derive(Debug)]
pub struct SnpEvidence<C> {
    driver: GuestRequestDriver<C>,
}

impl<C: GuestRequestChannel> SnpEvidence<C> {
    /// Evidence through `driver` (which may have served MSG_KEY_REQ before, e.g. for the vTPM's
    /// endorsement seed at boot).
    pub fn new(driver: GuestRequestDriver<C>) -> Self {
        Self { driver }
    }

    /// The driver (for the host tests).
    pub fn driver(&self) -> &GuestRequestDriver<C> {
        &self.driver
    }
}

impl<C: GuestRequestChannel> EvidenceSource for SnpEvidence<C> {
    fn report(
        &mut self,
        report_data: &[u8; REPORT_DATA_SIZE],
        with_certificates: bool,
    ) -> Result<Evidence, EvidenceError> {
        // Not even BUSY is worth a retry by the guest: the driver has retried already, and a request
        // that failed wiped VMPCK0, so only a fresh boot can attest again.
        let (report, certificates) =
            self.driver.report(report_data, with_certificates).map_err(|_| EvidenceError::Unavailable)?;
        Ok(Evidence { report, certificates })
    }
}
