//! The native guest channel: a call written into guest memory and rung with one byte is served by the
//! SNP request loop's code; a hostile doorbell byte, a missing register block and out-of-range GPAs are
//! refused without a panic (threat model T4).
mod common;

use common::{BOOT, BOOT_CAA, RAM_END, SimEnv, dispatcher};
use std::sync::{Arc, Mutex};
use warden_defs::layout::WARDEN_BASE;
use warden_defs::svsm::{CallId, PROTOCOL_VTPM, ResultCode, vtpm_call};
use warden_svsm::Dispatcher;
use warden_svsm::doorbell::{Answer, CallRegisters, NATIVE_BOOT_CAA, REGISTERS_GPA, RING, serve_doorbell};
use warden_svsm::vtpm_protocol::{TpmEngine, VtpmProtocol, request_buffer, response_in};
use zerocopy::{FromBytes, IntoBytes};

/// An engine that records what it was given and answers with the bytes reversed.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Vec<u8>>>>);

impl TpmEngine for Recorder {
    fn execute(&mut self, command: &[u8]) -> Vec<u8> {
        self.0.lock().unwrap().push(command.to_vec());
        command.iter().rev().copied().collect()
    }
}

const BUFFER: u64 = 0x20_0000;
const GET_RANDOM: [u8; 12] = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7B, 0, 8];

/// A guest with its register block and a buffer page, and a dispatcher with the recording vTPM.
fn setup() -> (Dispatcher, SimEnv, Recorder) {
    let engine = Recorder::default();
    let mut d = dispatcher();
    d.register(PROTOCOL_VTPM, Box::new(VtpmProtocol::new(engine.clone()))).unwrap();
    let mut env = SimEnv::new();
    env.guest_owned(REGISTERS_GPA, 1);
    env.guest_owned(BUFFER, 1);
    (d, env, engine)
}

/// What the host program writes before it rings: the buffer, the registers, `call_pending`.
fn place_call(env: &mut SimEnv, rcx: u64, command: &[u8]) {
    env.guest_write(BUFFER, &request_buffer(command).unwrap());
    let regs = CallRegisters {
        rax: CallId { protocol: PROTOCOL_VTPM, call: vtpm_call::CMD }.to_rax(),
        rcx,
        ..Default::default()
    };
    env.guest_write(REGISTERS_GPA, regs.as_bytes());
    env.guest_write(BOOT_CAA, &[1]);
}

fn registers(env: &SimEnv) -> CallRegisters {
    CallRegisters::read_from_bytes(&env.guest_read(REGISTERS_GPA, 40).unwrap()).unwrap()
}

#[test]
fn the_native_calling_area_is_the_one_the_tests_guest_uses() {
    assert_eq!(NATIVE_BOOT_CAA, BOOT_CAA);
    for answer in [Answer::Served, Answer::NoCall, Answer::BadDoorbell, Answer::NoRegisters] {
        assert_eq!(Answer::from_byte(answer as u8), Some(answer));
    }
    assert_eq!(Answer::from_byte(RING), None, "the ring is no answer: an echo is not mistaken for one");
}

#[test]
fn a_rung_vtpm_call_is_served_from_guest_memory() {
    let (mut d, mut env, engine) = setup();
    place_call(&mut env, BUFFER, &GET_RANDOM);
    assert_eq!(serve_doorbell(&mut d, &mut env, BOOT, RING), Answer::Served);
    assert_eq!(registers(&env).rax, ResultCode::SUCCESS.0);
    assert_eq!(registers(&env).rcx, BUFFER, "RCX is not an output of SVSM_VTPM_CMD");
    assert_eq!(env.guest_read(BOOT_CAA, 1).unwrap(), [0], "call_pending is taken");
    assert_eq!(engine.0.lock().unwrap().as_slice(), &[GET_RANDOM.to_vec()]);
    let page = env.guest_read(BUFFER, 4096).unwrap();
    let reversed: Vec<u8> = GET_RANDOM.iter().rev().copied().collect();
    assert_eq!(response_in(&page), Some(reversed.as_slice()));
    // Rung again without a new call: nothing pending, nothing dispatched, the result left as it was.
    let before = registers(&env);
    assert_eq!(serve_doorbell(&mut d, &mut env, BOOT, RING), Answer::NoCall);
    assert_eq!(registers(&env), before);
    assert_eq!(engine.0.lock().unwrap().len(), 1);
}

/// Threat model T4.
#[test]
fn every_other_doorbell_byte_is_refused_before_anything_is_read() {
    let (mut d, mut env, engine) = setup();
    place_call(&mut env, BUFFER, &GET_RANDOM);
    for byte in (0..=u8::MAX).filter(|&b| b != RING) {
        assert_eq!(serve_doorbell(&mut d, &mut env, BOOT, byte), Answer::BadDoorbell, "byte {byte:#x}");
    }
    assert!(engine.0.lock().unwrap().is_empty());
    assert_eq!(env.guest_read(BOOT_CAA, 1).unwrap(), [1], "the pending call is left for a real ring");
}

/// Threat model T4.
#[test]
fn a_register_block_outside_guest_ram_is_refused() {
    let engine = Recorder::default();
    let mut d = dispatcher();
    d.register(PROTOCOL_VTPM, Box::new(VtpmProtocol::new(engine.clone()))).unwrap();
    // The guest never got the register block's page from the hypervisor: Warden cannot read it.
    let mut env = SimEnv::new();
    env.guest_write(BOOT_CAA, &[1]);
    assert_eq!(serve_doorbell(&mut d, &mut env, BOOT, RING), Answer::NoRegisters);
    assert!(engine.0.lock().unwrap().is_empty());
}

/// The buffer GPA in the register block goes through the dispatcher's checks, as on SNP.
/// Threat model T4.
#[test]
fn out_of_range_buffer_gpas_get_the_protocol_codes() {
    let cases = [
        ("GPA 0", 0, ResultCode::INVALID_PARAMETER.0),
        ("Warden's region", WARDEN_BASE, ResultCode::INVALID_ADDRESS.0),
        ("straddling into Warden", WARDEN_BASE - 8, ResultCode::INVALID_ADDRESS.0),
        ("past the end of RAM", RAM_END, ResultCode::INVALID_ADDRESS.0),
        ("wrapping around", u64::MAX - 8, ResultCode::INVALID_ADDRESS.0),
    ];
    for (what, gpa, expected) in cases {
        let (mut d, mut env, engine) = setup();
        place_call(&mut env, gpa, &GET_RANDOM);
        assert_eq!(serve_doorbell(&mut d, &mut env, BOOT, RING), Answer::Served, "{what}");
        assert_eq!(registers(&env).rax, expected, "{what}");
        assert!(engine.0.lock().unwrap().is_empty(), "{what}");
    }
}

/// Whatever the host writes into the register block, Warden answers and does not panic.
/// Threat model T4.
#[test]
fn arbitrary_register_blocks_are_answered() {
    let (mut d, mut env, _) = setup();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..2000 {
        let regs = CallRegisters {
            rax: ((next() % 4) << 32) | (next() % 12),
            rcx: next(),
            rdx: next(),
            r8: next(),
            r9: 0,
        };
        env.guest_write(REGISTERS_GPA, regs.as_bytes());
        env.guest_write(BOOT_CAA, &[1]);
        let answer = serve_doorbell(&mut d, &mut env, BOOT, RING);
        assert!(matches!(answer, Answer::Served | Answer::NoRegisters | Answer::NoCall), "{regs:x?}");
    }
}
