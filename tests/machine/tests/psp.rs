//! The PSP model against a guest-request client written here from the specifications alone (SEV-SNP
//! ABI (AMD 56860) "Message Header Format", MSG_REPORT_REQ/RSP, MSG_KEY_REQ/RSP, Table 23; GHCB spec
//! (AMD 56421) §4.1.8.1), with raw offsets rather than Warden's wire structs, so that the model, the
//! structs in `warden-defs` and Warden's own driver check each other: reports verify with the VCEK of
//! the chain and carry the right fields; replayed, reordered, forged and malformed requests get the
//! PSP's status; derived keys follow exactly the selected fields and never cross VMPLs; the
//! certificate chain and table verify.
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce, Tag};
use der::asn1::OctetString;
use der::{Decode, Encode};
use p384::ecdsa::signature::Verifier;
use p384::ecdsa::{Signature, VerifyingKey};
use rsa::RsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use sha2::Sha384;
use warden_machine::guest_request::{self, Answer, VMM_ERR_INVALID_LEN};
use warden_machine::machine::{Config, Machine};
use warden_machine::psp::cert_chain::{self, CertChain};
use warden_machine::psp::cert_table::certificate_table;
use warden_machine::psp::snp_psp::{GuestContext, SnpPsp};
use warden_machine::psp::{PspModel, chip, status};
use x509_cert::Certificate;

/// MSG_TYPE of the requests; a response's type is the request's + 1.
const REPORT_REQ: u8 = 5;
const KEY_REQ: u8 = 3;

fn vmpck(n: usize) -> [u8; 32] {
    [0x40 + n as u8; 32]
}

fn psp_with(measurement: u8) -> SnpPsp {
    let mut secrets = [0u8; 4096];
    for n in 0..4 {
        secrets[0x20 + 32 * n..0x40 + 32 * n].copy_from_slice(&vmpck(n));
    }
    let guest = GuestContext {
        measurement: [measurement; 48],
        policy: 0x3_0000,
        family_id: [0; 16],
        image_id: [0; 16],
        guest_svn: 0,
        host_data: [0; 32],
        report_id: [0x77; 32],
    };
    SnpPsp::new(&secrets, guest)
}

/// A request page: the header per the ABI's table, the payload sealed with AES-256-GCM.
fn seal(key: &[u8; 32], seqno: u64, vmpck_index: u8, msg_type: u8, payload: &[u8]) -> [u8; 4096] {
    let mut page = [0u8; 4096];
    page[0x20..0x28].copy_from_slice(&seqno.to_le_bytes());
    page[0x30] = 1; // ALGO AES-256-GCM
    page[0x31] = 1; // HDR_VERSION
    page[0x32..0x34].copy_from_slice(&0x60u16.to_le_bytes());
    page[0x34] = msg_type;
    page[0x35] = 1; // MSG_VERSION
    page[0x36..0x38].copy_from_slice(&(payload.len() as u16).to_le_bytes());
    page[0x3C] = vmpck_index;
    let mut body = payload.to_vec();
    let mut iv = [0u8; 12];
    iv[..8].copy_from_slice(&seqno.to_le_bytes());
    let aad = page[0x30..0x60].to_vec();
    let tag = Aes256Gcm::new_from_slice(key)
        .unwrap()
        .encrypt_in_place_detached(&Nonce::from(iv), &aad, &mut body)
        .unwrap();
    page[..16].copy_from_slice(&tag);
    page[0x60..0x60 + body.len()].copy_from_slice(&body);
    page
}

