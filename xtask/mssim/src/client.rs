//! The client side over TCP: the two sockets `tcti-mssim` opens, its power-on sequence, and one
//! command at a time.
use std::io::{self, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

use crate::{ACK, Signal, encode_send_command, read_response, read_u32};

/// A session with an mssim server on the loopback interface. The sockets are public so that a test
/// can also send what no well-behaved client would.
#[derive(Debug)]
pub struct Client {
    /// The TPM port (N): commands.
    pub tpm: TcpStream,
    /// The platform port (N+1): power and NV signals; kept open for the session.
    pub platform: TcpStream,
}

impl Client {
    /// Connects as `tcti-mssim` does: both sockets, then POWER_ON and NV_ON on the platform port.
    /// Every read waits at most `timeout`.
    pub fn connect(port: u16, timeout: Duration) -> io::Result<Self> {
        let connect = |port| -> io::Result<TcpStream> {
            let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
            // Requests are small: without this, Nagle's algorithm delays every one of them.
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(timeout))?;
            Ok(stream)
        };
        let platform_port = port.checked_add(1).ok_or_else(|| io::Error::other("no port after 65535"))?;
        let mut client = Self { tpm: connect(port)?, platform: connect(platform_port)? };
        for signal in [Signal::POWER_ON, Signal::NV_ON] {
            client.signal(signal)?;
        }
        Ok(client)
    }

    /// Sends a platform signal; an answer other than [`ACK`] is an error.
    pub fn signal(&mut self, signal: Signal) -> io::Result<()> {
        self.platform.write_all(&signal.to_wire())?;
        match read_u32(&mut self.platform)? {
            ACK => Ok(()),
            status => Err(io::Error::other(format!("platform signal {} answered {status}", signal.0))),
        }
    }

    /// Sends one command at locality 0 and returns its response, which may be at most
    /// `max_response` bytes (empty while the TPM is powered off).
    pub fn call(&mut self, command: &[u8], max_response: usize) -> io::Result<Vec<u8>> {
        self.tpm.write_all(&encode_send_command(0, command)?)?;
        read_response(&mut self.tpm, max_response)
    }
}
