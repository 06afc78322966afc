//! Core protocol calls that need no memory of their own: QUERY_PROTOCOL for each protocol, and
//! REMAP_CA to a page of the guest's and back (SVSM spec (AMD 58019), "Core Protocol").
use warden_defs::guest_launch::GUEST_CAA;
use warden_defs::svsm::{
    PROTOCOL_ATTEST, PROTOCOL_CORE, PROTOCOL_VTPM, core_call, query_protocol_answer, query_protocol_input,
};

use super::{Run, work};

/// Version 1 of each protocol: core and vTPM must answer min/max 1/1; attestation may answer 1/1 or 0
/// (not served, as Warden may do on TDX), but the call itself must succeed. Answers whether Warden
/// offers the attestation protocol.
pub fn query_protocols(run: &mut Run) -> bool {
    let one = query_protocol_answer(1, 1);
    let mut attestation = false;
    for (name, protocol, required) in [
        ("core", PROTOCOL_CORE, true),
        ("attestation", PROTOCOL_ATTEST, false),
        ("vtpm", PROTOCOL_VTPM, true),
    ] {
        let step = match protocol {
            PROTOCOL_CORE => "query-protocol core",
            PROTOCOL_ATTEST => "query-protocol attestation",
            _ => "query-protocol vtpm",
        };
        let input = query_protocol_input(protocol, 1);
        let Some(answer) = run.call_ok(step, PROTOCOL_CORE, core_call::QUERY_PROTOCOL, [input, 0, 0, 0])
        else {
            continue;
        };
        let passed = answer.rcx == one || (!required && answer.rcx == 0);
        if protocol == PROTOCOL_ATTEST {
            attestation = answer.rcx == one;
        }
        run.check(
            step,
            passed,
            format_args!(
                "{name}: min {} max {} (rcx {:#x})",
                answer.rcx as u32,
                answer.rcx >> 32,
                answer.rcx
            ),
        );
    }
    attestation
}

/// REMAP_CA to a validated page of the guest's, one call through it, and back to the launch CAA.
pub fn remap_ca(run: &mut Run) {
    let new = run.free(work::NEW_CAA);
    if run.call_ok("remap-ca", PROTOCOL_CORE, core_call::REMAP_CA, [new, 0, 0, 0]).is_none() {
        return;
    }
    run.caa = new;
    let input = query_protocol_input(PROTOCOL_CORE, 1);
    match run.call_ok("remap-ca", PROTOCOL_CORE, core_call::QUERY_PROTOCOL, [input, 0, 0, 0]) {
        Some(answer) => run.check(
            "remap-ca",
            answer.rcx == query_protocol_answer(1, 1),
            format_args!("a call through the new calling area at {new:#x} was served"),
        ),
        // A call through the new area that Warden did not serve: the area never moved, go back to it.
        None => {
            run.caa = GUEST_CAA;
            return;
        }
    }
    if run.call_ok("remap-ca back", PROTOCOL_CORE, core_call::REMAP_CA, [GUEST_CAA, 0, 0, 0]).is_some() {
        run.caa = GUEST_CAA;
        let served = run.call_ok("remap-ca back", PROTOCOL_CORE, core_call::QUERY_PROTOCOL, [input, 0, 0, 0]);
        if served.is_some() {
            run.check("remap-ca back", true, format_args!("calls go through {GUEST_CAA:#x} again"));
        }
    }
}
