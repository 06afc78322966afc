//! The server over real loopback sockets: misbehaving clients, concurrency, and TPM_STOP.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use super::engine::CommandEngine;
use super::ports::Device;
use super::tests::{Event, MAX, Recorder, be, device, send_command};
use super::{Listeners, serve};

/// Starts a server on ephemeral ports; returns the two addresses' ports.
fn start_server() -> (u16, u16, Recorder, thread::JoinHandle<io::Result<()>>) {
    let bind = || TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let listeners = Listeners { tpm: bind(), platform: bind() };
    let ports = (listeners.tpm.local_addr().unwrap().port(), listeners.platform.local_addr().unwrap().port());
    let (device, recorder) = device();
    let handle = thread::spawn(move || serve(listeners, device));
    (ports.0, ports.1, recorder, handle)
}

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

fn exchange(stream: &mut TcpStream, request: &[u8], reply_len: usize) -> Vec<u8> {
    stream.write_all(request).unwrap();
    let mut reply = vec![0; reply_len];
    stream.read_exact(&mut reply).unwrap();
    reply
}

/// The server closed the connection: end-of-stream, or a reset when it left our bytes unread.
fn assert_disconnected(stream: &mut TcpStream) {
    match stream.read(&mut [0; 16]) {
        Ok(0) => {}
        Err(error) if error.kind() == io::ErrorKind::ConnectionReset => {}
        other => panic!("expected a disconnection, got {other:?}"),
    }
}

/// Fails the test if two commands are ever inside the engine at once.
struct Exclusive {
    busy: Arc<AtomicBool>,
    executed: Arc<AtomicUsize>,
}

impl CommandEngine for Exclusive {
    fn power_on(&mut self) {}

    fn execute(&mut self, command: &[u8]) -> Vec<u8> {
        assert!(!self.busy.swap(true, Ordering::SeqCst), "two commands in the engine at once");
        // Long enough for the other clients' requests to be waiting.
        thread::sleep(Duration::from_micros(300));
        self.executed.fetch_add(1, Ordering::SeqCst);
        self.busy.store(false, Ordering::SeqCst);
        command.to_vec()
    }
}

#[test]
fn commands_from_concurrent_clients_run_one_at_a_time() {
    let executed = Arc::new(AtomicUsize::new(0));
    let engine = Exclusive { busy: Arc::default(), executed: Arc::clone(&executed) };
    let bind = || TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let listeners = Listeners { tpm: bind(), platform: bind() };
    let tpm_port = listeners.tpm.local_addr().unwrap().port();
    let mut platform = connect(listeners.platform.local_addr().unwrap().port());
    thread::spawn(move || serve(listeners, Device::new(Box::new(engine), MAX)));
    assert_eq!(exchange(&mut platform, &be(1), 4), be(0));

    thread::scope(|scope| {
        for client in 0..4u8 {
            scope.spawn(move || {
                let mut stream = connect(tpm_port);
                for round in 0..10u8 {
                    let command = [client, round];
                    let reply = exchange(&mut stream, &send_command(0, &command), 4 + 2 + 4);
                    // A poisoned lock or a panicked engine would answer TPM_RC_FAILURE instead.
                    assert_eq!(reply, [be(2), command.to_vec(), be(0)].concat());
                }
            });
        }
    });
    assert_eq!(executed.load(Ordering::SeqCst), 40);
}

#[test]
fn bad_and_stalled_clients_do_not_stop_the_server_and_stop_ends_it() {
    let (tpm_port, platform_port, recorder, handle) = start_server();
    let mut platform = connect(platform_port);
    assert_eq!(exchange(&mut platform, &[be(1), be(11)].concat(), 8), [be(0), be(0)].concat());

    // A client that stalls half-way through a command must not hold the engine.
    let mut stalled = connect(tpm_port);
    stalled.write_all(&[be(8), vec![0], be(40), vec![1, 2]].concat()).unwrap();
    // A client that announces 4 GiB is disconnected: it reads end-of-stream.
    let mut greedy = connect(tpm_port);
    greedy.write_all(&[be(8), vec![0], be(u32::MAX)].concat()).unwrap();
    assert_disconnected(&mut greedy);
    // Garbage on the platform port is refused and disconnected.
    let mut noisy = connect(platform_port);
    assert_eq!(exchange(&mut noisy, b"GET / HTTP/1.1\r\n\r\n", 4), be(1));
    assert_disconnected(&mut noisy);

    let mut good = connect(tpm_port);
    let reply = exchange(&mut good, &send_command(0, b"hello"), 4 + 7 + 4);
    assert_eq!(reply, [be(7), vec![0x80, 0x01], b"hello".to_vec(), be(0)].concat());
    assert_eq!(recorder.events(), [Event::PowerOn, Event::Execute(b"hello".to_vec())]);

    stalled.shutdown(Shutdown::Both).unwrap();
    good.write_all(&be(21)).unwrap();
    handle.join().unwrap().unwrap();
}

#[test]
fn a_command_sent_in_two_pieces_is_not_held_by_a_delayed_ack() {
    // tpm2-tss's mssim TCTI writes the 9-byte header, then the command, on a socket with Nagle's
    // algorithm on (as here): the command leaves only once the header is acknowledged. If the server
    // lets the kernel delay that ACK, every round trip takes ~40 ms.
    let (tpm_port, platform_port, _recorder, handle) = start_server();
    let mut platform = connect(platform_port);
    assert_eq!(exchange(&mut platform, &[be(1), be(11)].concat(), 8), [be(0), be(0)].concat());
    let mut client = connect(tpm_port);
    let command = b"two pieces";
    let mut rounds = Vec::new();
    for _ in 0..30 {
        let start = std::time::Instant::now();
        client.write_all(&[be(8), vec![0], be(command.len() as u32)].concat()).unwrap();
        client.write_all(command).unwrap();
        let mut reply = vec![0; 4 + 2 + command.len() + 4];
        client.read_exact(&mut reply).unwrap();
        rounds.push(start.elapsed());
        assert_eq!(reply, [be(12), vec![0x80, 0x01], command.to_vec(), be(0)].concat());
    }
    rounds.sort_unstable();
    // Far below the kernel's 40 ms delayed-ACK minimum, generous for a loaded machine.
    assert!(rounds[rounds.len() / 2] < Duration::from_millis(10), "round trips: {rounds:?}");
    client.write_all(&be(21)).unwrap();
    handle.join().unwrap().unwrap();
}
