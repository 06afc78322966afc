//! MRTD as the TDX module computes it while the VMM builds the TD: `TDH.MNG.INIT` starts a SHA-384
//! stream, every TDH.MEM.PAGE.ADD appends a 128-byte block naming the page, every TDH.MR.EXTEND appends
//! a 128-byte block naming a 256-byte chunk followed by the chunk's bytes, and TDH.MR.FINALIZE closes the
//! stream ("Intel TDX Module v1.5 Base Architecture Specification" (348549) §"Measurement of the TD
//! build", "Intel TDX Module v1.5 ABI Specification" (348551) TDH.MEM.PAGE.ADD, TDH.MR.EXTEND).
//! Written from the spec, independently of `cargo xtask measure` (the `igvm` crate's rules), so that
//! the test comparing the two checks both.
use sha2::{Digest, Sha384};

/// The bytes TDH.MR.EXTEND measures per call.
pub const EXTEND_CHUNK: usize = 256;

/// The running MRTD stream.
#[derive(Clone, Debug)]
pub struct Mrtd {
    stream: Sha384,
    /// TDH.MEM.PAGE.ADD calls so far.
    pub adds: u64,
    /// TDH.MR.EXTEND calls so far.
    pub extends: u64,
}

impl Default for Mrtd {
    /// TDH.MNG.INIT: an empty stream.
    fn default() -> Self {
        Self { stream: Sha384::new(), adds: 0, extends: 0 }
    }
}

/// The 128-byte block of one build call: the operation's name NUL-padded to 16 bytes, the GPA
/// (little-endian) at offset 16, zeros to the end.
fn block(operation: &[u8], gpa: u64) -> [u8; 128] {
    let mut b = [0u8; 128];
    b[..operation.len()].copy_from_slice(operation);
    b[16..24].copy_from_slice(&gpa.to_le_bytes());
    b
}

impl Mrtd {
    /// TDH.MEM.PAGE.ADD of the 4 KiB page at `gpa`.
    pub fn page_add(&mut self, gpa: u64) {
        self.stream.update(block(b"MEM.PAGE.ADD", gpa));
        self.adds += 1;
    }

    /// TDH.MR.EXTEND of every 256-byte chunk of the page at `gpa`, in address order.
    pub fn extend_page(&mut self, gpa: u64, page: &[u8; 4096]) {
        for (i, chunk) in page.chunks(EXTEND_CHUNK).enumerate() {
            self.stream.update(block(b"MR.EXTEND", gpa + (i * EXTEND_CHUNK) as u64));
            self.stream.update(chunk);
            self.extends += 1;
        }
    }

    /// TDH.MR.FINALIZE: the MRTD the TDREPORT carries.
    pub fn finalize(&self) -> [u8; 48] {
        self.stream.clone().finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_measured_page_is_one_add_and_sixteen_extends_over_the_spec_blocks() {
        let mut page = [0u8; 4096];
        page[0x123] = 0x5A;
        let mut mrtd = Mrtd::default();
        mrtd.page_add(0x8000_0000);
        mrtd.extend_page(0x8000_0000, &page);
        let mut expected = Sha384::new();
        let mut add = [0u8; 128];
        add[..12].copy_from_slice(b"MEM.PAGE.ADD");
        add[16..24].copy_from_slice(&0x8000_0000u64.to_le_bytes());
        expected.update(add);
        for i in 0..16u64 {
            let mut ext = [0u8; 128];
            ext[..9].copy_from_slice(b"MR.EXTEND");
            ext[16..24].copy_from_slice(&(0x8000_0000 + 256 * i).to_le_bytes());
            expected.update(ext);
            expected.update(&page[(256 * i) as usize..(256 * (i + 1)) as usize]);
        }
        assert_eq!(mrtd.finalize(), <[u8; 48]>::from(expected.finalize()));
        assert_eq!((mrtd.adds, mrtd.extends), (1, 16));
    }

    #[test]
    fn the_order_of_adds_changes_the_mrtd() {
        let (mut a, mut b) = (Mrtd::default(), Mrtd::default());
        a.page_add(0x1000);
        a.page_add(0x2000);
        b.page_add(0x2000);
        b.page_add(0x1000);
        assert_ne!(a.finalize(), b.finalize());
    }
}
