//! The relying party's nonce, handed to the guest by the host: in real life the host carries the
//! verifier's challenge to the guest over its own channel (a vsock, a network request); here the
//! hypervisor model exposes it on one I/O port that the bundled test guest reads through its GHCB
//! (GHCB spec (AMD 56421) §4.1.2, IOIO). `cargo xtask attest` passes it with `--nonce HEX`.
//!
//! The port's protocol (the test guest's `warden_test_guest::evidence` reads it):
//! - an OUT of any byte rewinds the stream;
//! - each IN of a byte returns the next byte of: 1 if a nonce was given (else 0), then its 64 bytes;
//!   past the end, 0.
//!
//! Warden never reads the port: the nonce is the guest's to pass to SVSM_ATTEST_SERVICES.

/// The port (unused by the PC platform; the test guest's `evidence::NONCE_PORT` names the same).
pub const NONCE_PORT: u16 = 0x0A40;

/// The nonce's size: SNP REPORT_DATA's, which SVSM_ATTEST_SERVICES requires.
pub const NONCE_SIZE: usize = 64;

/// The nonce and how far the guest has read it.
#[derive(Clone, Debug, Default)]
pub struct HostNonce {
    nonce: Option<[u8; NONCE_SIZE]>,
    cursor: usize,
}

impl HostNonce {
    /// The host's nonce (`None`: the guest falls back to its own, labelled fixed nonce).
    pub fn new(nonce: Option<[u8; NONCE_SIZE]>) -> Self {
        Self { nonce, cursor: 0 }
    }

    /// An IN from the port.
    pub fn read(&mut self) -> u8 {
        let byte = match (self.cursor, &self.nonce) {
            (0, nonce) => u8::from(nonce.is_some()),
            (n, Some(nonce)) => nonce.get(n - 1).copied().unwrap_or(0),
            (_, None) => 0,
        };
        self.cursor = self.cursor.saturating_add(1);
        byte
    }

    /// An OUT to the port.
    pub fn rewind(&mut self) {
        self.cursor = 0;
    }
}

/// Parses `--nonce`'s 128 hex digits.
pub fn parse_hex(text: &str) -> Option<[u8; NONCE_SIZE]> {
    let text = text.trim();
    if text.len() != 2 * NONCE_SIZE || !text.is_ascii() {
        return None;
    }
    let mut nonce = [0u8; NONCE_SIZE];
    for (byte, pair) in nonce.iter_mut().zip(text.as_bytes().chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_a_presence_byte_then_the_nonce_and_rewinds() {
        let nonce: [u8; NONCE_SIZE] = core::array::from_fn(|i| i as u8 + 1);
        let mut port = HostNonce::new(Some(nonce));
        let read: Vec<u8> = (0..NONCE_SIZE + 2).map(|_| port.read()).collect();
        assert_eq!(read[0], 1);
        assert_eq!(&read[1..=NONCE_SIZE], &nonce[..]);
        assert_eq!(read[NONCE_SIZE + 1], 0);
        port.rewind();
        assert_eq!(port.read(), 1);
        let mut none = HostNonce::new(None);
        assert_eq!((none.read(), none.read()), (0, 0));
    }

    #[test]
    fn hex_is_exactly_64_bytes() {
        let text = "0f".repeat(NONCE_SIZE);
        assert_eq!(parse_hex(&text), Some([0x0F; NONCE_SIZE]));
        assert_eq!(parse_hex(&text[2..]), None);
        assert_eq!(parse_hex(&"zz".repeat(NONCE_SIZE)), None);
    }
}
