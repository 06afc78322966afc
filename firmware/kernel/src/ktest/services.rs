//! The services inside the booted firmware: the dispatcher built at boot, reached through the transport
//! codec exactly as a COM2 frame is (the host-side tests drive the same path through the real port).
use alloc::vec::Vec;
use warden_defs::layout::WARDEN_BASE;
use warden_defs::svsm::{
    CallId, PROTOCOL_CORE, PROTOCOL_VTPM, PROTOCOL_WARDEN_MEASURED_BOOT, ResultCode, core_call,
    measured_boot_call, vtpm_call,
};
use warden_svsm::GuestRegs;
use warden_svsm::transport::{Response, decode_response, encode_request, serve};
use warden_svsm::vtpm_protocol::{request_buffer, response_in};

use super::{TestCase, TestResult};
use crate::ensure;
use crate::services::{self, NATIVE_CALLER, NoRmp};

/// Every case, in the order they run.
pub const CASES: &[TestCase] = &[
    ("vtpm_answers_through_the_dispatcher", vtpm_answers_through_the_dispatcher),
    ("vtpm_clock_moves", vtpm_clock_moves),
    ("measured_boot_log_replays_to_the_pcrs", measured_boot_log_replays_to_the_pcrs),
    ("core_protocol_refuses_to_validate_warden", core_protocol_refuses_to_validate_warden),
    ("rdrand_gives_distinct_words", rdrand_gives_distinct_words),
];

const BUFFER: u64 = 0x20_0000;
const RAM: u64 = 512 << 20;

fn call(
    dispatcher: &mut warden_svsm::Dispatcher,
    regs: GuestRegs,
    pages: &[(u64, &[u8; 4096])],
) -> Result<Response, alloc::string::String> {
    let frame = encode_request(&regs, pages).map_err(|e| alloc::format!("framing: {e:?}"))?;
    decode_response(&serve(dispatcher, &mut NoRmp, NATIVE_CALLER, &frame))
        .map_err(|e| alloc::format!("response: {e:?}"))
}

fn tpm(dispatcher: &mut warden_svsm::Dispatcher, command: &[u8]) -> Result<Vec<u8>, alloc::string::String> {
    let page = request_buffer(command).ok_or("command does not fit a buffer")?;
    let regs = GuestRegs {
        rax: CallId { protocol: PROTOCOL_VTPM, call: vtpm_call::CMD }.to_rax(),
        rcx: BUFFER,
        ..GuestRegs::default()
    };
    let response = call(dispatcher, regs, &[(BUFFER, &page)])?;
    ensure!(response.regs.rax == ResultCode::SUCCESS.0, "SVSM_VTPM_CMD answered {:#x}", response.regs.rax);
    let (_, data) = response.pages.pages().next().ok_or("no page came back")?;
    Ok(response_in(data).ok_or("response size beyond the buffer")?.to_vec())
}

/// TPM2_Startup(CLEAR) after Warden's measured start-up: TPM_RC_INITIALIZE, the TPM runs already.
const STARTED: [u8; 10] = [0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x00];

fn vtpm_answers_through_the_dispatcher() -> TestResult {
    let mut dispatcher = services::start(RAM).map_err(|e| alloc::format!("{e:?}"))?;
    let startup = tpm(&mut dispatcher, &[0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0])?;
    ensure!(startup == STARTED, "Startup answered {startup:02x?}");
    let random = tpm(&mut dispatcher, &[0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7B, 0, 32])?;
    ensure!(random.len() == 12 + 32 && random[6..10] == [0, 0, 0, 0], "GetRandom answered {random:02x?}");
    ensure!(random[12..].iter().any(|&b| b != 0), "32 zero bytes from GetRandom");
    let again = tpm(&mut dispatcher, &[0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7B, 0, 32])?;
    ensure!(again[12..] != random[12..], "GetRandom repeated itself");
    Ok(())
}

/// TPM2_ReadClock through the dispatcher: TPMS_TIME_INFO.clockInfo.clock (Part 2 Table 132), the u64 after
/// `time` in the response parameters.
fn read_clock(dispatcher: &mut warden_svsm::Dispatcher) -> Result<u64, alloc::string::String> {
    let r = tpm(dispatcher, &[0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x81])?;
    let clock = r.get(18..26).ok_or("ReadClock answered too short")?;
    ensure!(r[6..10] == [0, 0, 0, 0], "ReadClock answered {r:02x?}");
    Ok(u64::from_be_bytes(clock.try_into().map_err(|_| "clock")?))
}

