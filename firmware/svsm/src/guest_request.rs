//! Warden's SNP guest-request driver: messages to the PSP sealed with VMPCK0 (AES-256-GCM), carried
//! by the hypervisor, and answered only when the response is the one the PSP must send next.
//!
//! Sources: SEV-SNP ABI (AMD 56860), "Message Header Format", MSG_REPORT_REQ/RSP and MSG_KEY_REQ/RSP
//! (layouts in `warden_defs::snp_guest_msg`); GHCB spec (AMD 56421) §4.1.8 (SNP_GUEST_REQUEST and the
//! extended request, whose INVALID_LEN names the certificate pages needed). The sequence-number and
//! key-wipe rules are Linux's (`drivers/virt/coco/sev-guest`, `snp_send_guest_request`), which the
//! hypervisors in the field are written against:
//!
//! - The counter is the last sequence number used. A request carries counter + 1, its response must
//!   carry counter + 2, and only then does the counter move on by 2: an IV is never used twice with
//!   VMPCK0, and a replayed or reordered response (an older or a newer number) is refused.
//! - Both numbers must fit the 32 bits the GHCB spec's storage for them has; before they would not,
//!   VMPCK0 is wiped (a wrapped counter would reuse an IV).
//! - After **any** failure of the exchange or of the response's checks (header, size, tag), VMPCK0 is
//!   wiped here and in the secrets page ([`GuestRequestChannel::wipe_vmpck0`]) and no request is made
//!   again ([`GuestRequestError::Disabled`]): a hypervisor that forged, replayed or dropped a message
//!   may be probing the key, and the PSP's counter and Warden's may no longer agree. A PSP status
//!   inside an authentic response (e.g. INVALID_PARAM) is an answer, not a failure, as in Linux.
//! - A retry (BUSY, or INVALID_LEN growing the certificate buffer) resends the very same sealed
//!   message: same number, same ciphertext, no new IV. Linux resends it too (as a plain request).
//!
//! Threat model T1: the channel hands back a private copy of the response page, taken once; every
//! check here reads only that copy. Nothing here panics on what the hypervisor or the PSP wrote.
use alloc::boxed::Box;
use alloc::vec::Vec;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce, Tag};
use warden_defs::snp_guest_msg::{
    GuestMessageHeader, MSG_AAD_RANGE, MSG_ALGO_AES_256_GCM, MSG_HDR_VERSION, MSG_HEADER_SIZE,
    MSG_MAX_PAYLOAD, MSG_PAGE_SIZE, MSG_TAG_SIZE, MSG_VERSION_1, MsgType, PspStatus, VMPCK_SIZE, msg_iv,
};
use zerocopy::{FromBytes, FromZeros, IntoBytes};
use zeroize::{Zeroize, Zeroizing};

/// One message page (header and payload).
pub type MessagePage = [u8; MSG_PAGE_SIZE];

/// The most certificate pages Warden offers (64 KiB: an ARK, ASK and VCEK chain takes about 5 KiB).
pub const MAX_CERTIFICATE_PAGES: usize = 16;
/// The certificate pages offered first; INVALID_LEN grows it to what the hypervisor names.
pub const INITIAL_CERTIFICATE_PAGES: usize = 1;
/// How often a BUSY hypervisor is asked again before the request fails.
const BUSY_RETRIES: u32 = 16;
/// How often INVALID_LEN may grow the certificate buffer for one request.
const CERTIFICATE_GROWTHS: u32 = 2;

/// What the hypervisor answered to one exchange (GHCB spec §4.1.8: `sw_exit_info_2`, RBX).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelError {
    /// VMM error 1 on an extended request: the certificate buffer needs `pages` pages.
    InvalidLength {
        /// The pages the hypervisor says it needs (RBX).
        pages: u64,
    },
    /// VMM error 2: the PSP is busy; the same message may be sent again.
    Busy,
    /// Another VMM error.
    Vmm(u32),
    /// The PSP refused the message (its firmware status in `sw_exit_info_2` bits 31:0).
    Firmware(u32),
    /// The exit itself failed its checks (missing outputs, an exception).
    Misbehaved,
}

