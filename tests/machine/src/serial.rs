//! COM1, a 16550 UART as the hypervisor emulates it behind GHCB IOIO exits: the transmit register
//! collects bytes into lines, the line-status register always says "transmitter empty", and nothing
//! is ever received. Warden's and the guest's lines are kept apart (the guest's are prefixed).
use std::io::Write;

/// COM1's base port.
pub const COM1: u16 = 0x3F8;
/// Line status register offset; bits 5 (THRE) and 6 (TEMT) set: ready to send.
const LSR: u16 = 5;
const LSR_IDLE: u8 = 0x60;

/// One console's output.
#[derive(Debug, Default)]
pub struct Console {
    line: Vec<u8>,
    /// Every complete line so far.
    pub lines: Vec<String>,
}

impl Console {
    /// A port write; returns the completed line, if the byte ended one.
    pub fn out(&mut self, port: u16, byte: u8, prefix: &str, echo: bool) -> Option<String> {
        if port != COM1 {
            return None;
        }
        match byte {
            b'\n' => {
                let line = String::from_utf8_lossy(&self.line).trim_end_matches('\r').to_string();
                self.line.clear();
                if echo {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{prefix}{line}");
                    let _ = out.flush();
                }
                self.lines.push(line.clone());
                Some(line)
            }
            b => {
                self.line.push(b);
                None
            }
        }
    }

    /// A port read.
    pub fn input(port: u16) -> u8 {
        if port == COM1 + LSR { LSR_IDLE } else { 0 }
    }
}
