//! The PSP's side of SNP_GUEST_REQUEST (SEV-SNP ABI (AMD 56860) §8.26, "Message Header Format"): it
//! holds VMPCK0..3 (the keys the loader put in the secrets page) and, per VMPCK, the sequence number of
//! the last message; it checks a request's header as the PSP does (ALGO, HDR_VERSION, HDR_SZ, MSG_SZ
//! within the page, reserved bytes zero, MSG_VMPCK 0..3, MSG_SEQNO exactly one past the last, the
//! AES-256-GCM tag over the payload with header bytes 0x30..0x60 as AAD), answers MSG_REPORT_REQ and
//! MSG_KEY_REQ, and encrypts the response under the same VMPCK with MSG_SEQNO + 1.
//!
//! A message under VMPCKn comes from VMPL n: that is what the VMPCK proves (the secrets page a guest
//! at VMPL n is given has VMPCK0..n-1 zeroed), so the requester's VMPL is the VMPCK's index.
//!
//! Status codes (ABI Table "Status Codes"): a malformed header, a wrong sequence number or a failed
//! tag is INVALID_PARAM, as hardware answers (AMDESE/linux-svsm#22, virtee/snpguest#154), and leaves
//! the sequence state unchanged; a sequence number the PSP could not answer without wrapping is
//! AEAD_OFLOW; a message type or version the model does not implement is INVALID_PARAM.
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce, Tag};
use p384::ecdsa::SigningKey;
use warden_defs::snp_guest_msg::{
    GuestMessageHeader, KeyRequest, MSG_AAD_RANGE, MSG_ALGO_AES_256_GCM, MSG_HDR_VERSION, MSG_HEADER_SIZE,
    MSG_MAX_PAYLOAD, MSG_TAG_SIZE, MSG_VERSION_1, MsgType, ReportRequest, SECRETS_VMPCK0_OFFSET, VMPCK_SIZE,
    msg_iv,
};
use zerocopy::{FromBytes, FromZeros, IntoBytes};

use super::{PspModel, chip, derived_key, report, status};
use crate::loader::LoadedImage;

/// What the PSP recorded about the guest at launch (its guest context).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestContext {
    /// The launch digest (MEASUREMENT).
    pub measurement: [u8; 48],
    /// The guest policy from SNP_LAUNCH_START.
    pub policy: u64,
    /// The ID block's FAMILY_ID, IMAGE_ID and GUEST_SVN (zero: the loader gives no ID block).
    pub family_id: [u8; 16],
    /// See `family_id`.
    pub image_id: [u8; 16],
    /// See `family_id`.
    pub guest_svn: u32,
    /// HOST_DATA from SNP_LAUNCH_FINISH (zero).
    pub host_data: [u8; 32],
    /// The guest's REPORT_ID, random at launch.
    pub report_id: [u8; 32],
}

impl GuestContext {
    /// The context of `image` as the loader launched it, with a fresh REPORT_ID.
    pub fn launched(image: &LoadedImage) -> Self {
        let mut report_id = [0u8; 32];
        // A host without entropy leaves REPORT_ID zero; nothing checks it for uniqueness.
        let _ = getrandom::fill(&mut report_id);
        Self {
            measurement: image.digest.value(),
            policy: image.policy,
            family_id: [0; 16],
            image_id: [0; 16],
            guest_svn: 0,
            host_data: [0; 32],
            report_id,
        }
    }
}

/// The emulated PSP.
#[derive(Debug)]
pub struct SnpPsp {
    vmpcks: [[u8; VMPCK_SIZE]; 4],
    /// Per VMPCK, the sequence number of the last response (0 before the first request).
    last_seqno: [u64; 4],
    guest: GuestContext,
    roots: derived_key::RootKeys,
    vcek: SigningKey,
}

impl SnpPsp {
    /// A PSP with the VMPCKs of `secrets_page` (SEV-SNP ABI "Secrets Page Format") for `guest`.
    pub fn new(secrets_page: &[u8; 4096], guest: GuestContext) -> Self {
        let mut vmpcks = [[0u8; VMPCK_SIZE]; 4];
        for (n, key) in vmpcks.iter_mut().enumerate() {
            let at = SECRETS_VMPCK0_OFFSET + n * VMPCK_SIZE;
            key.copy_from_slice(&secrets_page[at..at + VMPCK_SIZE]);
        }
        Self {
            vmpcks,
            last_seqno: [0; 4],
            guest,
            roots: derived_key::RootKeys::for_launch(),
            vcek: chip::vcek(),
        }
    }

    /// The PSP of a launched image; `None` when the image has no secrets page (no VMPCKs to use).
    pub fn for_image(image: &LoadedImage) -> Option<Self> {
        let (page, _) = image.pages.get(&image.secrets_gpa?)?;
        Some(Self::new(page, GuestContext::launched(image)))
    }

    /// What the PSP recorded at launch.
    pub fn guest(&self) -> &GuestContext {
        &self.guest
    }

