//! Calls Warden must refuse, each with the protocol's error (the attack is written beside each): naming
//! Warden's own memory in PVALIDATE or REMAP_CA, a vTPM buffer that is a calling area, an unknown
//! protocol. The VMSA attacks need the second vCPU and run in `vcpu.rs`.
//!
//! On TDX: a vTPM buffer in Warden's region, the unknown protocol, and a TDCALL of the L2 (the L1
//! owns the TD's reports); after the verdict, the final attack writes to Warden's memory, which the
//! TDX module must stop with an EPT violation that Warden answers by stopping the guest.
use warden_defs::guest_launch::GUEST_CAA;
use warden_defs::svsm::{PROTOCOL_CORE, PROTOCOL_VTPM, PvalidateEntry, ResultCode, core_call, vtpm_call};
use warden_defs::tdx_report::{TD_REPORT_DATA_SIZE, TDG_MR_REPORT, TDREPORT_SIZE};

use super::{Code, Run, pvalidate, work};
use crate::{guest_pages, instr, println};

/// A protocol number no SVSM assigns.
const UNKNOWN_PROTOCOL: u32 = 0x7F;

/// The whole step.
pub fn run(run: &mut Run) {
    let warden = run.info.svsm_base;
    let address_errors = [ResultCode::INVALID_ADDRESS, ResultCode::INVALID_PARAMETER];

    // Validating a page of Warden's would let the guest change Warden's RMP state.
    if let Some((result, done)) =
        pvalidate::call(run, "attack pvalidate warden", &[PvalidateEntry::new(warden, false, true, false)])
    {
        let passed = done == 0 && address_errors.contains(&result);
        run.check(
            "attack pvalidate warden",
            passed,
            format_args!("{:#x}: refused with {}", warden, Code(result)),
        );
    }
    // A request list inside Warden would have Warden write cur_index into its own memory.
    run.expect_refusal(
        "attack pvalidate list in warden",
        PROTOCOL_CORE,
        core_call::PVALIDATE,
        [warden, 0, 0, 0],
        &address_errors,
    );
    // A calling area inside Warden would have Warden clear call_pending in its own memory.
    run.expect_refusal(
        "attack remap-ca onto warden",
        PROTOCOL_CORE,
        core_call::REMAP_CA,
        [warden, 0, 0, 0],
        &address_errors,
    );
    // A vTPM buffer that is a calling area: the response would overwrite call_pending.
    run.expect_refusal(
        "attack vtpm buffer on a calling area",
        PROTOCOL_VTPM,
        vtpm_call::CMD,
        [GUEST_CAA, 0, 0, 0],
        &address_errors,
    );
    run.expect_refusal(
        "attack unknown protocol",
        UNKNOWN_PROTOCOL,
        0,
        [0; 4],
        &[ResultCode::UNSUPPORTED_PROTOCOL],
    );
}

/// The TDX steps.
pub fn run_tdx(run: &mut Run) {
    let warden = run.info.svsm_base;
    // A vTPM buffer in Warden's region: the response would overwrite Warden's memory.
    run.expect_refusal(
        "attack vtpm buffer in warden",
        PROTOCOL_VTPM,
        vtpm_call::CMD,
        [warden, 0, 0, 0],
        &[ResultCode::INVALID_ADDRESS, ResultCode::INVALID_PARAMETER],
    );
    run.expect_refusal(
        "attack unknown protocol",
        UNKNOWN_PROTOCOL,
        0,
        [0; 4],
        &[ResultCode::UNSUPPORTED_PROTOCOL],
    );
    tdcall_report(run);
}

/// TDG.MR.REPORT from the L2: a TDREPORT of the guest's choosing would carry REPORTDATA Warden never
/// bound. Warden leaves ENABLE_TDVMCALL clear, so the TDCALL exits to it and it must answer an error
/// in RAX, without a report in the buffer.
fn tdcall_report(run: &mut Run) {
    const STEP: &str = "attack tdcall mr.report";
    // The vTPM buffer page, free again: the report (1024-aligned) at its start, REPORTDATA (64-aligned)
    // in its last quarter.
    let report = run.free(work::VTPM_BUFFER);
    let report_data = report + 3 * TDREPORT_SIZE as u64;
    let zeros = [0u8; TDREPORT_SIZE];
    // SAFETY: the vTPM buffer is a page of the guest's free RAM (work::LIST), used for nothing else now.
    unsafe {
        guest_pages::write(report, &zeros);
        guest_pages::write(report_data, &[0x7D; TD_REPORT_DATA_SIZE]);
    }
    let status = instr::tdcall(TDG_MR_REPORT, report, report_data, 0);
    let mut after = [0u8; TDREPORT_SIZE];
    // SAFETY: as above.
    unsafe { guest_pages::read(report, &mut after) };
    let untouched = after == zeros;
    run.check(
        STEP,
        status != 0 && untouched,
        format_args!(
            "RAX {status:#x}; the report buffer {}",
            if untouched { "untouched" } else { "WRITTEN: the L2 got a TDREPORT" }
        ),
    );
}

/// The final attack on TDX, after the verdict: one byte written to Warden's first page. Warden's first
/// page holds its PML4, whose first entry is present (bit 0 set), so the byte written has bit 0 clear:
/// a write that went through would show. Warden must stop the guest before the store completes.
pub fn write_warden(gpa: u64) {
    println!("guest: attack: writing Warden's page {gpa:#x}; Warden must stop the guest");
    guest_pages::attack_write(gpa, 0x5A);
    println!("guest: attack: FAIL wrote Warden's memory");
}
