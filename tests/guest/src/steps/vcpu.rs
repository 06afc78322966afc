//! CREATE_VCPU and DELETE_VCPU of a second vCPU (SVSM spec (AMD 58019), SVSM_CORE_CREATE_VCPU and
//! _DELETE_VCPU): first a forged VMSA claiming VMPL 0, which Warden must refuse; then a real one at the
//! guest's VMPL, which the guest starts with the GHCB AP-creation exit and waits to see run; then a vTPM
//! buffer placed on that registered VMSA, which Warden must refuse; then DELETE_VCPU, twice (the second
//! names no VMSA any more).
use core::sync::atomic::Ordering;

use warden_defs::svsm::{PROTOCOL_CORE, PROTOCOL_VTPM, ResultCode, core_call, vtpm_call};
use warden_test_guest::vcpu_state::{self, StartState};
use zerocopy::IntoBytes;

use super::{Code, Run, work};
use crate::entry::{self, CODE_SELECTOR, DATA_SELECTOR};
use crate::{SECOND_VCPU_RAN, ghcb_page, guest_pages, instr};

/// The second vCPU's APIC ID.
const APIC_ID: u32 = 1;
/// How long the boot vCPU waits for the second to say it runs: rounds of PAUSEs, each ended by an
/// exit to the hypervisor (a million PAUSEs and a thousand exits: a hypervisor that schedules at exits
/// runs the second vCPU at the first one).
const WAIT_ROUNDS: u32 = 1_000;
const PAUSES_PER_ROUND: u32 = 1_000;

unsafe extern "C" {
    /// The top of the second vCPU's stack (entry.rs).
    static guest_ap_stack_top: u8;
}

/// The whole step.
pub fn run(run: &mut Run) {
    let sev_features = vcpu_state::sev_features_from_status(instr::rdmsr(instr::SEV_STATUS_MSR));
    let state = StartState {
        vmpl: run.info.vmpl as u8,
        sev_features,
        cr0: instr::cr0(),
        cr3: instr::cr3(),
        cr4: instr::cr4(),
        gdt: entry::gdt(),
        code_selector: CODE_SELECTOR,
        data_selector: DATA_SELECTOR,
        idt: entry::idt(),
        rip: entry::ap_entry(),
        rsp: core::ptr::addr_of!(guest_ap_stack_top) as u64,
    };
    let (vmsa, caa, forged) =
        (run.free(work::VCPU1_VMSA), run.free(work::VCPU1_CAA), run.free(work::FORGED_VMSA));
    let mut forged_state = vcpu_state::vmsa(&state);
    forged_state.vmpl = 0;
    // SAFETY: three validated pages of the guest's (work::LIST), used for nothing else.
    unsafe {
        guest_pages::write(vmsa, vcpu_state::vmsa(&state).as_bytes());
        guest_pages::write(forged, forged_state.as_bytes());
        guest_pages::write(caa, &[0u8; 8]);
    }

    // Attack: a VMSA that would run the guest's chosen state at VMPL 0, above Warden's protection.
    run.expect_refusal(
        "attack create-vcpu forged vmpl0",
        PROTOCOL_CORE,
        core_call::CREATE_VCPU,
        [forged, caa, u64::from(APIC_ID), 0],
        &[ResultCode::INVALID_PARAMETER],
    );

    if run
        .call_ok("create-vcpu", PROTOCOL_CORE, core_call::CREATE_VCPU, [vmsa, caa, u64::from(APIC_ID), 0])
        .is_none()
    {
        return;
    }
    run.check("create-vcpu", true, format_args!("VMSA {vmsa:#x}, calling area {caa:#x}, APIC ID {APIC_ID}"));

    match ghcb_page::create_ap(state.vmpl, APIC_ID, vmsa, sev_features) {
        Ok(()) => {
            let mut rounds = 0;
            while !SECOND_VCPU_RAN.load(Ordering::SeqCst) && rounds < WAIT_ROUNDS {
                for _ in 0..PAUSES_PER_ROUND {
                    instr::pause();
                }
                ghcb_page::yield_to_hypervisor();
                rounds += 1;
            }
            let ran = SECOND_VCPU_RAN.load(Ordering::SeqCst);
            let detail = if ran { "it ran and said so" } else { "it did not say it ran" };
            run.check("vcpu1 started", ran, format_args!("AP creation accepted, {detail} ({rounds} waits)"));
        }
        Err(error) => run.check("vcpu1 started", false, format_args!("AP creation refused: {error:?}")),
    }

    // Attack: a vTPM buffer that is a registered VMSA (Warden would write the response over a vCPU's
    // saved state).
    run.expect_refusal(
        "attack vtpm buffer on a vmsa",
        PROTOCOL_VTPM,
        vtpm_call::CMD,
        [vmsa, 0, 0, 0],
        &[ResultCode::INVALID_ADDRESS, ResultCode::INVALID_PARAMETER],
    );

    if let Some(answer) = run.call_ok("delete-vcpu", PROTOCOL_CORE, core_call::DELETE_VCPU, [vmsa, 0, 0, 0]) {
        run.check("delete-vcpu", true, format_args!("{}", Code(answer.result)));
    }
    run.expect_refusal(
        "delete-vcpu again",
        PROTOCOL_CORE,
        core_call::DELETE_VCPU,
        [vmsa, 0, 0, 0],
        &[ResultCode::INVALID_PARAMETER],
    );
}
