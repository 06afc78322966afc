//! `cargo xtask tpm-server`: the vTPM engine over the TPM simulator (mssim) TCP protocol.
//!
//! Listens on the loopback (127.0.0.1, and ::1 where available) port N (commands) and N+1 (platform
//! signals), as `tcti-mssim` expects, so `TPM2TOOLS_TCTI=mssim:host=127.0.0.1,port=N` drives the
//! engine. Clients are served concurrently, each on its own thread, but the engine runs one command
//! at a time. The TPM starts powered off; the TCTI's POWER_ON powers it, and later POWER_ONs leave it
//! alone. Commands at a locality other than 0 get TPM_RC_LOCALITY; TPM_STOP ends the server, as in
//! the reference simulator. State lives in memory only. `xtask run` reuses [`serve`] and
//! [`ports::Device`] for its bridge to the firmware's vTPM.

pub mod engine;
pub mod ports;
#[cfg(test)]
mod tcp_tests;
#[cfg(test)]
mod tests;

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::thread;

use self::ports::{Device, End};

/// Serve the vTPM on a port pair.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The command port; the platform port is the next one.
    #[arg(long, default_value_t = 2321)]
    pub port: u16,
}

/// At most this many clients are served at once; more are disconnected on accept, so a flood of
/// idle connections cannot exhaust the server's threads.
const MAX_CLIENTS: usize = 64;

/// Serves until killed or until a client sends TPM_STOP.
pub fn run(args: &Args) -> crate::Result {
    let platform_port = args
        .port
        .checked_add(1)
        .ok_or_else(|| format!("tpm-server: port {} leaves no room for the platform port", args.port))?;
    let bind = |port| {
        TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .map_err(|error| format!("tpm-server: cannot listen on 127.0.0.1:{port}: {error}"))
    };
    let mut families = vec![Listeners { tpm: bind(args.port)?, platform: bind(platform_port)? }];
    // IPv6 loopback too where the host has it: `host=localhost` may resolve to ::1 first, and the
    // reference server listens on both families.
    let bind6 = |port| TcpListener::bind((Ipv6Addr::LOCALHOST, port)).ok();
    if let (Some(tpm), Some(platform)) = (bind6(args.port), bind6(platform_port)) {
        families.push(Listeners { tpm, platform });
    }
    let device = Device::new(engine::warden(), warden_vtpm::MAX_COMMAND_SIZE);
    eprintln!("tpm-server: serving the Warden vTPM on 127.0.0.1:{} (platform {platform_port})", args.port);
    serve_all(families, device)?;
    eprintln!("tpm-server: stopped by a client (TPM_STOP)");
    Ok(())
}

/// The two listening sockets of one simulator (for one address family).
#[derive(Debug)]
pub struct Listeners {
    /// The command port N.
    pub tpm: TcpListener,
    /// The platform port N+1.
    pub platform: TcpListener,
}

#[derive(Clone, Copy, Debug)]
enum Port {
    Tpm,
    Platform,
}

/// Accepts clients on both ports until one sends TPM_STOP, then returns. Errors on one connection
/// end that connection only.
pub fn serve(listeners: Listeners, device: Device) -> io::Result<()> {
    serve_all(vec![listeners], device)
}

/// [`serve`] on several pairs of sockets (one per address family), all in front of one TPM.
pub fn serve_all(families: Vec<Listeners>, device: Device) -> io::Result<()> {
    let device = Arc::new(device);
    let clients = Arc::new(AtomicUsize::new(0));
    let (stop, stopped) = mpsc::channel::<()>();
    let sockets =
        families.into_iter().flat_map(|pair| [(pair.tpm, Port::Tpm), (pair.platform, Port::Platform)]);
    for (listener, port) in sockets {
        let (device, clients, stop) = (Arc::clone(&device), Arc::clone(&clients), stop.clone());
        thread::Builder::new()
            .name(format!("tpm-server {port:?} accept"))
            .spawn(move || accept_loop(&listener, port, &device, &clients, &stop))?;
    }
    drop(stop);
    // Accept loops only end by a STOP (or a listener failure, which drops their senders).
    stopped.recv().map_err(|_| io::Error::other("every listener failed"))
}

