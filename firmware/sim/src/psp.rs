//! A simulated PSP answering SNP guest requests, with the hypervisor's certificate handling in front
//! of it. **INSECURE TEST KEYS, test only**: the VMPCKs and the chip secret come from a fixed label,
//! and reports are not signed (the emulated machine's PSP model signs; this one checks the driver's
//! side of the protocol).
//!
//! Written from the specifications, independently of Warden's driver (`warden-svsm::guest_request`),
//! so the two check each other: SEV-SNP ABI (AMD 56860) "Message Header Format" (the PSP refuses a
//! message whose header, sequence number or tag is wrong, and answers with sequence number + 1 and
//! type + 1 under the same VMPCK), MSG_REPORT_REQ/RSP, MSG_KEY_REQ/RSP, Table 23; GHCB spec (AMD 56421)
//! §4.1.8 (the hypervisor answers INVALID_LEN with the pages needed before the PSP sees the message).
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce, Tag};
use warden_defs::snp_guest_msg::{
    GuestFieldSelect, GuestMessageHeader, KeyRequest, KeyResponse, MSG_AAD_RANGE, MSG_ALGO_AES_256_GCM,
    MSG_HDR_VERSION, MSG_HEADER_SIZE, MSG_MAX_PAYLOAD, MSG_PAGE_SIZE, MSG_TAG_SIZE, MsgType, PspStatus,
    ReportRequest, ReportResponse, msg_iv,
};
use warden_defs::snp_report::{AttestationReport, REPORT_VERSION_3, SIGNATURE_ALGO_ECDSA_P384_SHA384};
use warden_sha::Sha256;
use warden_sha::digest::Digest;
use zerocopy::{FromBytes, FromZeros, IntoBytes};

/// Firmware status for a message the PSP refuses before decrypting it, or whose tag fails
/// (SEV-SNP ABI "Status Codes": INVALID_PARAM; real firmware may name AUTH failures differently).
pub const STATUS_BAD_MESSAGE: u32 = PspStatus::INVALID_PARAM.0;

/// Why the simulated host did not return a response page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimPspError {
    /// The hypervisor's INVALID_LEN: the certificate table needs this many pages.
    InvalidLength(u64),
    /// The PSP refused the message with this firmware status.
    Firmware(u32),
}

/// An authentic response: the page, and the certificate table for an extended request.
pub type SimPspReply = (Box<[u8; MSG_PAGE_SIZE]>, Option<Vec<u8>>);

/// The simulated PSP: four VMPCKs, one sequence counter per VMPCK, a launch measurement and a chip
/// secret for derived keys. **INSECURE TEST KEYS.**
#[derive(Debug)]
pub struct SimPsp {
    vmpck: [[u8; 32]; 4],
    /// The last sequence number seen per VMPCK: the next request must carry it + 1.
    last_seqno: [u64; 4],
    chip_secret: [u8; 32],
    /// The launch measurement reported.
    pub measurement: [u8; 48],
    /// The certificate table the host hands out with extended requests.
    pub certificates: Vec<u8>,
    /// Messages the PSP processed (accepted or refused), for the tests that count requests.
    pub messages: usize,
}

/// 32 bytes from SHA-256(label ‖ index): the insecure test keys.
fn insecure_test_key(label: &str, index: u8) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(label.as_bytes());
    hash.update([index]);
    hash.finalize().into()
}

impl SimPsp {
    /// A PSP with the labelled INSECURE TEST KEYS.
    pub fn insecure_test() -> Self {
        Self {
            vmpck: [0, 1, 2, 3].map(|n| insecure_test_key("warden sim INSECURE TEST VMPCK", n)),
            last_seqno: [0; 4],
            chip_secret: insecure_test_key("warden sim INSECURE TEST chip secret", 0),
            measurement: [0x5A; 48],
            certificates: Vec::new(),
            messages: 0,
        }
    }

    /// VMPCKn, as the loader would put it in the secrets page.
    pub fn vmpck(&self, n: usize) -> [u8; 32] {
        self.vmpck[n]
    }

    /// One guest request as the host and the PSP handle it: an extended request (`certificate_pages`)
    /// too small for the table is refused by the host before the PSP sees it.
    pub fn guest_request(
        &mut self,
        request: &[u8; MSG_PAGE_SIZE],
        certificate_pages: Option<usize>,
    ) -> Result<SimPspReply, SimPspError> {
        let certificates = match certificate_pages {
            Some(pages) if self.certificates.len() > pages * MSG_PAGE_SIZE => {
                return Err(SimPspError::InvalidLength(
                    self.certificates.len().div_ceil(MSG_PAGE_SIZE) as u64
                ));
            }
            Some(pages) => {
                let mut buffer = self.certificates.clone();
                buffer.resize(pages * MSG_PAGE_SIZE, 0);
                Some(buffer)
            }
            None => None,
        };
        self.messages += 1;
        let page = self.answer(request).map_err(SimPspError::Firmware)?;
        Ok((page, certificates))
    }