/// A response the channel copied into private memory, with the certificate table when asked for.
#[derive(Debug)]
pub struct ChannelReply {
    /// The response page, copied once from the shared page.
    pub response: Box<MessagePage>,
    /// The certificate buffer, copied once (extended requests only).
    pub certificates: Option<Vec<u8>>,
}

/// Carries sealed message pages to the PSP: the GHCB exits on SNP, a simulated PSP in host tests.
pub trait GuestRequestChannel {
    /// One SNP_GUEST_REQUEST, or SNP_EXTENDED_GUEST_REQUEST offering `certificate_pages` pages.
    fn exchange(
        &mut self,
        request: &MessagePage,
        certificate_pages: Option<usize>,
    ) -> Result<ChannelReply, ChannelError>;

    /// Wipes VMPCK0 where the platform keeps it (Warden's secrets page) and in any copy the channel
    /// holds, for good.
    fn wipe_vmpck0(&mut self);
}

/// Why a guest request failed. Every variant but [`GuestRequestError::Psp`] leaves the driver
/// disabled, VMPCK0 wiped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestRequestError {
    /// VMPCK0 was wiped by an earlier failure: no request was made.
    Disabled,
    /// The sequence numbers would leave 32 bits.
    SequenceExhausted,
    /// The hypervisor or the PSP refused the exchange (BUSY after the retries included).
    Channel(ChannelError),
    /// INVALID_LEN named more certificate pages than [`MAX_CERTIFICATE_PAGES`], or kept growing.
    CertificatesTooLarge {
        /// The pages asked for.
        pages: u64,
    },
    /// The response header is not the one the PSP must send.
    Header(HeaderFault),
    /// The response failed authentication with VMPCK0 (forged or corrupted).
    Tag,
    /// The authentic payload contradicts itself (a size field, the REPORT_DATA echoed).
    Payload,
    /// The PSP's status in an authentic response.
    Psp(PspStatus),
}

/// Which field of the response header was wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderFault {
    /// ALGO is not AES-256-GCM.
    Algorithm,
    /// HDR_VERSION or HDR_SZ is not version 1's.
    HeaderVersion,
    /// MSG_TYPE is not the request's + 1.
    MessageType,
    /// MSG_VERSION is not the request's.
    MessageVersion,
    /// MSG_SEQNO is not the request's + 1 (a replayed or reordered response).
    Sequence,
    /// MSG_SZ is not the response payload's size.
    Size,
    /// MSG_VMPCK is not 0.
    Vmpck,
    /// A reserved byte is not zero.
    Reserved,
}

/// An authentic response: its payload, decrypted privately, and the certificate table if asked for.
#[derive(Debug)]
pub(crate) struct Response {
    /// The payload, wiped when dropped (a derived key is a secret).
    pub payload: Zeroizing<Vec<u8>>,
    /// The certificate buffer the hypervisor filled (extended requests).
    pub certificates: Option<Vec<u8>>,
}

/// The driver: VMPCK0, the sequence counter, and the channel.
pub struct GuestRequestDriver<C> {
    channel: C,
    /// `None` once wiped: the driver is disabled for good.
    vmpck0: Option<Zeroizing<[u8; VMPCK_SIZE]>>,
    /// The last sequence number used with VMPCK0 (0 before the first request).
    counter: u64,
}

impl<C> core::fmt::Debug for GuestRequestDriver<C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GuestRequestDriver")
            .field("enabled", &self.vmpck0.is_some())
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

impl<C: GuestRequestChannel> GuestRequestDriver<C> {
    /// A driver over `channel` with `vmpck0` (taken from Warden's secrets page; the caller's copy is
    /// moved in, so this is the only one left besides the page itself).
    pub fn new(channel: C, vmpck0: Zeroizing<[u8; VMPCK_SIZE]>) -> Self {
        Self { channel, vmpck0: Some(vmpck0), counter: 0 }
    }

    /// Whether VMPCK0 is gone (after a failure).
    pub fn is_disabled(&self) -> bool {
        self.vmpck0.is_none()
    }

    /// The channel (for the host tests that count its exchanges).
    pub fn channel(&self) -> &C {
        &self.channel
    }

    /// The channel, mutably (for the host tests that play a hostile hypervisor).
    pub fn channel_mut(&mut self) -> &mut C {
        &mut self.channel
    }

