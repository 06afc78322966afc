//! The simulated guest `svsm_guest_call` runs against: its pages, the services behind the protocols
//! (the real vTPM engine and an INSECURE test evidence double), and the guest writes an input makes.
#![allow(unsafe_code, reason = "sets up the simulator through its unsafe-by-contract RMP primitives")]

use core::mem::offset_of;
use std::sync::OnceLock;
use warden_defs::attest::{
    AttestSingleServiceRequest, SNP_REPORT_DATA_OFFSET, SNP_REPORT_SIZE, VTPM_SERVICE_GUID,
};
use warden_defs::layout::PAGE_SIZE;
use warden_defs::psc::{PscDescriptor, PscEntry, PscOp};
use warden_defs::svsm::PvalidateHeader;
use warden_defs::vmsa::{EFER_SVME, Vmsa};
use warden_platform::memory::{GpaRange, PageSize, SnpMemory, VmplPerms};
use warden_sim::snp::SimSnp;
use warden_svsm::EvidenceError;
use warden_svsm::attest_manifest::ServiceManifest;
use warden_svsm::attest_protocol::{Evidence, EvidenceSource};
use warden_svsm::vtpm_protocol::{TpmEngine, request_buffer};
use warden_vtpm::Tpm;
use zerocopy::IntoBytes;

use crate::guest_call_input::{Input, Pages};
use crate::vtpm_command::{is_rsa_keygen, started_tpm};

/// The guest's VMPL.
pub(crate) const GUEST_VMPL: u8 = 2;
/// TPM2_GetRandom(8): what the VMSA the attack seed names holds in its first bytes, so that a vTPM
/// call that wrongly accepted the page would find a well-formed command there.
const GET_RANDOM: [u8; 12] = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7B, 0, 8];
/// The sizes an attestation request's buffers take, by input byte.
const SIZES: [u32; 8] = [0, 64, 0x100, 0x4A0, 0x1000, 0x2000, 0x3000, u32::MAX];

/// The bytes every Warden page holds, so that any write to it shows (built once: the check compares
/// against it after every call).
pub(crate) fn warden_pattern() -> &'static [u8] {
    static PATTERN: OnceLock<Vec<u8>> = OnceLock::new();
    PATTERN.get_or_init(|| (0..PAGE_SIZE).map(|i| (i as u8) ^ (i >> 8) as u8 ^ 0xA5).collect())
}

/// Lays out the guest: Warden's pages validated for VMPL0 with their pattern; calling areas, VMSA
/// candidates and ordinary pages validated and the guest's; the unvalidated pages assigned only; the
/// VMSA candidates carrying the fields CREATE_VCPU checks.
pub(crate) fn prepare_guest(sim: &mut SimSnp, pages: &Pages<'_>) {
    for &gpa in pages.warden {
        sim.prevalidate(GpaRange::from_len(gpa, PAGE_SIZE).unwrap());
        sim.write(gpa, warden_pattern()).unwrap();
    }
    let owned: Vec<u64> = [pages.caas, pages.vmsas, pages.ordinary].concat();
    let mut desc = PscDescriptor::zeroed();
    let all = owned.iter().chain(pages.unvalidated);
    for (n, gpa) in all.enumerate() {
        desc.entries[n] = PscEntry::new(gpa >> 12, PscOp::PRIVATE, false);
        desc.header.end_entry = n as u16;
    }
    // SAFETY: the simulator touches no real memory.
    unsafe { sim.page_state_change(&mut desc) }.unwrap();
    for &gpa in &owned {
        // SAFETY: the simulator touches no real memory.
        unsafe {
            sim.pvalidate(gpa, PageSize::Size4K, true).unwrap();
            sim.rmpadjust(gpa, PageSize::Size4K, GUEST_VMPL, VmplPerms::ALL, false).unwrap();
        }
    }
    for &gpa in pages.vmsas {
        let request = request_buffer(&GET_RANDOM).unwrap();
        sim.write_as(GUEST_VMPL, gpa, &request[..9 + GET_RANDOM.len()]).unwrap();
        write_vmsa_fields(sim, gpa);
    }
}

/// The fields CREATE_VCPU checks (SVSM spec, AMD 58019, SVSM_CORE_CREATE_VCPU), as the guest writes them.
fn write_vmsa_fields(sim: &mut SimSnp, gpa: u64) {
    let _ = sim.write_as(GUEST_VMPL, gpa + offset_of!(Vmsa, vmpl) as u64, &[GUEST_VMPL]);
    let _ = sim.write_as(GUEST_VMPL, gpa + offset_of!(Vmsa, efer) as u64, &(EFER_SVME | 0x500).to_le_bytes());
    let _ = sim.write_as(GUEST_VMPL, gpa + offset_of!(Vmsa, sev_features) as u64, &1u64.to_le_bytes());
}

