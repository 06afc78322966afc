//! The SVSM attestation protocol (1): a hardware report that binds the guest's nonce to the services
//! manifest, written into buffers the guest names.
//!
//! Source: SVSM spec (AMD 58019), "Attestation Protocol" (SVSM_ATTEST_SERVICES, Table 11;
//! SVSM_ATTEST_SINGLE_SERVICE, Table 13); the guest side Warden must serve is Linux
//! `arch/x86/coco/sev/core.c` (`snp_issue_svsm_attest_req`), the peer COCONUT
//! `kernel/src/protocols/attest.rs`.
//!
//! - RCX = the GPA of the request ([`AttestServicesRequest`], or [`AttestSingleServiceRequest`] for
//!   call 1). It is copied once into private memory; reserved bytes must be zero.
//! - The nonce is 64 bytes and may not cross a page; REPORT_DATA = SHA-512(nonce ‖ manifest), where
//!   the manifest is the whole services table (call 0) or the one service's data (call 1, version 0).
//! - The report, manifest and certificate buffers are page-aligned (the certificate buffer only when
//!   its size is not 0; size 0 asks for no certificates).
//! - RCX = manifest length, RDX = certificate length, R8 = report length on **every** return: Linux
//!   presets RDX = R8 = -1 and, on SVSM_ERR_INVALID_PARAMETER, reads every changed register as a needed
//!   size, grows its buffers and retries. A length not yet known when the call fails is 0.
//!
//! Every GPA passes the [`CallContext`]'s buffer check (threat model T4): never a VMSA, another vCPU's
//! calling area, or a page Warden owns. All buffers are checked before the platform is asked for
//! evidence, and nothing is written to any of them unless all three are large enough.
//!
//! Where the peers differ, Warden follows the dispatcher's rules: an unknown call is
//! SVSM_ERR_UNSUPPORTED_CALL (COCONUT answers UNSUPPORTED_PROTOCOL), and an address refused, alignment
//! included, is SVSM_ERR_INVALID_ADDRESS (COCONUT: INVALID_PARAMETER, which Linux would misread as
//! "buffer too small"). An unknown service GUID is SVSM_ERR_UNSUPPORTED_PROTOCOL, as in COCONUT.
use alloc::vec::Vec;
use warden_defs::attest::{
    ATTEST_NONCE_SIZE, AttestServicesRequest, AttestSingleServiceRequest, REPORT_DATA_SIZE,
};
use warden_defs::layout::PAGE_SIZE;
use warden_defs::svsm::attest_call;
use warden_sha::Sha512;
use warden_sha::digest::Digest;
use zerocopy::FromBytes;

use crate::attest_manifest::ServiceManifest;
use crate::buffer::{CallContext, GuestBuffer};
use crate::dispatch::ProtocolHandler;
use crate::error::{EvidenceError, GuestError, ParamError, SvsmError};
use crate::regs::{GuestRegs, Outputs};

/// What the platform attests with: the SNP ATTESTATION_REPORT (SEV-SNP ABI, AMD 56860, Table 23) with
/// its certificate table, or another platform's equivalent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    /// The report, as the guest receives it (for SNP the bare 0x4A0-byte report, without the
    /// response header).
    pub report: Vec<u8>,
    /// The certificate table (GHCB spec, AMD 56421, extended guest request certificate table), when
    /// asked for and the host supplied one.
    pub certificates: Option<Vec<u8>>,
}

/// Where evidence comes from: on SNP, a guest request to the PSP (MSG_REPORT_REQ for VMPL0, extended
/// when certificates are wanted). Implementations must not panic and must put `report_data` into
/// the report where the platform's verifier looks for it.
pub trait EvidenceSource {
    /// A report carrying `report_data`, with the certificate table if `with_certificates`.
    fn report(
        &mut self,
        report_data: &[u8; REPORT_DATA_SIZE],
        with_certificates: bool,
    ) -> Result<Evidence, EvidenceError>;
}

impl<S: EvidenceSource + ?Sized> EvidenceSource for alloc::boxed::Box<S> {
    fn report(
        &mut self,
        report_data: &[u8; REPORT_DATA_SIZE],
        with_certificates: bool,
    ) -> Result<Evidence, EvidenceError> {
        (**self).report(report_data, with_certificates)
    }
}

/// The attestation protocol over a manifest and an evidence source.
pub struct AttestProtocol<S> {
    evidence: S,
    manifest: ServiceManifest,
    /// `manifest` encoded once: what SVSM_ATTEST_SERVICES returns.
    table: Vec<u8>,
}

impl<S> core::fmt::Debug for AttestProtocol<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AttestProtocol").field("manifest", &self.manifest).finish_non_exhaustive()
    }
}

/// The lengths the output registers carry.
#[derive(Clone, Copy, Debug, Default)]
struct Lengths {
    manifest: usize,
    certificates: usize,
    report: usize,
}

impl Lengths {
    fn outputs(self) -> Outputs {
        Outputs {
            rcx: Some(self.manifest as u64),
            rdx: Some(self.certificates as u64),
            r8: Some(self.report as u64),
        }
    }
}

