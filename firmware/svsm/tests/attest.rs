//! The attestation protocol (1): both calls end to end over the simulated SNP guest, the binding of
//! REPORT_DATA to nonce and manifest (threat model T6), the size answers Linux relies on, and every
//! attestation buffer aimed at a page Warden relies on (threat model T4).
mod common;

use common::{AP_CAA, BOOT, BOOT_CAA, SimEnv, core_call, dispatcher_with_ram};
use sha2::{Digest, Sha512};
use std::sync::{Arc, Mutex};
use warden_defs::attest::{
    AttestServicesRequest, AttestSingleServiceRequest, SERVICES_MANIFEST_GUID, SNP_REPORT_DATA_OFFSET,
    SNP_REPORT_SIZE, VTPM_SERVICE_GUID,
};
use warden_defs::layout::{SNP_SECRETS_PAGE, WARDEN_BASE, WARDEN_END};
use warden_defs::svsm::core_call::{CREATE_VCPU, QUERY_PROTOCOL};
use warden_defs::svsm::{CallId, PROTOCOL_ATTEST, ResultCode, attest_call, query_protocol_input};
use warden_platform::memory::GpaRange;
use warden_svsm::attest_manifest::ServiceManifest;
use warden_svsm::attest_protocol::{AttestProtocol, Evidence, EvidenceSource};
use warden_svsm::{
    AddressError, Dispatcher, EvidenceError, GuestError, GuestRegs, ParamError, Reply, SvsmError,
};
use zerocopy::IntoBytes;

/// INSECURE TEST DOUBLE, not evidence of anything: a report of the SNP size with this label in its
/// FAMILY_ID and IMAGE_ID fields and REPORT_DATA at its real offset, so the binding can be checked.
#[derive(Clone, Default)]
struct InsecureTestEvidence(Arc<Mutex<Vec<[u8; 64]>>>);

const LABEL: &[u8; 32] = b"INSECURE TEST REPORT, NOT SIGNED";
const CERTIFICATES: &[u8] = b"INSECURE TEST CERTIFICATE TABLE";

impl EvidenceSource for InsecureTestEvidence {
    fn report(&mut self, report_data: &[u8; 64], with_certificates: bool) -> Result<Evidence, EvidenceError> {
        self.0.lock().unwrap().push(*report_data);
        let mut report = vec![0u8; SNP_REPORT_SIZE];
        report[0x10..0x30].copy_from_slice(LABEL);
        report[SNP_REPORT_DATA_OFFSET..SNP_REPORT_DATA_OFFSET + 64].copy_from_slice(report_data);
        Ok(Evidence { report, certificates: with_certificates.then(|| CERTIFICATES.to_vec()) })
    }
}

/// The EK public area stand-in the vTPM service lists (its real bytes are the vTPM's business).
const EK_PUBLIC: &[u8] = &[0x00, 0x01, 0x00, 0x0B, 0x00, 0x03, 0x00, 0xB2, 0xAA, 0xBB];
const VMSA: u64 = 0x20_0000;
const REPORT: u64 = 0x30_0000;
const MANIFEST: u64 = 0x30_1000;
const CERTS: u64 = 0x30_2000;
const NONCE: u64 = 0x30_3010;
const NONCE_BYTES: [u8; 64] = [0x5A; 64];
/// Linux puts the request in the calling area's buffer.
const REQUEST: u64 = BOOT_CAA + 8;

fn manifest() -> ServiceManifest {
    let mut manifest = ServiceManifest::new();
    manifest.add(VTPM_SERVICE_GUID, EK_PUBLIC).unwrap();
    manifest
}