/// Opens a response page, checking its header against what the request implies.
fn open(key: &[u8; 32], page: &[u8; 4096], seqno: u64, vmpck_index: u8, msg_type: u8) -> Vec<u8> {
    assert_eq!(u64::from_le_bytes(page[0x20..0x28].try_into().unwrap()), seqno, "response MSG_SEQNO");
    assert_eq!([page[0x30], page[0x31]], [1, 1], "ALGO, HDR_VERSION");
    assert_eq!(u16::from_le_bytes([page[0x32], page[0x33]]), 0x60);
    assert_eq!([page[0x34], page[0x35], page[0x3C]], [msg_type, 1, vmpck_index]);
    assert!(page[16..0x20].iter().chain(&page[0x28..0x30]).chain(&page[0x38..0x3C]).all(|&b| b == 0));
    assert!(page[0x3D..0x60].iter().all(|&b| b == 0), "reserved header bytes");
    let size = usize::from(u16::from_le_bytes([page[0x36], page[0x37]]));
    let mut body = page[0x60..0x60 + size].to_vec();
    let mut iv = [0u8; 12];
    iv[..8].copy_from_slice(&seqno.to_le_bytes());
    let tag: [u8; 16] = page[..16].try_into().unwrap();
    Aes256Gcm::new_from_slice(key)
        .unwrap()
        .decrypt_in_place_detached(&Nonce::from(iv), &page[0x30..0x60], &mut body, &Tag::from(tag))
        .expect("the response's tag verifies under the same VMPCK");
    body
}

fn report_request(report_data: &[u8; 64], vmpl: u32) -> [u8; 0x60] {
    let mut req = [0u8; 0x60];
    req[..64].copy_from_slice(report_data);
    req[0x40..0x44].copy_from_slice(&vmpl.to_le_bytes());
    req
}

fn key_request(root: u32, select: u64, vmpl: u32) -> [u8; 0x20] {
    let mut req = [0u8; 0x20];
    req[..4].copy_from_slice(&root.to_le_bytes());
    req[8..16].copy_from_slice(&select.to_le_bytes());
    req[0x10..0x14].copy_from_slice(&vmpl.to_le_bytes());
    req
}