/// Finding 3: the firmware's vTPM has a running clock. Two ReadClock calls 20 ms of TSC apart (at the
/// rate the vTPM clock uses) differ by about 20 ms: without a clock they would be equal.
/// Threat model T5.
fn vtpm_clock_moves() -> TestResult {
    let mut dispatcher = services::start(RAM).map_err(|e| alloc::format!("{e:?}"))?;
    let startup = tpm(&mut dispatcher, &[0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0])?;
    ensure!(startup == STARTED, "Startup answered {startup:02x?}");
    let khz = crate::vtpm_clock::rate_khz();
    let first = read_clock(&mut dispatcher)?;
    let start = crate::tsc::rdtsc();
    while crate::tsc::rdtsc().saturating_sub(start) < 20 * khz {
        core::hint::spin_loop();
    }
    let second = read_clock(&mut dispatcher)?;
    let moved = second.saturating_sub(first);
    ensure!(
        (20..5_000).contains(&moved),
        "Clock moved {moved} ms over 20 ms ({first} -> {second}, {khz} kHz)"
    );
    Ok(())
}

/// Measured boot inside the firmware: the event log Warden serves (GET_EVENT_LOG through the transport
/// codec) parses, and its replay of PCR 0 and 1 equals what TPM2_PCR_Read answers in the SHA-256 bank;
/// PCR 0 holds more than the H-CRTM reset value (the image digest was extended).
fn measured_boot_log_replays_to_the_pcrs() -> TestResult {
    let mut dispatcher = services::start(RAM).map_err(|e| alloc::format!("{e:?}"))?;
    let regs = GuestRegs {
        rax: CallId { protocol: PROTOCOL_WARDEN_MEASURED_BOOT, call: measured_boot_call::GET_EVENT_LOG }
            .to_rax(),
        rcx: BUFFER,
        rdx: 4096,
        ..GuestRegs::default()
    };
    let response = call(&mut dispatcher, regs, &[(BUFFER, &[0; 4096])])?;
    ensure!(response.regs.rax == ResultCode::SUCCESS.0, "GET_EVENT_LOG answered {:#x}", response.regs.rax);
    let (_, page) = response.pages.pages().next().ok_or("no page came back")?;
    let log = page.get(..response.regs.rcx as usize).ok_or("the log size exceeds the page")?;
    let log = warden_vtpm::event_log::parse(log).map_err(|e| alloc::format!("the log: {e:?}"))?;
    let mut h_crtm_reset = [0u8; 32];
    h_crtm_reset[31] = 4;
    for pcr in [0u8, 1] {
        // TPM2_PCR_Read of one PCR in the SHA-256 bank; the digest is the response's last 32 bytes.
        let mut select = [0u8; 3];
        select[usize::from(pcr / 8)] = 1 << (pcr % 8);
        let mut command = alloc::vec![0x80, 0x01, 0, 0, 0, 20, 0, 0, 0x01, 0x7E, 0, 0, 0, 1, 0, 0x0B, 3];
        command.extend_from_slice(&select);
        let read = tpm(&mut dispatcher, &command)?;
        ensure!(read.len() == 62 && read[6..10] == [0, 0, 0, 0], "PCR_Read answered {read:02x?}");
        let replayed = log.replay(u32::from(pcr), warden_vtpm::crypto::HashAlg::Sha256);
        ensure!(replayed.as_slice() == &read[30..], "PCR {pcr}: log {replayed:?}, TPM {:02x?}", &read[30..]);
        ensure!(pcr != 0 || read[30..] != h_crtm_reset, "PCR 0 holds only its reset value");
    }
    Ok(())
}

fn core_protocol_refuses_to_validate_warden() -> TestResult {
    let mut dispatcher = services::start(RAM).map_err(|e| alloc::format!("{e:?}"))?;
    // A PVALIDATE list at the calling area's buffer naming Warden's first page: the guest may not.
    let mut page = [0u8; 4096];
    page[8..10].copy_from_slice(&1u16.to_le_bytes()); // entries
    page[16..24].copy_from_slice(&(WARDEN_BASE | 1 << 2).to_le_bytes()); // 4K, validate
    let list = services::NATIVE_BOOT_CAA;
    let regs = GuestRegs {
        rax: CallId { protocol: PROTOCOL_CORE, call: core_call::PVALIDATE }.to_rax(),
        rcx: list + 8,
        ..GuestRegs::default()
    };
    let response = call(&mut dispatcher, regs, &[(list, &page)])?;
    ensure!(
        response.regs.rax == ResultCode::INVALID_ADDRESS.0,
        "PVALIDATE of Warden answered {:#x}",
        response.regs.rax
    );
    Ok(())
}

fn rdrand_gives_distinct_words() -> TestResult {
    use warden_vtpm::EntropySource;
    let mut source = crate::entropy::Rdrand::new().ok_or("no RDRAND")?;
    let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
    source.fill_bytes(&mut a);
    source.fill_bytes(&mut b);
    ensure!(a != b && a != [0; 32], "RDRAND repeated or gave zeros");
    Ok(())
}
