//! The TDX platform's report and measurement registers: `warden_platform::tdx_attestation::TdxAttestation`
//! over the TDG.MR.REPORT and TDG.MR.RTMR.EXTEND TDCALLs, with the buffers the TDX module reads and writes
//! in Warden's own (private, identity-mapped) heap at the alignments it requires.
//! **Not exercised on hardware**; the decisions built on it are host-tested against `warden-sim`'s model
//! (`warden_svsm::tdx_evidence`).
use alloc::boxed::Box;
use warden_defs::tdx::TdxStatus;
use warden_defs::tdx_report::{TD_MEASUREMENT_SIZE, TD_REPORT_DATA_SIZE, TDREPORT_SIZE, TdReport};
use warden_platform::tdx_attestation::TdxAttestation;
use zerocopy::FromBytes;

use super::{TdxPlatform, tdcall};

/// TDREPORT_STRUCT's buffer: 1024-aligned, as TDG.MR.REPORT requires.
#[repr(C, align(1024))]
struct ReportBuffer([u8; TDREPORT_SIZE]);

/// REPORTDATA's or an extend's buffer: 64-aligned, as both leaves require.
#[repr(C, align(64))]
struct SmallBuffer([u8; TD_REPORT_DATA_SIZE]);

fn status(rax: u64) -> Result<(), TdxStatus> {
    if rax == TdxStatus::SUCCESS.0 { Ok(()) } else { Err(TdxStatus(rax)) }
}

impl TdxAttestation for TdxPlatform {
    fn report(&mut self, report_data: &[u8; TD_REPORT_DATA_SIZE]) -> Result<TdReport, TdxStatus> {
        let mut report = Box::new(ReportBuffer([0; TDREPORT_SIZE]));
        let data = Box::new(SmallBuffer(*report_data));
        // SAFETY: both buffers are Warden's heap (private, identity-mapped, so the address is the GPA),
        // aligned by their types, and no reference into `report` is alive during the call.
        let rax = unsafe { tdcall::mr_report(report.0.as_mut_ptr() as u64, data.0.as_ptr() as u64) };
        status(rax)?;
        TdReport::read_from_bytes(&report.0).map_err(|_| TdxStatus::OPERAND_INVALID)
    }

    fn extend_rtmr(&mut self, index: u8, digest: &[u8; TD_MEASUREMENT_SIZE]) -> Result<(), TdxStatus> {
        let mut buffer = Box::new(SmallBuffer([0; TD_REPORT_DATA_SIZE]));
        buffer.0[..TD_MEASUREMENT_SIZE].copy_from_slice(digest);
        // SAFETY: the buffer is Warden's heap (identity-mapped), 64-aligned by its type, 48 bytes read.
        let rax = unsafe { tdcall::mr_rtmr_extend(buffer.0.as_ptr() as u64, u64::from(index)) };
        status(rax)
    }
}