/// A whole exchange under VMPCK `n` with sequence number `seqno`; the opened response payload.
fn exchange(psp: &mut SnpPsp, n: u8, seqno: u64, msg_type: u8, payload: &[u8]) -> Result<Vec<u8>, u32> {
    let key = vmpck(usize::from(n));
    let response = psp.guest_request(&seal(&key, seqno, n, msg_type, payload))?;
    Ok(open(&key, &response, seqno + 1, n, msg_type + 1))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn vcek_public() -> VerifyingKey {
    let spki = CertChain::stored().vcek.tbs_certificate.subject_public_key_info.to_der().unwrap();
    VerifyingKey::from_public_key_der(&spki).unwrap()
}

fn verify_report(report: &[u8]) -> bool {
    let le_to_be = |at: usize| {
        let mut be = [0u8; 48];
        be.iter_mut().zip(report[at..at + 48].iter().rev()).for_each(|(d, s)| *d = *s);
        be
    };
    let Ok(sig) = Signature::from_scalars(le_to_be(0x2A0), le_to_be(0x2E8)) else { return false };
    vcek_public().verify(&report[..0x2A0], &sig).is_ok()
}

fn extension_value(cert: &Certificate, oid: const_oid::ObjectIdentifier) -> Vec<u8> {
    let exts = cert.tbs_certificate.extensions.as_ref().unwrap();
    exts.iter().find(|e| e.extn_id == oid).unwrap().extn_value.as_bytes().to_vec()
}

#[test]
fn a_report_request_gets_a_report_signed_by_the_chains_vcek_with_the_right_fields() {
    let mut psp = psp_with(0xAB);
    let data: [u8; 64] = core::array::from_fn(|i| i as u8);
    let rsp = exchange(&mut psp, 0, 1, REPORT_REQ, &report_request(&data, 0)).unwrap();
    assert_eq!(rsp.len(), 0x20 + 0x4A0);
    assert_eq!((u32_at(&rsp, 0), u32_at(&rsp, 4)), (0, 0x4A0), "STATUS, REPORT_SIZE");
    let r = &rsp[0x20..];
    assert_eq!(u32_at(r, 0), 3, "VERSION");
    assert_eq!(u64::from_le_bytes(r[8..16].try_into().unwrap()), 0x3_0000, "POLICY");
    assert_eq!((u32_at(r, 0x30), u32_at(r, 0x34)), (0, 1), "VMPL, SIGNATURE_ALGO");
    assert_eq!(&r[0x50..0x90], &data[..], "REPORT_DATA");
    assert_eq!(&r[0x90..0xC0], &[0xAB; 48][..], "MEASUREMENT");
    assert_eq!(&r[0x1A0..0x1E0], &chip::chip_id()[..], "CHIP_ID");
    assert_eq!(&r[0x188..0x18B], &[0x19, 0x11, 0x01], "CPUID family, model, stepping");
    // The VCEK certificate names this chip and the REPORTED_TCB's SPLs (Genoa: bytes 0, 1, 6, 7).
    let vcek = &CertChain::stored().vcek;
    let hwid = OctetString::from_der(&extension_value(vcek, cert_chain::HWID)).unwrap();
    assert_eq!(hwid.as_bytes(), &r[0x1A0..0x1E0]);
    for (oid, byte) in [
        (cert_chain::BL_SPL, 0),
        (cert_chain::TEE_SPL, 1),
        (cert_chain::SNP_SPL, 6),
        (cert_chain::UCODE_SPL, 7),
    ] {
        assert_eq!(u8::from_der(&extension_value(vcek, oid)).unwrap(), r[0x180 + byte], "{oid}");
    }
    for (name, tcb) in [("CURRENT", 0x38), ("COMMITTED", 0x1E0), ("LAUNCH", 0x1F0)] {
        assert_eq!(&r[tcb..tcb + 8], &[9, 0, 0, 0, 0, 0, 23, 0x48], "{name}_TCB");
    }
    let reserved = [0x4C..0x50, 0x18B..0x1A0, 0x1F8..0x2A0, 0x2D0..0x2E8, 0x318..0x4A0];
    for range in reserved {
        assert!(r[range.clone()].iter().all(|&b| b == 0), "reserved {range:x?}");
    }
    assert!(verify_report(r));
    let mut flipped = r.to_vec();
    flipped[0x90] ^= 1;
    assert!(!verify_report(&flipped), "a changed MEASUREMENT breaks the signature");
}

#[test]
fn sequence_numbers_advance_by_two_and_replays_or_skips_are_refused_without_consuming_one() {
    let mut psp = psp_with(1);
    let req = report_request(&[0; 64], 0);
    assert!(exchange(&mut psp, 0, 1, REPORT_REQ, &req).is_ok());
    assert_eq!(exchange(&mut psp, 0, 1, REPORT_REQ, &req), Err(status::INVALID_PARAM), "replay");
    assert_eq!(
        exchange(&mut psp, 0, 2, REPORT_REQ, &req),
        Err(status::INVALID_PARAM),
        "the response's number"
    );
    assert_eq!(exchange(&mut psp, 0, 5, REPORT_REQ, &req), Err(status::INVALID_PARAM), "skipping ahead");
    assert!(exchange(&mut psp, 0, 3, REPORT_REQ, &req).is_ok(), "the refusals used no number");
    // Every VMPCK has its own count.
    assert!(exchange(&mut psp, 1, 1, REPORT_REQ, &report_request(&[0; 64], 1)).is_ok());
    assert!(exchange(&mut psp, 0, 5, REPORT_REQ, &req).is_ok());
}

#[test]
fn forged_tags_wrong_keys_and_malformed_headers_are_invalid_param() {
    let mut psp = psp_with(1);
    let req = report_request(&[0; 64], 0);
    let good = seal(&vmpck(0), 1, 0, REPORT_REQ, &req);
    let mut cases: Vec<(&str, [u8; 4096])> = Vec::new();
    let mut with = |what, f: &dyn Fn(&mut [u8; 4096])| {
        let mut page = good;
        f(&mut page);
        cases.push((what, page));
    };
    with("forged tag", &|p| p[3] ^= 1);
    with("changed ciphertext", &|p| p[0x70] ^= 1);
    with("changed AAD (MSG_TYPE)", &|p| p[0x34] = KEY_REQ);
    with("ALGO 2", &|p| p[0x30] = 2);
    with("HDR_VERSION 2", &|p| p[0x31] = 2);
    with("HDR_SZ 0x50", &|p| p[0x32] = 0x50);
    with("MSG_SZ past the page", &|p| p[0x36..0x38].copy_from_slice(&0xFA1u16.to_le_bytes()));
    with("MSG_VMPCK 4", &|p| p[0x3C] = 4);
    with("AUTHTAG's second half", &|p| p[0x10] = 1);
    with("reserved 0x28", &|p| p[0x28] = 1);
    with("reserved 0x38", &|p| p[0x38] = 1);
    with("reserved 0x5F", &|p| p[0x5F] = 1);
    with("sealed under VMPCK0, header names VMPCK2", &|p| p[0x3C] = 2);
    for (what, page) in cases {
        assert_eq!(psp.guest_request(&page).map(|_| ()), Err(status::INVALID_PARAM), "{what}");
    }
    assert!(psp.guest_request(&good).is_ok(), "none of them used the sequence number");
    let unknown_type = seal(&vmpck(0), 3, 0, 1, &[0; 8]);
    assert_eq!(psp.guest_request(&unknown_type).map(|_| ()), Err(status::INVALID_PARAM), "MSG_CPUID_REQ");
}

#[test]
fn the_requesters_vmpl_is_its_vmpcks_and_bounds_the_report_vmpl() {
    let mut psp = psp_with(1);
    let refused = exchange(&mut psp, 2, 1, REPORT_REQ, &report_request(&[0; 64], 0)).unwrap();
    assert_eq!((u32_at(&refused, 0), u32_at(&refused, 4)), (status::INVALID_PARAM, 0));
    assert!(refused[0x20..].iter().all(|&b| b == 0), "no report with a refusal");
    let own = exchange(&mut psp, 2, 3, REPORT_REQ, &report_request(&[0; 64], 2)).unwrap();
    assert_eq!((u32_at(&own, 0), u32_at(&own, 0x20 + 0x30)), (0, 2));
    let less = exchange(&mut psp, 0, 1, REPORT_REQ, &report_request(&[0; 64], 3)).unwrap();
    assert_eq!(u32_at(&less, 0x20 + 0x30), 3, "VMPL0 may ask for VMPL3's report");
    let mut vlek = report_request(&[0; 64], 0);
    vlek[0x44] = 2;
    let no_vlek = exchange(&mut psp, 0, 3, REPORT_REQ, &vlek).unwrap();
    assert_eq!(u32_at(&no_vlek, 0), status::INVALID_KEY);
}

fn derived_key(psp: &mut SnpPsp, n: u8, seqno: u64, req: &[u8; 0x20]) -> (u32, [u8; 32]) {
    let rsp = exchange(psp, n, seqno, KEY_REQ, req).unwrap();
    assert_eq!(rsp.len(), 0x40);
    assert!(rsp[4..0x20].iter().all(|&b| b == 0));
    (u32_at(&rsp, 0), rsp[0x20..0x40].try_into().unwrap())
}

const POLICY: u64 = 1;
const MEASUREMENT: u64 = 1 << 3;
const TCB_VERSION: u64 = 1 << 5;

#[test]
fn derived_keys_follow_exactly_the_selected_fields() {
    let select = POLICY | MEASUREMENT | TCB_VERSION;
    let mut req = key_request(0, select, 0);
    req[0x18..0x20].copy_from_slice(&[7, 0, 0, 0, 0, 0, 21, 0x45]); // the REPORTED_TCB
    let (mut a, mut b) = (psp_with(1), psp_with(1));
    let (st, key) = derived_key(&mut a, 0, 1, &req);
    assert_eq!(st, 0);
    assert_ne!(key, [0; 32]);
    assert_eq!(derived_key(&mut a, 0, 3, &req), (0, key), "same fields, same key");
    assert_eq!(derived_key(&mut b, 0, 1, &req), (0, key), "another launch of the same image");
    let mut other_image = psp_with(2);
    assert_ne!(derived_key(&mut other_image, 0, 1, &req).1, key, "another measurement");
    let unselected = key_request(0, POLICY, 0);
    let (_, k1) = derived_key(&mut a, 0, 5, &unselected);
    assert_eq!(derived_key(&mut other_image, 0, 3, &unselected).1, k1, "measurement not selected");
    let mut older_tcb = req;
    older_tcb[0x18] = 6;
    assert_ne!(derived_key(&mut a, 0, 7, &older_tcb).1, key, "another TCB_VERSION");
    let vmrk = key_request(1, select, 0);
    let (st, from_vmrk) = derived_key(&mut a, 0, 9, &{
        let mut r = vmrk;
        r[0x18..0x20].copy_from_slice(&req[0x18..0x20]);
        r
    });
    assert_eq!(st, 0);
    assert_ne!(from_vmrk, key, "the VMRK root is not the chip's");
}

#[test]
fn derived_keys_never_cross_vmpls_and_refuse_out_of_range_fields() {
    let mut psp = psp_with(1);
    let (_, vmpl0_key) = derived_key(&mut psp, 0, 1, &key_request(0, MEASUREMENT, 0));
    assert_eq!(
        derived_key(&mut psp, 2, 1, &key_request(0, MEASUREMENT, 0)),
        (status::INVALID_PARAM, [0; 32])
    );
    let (st, vmpl2_key) = derived_key(&mut psp, 2, 3, &key_request(0, MEASUREMENT, 2));
    assert_eq!(st, 0);
    assert_ne!(vmpl2_key, vmpl0_key, "VMPL2's key is not VMPL0's");
    let (_, from_vmpl0) = derived_key(&mut psp, 0, 3, &key_request(0, MEASUREMENT, 2));
    assert_eq!(from_vmpl0, vmpl2_key, "VMPL0 may derive VMPL2's key");
    let mut newer_tcb = key_request(0, TCB_VERSION, 0);
    newer_tcb[0x18..0x20].copy_from_slice(&[10, 0, 0, 0, 0, 0, 23, 0x48]);
    let mut reserved = key_request(0, 0, 0);
    reserved[4] = 1;
    let bad = [
        ("TCB newer than committed", newer_tcb),
        ("reserved word", reserved),
        ("LAUNCH_MIT_VECTOR with version 1", key_request(0, 1 << 6, 0)),
        ("ROOT_KEY_SELECT 2", key_request(2, 0, 0)),
        ("VMPL 4", key_request(0, 0, 4)),
    ];
    for (i, (what, req)) in bad.iter().enumerate() {
        let seqno = 5 + 2 * i as u64;
        assert_eq!(derived_key(&mut psp, 0, seqno, req), (status::INVALID_PARAM, [0; 32]), "{what}");
    }
}

fn pss_signed_by(issuer: &Certificate, subject: &Certificate) -> bool {
    let spki = issuer.tbs_certificate.subject_public_key_info.to_der().unwrap();
    let key = rsa::pss::VerifyingKey::<Sha384>::new(RsaPublicKey::from_public_key_der(&spki).unwrap());
    let Ok(sig) = rsa::pss::Signature::try_from(subject.signature.raw_bytes()) else { return false };
    use rsa::signature::Verifier as _;
    subject.signature_algorithm == rsa::pss::get_default_pss_signature_algo_id::<Sha384>().unwrap()
        && key.verify(&subject.tbs_certificate.to_der().unwrap(), &sig).is_ok()
}

#[test]
fn the_chain_verifies_ark_self_signed_ask_by_ark_vcek_by_ask() {
    let c = CertChain::stored();
    assert!(pss_signed_by(&c.ark, &c.ark), "ARK self-signed");
    assert!(pss_signed_by(&c.ark, &c.ask), "ASK by ARK");
    assert!(pss_signed_by(&c.ask, &c.vcek), "VCEK by ASK");
    assert!(!pss_signed_by(&c.ark, &c.vcek), "the VCEK is not the ARK's");
    assert!(!pss_signed_by(&c.ask, &c.ask), "the ASK is not self-signed");
    assert_eq!(c.ask.tbs_certificate.issuer, c.ark.tbs_certificate.subject);
    assert_eq!(c.vcek.tbs_certificate.issuer, c.ask.tbs_certificate.subject);
    assert!(c.vcek.tbs_certificate.subject.to_string().contains("CN=SEV-VCEK"));
    assert!(c.ark.tbs_certificate.subject.to_string().contains("INSECURE TEST KEY"));
    // The VCEK certificate's key is the one the PSP signs with.
    assert_eq!(vcek_public(), *chip::vcek().verifying_key());
}

/// The certificate table's GUIDs in RFC 4122 byte order (GHCB spec §4.1.8.1).
const VCEK_GUID: &str = "63da758d-e664-4564-adc5-f4b93be8accd";
const ASK_GUID: &str = "4ab7b379-bbac-4fe4-a02f-05aef327c782";
const ARK_GUID: &str = "c0b406a4-a803-4952-9743-3fb6014cd0ae";

fn guid_bytes(s: &str) -> Vec<u8> {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    (0..16).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect()
}

#[test]
fn the_extended_request_answers_invalid_len_then_writes_the_table_and_the_response() {
    const REQUEST: u64 = 0x10_0000;
    const RESPONSE: u64 = 0x10_1000;
    const CERTS: u64 = 0x11_0000;
    let mut m = Machine::empty(Config { echo: false, ..Config::default() }).unwrap();
    let hv = &mut m.uc.get_data_mut().hv;
    hv.psp = Box::new(psp_with(3));
    hv.certificates = Some(certificate_table(CertChain::stored()).unwrap());
    let request = seal(&vmpck(0), 1, 0, REPORT_REQ, &report_request(&[5; 64], 0));
    m.place(REQUEST, &request, false).unwrap();
    let too_small = guest_request::extended(&mut m.uc, REQUEST, RESPONSE, CERTS, 1).unwrap();
    assert_eq!(too_small, Answer { exit_info_2: VMM_ERR_INVALID_LEN, rbx: Some(2) });
    let done = guest_request::extended(&mut m.uc, REQUEST, RESPONSE, CERTS, 2).unwrap();
    assert_eq!(done, Answer { exit_info_2: 0, rbx: None }, "INVALID_LEN left the sequence number unused");
    let mut response = [0u8; 4096];
    m.uc.mem_read(RESPONSE, &mut response).unwrap();
    let rsp = open(&vmpck(0), &response, 2, 0, REPORT_REQ + 1);
    assert!(verify_report(&rsp[0x20..]));
    let mut table = vec![0u8; 8192];
    m.uc.mem_read(CERTS, &mut table).unwrap();
    let chain = CertChain::stored();
    for (i, (guid, cert)) in
        [(VCEK_GUID, &chain.vcek), (ASK_GUID, &chain.ask), (ARK_GUID, &chain.ark)].iter().enumerate()
    {
        let entry = &table[24 * i..24 * i + 24];
        assert_eq!(entry[..16], guid_bytes(guid)[..], "entry {i}");
        let (offset, length) = (u32_at(entry, 16) as usize, u32_at(entry, 20) as usize);
        assert_eq!(table[offset..offset + length], cert.to_der().unwrap()[..], "entry {i}'s certificate");
    }
    assert!(table[72..96].iter().all(|&b| b == 0), "the all-zero terminator");
    // A request page the hypervisor cannot reach is the guest's error, not the PSP's.
    assert!(guest_request::regular(&mut m.uc, 1 << 45, RESPONSE).is_err());
}
