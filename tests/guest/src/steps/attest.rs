//! The attestation protocol (SVSM spec (AMD 58019), "Attestation Protocol"): SVSM_ATTEST_SERVICES with
//! the host's nonce, the buffers grown and the call retried when Warden says one is too small (as
//! Linux's `snp_issue_svsm_attest_req` does), REPORT_DATA checked against SHA-512(nonce ‖ manifest),
//! and the evidence printed for `cargo xtask attest` (`guest: evidence <kind> <hex>`). The report is
//! the platform's: an SEV-SNP ATTESTATION_REPORT, or on TDX a TDREPORT_STRUCT (REPORTDATA at 0x80) and
//! no certificates.
use core::fmt::Write;

use warden_defs::attest::{ATTEST_NONCE_SIZE, AttestServicesRequest, VTPM_SERVICE_GUID};
use warden_defs::layout::PAGE_SIZE;
use warden_defs::svsm::{PROTOCOL_ATTEST, ResultCode, attest_call};
use warden_test_guest::boot_info::Platform;
use warden_test_guest::evidence::{self, EVIDENCE_PREFIX, NONCE_PORT, NonceSource, ReportFormat};
use zerocopy::IntoBytes;

use super::{Code, Run, work};
use crate::console::Console;
use crate::{guest_pages, transport};

/// The buffers, in the validated 2 MiB page: the request (nonce behind it), then report, manifest and
/// certificates, each with room to grow.
const REQUEST: u64 = work::ATTEST;
const NONCE: u64 = REQUEST + 0x800;
const REPORT: u64 = work::ATTEST + PAGE_SIZE;
const REPORT_CAPACITY: u64 = 3 * PAGE_SIZE;
const MANIFEST: u64 = REPORT + REPORT_CAPACITY;
const MANIFEST_CAPACITY: u64 = 4 * PAGE_SIZE;
const CERTIFICATES: u64 = MANIFEST + MANIFEST_CAPACITY;
const CERTIFICATES_CAPACITY: u64 = 32 * PAGE_SIZE;
const _: () = assert!(CERTIFICATES + CERTIFICATES_CAPACITY <= work::ATTEST + work::ATTEST_SIZE);
/// The larger of the two platforms' reports (the step's copy of the report holds either).
const REPORT_MAX: usize = {
    let (snp, tdx) = (ReportFormat::Snp.size(), ReportFormat::Tdx.size());
    if snp > tdx { snp } else { tdx }
};
/// Linux retries SVSM_ATTEST_SERVICES this often with the sizes Warden returned.
const ATTEMPTS: u32 = 3;

/// The buffer sizes of one call.
#[derive(Clone, Copy, Debug)]
struct Sizes {
    report: u64,
    manifest: u64,
    certificates: u64,
}

/// The host's nonce from the machine's port, or the labelled fixed one. (On TDX Warden drops the
/// rewinding OUT and forwards the INs: the stream is read once, from its start.)
fn host_nonce() -> ([u8; ATTEST_NONCE_SIZE], NonceSource) {
    if transport::port_out(NONCE_PORT, 0).is_err() {
        return (evidence::FIXED_NONCE, NonceSource::Fixed);
    }
    evidence::read_nonce(|| transport::port_in(NONCE_PORT).unwrap_or(0))
}

/// One SVSM_ATTEST_SERVICES with `sizes`; RDX and R8 preset to -1 as Linux does.
fn attest(run: &mut Run, base: u64, sizes: Sizes) -> Option<crate::svsm_call::Answer> {
    let request = AttestServicesRequest {
        report_gpa: base + REPORT,
        report_size: sizes.report as u32,
        nonce_gpa: base + NONCE,
        nonce_size: ATTEST_NONCE_SIZE as u16,
        manifest_gpa: base + MANIFEST,
        manifest_size: sizes.manifest as u32,
        certificate_gpa: base + CERTIFICATES,
        certificate_size: sizes.certificates as u32,
        ..AttestServicesRequest::default()
    };
    // SAFETY: the request page is in the guest's validated 2 MiB page (work::ATTEST), used for nothing else.
    unsafe { guest_pages::write(base + REQUEST, request.as_bytes()) };
    let args = [base + REQUEST, u64::MAX, u64::MAX, 0];
    run.call(PROTOCOL_ATTEST, attest_call::ATTEST_SERVICES, args).ok()
}

/// Prints `guest: evidence <kind> <hex of len bytes at gpa>` in one line.
fn print_evidence(kind: &str, gpa: u64, len: u64) {
    let mut console = Console;
    let _ = write!(console, "{EVIDENCE_PREFIX} {kind} ");
    let mut chunk = [0u8; 256];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(chunk.len() as u64) as usize;
        // SAFETY: `[gpa, gpa + len)` is one of the step's buffers in the validated 2 MiB page.
        unsafe { guest_pages::read(gpa + done, &mut chunk[..n]) };
        for byte in &chunk[..n] {
            let _ = write!(console, "{byte:02x}");
        }
        done += n as u64;
    }
    let _ = writeln!(console);
}