/// A guest with a registered VMSA for vCPU 1 (calling area `AP_CAA`), its buffers, and the protocol.
fn setup() -> (SimEnv, Dispatcher, InsecureTestEvidence) {
    let evidence = InsecureTestEvidence::default();
    let mut env = SimEnv::new();
    // A memory map that lies about Warden's region: the buffer check must refuse it anyway.
    let ram = [GpaRange::new(0, common::RAM_END).unwrap()];
    let mut d = dispatcher_with_ram(&ram);
    d.register(PROTOCOL_ATTEST, Box::new(AttestProtocol::new(manifest(), evidence.clone()))).unwrap();
    env.good_vmsa(VMSA);
    env.guest_owned(AP_CAA, 1);
    assert_eq!(core_call(&mut d, &mut env, CREATE_VCPU, VMSA, AP_CAA, 1).rax, ResultCode::SUCCESS);
    env.guest_owned(REPORT, 4);
    env.guest_write(NONCE, &NONCE_BYTES);
    (env, d, evidence)
}

fn services_request() -> AttestServicesRequest {
    AttestServicesRequest {
        report_gpa: REPORT,
        report_size: 0x1000,
        nonce_gpa: NONCE,
        nonce_size: 64,
        manifest_gpa: MANIFEST,
        manifest_size: 0x1000,
        certificate_gpa: CERTS,
        certificate_size: 0x1000,
        ..Default::default()
    }
}

fn single_request() -> AttestSingleServiceRequest {
    AttestSingleServiceRequest { services: services_request(), guid: VTPM_SERVICE_GUID, ..Default::default() }
}

fn attest(d: &mut Dispatcher, env: &mut SimEnv, call: u32, request: &[u8]) -> Reply {
    env.guest_write(REQUEST, request);
    let rax = CallId { protocol: PROTOCOL_ATTEST, call }.to_rax();
    d.handle(env, BOOT, GuestRegs { rax, rcx: REQUEST, rdx: u64::MAX, r8: u64::MAX, r9: 0 })
}

/// Points one of a request's buffers at a page.
type Aim = fn(&mut AttestServicesRequest, u64);

fn lengths(reply: &Reply) -> (Option<u64>, Option<u64>, Option<u64>) {
    (reply.outputs.rcx, reply.outputs.rdx, reply.outputs.r8)
}

fn param(e: ParamError) -> Option<SvsmError> {
    Some(SvsmError::Guest(GuestError::InvalidParameter(e)))
}

/// Checks a successful answer: the manifest `expected`, the report binding SHA-512(nonce ‖ manifest)
/// computed here with an independent SHA-512, the certificates, and the three lengths.
fn check_answer(env: &SimEnv, reply: &Reply, expected: &[u8], evidence: &InsecureTestEvidence) {
    assert_eq!((reply.rax, reply.error), (ResultCode::SUCCESS, None));
    let sizes = (Some(expected.len() as u64), Some(CERTIFICATES.len() as u64), Some(SNP_REPORT_SIZE as u64));
    assert_eq!(lengths(reply), sizes);
    assert_eq!(env.guest_read(MANIFEST, expected.len()).unwrap(), expected);
    let report = env.guest_read(REPORT, SNP_REPORT_SIZE).unwrap();
    assert_eq!(&report[0x10..0x30], LABEL);
    let mut hash = Sha512::new();
    hash.update(NONCE_BYTES);
    hash.update(expected);
    let bound: [u8; 64] = hash.finalize().into();
    assert_eq!(&report[SNP_REPORT_DATA_OFFSET..SNP_REPORT_DATA_OFFSET + 64], &bound[..]);
    assert_eq!(evidence.0.lock().unwrap().last(), Some(&bound));
    assert_eq!(env.guest_read(CERTS, CERTIFICATES.len()).unwrap(), CERTIFICATES);
}

/// Threat model T6: ATTEST_SERVICES returns the GUID table and a report bound to nonce and table.
#[test]
fn attest_services_binds_the_nonce_and_the_services_table() {
    let (mut env, mut d, evidence) = setup();
    let reply = attest(&mut d, &mut env, attest_call::ATTEST_SERVICES, services_request().as_bytes());
    let table = manifest().encode();
    assert_eq!(&table[..16], &SERVICES_MANIFEST_GUID);
    assert_eq!(&table[table.len() - EK_PUBLIC.len()..], EK_PUBLIC);
    check_answer(&env, &reply, &table, &evidence);
}

