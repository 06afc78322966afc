//! The benchmark's client side: the two servers as child processes, and one TCP connection to each
//! that sends raw command bytes (mssim framing, `warden_mssim`'s client, to Warden; swtpm's unframed
//! data channel to swtpm).

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Largest response either server may send; anything longer is a protocol error, not data.
const MAX_RESPONSE: usize = 64 * 1024;
/// How long a read waits for either server.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection that carries one command at a time.
pub trait Transport {
    /// Sends one command and returns its complete response.
    fn call(&mut self, command: &[u8]) -> io::Result<Vec<u8>>;
}

fn bounded(length: u32) -> io::Result<usize> {
    usize::try_from(length)
        .ok()
        .filter(|&n| n <= MAX_RESPONSE)
        .ok_or_else(|| io::Error::other(format!("server announced a {length}-byte response")))
}

/// The mssim protocol: the TPM port for commands, the platform port kept open for the session.
#[derive(Debug)]
pub struct Mssim(warden_mssim::Client);

impl Mssim {
    /// Connects as `tcti-mssim` does: both sockets, then POWER_ON and NV_ON on the platform port.
    pub fn connect(port: u16) -> io::Result<Self> {
        warden_mssim::Client::connect(port, READ_TIMEOUT).map(Self)
    }
}

impl Transport for Mssim {
    fn call(&mut self, command: &[u8]) -> io::Result<Vec<u8>> {
        self.0.call(command, MAX_RESPONSE)
    }
}

/// swtpm's data channel: command bytes as they are; the response's length is in its header.
#[derive(Debug)]
pub struct Raw {
    stream: TcpStream,
}

impl Raw {
    /// Connects to the data port (one connection reused for every command).
    pub fn connect(port: u16) -> io::Result<Self> {
        Ok(Self { stream: connect(port)? })
    }
}

impl Transport for Raw {
    fn call(&mut self, command: &[u8]) -> io::Result<Vec<u8>> {
        self.stream.write_all(command)?;
        let mut response = vec![0u8; 10];
        self.stream.read_exact(&mut response)?;
        let size = u32::from_be_bytes([response[2], response[3], response[4], response[5]]);
        let size = bounded(size)?;
        if size < 10 {
            return Err(io::Error::other(format!("response header claims {size} bytes")));
        }
        response.resize(size, 0);
        self.stream.read_exact(&mut response[10..])?;
        Ok(response)
    }
}

fn connect(port: u16) -> io::Result<TcpStream> {
    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    // Both servers answer small requests: without this, Nagle's algorithm adds delays to both.
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    Ok(stream)
}

/// A server child process, killed when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `program args` and waits until `port` and `port + 1` accept connections.
    pub fn start(name: &str, program: &Path, args: &[String], port: u16) -> crate::Result<Self> {
        Self::start_within(name, program, args, port, Duration::from_secs(10))
    }

    /// As [`Server::start`], waiting up to `wait` (a firmware that boots first).
    pub fn start_within(
        name: &str,
        program: &Path,
        args: &[String],
        port: u16,
        wait: Duration,
    ) -> crate::Result<Self> {
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|error| format!("cannot start {name} ({}): {error}", program.display()))?;
        let mut server = Self { child };
        let deadline = Instant::now() + wait;
        loop {
            let up = |p| TcpStream::connect((Ipv4Addr::LOCALHOST, p)).is_ok();
            if up(port) && up(port + 1) {
                return Ok(server);
            }
            if let Some(status) = server.child.try_wait()? {
                return Err(format!("{name} exited before listening: {status}").into());
            }
            if Instant::now() > deadline {
                let seconds = wait.as_secs();
                return Err(
                    format!("{name} did not listen on ports {port}/{} in {seconds} s", port + 1).into()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Server {
    /// Whether the process has ended.
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }
}

/// A port N such that N and N+1 are both free now (the OS picks N; we check N+1).
pub fn free_port_pair() -> crate::Result<u16> {
    for _ in 0..100 {
        let first = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = first.local_addr()?.port();
        if port < u16::MAX && TcpListener::bind((Ipv4Addr::LOCALHOST, port + 1)).is_ok() {
            return Ok(port);
        }
    }
    Err("no free pair of adjacent loopback ports".into())
}

/// A fresh directory under the system temporary directory, removed when dropped.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates `<tmp>/warden-bench-vtpm-<pid>`.
    pub fn new() -> io::Result<Self> {
        let path = std::env::temp_dir().join(format!("warden-bench-vtpm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
