//! Framing and robustness tests of the mssim port handlers, in memory, against a recording test
//! engine (shared with `tcp_tests`).

use std::io::{self, Cursor, Read, Write};
use std::sync::{Arc, Mutex};

use warden_mssim::Signal;

use super::engine::CommandEngine;
use super::ports::{Device, End, serve_platform_port, serve_tpm_port};

pub(super) const MAX: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Event {
    PowerOn,
    Execute(Vec<u8>),
}

/// Answers `0x80 0x01 ‖ command`, and panics on a command starting with 0xFF.
#[derive(Clone, Default)]
pub(super) struct Recorder(Arc<Mutex<Vec<Event>>>);

impl Recorder {
    pub(super) fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap().clone()
    }
}

impl CommandEngine for Recorder {
    fn power_on(&mut self) {
        self.0.lock().unwrap().push(Event::PowerOn);
    }

    fn execute(&mut self, command: &[u8]) -> Vec<u8> {
        self.0.lock().unwrap().push(Event::Execute(command.to_vec()));
        assert!(command.first() != Some(&0xFF), "test engine asked to panic");
        [&[0x80, 0x01][..], command].concat()
    }
}

pub(super) fn device() -> (Device, Recorder) {
    let recorder = Recorder::default();
    (Device::new(Box::new(recorder.clone()), MAX), recorder)
}

/// One side of a connection in memory: what the client sent, and what the server wrote.
struct Duplex {
    input: Cursor<Vec<u8>>,
    output: Vec<u8>,
}

impl Duplex {
    fn new(words: &[&[u8]]) -> Self {
        Self { input: Cursor::new(words.concat()), output: Vec::new() }
    }
}

