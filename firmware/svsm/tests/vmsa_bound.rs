//! A guest calling CREATE_VCPU without end cannot grow Warden's heap (threat model T4, T7). Its own
//! test binary: the counting allocator sees only this test's allocations.
mod common;

use common::{AP_CAA, BOOT, SimEnv, core_call, dispatcher};
use warden_defs::layout::PAGE_SIZE;
use warden_defs::svsm::core_call::{CREATE_VCPU, QUERY_PROTOCOL};
use warden_defs::svsm::{CallId, PROTOCOL_CORE, ResultCode, query_protocol_input};
use warden_sim::heap_meter::HeapMeter;
use warden_svsm::GuestRegs;

#[global_allocator]
static ALLOCATOR: HeapMeter = HeapMeter;

/// How many distinct pages the guest turns into VMSA candidates (16 MiB of simulated RAM).
const PAGES: u64 = 4096;
const FIRST: u64 = 0x100_0000;
const CALLS: u64 = 100_000;
/// What Warden may allocate over the whole run, whatever the number of calls.
const BOUND: isize = 8 * 1024;

/// Threat model T4, T7: 100,000 CREATE_VCPU calls over 4096 distinct valid VMSA pages for one APIC ID
/// leave Warden serving, with its live and peak heap growth under a bound that does not depend on the
/// number of calls (the vCPU may hold at most its current and its previous VMSA).
#[allow(unsafe_code, reason = "the counting allocator forwards to the system allocator")]
#[test]
fn a_hundred_thousand_create_vcpu_calls_leave_the_heap_bounded() {
    let mut env = SimEnv::new();
    let mut d = dispatcher();
    env.guest_owned(AP_CAA, 1);
    for i in 0..PAGES {
        env.good_vmsa(FIRST + i * PAGE_SIZE);
    }
    let mut successes = 0;
    HeapMeter::start();
    for i in 0..CALLS {
        let page = FIRST + (i % PAGES) * PAGE_SIZE;
        if core_call(&mut d, &mut env, CREATE_VCPU, page, AP_CAA, 1).rax == ResultCode::SUCCESS {
            successes += 1;
        }
    }
    HeapMeter::stop();
    let (live, peak) = HeapMeter::live_and_peak();
    assert!(live <= BOUND && peak <= BOUND, "heap grew: live {live} B, peak {peak} B");
    assert_eq!(successes, 2, "one current and one previous VMSA per vCPU");

    // Still serving.
    let rax = CallId { protocol: PROTOCOL_CORE, call: QUERY_PROTOCOL }.to_rax();
    let rcx = query_protocol_input(PROTOCOL_CORE, 1);
    let reply = d.handle(&mut env, BOOT, GuestRegs { rax, rcx, rdx: 0, r8: 0, r9: 0 });
    assert_eq!((reply.rax, reply.outputs.rcx), (ResultCode::SUCCESS, Some((1 << 32) | 1)));
}
