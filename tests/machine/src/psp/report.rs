//! MSG_REPORT_REQ → MSG_REPORT_RSP (SEV-SNP ABI (AMD 56860) "MSG_REPORT_REQ", "MSG_REPORT_RSP" and
//! Table 23 ATTESTATION_REPORT, version 3): the launched guest's facts, the requester's REPORT_DATA
//! and VMPL, the chip's ID and TCB, signed with ECDSA P-384/SHA-384 by the (insecure test) VCEK over
//! bytes 0..0x2A0, r and s little-endian zero-padded to 72 bytes.
use p384::ecdsa::signature::Signer;
use p384::ecdsa::{Signature, SigningKey};
use warden_defs::snp_guest_msg::{
    REPORT_KEY_SEL_DEFAULT, REPORT_KEY_SEL_MASK, REPORT_KEY_SEL_VCEK, REPORT_KEY_SEL_VLEK, ReportRequest,
    ReportResponse,
};
use warden_defs::snp_report::{
    AttestationReport, KEY_INFO_SIGNING_KEY_SHIFT, KEY_INFO_SIGNING_KEY_VCEK, PLATFORM_INFO_SMT_EN,
    REPORT_SIGNED_RANGE, REPORT_VERSION_3, SIGNATURE_ALGO_ECDSA_P384_SHA384, SNP_REPORT_SIZE,
};
use zerocopy::{FromZeros, IntoBytes};

use super::chip::{
    self, COMMITTED_TCB, CPUID_FAMILY_MODEL_STEPPING, CURRENT_TCB, FIRMWARE_VERSION, REPORTED_TCB,
};
use super::snp_psp::GuestContext;
use super::status;

/// Answers MSG_REPORT_REQ from a requester at `requester_vmpl`. A refused request is answered with a
/// STATUS and no report.
pub fn answer(
    request: &ReportRequest,
    requester_vmpl: u32,
    guest: &GuestContext,
    vcek: &SigningKey,
) -> ReportResponse {
    let mut response = ReportResponse::new_zeroed();
    let key_sel = request.flags & REPORT_KEY_SEL_MASK;
    if request.flags & !REPORT_KEY_SEL_MASK != 0 || request.reserved_0x48 != [0; 24] {
        response.status = status::INVALID_PARAM;
    } else if request.vmpl < requester_vmpl || request.vmpl > 3 {
        // A VMPL-n requester may ask for its own VMPL or a less privileged one, never a lower one.
        response.status = status::INVALID_PARAM;
    } else if key_sel >= REPORT_KEY_SEL_VLEK {
        // No VLEK is installed on this chip (KEY_SEL 3 is reserved).
        response.status = status::INVALID_KEY;
    } else {
        debug_assert!(key_sel == REPORT_KEY_SEL_DEFAULT || key_sel == REPORT_KEY_SEL_VCEK);
        response.report_size = SNP_REPORT_SIZE as u32;
        response.report = signed_report(&request.report_data, request.vmpl, guest, vcek);
    }
    response
}

/// The report for `vmpl` with `report_data`, signed by `vcek`.
pub fn signed_report(
    report_data: &[u8; 64],
    vmpl: u32,
    guest: &GuestContext,
    vcek: &SigningKey,
) -> AttestationReport {
    let mut r = AttestationReport::new_zeroed();
    r.version = REPORT_VERSION_3;
    r.guest_svn = guest.guest_svn;
    r.policy = guest.policy;
    r.family_id = guest.family_id;
    r.image_id = guest.image_id;
    r.vmpl = vmpl;
    r.signature_algo = SIGNATURE_ALGO_ECDSA_P384_SHA384;
    r.current_tcb = chip::tcb_version(CURRENT_TCB);
    r.platform_info = PLATFORM_INFO_SMT_EN;
    r.key_info = KEY_INFO_SIGNING_KEY_VCEK << KEY_INFO_SIGNING_KEY_SHIFT;
    r.report_data = *report_data;
    r.measurement = guest.measurement;
    r.host_data = guest.host_data;
    r.report_id = guest.report_id;
    // No migration agent is associated: REPORT_ID_MA is all ones.
    r.report_id_ma = [0xFF; 32];
    r.reported_tcb = chip::tcb_version(REPORTED_TCB);
    [r.cpuid_fam_id, r.cpuid_mod_id, r.cpuid_step] = CPUID_FAMILY_MODEL_STEPPING;
    r.chip_id = chip::chip_id();
    r.committed_tcb = chip::tcb_version(COMMITTED_TCB);
    let [build, minor, major] = FIRMWARE_VERSION;
    r.current_version = [build, minor, major, 0];
    r.committed_version = [build, minor, major, 0];
    r.launch_tcb = chip::tcb_version(COMMITTED_TCB);
    let signature: Signature = vcek.sign(&r.as_bytes()[REPORT_SIGNED_RANGE]);
    let (big_r, big_s) = signature.split_bytes();
    for (field, be) in [(&mut r.signature.r, big_r), (&mut r.signature.s, big_s)] {
        for (dst, src) in field.iter_mut().zip(be.iter().rev()) {
            *dst = *src;
        }
    }
    r
}
