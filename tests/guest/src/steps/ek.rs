//! The vTPM's EK against the attestation manifest: the guest creates the EK with TPM2_CreatePrimary
//! (template L-1) through the vTPM protocol, asks Warden for the vTPM service's manifest with
//! SVSM_ATTEST_SINGLE_SERVICE (SVSM spec (AMD 58019), Table 13), and requires the two public areas to
//! be the same bytes: the manifest a verifier checks names the TPM the guest uses. It prints the EK as
//! `guest: ek <hex>`, so the machine's tests can compare boots.

use warden_defs::attest::{
    ATTEST_NONCE_SIZE, AttestServicesRequest, AttestSingleServiceRequest, VTPM_SERVICE_GUID,
};
use warden_defs::ek_template::EK_L1_PUBLIC_SIZE;
use warden_defs::layout::PAGE_SIZE;
use warden_defs::svsm::{PROTOCOL_ATTEST, attest_call};
use warden_test_guest::boot_info::Platform;
use warden_test_guest::ek_command;
use zerocopy::IntoBytes;

use super::{Hex, Run, work};
use crate::{guest_pages, println};

/// The step's buffers, in the upper half of the validated 2 MiB page (unused by the other steps).
const REPORT: u64 = work::LARGE + 0x10_0000;
const MANIFEST: u64 = REPORT + PAGE_SIZE;
const NONCE: u64 = MANIFEST + PAGE_SIZE;
/// The request's page on TDX, which has no calling area.
const TDX_REQUEST: u64 = NONCE + PAGE_SIZE;

/// The vTPM service's manifest (the EK public area Warden attests), or `None` after a FAIL line.
fn manifest_ek(run: &mut Run, step: &str) -> Option<[u8; EK_L1_PUBLIC_SIZE]> {
    // SAFETY: the nonce page lies in the guest's validated 2 MiB page (work::LARGE), used only here.
    unsafe { guest_pages::write(run.free(NONCE), &[0xE7; ATTEST_NONCE_SIZE]) };
    let request = AttestSingleServiceRequest {
        services: AttestServicesRequest {
            report_gpa: run.free(REPORT),
            report_size: PAGE_SIZE as u32,
            nonce_gpa: run.free(NONCE),
            nonce_size: ATTEST_NONCE_SIZE as u16,
            manifest_gpa: run.free(MANIFEST),
            manifest_size: PAGE_SIZE as u32,
            ..Default::default()
        },
        guid: VTPM_SERVICE_GUID,
        ..Default::default()
    };
    // Linux places the request in the calling area, after its 8-byte header; TDX has none, so a page of
    // the guest's own free RAM (granted by Warden before the guest started) holds it.
    let request_gpa = match run.platform() {
        Platform::Snp => run.caa() + 8,
        Platform::TdxL2 => run.free(TDX_REQUEST),
    };
    // SAFETY: the calling area or the free page is the guest's own; Warden reads the request from it
    // during the call.
    unsafe { guest_pages::write(request_gpa, request.as_bytes()) };
    let answer =
        run.call_ok(step, PROTOCOL_ATTEST, attest_call::ATTEST_SINGLE_SERVICE, [request_gpa, !0, !0, 0])?;
    if answer.rcx != EK_L1_PUBLIC_SIZE as u64 {
        run.check(step, false, format_args!("the manifest is {} bytes, not an L-1 public area", answer.rcx));
        return None;
    }
    let mut manifest = [0u8; EK_L1_PUBLIC_SIZE];
    // SAFETY: as for the nonce; Warden wrote the manifest during the call.
    unsafe { guest_pages::read(run.free(MANIFEST), &mut manifest) };
    Some(manifest)
}

/// The whole step.
pub fn run(run: &mut Run) {
    let step = "ek manifest";
    let Some((response, len)) = super::vtpm::send(run, step, &ek_command::create_ek()) else { return };
    let ek = match ek_command::ek_public(&response[..len]) {
        Ok(public) => public,
        Err(error) => return run.check(step, false, format_args!("TPM2_CreatePrimary(L-1): {error:?}")),
    };
    println!("guest: ek {}", Hex(ek));
    let Some(manifest) = manifest_ek(run, step) else { return };
    let same = manifest[..] == *ek;
    run.check(
        step,
        same,
        format_args!("the vTPM's L-1 EK and the attested manifest {}", if same { "agree" } else { "differ" }),
    );
}