/// One guest write before a call: `kind` 0 raw bytes, 1 a vTPM request, 2 an attestation request,
/// 3 a PVALIDATE list, 4 VMSA fields. The guest writes at its VMPL: a page it may not write (a VMSA,
/// Warden's) stays as it was, as on hardware.
pub(crate) fn guest_write(sim: &mut SimSnp, pages: &Pages<'_>, input: &mut Input<'_>) {
    let kind = input.byte() % 5;
    let gpa = pages.gpa(input);
    let bytes: Vec<u8> = match kind {
        0 => {
            let len = usize::from(input.byte());
            input.bytes(len).to_vec()
        }
        1 => {
            let len = usize::from(input.byte() % 64) + 10;
            let command = input.bytes(len);
            request_buffer(command).map(|b| b[..9 + command.len()].to_vec()).unwrap_or_default()
        }
        2 => attest_request(pages, input),
        3 => {
            let entries = input.byte() % 4;
            let header = PvalidateHeader { entries: u16::from(entries), next: 0, reserved: 0 };
            let mut list = header.as_bytes().to_vec();
            for _ in 0..entries {
                let entry = (pages.gpa(input) & !0xFFF) | u64::from(input.byte() & 0xF);
                list.extend_from_slice(&entry.to_le_bytes());
            }
            list
        }
        _ => {
            write_vmsa_fields(sim, gpa & !0xFFF);
            return;
        }
    };
    let _ = sim.write_as(GUEST_VMPL, gpa, &bytes);
}

/// An SVSM_ATTEST_SINGLE_SERVICE request (its first 0x40 bytes are the ATTEST_SERVICES one).
fn attest_request(pages: &Pages<'_>, input: &mut Input<'_>) -> Vec<u8> {
    let mut request = AttestSingleServiceRequest::default();
    let r = &mut request.services;
    r.report_gpa = pages.gpa(input);
    r.report_size = SIZES[usize::from(input.byte() % 8)];
    r.nonce_gpa = pages.gpa(input);
    r.nonce_size = match input.byte() {
        0 => 64,
        n => u16::from(n),
    };
    r.manifest_gpa = pages.gpa(input);
    r.manifest_size = SIZES[usize::from(input.byte() % 8)];
    r.certificate_gpa = pages.gpa(input);
    r.certificate_size = SIZES[usize::from(input.byte() % 8)];
    let guid = input.byte();
    request.guid = if guid.is_multiple_of(2) { VTPM_SERVICE_GUID } else { [guid; 16] };
    request.manifest_version = u32::from(input.byte() % 2);
    let mut bytes = request.as_bytes().to_vec();
    let poke = usize::from(input.byte());
    if poke != 0
        && let Some(b) = bytes.get_mut(poke % 0x58)
    {
        *b ^= 1;
    }
    bytes
}

/// The real vTPM engine, forked from one started TPM when the input first uses it. RSA key generation
/// is skipped (it costs tenths of a second, see `vtpm_command`): answered TPM_RC_FAILURE by the harness.
#[derive(Default)]
pub(crate) struct FuzzTpm(Option<Tpm>);

impl TpmEngine for FuzzTpm {
    fn execute(&mut self, command: &[u8]) -> Vec<u8> {
        if is_rsa_keygen(command) {
            return vec![0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x01];
        }
        self.0.get_or_insert_with(started_tpm).execute(command)
    }
}

/// INSECURE TEST DOUBLE, not evidence of anything: a report of the SNP size, labelled, with REPORT_DATA
/// at its real offset, and a labelled certificate table when asked.
pub(crate) struct InsecureTestEvidence;

impl EvidenceSource for InsecureTestEvidence {
    fn report(&mut self, report_data: &[u8; 64], with_certificates: bool) -> Result<Evidence, EvidenceError> {
        let mut report = vec![0u8; SNP_REPORT_SIZE];
        report[0x10..0x30].copy_from_slice(b"INSECURE TEST REPORT, NOT SIGNED");
        report[SNP_REPORT_DATA_OFFSET..SNP_REPORT_DATA_OFFSET + 64].copy_from_slice(report_data);
        let certificates = with_certificates.then(|| b"INSECURE TEST CERTIFICATE TABLE".to_vec());
        Ok(Evidence { report, certificates })
    }
}

/// The services manifest: the vTPM service with a labelled stand-in for its EK public area.
pub(crate) fn manifest() -> ServiceManifest {
    let mut manifest = ServiceManifest::new();
    manifest.add(VTPM_SERVICE_GUID, b"INSECURE TEST EK PUBLIC AREA").unwrap();
    manifest
}