    /// Checks, decrypts and answers one message page.
    fn answer(&mut self, request: &[u8; MSG_PAGE_SIZE]) -> Result<Box<[u8; MSG_PAGE_SIZE]>, u32> {
        let header = GuestMessageHeader::read_from_bytes(&request[..MSG_HEADER_SIZE])
            .map_err(|_| STATUS_BAD_MESSAGE)?;
        let vmpl = usize::from(header.msg_vmpck);
        let size = usize::from(header.msg_sz);
        let well_formed = header.algo == MSG_ALGO_AES_256_GCM
            && header.hdr_version == MSG_HDR_VERSION
            && usize::from(header.hdr_sz) == MSG_HEADER_SIZE
            && vmpl < 4
            && size <= MSG_MAX_PAYLOAD
            && header.reserved_clear();
        if !well_formed || header.msg_seqno != self.last_seqno[vmpl] + 1 {
            return Err(STATUS_BAD_MESSAGE);
        }
        let cipher = Aes256Gcm::new_from_slice(&self.vmpck[vmpl]).map_err(|_| STATUS_BAD_MESSAGE)?;
        let mut payload = request[MSG_HEADER_SIZE..MSG_HEADER_SIZE + size].to_vec();
        let mut tag = Tag::default();
        tag.copy_from_slice(&header.authtag[..MSG_TAG_SIZE]);
        cipher
            .decrypt_in_place_detached(
                &Nonce::from(msg_iv(header.msg_seqno)),
                &request[MSG_AAD_RANGE],
                &mut payload,
                &tag,
            )
            .map_err(|_| STATUS_BAD_MESSAGE)?;
        let response = match MsgType(header.msg_type) {
            MsgType::REPORT_REQ => self.report(&payload, vmpl as u32)?,
            MsgType::KEY_REQ => self.derive_key(&payload, vmpl as u32)?,
            _ => return Err(STATUS_BAD_MESSAGE),
        };
        self.last_seqno[vmpl] = header.msg_seqno + 1;
        let mut reply = GuestMessageHeader::new_zeroed();
        reply.msg_seqno = header.msg_seqno + 1;
        reply.algo = MSG_ALGO_AES_256_GCM;
        reply.hdr_version = MSG_HDR_VERSION;
        reply.hdr_sz = MSG_HEADER_SIZE as u16;
        reply.msg_type = MsgType(header.msg_type).response().0;
        reply.msg_version = header.msg_version;
        reply.msg_sz = response.len() as u16;
        reply.msg_vmpck = header.msg_vmpck;
        let mut page = Box::new([0u8; MSG_PAGE_SIZE]);
        let body = &mut page[MSG_HEADER_SIZE..MSG_HEADER_SIZE + response.len()];
        body.copy_from_slice(&response);
        let tag = cipher
            .encrypt_in_place_detached(
                &Nonce::from(msg_iv(reply.msg_seqno)),
                &reply.as_bytes()[MSG_AAD_RANGE],
                body,
            )
            .map_err(|_| STATUS_BAD_MESSAGE)?;
        reply.authtag[..MSG_TAG_SIZE].copy_from_slice(&tag);
        page[..MSG_HEADER_SIZE].copy_from_slice(reply.as_bytes());
        Ok(page)
    }

    /// MSG_REPORT_RSP: a version 3 report for the VMPL asked (never below the requester's), unsigned.
    fn report(&self, payload: &[u8], requester: u32) -> Result<Vec<u8>, u32> {
        let request = ReportRequest::read_from_bytes(payload).map_err(|_| STATUS_BAD_MESSAGE)?;
        let mut response = ReportResponse::new_zeroed();
        if request.vmpl < requester || request.vmpl > 3 {
            response.status = PspStatus::INVALID_PARAM.0;
            return Ok(response.as_bytes().to_vec());
        }
        let report = AttestationReport {
            version: REPORT_VERSION_3,
            vmpl: request.vmpl,
            signature_algo: SIGNATURE_ALGO_ECDSA_P384_SHA384,
            report_data: request.report_data,
            measurement: self.measurement,
            ..AttestationReport::new_zeroed()
        };
        response.report_size = size_of::<AttestationReport>() as u32;
        response.report = report;
        Ok(response.as_bytes().to_vec())
    }

    /// MSG_KEY_RSP: SHA-256 over the chip secret, the VMPL and exactly the selected fields.
    fn derive_key(&self, payload: &[u8], requester: u32) -> Result<Vec<u8>, u32> {
        let request = KeyRequest::read_from_bytes(payload).map_err(|_| STATUS_BAD_MESSAGE)?;
        let mut response = KeyResponse::default();
        if request.vmpl < requester || request.vmpl > 3 {
            response.status = PspStatus::INVALID_PARAM.0;
            return Ok(response.as_bytes().to_vec());
        }
        let mut hash = Sha256::new();
        hash.update(self.chip_secret);
        hash.update(request.root_key_select.to_le_bytes());
        hash.update(request.vmpl.to_le_bytes());
        hash.update(request.guest_field_select.to_le_bytes());
        if GuestFieldSelect(request.guest_field_select).contains(GuestFieldSelect::MEASUREMENT) {
            hash.update(self.measurement);
        }
        response.derived_key = hash.finalize().into();
        Ok(response.as_bytes().to_vec())
    }
}
