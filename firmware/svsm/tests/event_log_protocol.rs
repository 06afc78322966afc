//! Warden's measured-boot protocol through the dispatcher: QUERY_PROTOCOL finds it, GET_EVENT_LOG
//! answers the size on every return, copies the log only into a buffer that holds it, and refuses a
//! buffer on a page Warden relies on without touching it (threat model T4).
mod common;

use common::{AP_CAA, BOOT, SimEnv, core_call, dispatcher_with_ram};
use warden_defs::layout::{SNP_SECRETS_PAGE, WARDEN_BASE, WARDEN_END};
use warden_defs::svsm::core_call::{CREATE_VCPU, QUERY_PROTOCOL};
use warden_defs::svsm::{
    CallId, PROTOCOL_WARDEN_MEASURED_BOOT, ResultCode, measured_boot_call, query_protocol_input,
};
use warden_platform::memory::GpaRange;
use warden_svsm::event_log_protocol::EventLogProtocol;
use warden_svsm::{AddressError, Dispatcher, GuestError, GuestRegs, ParamError, Reply, SvsmError};

const VMSA: u64 = 0x20_0000;
const BUFFER: u64 = 0x30_0000;

/// A stand-in log: the protocol copies bytes, it does not read them (the vTPM's tests parse real logs).
fn log() -> Vec<u8> {
    (0..1500u32).map(|i| (i * 7 + 3) as u8).collect()
}

fn setup() -> (SimEnv, Dispatcher) {
    let mut env = SimEnv::new();
    // A memory map that lies about Warden's region: the buffer check must refuse it anyway.
    let ram = [GpaRange::new(0, common::RAM_END).unwrap()];
    let mut d = dispatcher_with_ram(&ram);
    d.register(PROTOCOL_WARDEN_MEASURED_BOOT, Box::new(EventLogProtocol::new(log()))).unwrap();
    env.good_vmsa(VMSA);
    env.guest_owned(AP_CAA, 1);
    assert_eq!(core_call(&mut d, &mut env, CREATE_VCPU, VMSA, AP_CAA, 1).rax, ResultCode::SUCCESS);
    env.guest_owned(BUFFER, 2);
    (env, d)
}

fn get_log(d: &mut Dispatcher, env: &mut SimEnv, gpa: u64, size: u64) -> Reply {
    let rax =
        CallId { protocol: PROTOCOL_WARDEN_MEASURED_BOOT, call: measured_boot_call::GET_EVENT_LOG }.to_rax();
    d.handle(env, BOOT, GuestRegs { rax, rcx: gpa, rdx: size, ..GuestRegs::default() })
}

#[test]
fn the_guest_finds_the_protocol_and_fetches_the_log_in_two_calls() {
    let (mut env, mut d) = setup();
    let query = core_call(
        &mut d,
        &mut env,
        QUERY_PROTOCOL,
        query_protocol_input(PROTOCOL_WARDEN_MEASURED_BOOT, 1),
        0,
        0,
    );
    assert_eq!((query.rax, query.outputs.rcx), (ResultCode::SUCCESS, Some(1 << 32 | 1)));

    // Size 0 asks for the size; nothing is written.
    let ask = get_log(&mut d, &mut env, BUFFER, 0);
    let too_small = Some(SvsmError::Guest(GuestError::InvalidParameter(ParamError::EventLogBufferTooSmall)));
    assert_eq!((ask.rax, ask.error, ask.outputs.rcx), (ResultCode::INVALID_PARAMETER, too_small, Some(1500)));
    assert_eq!(env.guest_read(BUFFER, 8).unwrap(), [0; 8]);
    let short = get_log(&mut d, &mut env, BUFFER, 1499);
    assert_eq!((short.rax, short.outputs.rcx), (ResultCode::INVALID_PARAMETER, Some(1500)));

    let fetch = get_log(&mut d, &mut env, BUFFER, 8192);
    assert_eq!((fetch.rax, fetch.outputs.rcx), (ResultCode::SUCCESS, Some(1500)));
    assert_eq!(env.guest_read(BUFFER, 1500).unwrap(), log());
    assert_eq!(env.guest_read(BUFFER + 1500, 16).unwrap(), [0; 16], "nothing past the log is written");
}

/// Threat model T4: the buffer may not be a VMSA, another vCPU's calling area or Warden's page, nor
/// unaligned; each is refused and the page is unchanged, and RCX still says the size.
#[test]
fn the_log_is_never_written_over_a_page_warden_relies_on() {
    let (mut env, mut d) = setup();
    assert!((WARDEN_BASE..WARDEN_END).contains(&SNP_SECRETS_PAGE));
    let targets = [
        (VMSA, AddressError::Vmsa),
        (AP_CAA, AddressError::CallingArea),
        (SNP_SECRETS_PAGE, AddressError::Warden),
        (BUFFER + 8, AddressError::Misaligned),
    ];
    for (gpa, why) in targets {
        let page = gpa & !0xFFF;
        let mut before = vec![0u8; 4096];
        env.sim.read(page, &mut before).unwrap();
        let reply = get_log(&mut d, &mut env, gpa, 4096);
        let expected = Some(SvsmError::Guest(GuestError::InvalidAddress(why)));
        assert_eq!(
            (reply.rax, reply.error, reply.outputs.rcx),
            (ResultCode::INVALID_ADDRESS, expected, Some(1500)),
            "{gpa:#x}"
        );
        let mut after = vec![0u8; 4096];
        env.sim.read(page, &mut after).unwrap();
        assert_eq!(before, after, "{gpa:#x} changed");
    }
}

#[test]
fn an_unknown_call_is_unsupported() {
    let (mut env, mut d) = setup();
    let rax = CallId { protocol: PROTOCOL_WARDEN_MEASURED_BOOT, call: 1 }.to_rax();
    let reply = d.handle(&mut env, BOOT, GuestRegs { rax, rcx: BUFFER, rdx: 4096, ..GuestRegs::default() });
    assert_eq!(reply.rax, ResultCode::UNSUPPORTED_CALL);
}
