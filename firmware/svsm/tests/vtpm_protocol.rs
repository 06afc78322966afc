//! The vTPM protocol (2) over the test transport: QUERY advertises TPM_SEND_COMMAND, CMD runs the
//! buffer's command through the engine once and writes the response back, malformed buffers get the
//! protocol's codes (threat model T4, T5).
mod common;

use common::{BOOT, SimEnv, dispatcher};
use std::sync::{Arc, Mutex};
use warden_defs::layout::WARDEN_BASE;
use warden_defs::svsm::{CallId, PROTOCOL_VTPM, ResultCode, vtpm_call};
use warden_svsm::GuestRegs;
use warden_svsm::transport::{decode_response, encode_request, serve};
use warden_svsm::vtpm_protocol::{MAX_COMMAND, TpmEngine, VtpmProtocol};

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

fn request(command: u32, locality: u8, size: u32, body: &[u8]) -> [u8; 4096] {
    let mut page = [0u8; 4096];
    page[..4].copy_from_slice(&command.to_le_bytes());
    page[4] = locality;
    page[5..9].copy_from_slice(&size.to_le_bytes());
    page[9..9 + body.len()].copy_from_slice(body);
    page
}

/// Runs one vTPM call with `page` at `gpa`; returns the result code, RCX, and the page afterwards.
fn call(engine: &Recorder, call: u32, gpa: u64, page: &[u8; 4096]) -> (u64, u64, Vec<u8>) {
    let mut d = dispatcher();
    d.register(PROTOCOL_VTPM, Box::new(VtpmProtocol::new(engine.clone()))).unwrap();
    let mut env = SimEnv::new();
    let regs =
        GuestRegs { rax: CallId { protocol: PROTOCOL_VTPM, call }.to_rax(), rcx: gpa, rdx: 0, r8: 0, r9: 0 };
    let pages: Vec<(u64, &[u8; 4096])> = if gpa.is_multiple_of(4096) { vec![(gpa, page)] } else { vec![] };
    let frame = encode_request(&regs, &pages).unwrap();
    let response = decode_response(&serve(&mut d, &mut env, BOOT, &frame)).unwrap();
    let page_after = response.pages.pages().next().map(|(_, data)| data.to_vec()).unwrap_or_default();
    (response.regs.rax, response.regs.rcx, page_after)
}

#[test]
fn query_advertises_send_command_only() {
    let engine = Recorder::default();
    let (rax, rcx, _) = call(&engine, vtpm_call::QUERY, 0, &[0; 4096]);
    assert_eq!(rax, ResultCode::SUCCESS.0);
    assert_eq!(rcx, 1 << 8);
}

#[test]
fn a_command_runs_once_and_the_response_lands_in_the_buffer() {
    let engine = Recorder::default();
    let body = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 1, 0x44, 0, 0];
    let (rax, _, page) = call(&engine, vtpm_call::CMD, BUFFER, &request(8, 0, body.len() as u32, &body));
    assert_eq!(rax, ResultCode::SUCCESS.0);
    assert_eq!(engine.0.lock().unwrap().as_slice(), &[body.to_vec()]);
    assert_eq!(u32::from_le_bytes(page[..4].try_into().unwrap()) as usize, body.len());
    let reversed: Vec<u8> = body.iter().rev().copied().collect();
    assert_eq!(&page[4..4 + body.len()], reversed.as_slice());
    assert!(page[4 + body.len()..].iter().all(|&b| b == 0), "stale request bytes left behind");
}

/// Threat model T4.
#[test]
fn malformed_buffers_get_the_protocol_codes_and_never_reach_the_engine() {
    let engine = Recorder::default();
    let invalid = ResultCode::INVALID_PARAMETER.0;
    let cases: [(&str, [u8; 4096], u64); 5] = [
        ("locality 1", request(8, 1, 4, &[1, 2, 3, 4]), invalid),
        ("size 0", request(8, 0, 0, &[]), invalid),
        ("size past the buffer", request(8, 0, MAX_COMMAND as u32 + 1, &[]), invalid),
        (
            "known but unsupported platform command",
            request(1, 0, 4, &[1, 2, 3, 4]),
            ResultCode::UNSUPPORTED_CALL.0,
        ),
        ("unknown platform command", request(0xFFFF, 0, 4, &[1, 2, 3, 4]), invalid),
    ];
    for (what, page, expected) in cases {
        let (rax, _, _) = call(&engine, vtpm_call::CMD, BUFFER, &page);
        assert_eq!(rax, expected, "{what}");
    }
    assert!(engine.0.lock().unwrap().is_empty());
}

/// Threat model T4.
#[test]
fn the_buffer_may_not_be_gpa_zero_or_in_warden() {
    let engine = Recorder::default();
    let page = request(8, 0, 4, &[1, 2, 3, 4]);
    let (rax, _, _) = call(&engine, vtpm_call::CMD, 0, &page);
    assert_eq!(rax, ResultCode::INVALID_PARAMETER.0);
    let (rax, _, _) = call(&engine, vtpm_call::CMD, WARDEN_BASE, &page);
    assert_eq!(rax, ResultCode::INVALID_ADDRESS.0);
    let (rax, _, _) = call(&engine, vtpm_call::CMD, WARDEN_BASE - 8, &page);
    assert_eq!(rax, ResultCode::INVALID_ADDRESS.0, "a buffer straddling into Warden");
    assert!(engine.0.lock().unwrap().is_empty());
}

#[test]
fn an_unknown_vtpm_call_is_unsupported() {
    let engine = Recorder::default();
    let (rax, _, _) = call(&engine, 7, BUFFER, &[0; 4096]);
    assert_eq!(rax, ResultCode::UNSUPPORTED_CALL.0);
}

#[test]
fn the_guest_side_encoding_is_what_the_handler_parses() {
    use warden_svsm::vtpm_protocol::{MAX_RESPONSE, parse_request, request_buffer, response_in};
    let command = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 1, 0x7B, 0, 8];
    let buffer = request_buffer(&command).unwrap();
    assert_eq!(parse_request(&buffer).unwrap(), &command);
    assert_eq!(buffer, request(8, 0, command.len() as u32, &command));
    assert!(request_buffer(&[]).is_none());
    assert!(request_buffer(&vec![0; MAX_COMMAND + 1]).is_none());
    assert!(request_buffer(&vec![0; MAX_COMMAND]).is_some());

    let mut answer = [0u8; 4096];
    answer[..4].copy_from_slice(&3u32.to_le_bytes());
    answer[4..7].copy_from_slice(&[1, 2, 3]);
    assert_eq!(response_in(&answer), Some(&[1u8, 2, 3][..]));
    answer[..4].copy_from_slice(&(MAX_RESPONSE as u32 + 1).to_le_bytes());
    assert_eq!(response_in(&answer), None);
    assert_eq!(response_in(&answer[..2]), None);
}