impl Read for Duplex {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Duplex {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub(super) fn be(value: u32) -> Vec<u8> {
    value.to_be_bytes().to_vec()
}

pub(super) fn send_command(locality: u8, command: &[u8]) -> Vec<u8> {
    [be(8), vec![locality], be(command.len() as u32), command.to_vec()].concat()
}

fn power_on(device: &Device) {
    let mut platform = Duplex::new(&[&be(1), &be(11), &be(20)]);
    assert_eq!(serve_platform_port(&mut platform, device).unwrap(), End::Closed);
    assert_eq!(platform.output, [be(0), be(0)].concat(), "POWER_ON and NV_ON are acknowledged");
}

#[test]
fn send_command_reply_is_length_response_and_trailing_zero() {
    let (device, recorder) = device();
    power_on(&device);
    let mut tpm = Duplex::new(&[&send_command(0, b"abc"), &be(20)]);
    assert_eq!(serve_tpm_port(&mut tpm, &device).unwrap(), End::Closed);
    assert_eq!(tpm.output, [be(5), vec![0x80, 0x01], b"abc".to_vec(), be(0)].concat());
    assert_eq!(recorder.events(), [Event::PowerOn, Event::Execute(b"abc".to_vec())]);
}

#[test]
fn powered_off_tpm_answers_an_empty_response_without_running_the_command() {
    let (device, recorder) = device();
    let mut tpm = Duplex::new(&[&send_command(0, b"abc")]);
    assert_eq!(serve_tpm_port(&mut tpm, &device).unwrap(), End::Closed);
    assert_eq!(tpm.output, [be(0), be(0)].concat());
    assert!(recorder.events().is_empty());
}

#[test]
fn repeated_power_on_does_not_reset_but_signal_reset_does() {
    let (device, recorder) = device();
    power_on(&device);
    power_on(&device);
    assert_eq!(recorder.events(), [Event::PowerOn]);
    let mut platform = Duplex::new(&[&be(Signal::RESET.0)]);
    serve_platform_port(&mut platform, &device).unwrap();
    assert_eq!(platform.output, be(0));
    assert_eq!(recorder.events(), [Event::PowerOn, Event::PowerOn]);
}

#[test]
fn power_off_stops_commands_until_power_on() {
    let (device, recorder) = device();
    power_on(&device);
    let mut platform = Duplex::new(&[&be(2)]);
    serve_platform_port(&mut platform, &device).unwrap();
    let mut tpm = Duplex::new(&[&send_command(0, b"x")]);
    serve_tpm_port(&mut tpm, &device).unwrap();
    assert_eq!(tpm.output, [be(0), be(0)].concat());
    assert_eq!(recorder.events(), [Event::PowerOn]);
}

#[test]
fn announced_length_is_bounded_before_reading() {
    let (device, recorder) = device();
    power_on(&device);
    let at_limit = vec![0x42; MAX];
    let mut tpm = Duplex::new(&[&send_command(0, &at_limit)]);
    serve_tpm_port(&mut tpm, &device).unwrap();
    assert_eq!(recorder.events().last(), Some(&Event::Execute(at_limit)));

    for announced in [MAX as u32 + 1, u32::MAX] {
        let mut tpm = Duplex::new(&[&be(8), &[0], &be(announced), &[0; 8]]);
        assert_eq!(serve_tpm_port(&mut tpm, &device).unwrap(), End::Oversized(announced));
        assert!(tpm.output.is_empty());
    }
    assert_eq!(recorder.events().len(), 2, "no oversized command reached the engine");
}

#[test]
fn truncated_requests_end_the_connection_with_an_error() {
    let (device, recorder) = device();
    power_on(&device);
    let whole = send_command(0, b"abcdef");
    for cut in 1..whole.len() {
        let mut tpm = Duplex::new(&[&whole[..cut]]);
        let outcome = serve_tpm_port(&mut tpm, &device);
        assert!(outcome.is_err(), "cut at {cut}: {outcome:?}");
        assert!(tpm.output.is_empty());
    }
    assert_eq!(recorder.events(), [Event::PowerOn]);
}

#[test]
fn unknown_codes_are_refused_with_one_and_close() {
    let (device, _) = device();
    for code in [0, 3, 12, 19, 25, 30, 0xFFFF_FFFF] {
        let mut platform = Duplex::new(&[&be(code), &be(1)]);
        assert_eq!(serve_platform_port(&mut platform, &device).unwrap(), End::Refused(Signal(code)));
        assert_eq!(platform.output, be(1), "code {code}; nothing after the refusal is read");
    }
    for code in [0, 1, 5, 6, 7, 11, 99] {
        let mut tpm = Duplex::new(&[&be(code), &send_command(0, b"a")]);
        assert_eq!(serve_tpm_port(&mut tpm, &device).unwrap(), End::Refused(Signal(code)));
        assert_eq!(tpm.output, be(1), "code {code}");
    }
}

#[test]
fn session_end_gets_no_reply_and_stop_is_reported() {
    let (device, _) = device();
    let mut tpm = Duplex::new(&[&be(20), &send_command(0, b"a")]);
    assert_eq!(serve_tpm_port(&mut tpm, &device).unwrap(), End::Closed);
    assert!(tpm.output.is_empty());
    let mut platform = Duplex::new(&[&be(20), &be(1)]);
    assert_eq!(serve_platform_port(&mut platform, &device).unwrap(), End::Closed);
    assert!(platform.output.is_empty());
    let mut tpm = Duplex::new(&[&be(21)]);
    assert_eq!(serve_tpm_port(&mut tpm, &device).unwrap(), End::Stop);
}

#[test]
fn handshake_reports_version_and_flags() {
    let (device, _) = device();
    let mut tpm = Duplex::new(&[&be(15), &be(1), &be(16), &be(7)]);
    serve_tpm_port(&mut tpm, &device).unwrap();
    assert_eq!(tpm.output, [be(1), be(5), be(0), be(0)].concat());
    let mut tpm = Duplex::new(&[&be(15), &be(0)]);
    assert_eq!(serve_tpm_port(&mut tpm, &device).unwrap(), End::BadHandshake);
    assert!(tpm.output.is_empty());
}

#[test]
fn nonzero_locality_is_answered_tpm_rc_locality() {
    let (device, recorder) = device();
    power_on(&device);
    let mut tpm = Duplex::new(&[&send_command(3, b"abc")]);
    serve_tpm_port(&mut tpm, &device).unwrap();
    let rc_locality = [0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x09, 0x07];
    assert_eq!(tpm.output, [be(10), rc_locality.to_vec(), be(0)].concat());
    assert_eq!(recorder.events(), [Event::PowerOn]);
}

#[test]
fn engine_panic_puts_the_tpm_in_failure_mode_until_power_on() {
    let (device, recorder) = device();
    power_on(&device);
    let rc_failure = [be(10), vec![0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x01], be(0)].concat();
    let mut tpm = Duplex::new(&[&send_command(0, &[0xFF]), &send_command(0, b"ok")]);
    serve_tpm_port(&mut tpm, &device).unwrap();
    assert_eq!(tpm.output, [rc_failure.clone(), rc_failure].concat());
    assert_eq!(recorder.events().len(), 2, "failure mode keeps later commands from the engine");

    let mut platform = Duplex::new(&[&be(Signal::RESET.0)]);
    serve_platform_port(&mut platform, &device).unwrap();
    let mut tpm = Duplex::new(&[&send_command(0, b"ok")]);
    serve_tpm_port(&mut tpm, &device).unwrap();
    assert_eq!(tpm.output, [be(4), vec![0x80, 0x01], b"ok".to_vec(), be(0)].concat());
}

#[test]
fn random_byte_streams_never_panic_and_never_overrun_the_bound() {
    // A fixed xorshift stream: reproducible, and biased towards valid codes and framings so that
    // the parsers get past the first word.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut executed = 0;
    for _ in 0..3000 {
        let mut stream = Vec::new();
        for _ in 0..1 + next() % 5 {
            match next() % 5 {
                0 => stream.extend_from_slice(&be((next() % 32) as u32)),
                1 | 2 => {
                    let length = (next() % (2 * MAX as u64)) as usize;
                    let body: Vec<u8> = (0..length.min(MAX)).map(|_| next() as u8 & 0x7F).collect();
                    let sent = if next() % 4 == 0 { &body[..body.len() / 2] } else { &body[..] };
                    let locality = if next() % 8 == 0 { next() as u8 } else { 0 };
                    stream.extend_from_slice(
                        &[be(8), vec![locality], be(length as u32), sent.to_vec()].concat(),
                    );
                }
                3 => stream.push(next() as u8),
                _ => stream.extend_from_slice(&next().to_be_bytes()),
            }
        }
        let (device, recorder) = device();
        power_on(&device);
        let _ = serve_tpm_port(&mut Duplex::new(&[&stream]), &device);
        let _ = serve_platform_port(&mut Duplex::new(&[&stream]), &device);
        for event in recorder.events() {
            if let Event::Execute(command) = event {
                assert!(command.len() <= MAX, "a {}-byte command ran", command.len());
                executed += 1;
            }
        }
    }
    // The streams must get commands through, or the loop above tested only the first word.
    assert!(executed > 500, "only {executed} commands executed");
}

/// `WARDEN_TPM_RECORD`: each command reaches the engine unchanged and lands, byte for byte, in its own
/// numbered file named after its command code.
#[test]
fn recording_writes_each_command_and_passes_it_on() {
    let dir = std::env::temp_dir().join(format!("warden-record-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let inner = Recorder::default();
    let mut engine = super::engine::Recording::new(inner.clone(), dir.clone());
    let startup = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0];
    let random = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7B, 0, 8];
    assert_eq!(engine.execute(&startup), [&[0x80, 0x01][..], &startup].concat());
    engine.execute(&random);
    assert_eq!(inner.events(), [Event::Execute(startup.to_vec()), Event::Execute(random.to_vec())]);
    assert_eq!(std::fs::read(dir.join("000000-0144.bin")).unwrap(), startup);
    assert_eq!(std::fs::read(dir.join("000001-017b.bin")).unwrap(), random);
    std::fs::remove_dir_all(&dir).unwrap();
}