/// Threat model T6: ATTEST_SINGLE_SERVICE for the vTPM returns the EK public area alone, bound.
#[test]
fn attest_single_service_binds_the_vtpm_manifest() {
    let (mut env, mut d, evidence) = setup();
    let reply = attest(&mut d, &mut env, attest_call::ATTEST_SINGLE_SERVICE, single_request().as_bytes());
    check_answer(&env, &reply, EK_PUBLIC, &evidence);
}

/// Threat model T4: buffers too small get INVALID_PARAMETER with every needed size, and nothing written.
#[test]
fn too_small_buffers_get_the_sizes_needed() {
    let (mut env, mut d, _) = setup();
    let mut request = services_request();
    (request.report_size, request.manifest_size, request.certificate_size) = (0x100, 8, 4);
    let reply = attest(&mut d, &mut env, attest_call::ATTEST_SERVICES, request.as_bytes());
    assert_eq!(
        (reply.rax, reply.error),
        (ResultCode::INVALID_PARAMETER, param(ParamError::AttestBufferTooSmall))
    );
    let table_len = manifest().encoded_len() as u64;
    assert_eq!(
        lengths(&reply),
        (Some(table_len), Some(CERTIFICATES.len() as u64), Some(SNP_REPORT_SIZE as u64))
    );
    assert_eq!(env.guest_read(REPORT, 0x3000).unwrap(), vec![0; 0x3000], "a refused call wrote");
}

/// Threat model T4: a non-zero reserved byte anywhere is refused before evidence is asked for.
#[test]
fn reserved_bytes_must_be_zero() {
    let (mut env, mut d, evidence) = setup();
    for at in [0x0C, 0x0F, 0x1A, 0x1F, 0x2C, 0x3C, 0x54, 0x57] {
        let mut bytes = single_request().as_bytes().to_vec();
        bytes[at] = 1;
        let reply = attest(&mut d, &mut env, attest_call::ATTEST_SINGLE_SERVICE, &bytes);
        assert_eq!(reply.error, param(ParamError::AttestReserved), "offset {at:#x}");
        if at < 0x40 {
            let reply = attest(&mut d, &mut env, attest_call::ATTEST_SERVICES, &bytes[..0x40]);
            assert_eq!(reply.error, param(ParamError::AttestReserved), "offset {at:#x}");
        }
    }
    let mut request = single_request();
    request.manifest_version = 1;
    let reply = attest(&mut d, &mut env, attest_call::ATTEST_SINGLE_SERVICE, request.as_bytes());
    assert_eq!(reply.error, param(ParamError::AttestManifestVersion));
    assert!(evidence.0.lock().unwrap().is_empty());
}

/// Threat model T4: the nonce is 64 bytes inside one page.
#[test]
fn a_nonce_crossing_a_page_or_of_another_size_is_refused() {
    let (mut env, mut d, evidence) = setup();
    for (gpa, size) in [(MANIFEST + 0x1000 - 32, 64), (MANIFEST + 0x1000 - 63, 64), (NONCE, 32), (NONCE, 65)]
    {
        let mut request = services_request();
        (request.nonce_gpa, request.nonce_size) = (gpa, size);
        let reply = attest(&mut d, &mut env, attest_call::ATTEST_SERVICES, request.as_bytes());
        assert_eq!(reply.error, param(ParamError::AttestNonce), "nonce {gpa:#x}+{size}");
    }
    let mut request = services_request();
    request.nonce_gpa = MANIFEST + 0x1000 - 64;
    let reply = attest(&mut d, &mut env, attest_call::ATTEST_SERVICES, request.as_bytes());
    assert_eq!(reply.rax, ResultCode::SUCCESS, "a nonce ending at the page's end is fine");
    assert_eq!(evidence.0.lock().unwrap().len(), 1);
}

