//! The guest-request driver against the simulated PSP (`warden_sim::psp`, INSECURE TEST KEYS) and a
//! hypervisor that replays, reorders, forges or withholds responses (threat model T1).
use warden_defs::snp_guest_msg::{
    GuestFieldSelect, KeyRequest, MSG_HEADER_SIZE, MSG_PAGE_SIZE, SECRETS_VMPCK0_OFFSET, VMPCK_SIZE,
};
use warden_defs::snp_report::{AttestationReport, REPORT_VERSION_3};
use warden_sim::psp::{SimPsp, SimPspError};
use warden_svsm::EvidenceError;
use warden_svsm::attest_protocol::EvidenceSource;
use warden_svsm::guest_request::{
    ChannelError, ChannelReply, GuestRequestChannel, GuestRequestDriver, GuestRequestError, HeaderFault,
    MAX_CERTIFICATE_PAGES, MessagePage,
};
use warden_svsm::snp_evidence::SnpEvidence;
use zerocopy::FromBytes;
use zeroize::Zeroizing;

/// What the hypervisor does to the PSP's response.
#[derive(Debug, Default)]
enum Tamper {
    #[default]
    Honest,
    /// Answers with this page instead (replayed or taken from another exchange).
    Substitute(Box<MessagePage>),
    /// Flips one byte of the response page.
    Flip(usize),
}

/// The host: the simulated PSP behind a hypervisor that may tamper, and Warden's secrets page.
#[derive(Debug)]
struct Host {
    psp: SimPsp,
    tamper: Tamper,
    /// BUSY answers still to give before forwarding.
    busy: u32,
    /// Every response page the PSP produced, in order.
    responses: Vec<Box<MessagePage>>,
    /// Warden's secrets page (VMPCK0 at 0x20).
    secrets: Box<[u8; 4096]>,
}

impl Host {
    fn new() -> Self {
        let psp = SimPsp::insecure_test();
        let mut secrets = Box::new([0u8; 4096]);
        secrets[SECRETS_VMPCK0_OFFSET..SECRETS_VMPCK0_OFFSET + VMPCK_SIZE].copy_from_slice(&psp.vmpck(0));
        Self { psp, tamper: Tamper::Honest, busy: 0, responses: Vec::new(), secrets }
    }

    fn vmpck0_in_secrets_page(&self) -> [u8; VMPCK_SIZE] {
        self.secrets[SECRETS_VMPCK0_OFFSET..SECRETS_VMPCK0_OFFSET + VMPCK_SIZE].try_into().unwrap()
    }
}

impl GuestRequestChannel for Host {
    fn exchange(
        &mut self,
        request: &MessagePage,
        pages: Option<usize>,
    ) -> Result<ChannelReply, ChannelError> {
        if self.busy > 0 {
            self.busy -= 1;
            return Err(ChannelError::Busy);
        }
        let (mut response, certificates) = self.psp.guest_request(request, pages).map_err(|e| match e {
            SimPspError::InvalidLength(pages) => ChannelError::InvalidLength { pages },
            SimPspError::Firmware(code) => ChannelError::Firmware(code),
        })?;
        self.responses.push(response.clone());
        match std::mem::take(&mut self.tamper) {
            Tamper::Honest => {}
            Tamper::Substitute(page) => response = page,
            Tamper::Flip(at) => response[at] ^= 1,
        }
        Ok(ChannelReply { response, certificates })
    }

    fn wipe_vmpck0(&mut self) {
        self.secrets[SECRETS_VMPCK0_OFFSET..SECRETS_VMPCK0_OFFSET + VMPCK_SIZE].fill(0);
    }
}

fn driver() -> GuestRequestDriver<Host> {
    let host = Host::new();
    let key = Zeroizing::new(host.vmpck0_in_secrets_page());
    GuestRequestDriver::new(host, key)
}

const DATA: [u8; 64] = [0xA5; 64];

/// After a failure: VMPCK0 is gone from the secrets page, the driver refuses, and the PSP sees no
/// further message.
fn assert_dead(driver: &mut GuestRequestDriver<Host>) {
    assert!(driver.is_disabled());
    assert_eq!(driver.channel().vmpck0_in_secrets_page(), [0; VMPCK_SIZE]);
    let messages = driver.channel().psp.messages;
    assert_eq!(driver.report(&DATA, false), Err(GuestRequestError::Disabled));
    assert_eq!(driver.derive_key(&KeyRequest::default()).map(|_| ()), Err(GuestRequestError::Disabled));
    assert_eq!(driver.channel().psp.messages, messages, "no request may reach the PSP");
}

#[test]
fn report_carries_report_data_at_vmpl0_and_sequence_numbers_advance_by_two() {
    let mut driver = driver();
    for round in 0..3 {
        let (report, certificates) = driver.report(&DATA, false).unwrap();
        let report = AttestationReport::read_from_bytes(&report).unwrap();
        assert_eq!((report.version, report.vmpl, report.report_data), (REPORT_VERSION_3, 0, DATA));
        assert_eq!(certificates, None);
        let header = &driver.channel().responses[round][..MSG_HEADER_SIZE];
        assert_eq!(u64::from_le_bytes(header[0x20..0x28].try_into().unwrap()), 2 * round as u64 + 2);
    }
    assert!(!driver.is_disabled());
}

/// Threat model T6.
#[test]
fn replayed_response_is_refused_and_wipes_vmpck0() {
    let mut driver = driver();
    driver.report(&DATA, false).unwrap();
    let first = driver.channel().responses[0].clone();
    driver.channel_mut().tamper = Tamper::Substitute(first);
    assert_eq!(driver.report(&DATA, false), Err(GuestRequestError::Header(HeaderFault::Sequence)));
    assert_dead(&mut driver);
}