impl<S: EvidenceSource> AttestProtocol<S> {
    /// Attests `manifest`'s services with evidence from `evidence`.
    pub fn new(manifest: ServiceManifest, evidence: S) -> Self {
        let table = manifest.encode();
        Self { evidence, manifest, table }
    }

    fn attest(
        &mut self,
        single: bool,
        gpa: u64,
        context: &mut CallContext<'_>,
        lengths: &mut Lengths,
    ) -> Result<(), SvsmError> {
        // One copy of the request; every check below looks only at the copy.
        let mut raw = [0u8; size_of::<AttestSingleServiceRequest>()];
        let len = if single { raw.len() } else { size_of::<AttestServicesRequest>() };
        let raw = raw.get_mut(..len).unwrap_or_default();
        let request = context.buffer(gpa, len as u64, 1)?;
        context.read(&request, raw)?;
        let reserved = || SvsmError::from(ParamError::AttestReserved);
        let (request, manifest) = if single {
            let single = AttestSingleServiceRequest::read_from_bytes(raw).map_err(|_| reserved())?;
            if single.reserved_0x54 != [0; 4] {
                return Err(reserved());
            }
            if single.manifest_version != 0 {
                return Err(ParamError::AttestManifestVersion.into());
            }
            let data = self.manifest.service(&single.guid).ok_or(GuestError::UnsupportedProtocol)?;
            (single.services, data)
        } else {
            (AttestServicesRequest::read_from_bytes(raw).map_err(|_| reserved())?, self.table.as_slice())
        };
        lengths.manifest = manifest.len();
        if !request.reserved_clear() {
            return Err(reserved());
        }

        let nonce = read_nonce(&request, context)?;
        let report_buffer = output_buffer(context, request.report_gpa, request.report_size)?;
        let manifest_buffer = output_buffer(context, request.manifest_gpa, request.manifest_size)?;
        let certificate_buffer = output_buffer(context, request.certificate_gpa, request.certificate_size)?;

        let mut hash = Sha512::new();
        hash.update(nonce);
        hash.update(manifest);
        let report_data: [u8; REPORT_DATA_SIZE] = hash.finalize().into();
        let evidence =
            self.evidence.report(&report_data, certificate_buffer.is_some()).map_err(SvsmError::Evidence)?;
        let certificates = match (&certificate_buffer, &evidence.certificates) {
            (Some(_), Some(table)) => table.as_slice(),
            _ => &[],
        };
        lengths.report = evidence.report.len();
        lengths.certificates = certificates.len();

        let outputs = [
            (report_buffer, evidence.report.as_slice()),
            (manifest_buffer, manifest),
            (certificate_buffer, certificates),
        ];
        if !outputs.iter().all(|(buffer, data)| fits(buffer.as_ref(), data)) {
            return Err(ParamError::AttestBufferTooSmall.into());
        }
        for (buffer, data) in &outputs {
            if let Some(buffer) = buffer
                && !data.is_empty()
            {
                context.write(buffer, 0, data)?;
            }
        }
        Ok(())
    }
}

/// Whether `data` fits `buffer` (nothing fits a buffer of size 0 but nothing).
fn fits(buffer: Option<&GuestBuffer>, data: &[u8]) -> bool {
    data.is_empty() || buffer.is_some_and(|b| data.len() as u64 <= b.len())
}

/// Checks and copies the nonce: exactly 64 bytes, inside one page, through the buffer check.
fn read_nonce(
    request: &AttestServicesRequest,
    context: &CallContext<'_>,
) -> Result<[u8; ATTEST_NONCE_SIZE], SvsmError> {
    let size = ATTEST_NONCE_SIZE as u64;
    let offset = request.nonce_gpa % PAGE_SIZE;
    if usize::from(request.nonce_size) != ATTEST_NONCE_SIZE || offset + size > PAGE_SIZE {
        return Err(ParamError::AttestNonce.into());
    }
    let buffer = context.buffer(request.nonce_gpa, size, 1)?;
    let mut nonce = [0u8; ATTEST_NONCE_SIZE];
    context.read(&buffer, &mut nonce)?;
    Ok(nonce)
}

/// An output buffer: `None` when its size is 0, else page-aligned and through the buffer check.
fn output_buffer(context: &CallContext<'_>, gpa: u64, size: u32) -> Result<Option<GuestBuffer>, SvsmError> {
    if size == 0 {
        return Ok(None);
    }
    Ok(Some(context.buffer(gpa, u64::from(size), PAGE_SIZE)?))
}

impl<S: EvidenceSource> ProtocolHandler for AttestProtocol<S> {
    fn versions(&self) -> (u32, u32) {
        (1, 1)
    }

    fn handle(
        &mut self,
        call: u32,
        regs: GuestRegs,
        context: &mut CallContext<'_>,
    ) -> (Result<(), SvsmError>, Outputs) {
        let single = match call {
            attest_call::ATTEST_SERVICES => false,
            attest_call::ATTEST_SINGLE_SERVICE => true,
            _ => return (Err(GuestError::UnsupportedCall.into()), Outputs::NONE),
        };
        let mut lengths = Lengths::default();
        let result = self.attest(single, regs.rcx, context, &mut lengths);
        (result, lengths.outputs())
    }
}