/// Threat model T4, the VMSA attack through every attestation buffer: report, manifest, certificate and
/// nonce buffer each aimed at a registered VMSA, another vCPU's calling area and a page Warden owns
/// are refused with INVALID_ADDRESS, and the page is unchanged byte for byte.
#[test]
fn no_attestation_buffer_may_be_a_vmsa_a_calling_area_or_warden() {
    let (mut env, mut d, evidence) = setup();
    env.guest_write(AP_CAA + 8, &[0x77; 64]);
    let targets = [
        (VMSA, AddressError::Vmsa),
        (AP_CAA, AddressError::CallingArea),
        (SNP_SECRETS_PAGE, AddressError::Warden),
    ];
    assert!((WARDEN_BASE..WARDEN_END).contains(&SNP_SECRETS_PAGE));
    for (page, why) in targets {
        let mut before = vec![0u8; 4096];
        env.sim.read(page, &mut before).unwrap();
        let aims: [(&str, Aim); 4] = [
            ("report", |r, p| r.report_gpa = p),
            ("manifest", |r, p| r.manifest_gpa = p),
            ("certificate", |r, p| r.certificate_gpa = p),
            ("nonce", |r, p| r.nonce_gpa = p + 8),
        ];
        for (field, aim) in aims {
            let mut request = services_request();
            aim(&mut request, page);
            let reply = attest(&mut d, &mut env, attest_call::ATTEST_SERVICES, request.as_bytes());
            let expected = Some(SvsmError::Guest(GuestError::InvalidAddress(why)));
            assert_eq!(
                (reply.rax, reply.error),
                (ResultCode::INVALID_ADDRESS, expected),
                "{field} at {page:#x}"
            );
            let mut after = vec![0u8; 4096];
            env.sim.read(page, &mut after).unwrap();
            assert_eq!(before, after, "{field} at {page:#x} changed the page");
        }
    }
    assert!(evidence.0.lock().unwrap().is_empty(), "evidence was asked for a refused call");
}

/// Threat model T4: the request itself may not be read from a VMSA or Warden's memory.
#[test]
fn a_request_in_a_vmsa_or_in_warden_is_refused() {
    let (mut env, mut d, evidence) = setup();
    for (gpa, why) in [(VMSA + 8, AddressError::Vmsa), (SNP_SECRETS_PAGE, AddressError::Warden)] {
        let rax = CallId { protocol: PROTOCOL_ATTEST, call: attest_call::ATTEST_SERVICES }.to_rax();
        let reply = d.handle(&mut env, BOOT, GuestRegs { rax, rcx: gpa, ..GuestRegs::default() });
        assert_eq!(reply.error, Some(SvsmError::Guest(GuestError::InvalidAddress(why))));
        assert_eq!(lengths(&reply).2, Some(0), "R8 is set on every return");
    }
    assert!(evidence.0.lock().unwrap().is_empty());
}

/// QUERY_PROTOCOL reports protocol 1 only with a handler; an unknown call or service is refused.
#[test]
fn protocol_one_is_served_only_when_registered() {
    let (mut env, mut d, _) = setup();
    let query = |d: &mut Dispatcher, env: &mut SimEnv| {
        core_call(d, env, QUERY_PROTOCOL, query_protocol_input(PROTOCOL_ATTEST, 1), 0, 0).outputs.rcx
    };
    assert_eq!(query(&mut d, &mut env), Some(1 << 32 | 1));
    assert_eq!(query(&mut dispatcher_with_ram(&common::guest_ram()), &mut env), Some(0));
    assert_eq!(attest(&mut d, &mut env, 2, services_request().as_bytes()).rax, ResultCode::UNSUPPORTED_CALL);
    let mut request = single_request();
    request.guid = [0x11; 16];
    let reply = attest(&mut d, &mut env, attest_call::ATTEST_SINGLE_SERVICE, request.as_bytes());
    assert_eq!(reply.rax, ResultCode::UNSUPPORTED_PROTOCOL);
}