/// The whole step.
pub fn run(run: &mut Run) {
    let format = match run.platform() {
        Platform::Snp => ReportFormat::Snp,
        Platform::TdxL2 => ReportFormat::Tdx,
    };
    let report_size = format.size() as u64;
    let base = run.free(0);
    let (nonce, source) = host_nonce();
    // SAFETY: the nonce lies behind the request, in the validated 2 MiB page.
    unsafe { guest_pages::write(base + NONCE, &nonce) };

    // A report buffer too small: refused with the sizes needed, nothing written.
    let small = Sizes { report: 0x100, manifest: PAGE_SIZE, certificates: 0 };
    match attest(run, base, small) {
        Some(answer) => run.check(
            "attest too-small",
            answer.result == ResultCode::INVALID_PARAMETER && answer.r8 == report_size,
            format_args!("{} with report size {:#x} needed", Code(answer.result), answer.r8),
        ),
        None => run.check("attest too-small", false, format_args!("the call did not reach Warden")),
    }

    // Linux starts with one page each and grows what Warden names, page-aligned.
    let mut sizes = Sizes { report: PAGE_SIZE, manifest: PAGE_SIZE, certificates: PAGE_SIZE };
    let mut answer = None;
    for attempt in 1..=ATTEMPTS {
        let Some(reply) = attest(run, base, sizes) else { break };
        if reply.result != ResultCode::INVALID_PARAMETER {
            answer = Some((reply, attempt));
            break;
        }
        let grow = |needed: u64, current: u64, capacity: u64| {
            if needed == u64::MAX || needed <= current {
                Some(current)
            } else {
                evidence::grown(needed, capacity)
            }
        };
        match (
            grow(reply.r8, sizes.report, REPORT_CAPACITY),
            grow(reply.rcx, sizes.manifest, MANIFEST_CAPACITY),
            grow(reply.rdx, sizes.certificates, CERTIFICATES_CAPACITY),
        ) {
            (Some(report), Some(manifest), Some(certificates)) => {
                sizes = Sizes { report, manifest, certificates }
            }
            _ => break,
        }
    }
    let Some((reply, attempts)) = answer.filter(|(reply, _)| reply.result == ResultCode::SUCCESS) else {
        run.check("attest services", false, format_args!("no successful SVSM_ATTEST_SERVICES"));
        return;
    };
    let (manifest_len, certificates_len, report_len) = (reply.rcx, reply.rdx, reply.r8);
    let fits =
        report_len == report_size && manifest_len <= sizes.manifest && certificates_len <= sizes.certificates;
    run.check(
        "attest services",
        fits,
        format_args!(
            "report {report_len:#x}, manifest {manifest_len:#x}, certificates {certificates_len:#x} bytes after {attempts} call(s); nonce {}",
            match source {
                NonceSource::Host => "from the host",
                NonceSource::Fixed => "FIXED (none from the host): not fresh",
            }
        ),
    );
    if !fits {
        return;
    }

    let mut report = [0u8; REPORT_MAX];
    let report = &mut report[..report_size as usize];
    let mut manifest = [0u8; MANIFEST_CAPACITY as usize];
    let manifest = &mut manifest[..manifest_len as usize];
    // SAFETY: both buffers are the step's, in the validated 2 MiB page; Warden wrote them in the call.
    unsafe {
        guest_pages::read(base + REPORT, report);
        guest_pages::read(base + MANIFEST, manifest);
    }
    let bound = format.binds(report, &nonce, manifest);
    let listed = evidence::check_manifest(manifest, &VTPM_SERVICE_GUID);
    run.check(
        "attest report-data",
        bound && listed.is_ok(),
        format_args!(
            "REPORT_DATA {} SHA-512(nonce ‖ manifest); manifest: {listed:?}",
            if bound { "=" } else { "!=" }
        ),
    );

    print_evidence("report", base + REPORT, report_len);
    print_evidence("manifest", base + MANIFEST, manifest_len);
    let mut head = [0u8; 24 * 16];
    let head = &mut head[..(certificates_len as usize).min(24 * 16)];
    // SAFETY: the certificate buffer is the step's, in the validated 2 MiB page.
    unsafe { guest_pages::read(base + CERTIFICATES, head) };
    print_evidence("certs", base + CERTIFICATES, evidence::certificate_table_len(head, certificates_len));
    print_evidence("nonce", base + NONCE, ATTEST_NONCE_SIZE as u64);
}