    fn serve(&mut self, request: &[u8; 4096]) -> Result<Box<[u8; 4096]>, u32> {
        let header = GuestMessageHeader::read_from_bytes(&request[..MSG_HEADER_SIZE])
            .map_err(|_| status::INVALID_PARAM)?;
        let size = usize::from(header.msg_sz);
        if header.algo != MSG_ALGO_AES_256_GCM
            || header.hdr_version != MSG_HDR_VERSION
            || usize::from(header.hdr_sz) != MSG_HEADER_SIZE
            || size > MSG_MAX_PAYLOAD
            || header.msg_vmpck > 3
            || !header.reserved_clear()
        {
            return Err(status::INVALID_PARAM);
        }
        let vmpck = usize::from(header.msg_vmpck);
        // The response takes the next number after the request's: both must exist.
        let expected = self.last_seqno[vmpck].checked_add(1).ok_or(status::AEAD_OFLOW)?;
        let response_seqno = expected.checked_add(1).ok_or(status::AEAD_OFLOW)?;
        if header.msg_seqno != expected {
            return Err(status::INVALID_PARAM);
        }
        let cipher = Aes256Gcm::new_from_slice(&self.vmpcks[vmpck]).map_err(|_| status::INVALID_PARAM)?;
        let mut tag = [0u8; MSG_TAG_SIZE];
        tag.copy_from_slice(&header.authtag[..MSG_TAG_SIZE]);
        let mut payload = request[MSG_HEADER_SIZE..MSG_HEADER_SIZE + size].to_vec();
        cipher
            .decrypt_in_place_detached(
                &Nonce::from(msg_iv(header.msg_seqno)),
                &request[MSG_AAD_RANGE],
                &mut payload,
                &Tag::from(tag),
            )
            .map_err(|_| status::INVALID_PARAM)?;
        let requester_vmpl = u32::from(header.msg_vmpck);
        let answer: Vec<u8> = match (MsgType(header.msg_type), header.msg_version) {
            (MsgType::REPORT_REQ, MSG_VERSION_1) => {
                let req = ReportRequest::read_from_bytes(&payload).map_err(|_| status::INVALID_PARAM)?;
                report::answer(&req, requester_vmpl, &self.guest, &self.vcek).as_bytes().to_vec()
            }
            (MsgType::KEY_REQ, MSG_VERSION_1) => {
                let req = KeyRequest::read_from_bytes(&payload).map_err(|_| status::INVALID_PARAM)?;
                derived_key::answer(&req, requester_vmpl, &self.roots, &self.guest).as_bytes().to_vec()
            }
            _ => return Err(status::INVALID_PARAM),
        };
        // Processed: the request's number and the response's are used.
        self.last_seqno[vmpck] = response_seqno;
        let mut out = GuestMessageHeader::new_zeroed();
        out.msg_seqno = response_seqno;
        out.algo = MSG_ALGO_AES_256_GCM;
        out.hdr_version = MSG_HDR_VERSION;
        out.hdr_sz = MSG_HEADER_SIZE as u16;
        out.msg_type = MsgType(header.msg_type).response().0;
        out.msg_version = header.msg_version;
        out.msg_sz = answer.len() as u16;
        out.msg_vmpck = header.msg_vmpck;
        let mut page = Box::new([0u8; 4096]);
        page[..MSG_HEADER_SIZE].copy_from_slice(out.as_bytes());
        let mut body = answer;
        let aad = page[MSG_AAD_RANGE].to_vec();
        let tag = cipher
            .encrypt_in_place_detached(&Nonce::from(msg_iv(response_seqno)), &aad, &mut body)
            .map_err(|_| status::INVALID_PARAM)?;
        page[..MSG_TAG_SIZE].copy_from_slice(&tag);
        page[MSG_HEADER_SIZE..MSG_HEADER_SIZE + body.len()].copy_from_slice(&body);
        Ok(page)
    }
}

impl PspModel for SnpPsp {
    fn guest_request(&mut self, request: &[u8; 4096]) -> Result<Box<[u8; 4096]>, u32> {
        self.serve(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request page whose header passes the format checks (the payload is never reached).
    fn header_only(seqno: u64) -> [u8; 4096] {
        let mut header = GuestMessageHeader::new_zeroed();
        header.msg_seqno = seqno;
        header.algo = MSG_ALGO_AES_256_GCM;
        header.hdr_version = MSG_HDR_VERSION;
        header.hdr_sz = MSG_HEADER_SIZE as u16;
        header.msg_type = MsgType::REPORT_REQ.0;
        header.msg_version = MSG_VERSION_1;
        let mut page = [0u8; 4096];
        page[..MSG_HEADER_SIZE].copy_from_slice(header.as_bytes());
        page
    }

    fn psp() -> SnpPsp {
        let guest = GuestContext {
            measurement: [0; 48],
            policy: 0x3_0000,
            family_id: [0; 16],
            image_id: [0; 16],
            guest_svn: 0,
            host_data: [0; 32],
            report_id: [0; 32],
        };
        SnpPsp::new(&[0; 4096], guest)
    }

    #[test]
    fn a_sequence_number_with_no_room_for_the_response_is_aead_oflow() {
        let mut psp = psp();
        psp.last_seqno[0] = u64::MAX - 1;
        assert_eq!(psp.serve(&header_only(u64::MAX)).map(|_| ()), Err(status::AEAD_OFLOW));
        psp.last_seqno[0] = u64::MAX;
        assert_eq!(psp.serve(&header_only(0)).map(|_| ()), Err(status::AEAD_OFLOW));
        assert_eq!(psp.last_seqno[0], u64::MAX, "nothing consumed");
    }

    #[test]
    fn a_well_formed_header_with_a_bad_tag_is_invalid_param_not_oflow() {
        let mut psp = psp();
        assert_eq!(psp.serve(&header_only(1)).map(|_| ()), Err(status::INVALID_PARAM));
        assert_eq!(psp.last_seqno[0], 0);
    }
}