    /// Sends `payload` as a `msg_type` message and returns the decrypted response payload of exactly
    /// `response_size` bytes, with the certificate table when `with_certificates`.
    pub(crate) fn request(
        &mut self,
        msg_type: MsgType,
        payload: &[u8],
        response_size: usize,
        with_certificates: bool,
    ) -> Result<Response, GuestRequestError> {
        let result = self.try_request(msg_type, payload, response_size, with_certificates);
        if result.is_err() {
            self.wipe();
        }
        result
    }

    fn try_request(
        &mut self,
        msg_type: MsgType,
        payload: &[u8],
        response_size: usize,
        with_certificates: bool,
    ) -> Result<Response, GuestRequestError> {
        let key = self.vmpck0.as_ref().ok_or(GuestRequestError::Disabled)?;
        let cipher = Aes256Gcm::new_from_slice(key.as_slice()).map_err(|_| GuestRequestError::Disabled)?;
        let seqno = self.counter.checked_add(1).ok_or(GuestRequestError::SequenceExhausted)?;
        if seqno >= u64::from(u32::MAX) {
            return Err(GuestRequestError::SequenceExhausted);
        }
        if payload.len() > MSG_MAX_PAYLOAD || response_size > MSG_MAX_PAYLOAD {
            return Err(GuestRequestError::Payload);
        }
        let request = seal(&cipher, seqno, msg_type, payload)?;
        let reply = self.exchange(&request, with_certificates)?;
        let plaintext = open(&cipher, &reply.response, seqno, msg_type, response_size)?;
        // The response is authentic and the PSP's counter has moved past both numbers.
        self.counter = seqno + 1;
        Ok(Response { payload: plaintext, certificates: reply.certificates })
    }

    /// The exchange with its retries: BUSY resends, INVALID_LEN grows the certificate buffer (bounded).
    fn exchange(
        &mut self,
        request: &MessagePage,
        with_certificates: bool,
    ) -> Result<ChannelReply, GuestRequestError> {
        let mut pages = with_certificates.then_some(INITIAL_CERTIFICATE_PAGES);
        let (mut busy, mut growths) = (0, 0);
        loop {
            match self.channel.exchange(request, pages) {
                Ok(reply) => return Ok(reply),
                Err(ChannelError::Busy) if busy < BUSY_RETRIES => busy += 1,
                Err(ChannelError::InvalidLength { pages: needed }) if pages.is_some() => {
                    let offered = pages.unwrap_or_default();
                    let grown =
                        usize::try_from(needed).ok().filter(|&n| n > offered && n <= MAX_CERTIFICATE_PAGES);
                    match grown {
                        Some(n) if growths < CERTIFICATE_GROWTHS => {
                            growths += 1;
                            pages = Some(n);
                        }
                        _ => return Err(GuestRequestError::CertificatesTooLarge { pages: needed }),
                    }
                }
                Err(error) => return Err(GuestRequestError::Channel(error)),
            }
        }
    }

    /// Wipes VMPCK0 here and on the platform; the driver is disabled from now on.
    fn wipe(&mut self) {
        if let Some(mut key) = self.vmpck0.take() {
            key.zeroize();
        }
        self.channel.wipe_vmpck0();
    }
}

/// A sealed request page: the header (AAD) and the payload encrypted under `seqno`'s IV.
fn seal(
    cipher: &Aes256Gcm,
    seqno: u64,
    msg_type: MsgType,
    payload: &[u8],
) -> Result<MessagePage, GuestRequestError> {
    let mut header = GuestMessageHeader::new_zeroed();
    header.msg_seqno = seqno;
    header.algo = MSG_ALGO_AES_256_GCM;
    header.hdr_version = MSG_HDR_VERSION;
    header.hdr_sz = MSG_HEADER_SIZE as u16;
    header.msg_type = msg_type.0;
    header.msg_version = MSG_VERSION_1;
    header.msg_sz = u16::try_from(payload.len()).map_err(|_| GuestRequestError::Payload)?;
    header.msg_vmpck = 0;
    let mut page = [0u8; MSG_PAGE_SIZE];
    let (head, body) = page.split_at_mut(MSG_HEADER_SIZE);
    let body = body.get_mut(..payload.len()).ok_or(GuestRequestError::Payload)?;
    body.copy_from_slice(payload);
    let aad = header.as_bytes().get(MSG_AAD_RANGE).ok_or(GuestRequestError::Payload)?;
    // Only a buffer longer than AES-GCM's limit fails; one page never is.
    let tag = cipher
        .encrypt_in_place_detached(&Nonce::from(msg_iv(seqno)), aad, body)
        .map_err(|_| GuestRequestError::Payload)?;
    header.authtag[..MSG_TAG_SIZE].copy_from_slice(&tag);
    head.copy_from_slice(header.as_bytes());
    Ok(page)
}

