//! Calls Warden must refuse, each with the protocol's error (the attack is written beside each): naming
//! Warden's own memory in PVALIDATE or REMAP_CA, a vTPM buffer that is a calling area, an unknown
//! protocol. The VMSA attacks need the second vCPU and run in `vcpu.rs`.
use warden_defs::guest_launch::GUEST_CAA;
use warden_defs::svsm::{PROTOCOL_CORE, PROTOCOL_VTPM, PvalidateEntry, ResultCode, core_call, vtpm_call};

use super::{Code, Run, pvalidate};

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