fn accept_loop(
    listener: &TcpListener,
    port: Port,
    device: &Arc<Device>,
    clients: &Arc<AtomicUsize>,
    stop: &Sender<()>,
) {
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            // A client that vanished between SYN and accept, or a transient resource shortage:
            // neither is a reason to stop serving the others.
            Err(error) => {
                eprintln!("tpm-server: accept on the {port:?} port failed: {error}");
                continue;
            }
        };
        if clients.fetch_add(1, Ordering::SeqCst) >= MAX_CLIENTS {
            clients.fetch_sub(1, Ordering::SeqCst);
            eprintln!("tpm-server: more than {MAX_CLIENTS} clients; refusing one");
            continue;
        }
        let (device, count, stop) = (Arc::clone(device), Arc::clone(clients), stop.clone());
        let spawned = thread::Builder::new().name(format!("tpm-server {port:?} client")).spawn(move || {
            serve_client(stream, port, &device, &stop);
            count.fetch_sub(1, Ordering::SeqCst);
        });
        if let Err(error) = spawned {
            // The closure (and with it the stream and the client count) was dropped unrun.
            clients.fetch_sub(1, Ordering::SeqCst);
            eprintln!("tpm-server: cannot start a client thread: {error}");
        }
    }
}

/// A TCP connection read through a buffer: one mssim command arrives as several small fields (signal,
/// locality, length, bytes), and reading each with its own system call cost more than the engine's
/// work (see `docs/benchmarks.md`, `vtpm`). Writes go straight to the socket, one per reply.
struct Buffered {
    reader: io::BufReader<QuickAck>,
    writer: TcpStream,
}

impl io::Read for Buffered {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf)
    }
}

impl io::Write for Buffered {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

/// The reading half of a client connection, acknowledging every read at once.
///
/// tpm2-tss's mssim TCTI sends a command in two `send`s (the 9-byte signal, locality and length,
/// then the command) on a socket with Nagle's algorithm on, so the command leaves the client only
/// once the header is acknowledged. Linux delays that acknowledgement (up to 40 ms) on a connection
/// it sees as request/response, hoping to piggy-back it on the reply, which cannot come before the
/// command: every command stalled ~44 ms. `TCP_QUICKACK` (tcp(7)) sends the pending acknowledgement
/// now; the kernel clears it again on its own, so it is set after every read that returned data.
struct QuickAck(TcpStream);

impl io::Read for QuickAck {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.0.read(buf)?;
        if read > 0 {
            acknowledge_now(&self.0);
        }
        Ok(read)
    }
}

/// Sends the acknowledgement of what was received so far without waiting for a reply to carry it.
#[cfg(target_os = "linux")]
fn acknowledge_now(stream: &TcpStream) {
    // A failure only costs latency (the kernel's delayed ACK still comes), never correctness.
    let _ = rustix::net::sockopt::set_tcp_quickack(stream, true);
}

/// Other systems have no `TCP_QUICKACK`; their delayed acknowledgement stays.
#[cfg(not(target_os = "linux"))]
fn acknowledge_now(_stream: &TcpStream) {}

fn serve_client(stream: TcpStream, port: Port, device: &Device, stop: &Sender<()>) {
    // Small request/response exchanges: without this, Nagle's algorithm delays each reply.
    let _ = stream.set_nodelay(true);
    let mut stream = match stream.try_clone() {
        Ok(writer) => Buffered { reader: io::BufReader::with_capacity(8192, QuickAck(stream)), writer },
        Err(error) => {
            eprintln!("tpm-server: {port:?} client dropped: {error}");
            return;
        }
    };
    let outcome = match port {
        Port::Tpm => ports::serve_tpm_port(&mut stream, device),
        Port::Platform => ports::serve_platform_port(&mut stream, device),
    };
    match outcome {
        Ok(End::Closed) => {}
        Ok(End::Stop) => {
            let _ = stop.send(());
        }
        Ok(other) => eprintln!("tpm-server: {port:?} client disconnected: {other:?}"),
        Err(error) => eprintln!("tpm-server: {port:?} client dropped: {error}"),
    }
}