/// Threat model T6.
#[test]
fn reordered_responses_are_refused() {
    // Responses recorded from another driver with the same keys: a key response (sequence 2) and a
    // report response (sequence 4).
    let mut other = driver();
    other.derive_key(&KeyRequest::default()).unwrap();
    other.report(&DATA, false).unwrap();
    let [key_response, later_report] = [0, 1].map(|i| other.channel().responses[i].clone());

    let mut driver = driver();
    driver.channel_mut().tamper = Tamper::Substitute(later_report);
    assert_eq!(driver.report(&DATA, false), Err(GuestRequestError::Header(HeaderFault::Sequence)));
    assert_dead(&mut driver);

    let mut driver = self::driver();
    driver.channel_mut().tamper = Tamper::Substitute(key_response);
    assert_eq!(driver.report(&DATA, false), Err(GuestRequestError::Header(HeaderFault::MessageType)));
    assert_dead(&mut driver);
}

/// Threat model T6.
#[test]
fn forged_responses_are_refused() {
    // A ciphertext byte and a tag byte fail authentication; header bytes fail their checks first
    // (MSG_VERSION, the unused half of AUTHTAG).
    for (at, expected) in [
        (MSG_HEADER_SIZE + 0x50, GuestRequestError::Tag),
        (3, GuestRequestError::Tag),
        (0x35, GuestRequestError::Header(HeaderFault::MessageVersion)),
        (0x10, GuestRequestError::Header(HeaderFault::Reserved)),
    ] {
        let mut driver = driver();
        driver.channel_mut().tamper = Tamper::Flip(at);
        assert_eq!(driver.report(&DATA, false), Err(expected), "byte {at:#x}");
        assert_dead(&mut driver);
    }
}

/// Threat model T6.
#[test]
fn refused_exchange_wipes_vmpck0() {
    let mut driver = driver();
    // The hypervisor sends the request to the PSP behind Warden's back: the PSP's counter moves on,
    // Warden's real request is refused.
    let mut stolen = Host::new();
    std::mem::swap(&mut stolen.psp, &mut driver.channel_mut().psp);
    let key = Zeroizing::new(stolen.vmpck0_in_secrets_page());
    let mut thief = GuestRequestDriver::new(stolen, key);
    thief.report(&DATA, false).unwrap();
    std::mem::swap(&mut thief.channel_mut().psp, &mut driver.channel_mut().psp);
    assert!(matches!(
        driver.report(&DATA, false),
        Err(GuestRequestError::Channel(ChannelError::Firmware(_)))
    ));
    assert_dead(&mut driver);
}

#[test]
fn busy_is_retried_with_the_same_message() {
    let mut driver = driver();
    driver.channel_mut().busy = 3;
    driver.report(&DATA, false).unwrap();
    assert_eq!(driver.channel().psp.messages, 1);
    driver.channel_mut().busy = 1000;
    assert_eq!(driver.report(&DATA, false), Err(GuestRequestError::Channel(ChannelError::Busy)));
    assert_dead(&mut driver);
}

#[test]
fn certificate_buffer_grows_to_the_pages_the_host_names() {
    let mut driver = driver();
    let table: Vec<u8> = (0..3 * MSG_PAGE_SIZE - 100).map(|i| i as u8).collect();
    driver.channel_mut().psp.certificates = table.clone();
    let (_, certificates) = driver.report(&DATA, true).unwrap();
    let certificates = certificates.unwrap();
    assert_eq!(certificates.len(), 3 * MSG_PAGE_SIZE);
    assert_eq!(&certificates[..table.len()], &table[..]);
    assert_eq!(driver.channel().psp.messages, 1, "INVALID_LEN is the host's answer, not the PSP's");
}

#[test]
fn certificate_table_beyond_the_bound_is_refused() {
    let mut driver = driver();
    driver.channel_mut().psp.certificates = vec![1; (MAX_CERTIFICATE_PAGES + 1) * MSG_PAGE_SIZE];
    let pages = MAX_CERTIFICATE_PAGES as u64 + 1;
    assert_eq!(driver.report(&DATA, true), Err(GuestRequestError::CertificatesTooLarge { pages }));
    assert_dead(&mut driver);
}

#[test]
fn derived_keys_depend_on_the_selected_fields_and_are_forced_to_vmpl0() {
    let mut driver = driver();
    let select = |fields: GuestFieldSelect| KeyRequest {
        guest_field_select: fields.0,
        vmpl: 3,
        ..KeyRequest::default()
    };
    let measured = select(GuestFieldSelect::MEASUREMENT.union(GuestFieldSelect::POLICY));
    let a = driver.derive_key(&measured).unwrap();
    let b = driver.derive_key(&measured).unwrap();
    let c = driver.derive_key(&select(GuestFieldSelect::POLICY)).unwrap();
    assert_eq!(*a, *b);
    assert_ne!(*a, *c);
    let at_vmpl0 = driver.derive_key(&KeyRequest { vmpl: 0, ..measured }).unwrap();
    assert_eq!(*a, *at_vmpl0, "the VMPL asked for is replaced by Warden's own");
}

#[test]
fn evidence_source_reports_unavailable_once_vmpck0_is_gone() {
    let mut evidence = SnpEvidence::new(driver());
    let first = evidence.report(&DATA, false).unwrap();
    assert_eq!(first.report.len(), size_of::<AttestationReport>());
    let mut driver = driver();
    driver.channel_mut().tamper = Tamper::Flip(MSG_HEADER_SIZE);
    let mut evidence = SnpEvidence::new(driver);
    assert_eq!(evidence.report(&DATA, true), Err(EvidenceError::Unavailable));
    assert_eq!(evidence.report(&DATA, true), Err(EvidenceError::Unavailable));
    assert!(evidence.driver().is_disabled());
}
