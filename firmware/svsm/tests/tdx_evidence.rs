//! TDX evidence over the simulated TDX module (`warden_sim::tdx_report`, INSECURE MAC key): the
//! attestation protocol answered with a TDREPORT binding SHA-512(nonce ‖ manifest), and Warden's own
//! measurements replayable from the RTMRs.
mod common;

use common::{BOOT, BOOT_CAA, SimEnv, dispatcher_with_ram};
use sha2::{Digest, Sha384, Sha512};
use warden_defs::attest::{AttestServicesRequest, VTPM_SERVICE_GUID};
use warden_defs::svsm::{CallId, PROTOCOL_ATTEST, ResultCode, attest_call};
use warden_defs::tdx::TdxStatus;
use warden_defs::tdx_report::{REPORT_TYPE_TDX, TDREPORT_SIZE, TdReport};
use warden_platform::memory::GpaRange;
use warden_platform::tdx_attestation::TdxAttestation;
use warden_sim::tdx_report::{SimTdMeasurements, insecure_report_mac};
use warden_svsm::EvidenceError;
use warden_svsm::GuestRegs;
use warden_svsm::attest_manifest::ServiceManifest;
use warden_svsm::attest_protocol::{AttestProtocol, EvidenceSource};
use warden_svsm::tdx_evidence::{TdxEvidence, WardenEvent, measure};
use zerocopy::{FromBytes, IntoBytes};

const REPORT: u64 = 0x30_0000;
const MANIFEST: u64 = 0x30_1000;
const NONCE: u64 = 0x30_3000;
const NONCE_BYTES: [u8; 64] = [0x3C; 64];
const EK_PUBLIC: &[u8] = b"stand-in EK public area";

#[test]
fn attest_services_on_tdx_returns_a_tdreport_binding_nonce_and_manifest() {
    let mut env = SimEnv::new();
    let mut d = dispatcher_with_ram(&[GpaRange::new(0, common::RAM_END).unwrap()]);
    let mut manifest = ServiceManifest::new();
    manifest.add(VTPM_SERVICE_GUID, EK_PUBLIC).unwrap();
    let table = manifest.encode();
    let evidence = TdxEvidence::new(SimTdMeasurements::default());
    d.register(PROTOCOL_ATTEST, Box::new(AttestProtocol::new(manifest, evidence))).unwrap();
    env.guest_owned(REPORT, 4);
    env.guest_write(NONCE, &NONCE_BYTES);
    let request = AttestServicesRequest {
        report_gpa: REPORT,
        report_size: 0x1000,
        nonce_gpa: NONCE,
        nonce_size: 64,
        manifest_gpa: MANIFEST,
        manifest_size: 0x1000,
        ..Default::default()
    };
    let caller_request = BOOT_CAA + 8;
    env.guest_write(caller_request, request.as_bytes());
    let rax = CallId { protocol: PROTOCOL_ATTEST, call: attest_call::ATTEST_SERVICES }.to_rax();
    let reply = d.handle(&mut env, BOOT, GuestRegs { rax, rcx: caller_request, rdx: !0, r8: !0, r9: 0 });
    assert_eq!((reply.rax, reply.error), (ResultCode::SUCCESS, None));
    assert_eq!(reply.outputs.r8, Some(TDREPORT_SIZE as u64));
    assert_eq!(reply.outputs.rdx, Some(0), "a TDREPORT comes without certificates");
    let bytes = env.guest_read(REPORT, TDREPORT_SIZE).unwrap();
    let report = TdReport::read_from_bytes(&bytes).unwrap();
    let bound: [u8; 64] = Sha512::new().chain_update(NONCE_BYTES).chain_update(&table).finalize().into();
    assert_eq!(report.mac_struct.report_data, bound);
    assert_eq!(report.mac_struct.report_type[0], REPORT_TYPE_TDX);
    assert_eq!(report.mac_struct.mac, insecure_report_mac(&report.mac_struct), "the model's MAC holds");
    let td_info_hash: [u8; 48] = Sha384::digest(report.td_info.as_bytes()).into();
    assert_eq!(report.mac_struct.tee_info_hash, td_info_hash);
    assert_eq!(&bytes[0x210..0x240], &[0x7D; 48], "MRTD at its absolute offset");
}

#[test]
fn warden_s_measurements_replay_from_the_rtmrs() {
    let mut td = SimTdMeasurements::default();
    let config = b"boot parameters and memory map";
    let payload = b"the guest payload";
    measure(&mut td, WardenEvent::BootConfig(Sha384::digest(config).into())).unwrap();
    measure(&mut td, WardenEvent::GuestPayload(Sha384::digest(payload).into())).unwrap();
    // The verifier's replay, with an independent SHA-384: RTMR = SHA-384(RTMR ‖ SHA-384(event)).
    let replay = |events: &[&[u8]]| {
        events.iter().fold([0u8; 48], |rtmr, event| {
            Sha384::new().chain_update(rtmr).chain_update(Sha384::digest(event)).finalize().into()
        })
    };
    assert_eq!(td.rtmr[0], replay(&[config]));
    assert_eq!(td.rtmr[1], replay(&[payload]));
    assert_eq!(td.rtmr[2..], [[0; 48]; 2], "RTMR2 and RTMR3 are the guest's");
    let report = td.report(&[0; 64]).unwrap();
    assert_eq!(report.td_info.rtmr, td.rtmr, "the report carries the extended RTMRs");
    assert_eq!(td.extend_rtmr(4, &[0; 48]), Err(TdxStatus::OPERAND_INVALID));
}

/// A TDX module that answers with another REPORTDATA, or fails.
struct Misbehaving(Option<TdxStatus>);

impl TdxAttestation for Misbehaving {
    fn report(&mut self, report_data: &[u8; 64]) -> Result<TdReport, TdxStatus> {
        if let Some(status) = self.0 {
            return Err(status);
        }
        let mut other = *report_data;
        other[0] ^= 1;
        SimTdMeasurements::default().report(&other)
    }

    fn extend_rtmr(&mut self, _index: u8, _digest: &[u8; 48]) -> Result<(), TdxStatus> {
        Ok(())
    }
}

#[test]
fn a_report_without_the_requested_reportdata_is_never_handed_on() {
    let data = [9u8; 64];
    assert_eq!(
        TdxEvidence::new(Misbehaving(None)).report(&data, false).err(),
        Some(EvidenceError::Unavailable)
    );
    let busy = TdxEvidence::new(Misbehaving(Some(TdxStatus::OPERAND_BUSY))).report(&data, false);
    assert_eq!(busy.err(), Some(EvidenceError::Busy));
    let invalid = TdxEvidence::new(Misbehaving(Some(TdxStatus::OPERAND_INVALID))).report(&data, false);
    assert_eq!(invalid.err(), Some(EvidenceError::Unavailable));
}