/// Checks the response header against the request, then authenticates and decrypts its payload into
/// a private buffer that is wiped when dropped.
fn open(
    cipher: &Aes256Gcm,
    page: &MessagePage,
    seqno: u64,
    msg_type: MsgType,
    response_size: usize,
) -> Result<Zeroizing<Vec<u8>>, GuestRequestError> {
    let (head, body) = page.split_at(MSG_HEADER_SIZE);
    let header = GuestMessageHeader::read_from_bytes(head).map_err(|_| HeaderFault::Size)?;
    check_header(&header, seqno, msg_type, response_size)?;
    let mut plaintext = Zeroizing::new(body.get(..response_size).ok_or(HeaderFault::Size)?.to_vec());
    let aad = head.get(MSG_AAD_RANGE).ok_or(HeaderFault::Size)?;
    let mut tag = Tag::default();
    tag.copy_from_slice(&header.authtag[..MSG_TAG_SIZE]);
    cipher
        .decrypt_in_place_detached(&Nonce::from(msg_iv(header.msg_seqno)), aad, &mut plaintext, &tag)
        .map_err(|_| GuestRequestError::Tag)?;
    Ok(plaintext)
}

/// The header the PSP must send in answer to request `seqno` of `msg_type`.
fn check_header(
    header: &GuestMessageHeader,
    seqno: u64,
    msg_type: MsgType,
    response_size: usize,
) -> Result<(), HeaderFault> {
    let checks = [
        (header.algo == MSG_ALGO_AES_256_GCM, HeaderFault::Algorithm),
        (header.hdr_version == MSG_HDR_VERSION, HeaderFault::HeaderVersion),
        (usize::from(header.hdr_sz) == MSG_HEADER_SIZE, HeaderFault::HeaderVersion),
        (MsgType(header.msg_type) == msg_type.response(), HeaderFault::MessageType),
        (header.msg_version == MSG_VERSION_1, HeaderFault::MessageVersion),
        (header.msg_seqno == seqno + 1, HeaderFault::Sequence),
        (usize::from(header.msg_sz) == response_size, HeaderFault::Size),
        (header.msg_vmpck == 0, HeaderFault::Vmpck),
        (header.reserved_clear(), HeaderFault::Reserved),
    ];
    checks.into_iter().find(|(ok, _)| !ok).map_or(Ok(()), |(_, fault)| Err(fault))
}

impl From<HeaderFault> for GuestRequestError {
    fn from(fault: HeaderFault) -> Self {
        Self::Header(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A channel that must not be reached.
    struct Unreachable {
        wiped: bool,
    }

    impl GuestRequestChannel for Unreachable {
        fn exchange(&mut self, _: &MessagePage, _: Option<usize>) -> Result<ChannelReply, ChannelError> {
            panic!("no request may be sent");
        }

        fn wipe_vmpck0(&mut self) {
            self.wiped = true;
        }
    }

    /// Threat model T6: an IV is never used twice.
    #[test]
    fn counter_near_32_bits_wipes_before_any_request() {
        let mut driver =
            GuestRequestDriver::new(Unreachable { wiped: false }, Zeroizing::new([7; VMPCK_SIZE]));
        driver.counter = u64::from(u32::MAX) - 1;
        let result = driver.request(MsgType::REPORT_REQ, &[0; 0x60], 0x4C0, false).map(|_| ());
        assert_eq!(result, Err(GuestRequestError::SequenceExhausted));
        assert!(driver.is_disabled() && driver.channel().wiped);
        let again = driver.request(MsgType::REPORT_REQ, &[0; 0x60], 0x4C0, false).map(|_| ());
        assert_eq!(again, Err(GuestRequestError::Disabled));
    }
}
