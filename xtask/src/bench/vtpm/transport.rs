//! The benchmark's client side: the two servers as child processes, and one TCP connection to each
//! that sends raw command bytes (mssim framing to Warden, swtpm's unframed data channel to swtpm).

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Largest response either server may send; anything longer is a protocol error, not data.
const MAX_RESPONSE: usize = 64 * 1024;

/// A connection that carries one command at a time.
pub trait Transport {
    /// Sends one command and returns its complete response.
    fn call(&mut self, command: &[u8]) -> io::Result<Vec<u8>>;
}

fn read_u32(stream: &mut impl Read) -> io::Result<u32> {
    let mut word = [0u8; 4];
    stream.read_exact(&mut word)?;
    Ok(u32::from_be_bytes(word))
}

fn bounded(length: u32) -> io::Result<usize> {
    usize::try_from(length)
        .ok()
        .filter(|&n| n <= MAX_RESPONSE)
        .ok_or_else(|| io::Error::other(format!("server announced a {length}-byte response")))
}

/// The mssim protocol: the TPM port for commands, the platform port kept open for the session.
#[derive(Debug)]
pub struct Mssim {
    tpm: TcpStream,
    _platform: TcpStream,
}

impl Mssim {
    /// Connects as `tcti-mssim` does: both sockets, then POWER_ON and NV_ON on the platform port.
    pub fn connect(port: u16) -> io::Result<Self> {
        let tpm = connect(port)?;
        let mut platform = connect(port + 1)?;
        for signal in [1u32, 11] {
            platform.write_all(&signal.to_be_bytes())?;
            if read_u32(&mut platform)? != 0 {
                return Err(io::Error::other(format!("platform signal {signal} refused")));
            }
        }
        Ok(Self { tpm, _platform: platform })
    }
}

impl Transport for Mssim {
    fn call(&mut self, command: &[u8]) -> io::Result<Vec<u8>> {
        let length = u32::try_from(command.len()).map_err(io::Error::other)?;
        let mut request = Vec::with_capacity(command.len() + 9);
        request.extend_from_slice(&8u32.to_be_bytes());
        request.push(0);
        request.extend_from_slice(&length.to_be_bytes());
        request.extend_from_slice(command);
        self.tpm.write_all(&request)?;
        let length = bounded(read_u32(&mut self.tpm)?)?;
        // The response, then the trailing status word, in one read.
        let mut response = vec![0u8; length + 4];
        self.tpm.read_exact(&mut response)?;
        let trailer = response.split_off(length);
        if trailer != [0, 0, 0, 0] {
            return Err(io::Error::other(format!("mssim trailer {trailer:02x?} is not 0")));
        }
        Ok(response)
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
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
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
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|error| format!("cannot start {name} ({}): {error}", program.display()))?;
        let mut server = Self { child };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let up = |p| TcpStream::connect((Ipv4Addr::LOCALHOST, p)).is_ok();
            if up(port) && up(port + 1) {
                return Ok(server);
            }
            if let Some(status) = server.child.try_wait()? {
                return Err(format!("{name} exited before listening: {status}").into());
            }
            if Instant::now() > deadline {
                return Err(format!("{name} did not listen on ports {port}/{} in 10 s", port + 1).into());
            }
            thread::sleep(Duration::from_millis(20));
        }
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
