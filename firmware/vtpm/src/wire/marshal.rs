//! Big-endian TPM 2.0 marshalling: a bounds-checked reader over a command and a writer for responses.
//!
//! The fixed 10-byte headers are zerocopy structs; everything after them is variable-length (TPM2B
//! sizes, counted lists, unions selected by an earlier field), so a cursor that refuses to run past its
//! end is the honest shape. Every read returns `TPM_RC_INSUFFICIENT` when the bytes run out; callers
//! add the parameter position.

use alloc::vec::Vec;

use zerocopy::byteorder::big_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};
use zeroize::{Zeroize, Zeroizing};

use crate::wire::alg_id::AlgId;
use crate::wire::handle::Handle;
use crate::wire::response_code::{ResponseCode, TpmResult};

/// The header of every command (Part 1 §18.2, Part 3 "Command Header": tag, commandSize, commandCode).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct CommandHeader {
    pub tag: U16,
    pub size: U32,
    pub code: U32,
}

const _: () = assert!(core::mem::size_of::<CommandHeader>() == 10);

const _: () = assert!(core::mem::offset_of!(CommandHeader, code) == 6);

/// The header of every response (Part 1 §18.2: tag, responseSize, responseCode).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct ResponseHeader {
    pub tag: U16,
    pub size: U32,
    pub code: U32,
}

const _: () = assert!(core::mem::size_of::<ResponseHeader>() == 10);

/// A cursor over untrusted bytes; never reads past its end.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// The unconsumed bytes, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }

    pub fn bytes(&mut self, n: usize) -> TpmResult<&'a [u8]> {
        if n > self.buf.len() {
            return Err(ResponseCode::INSUFFICIENT);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> TpmResult<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub fn u8(&mut self) -> TpmResult<u8> {
        Ok(self.array::<1>()?[0])
    }

    /// A TPM_HANDLE.
    pub fn handle(&mut self) -> TpmResult<Handle> {
        self.u32().map(Handle)
    }

    /// A TPM_ALG_ID.
    pub fn alg(&mut self) -> TpmResult<AlgId> {
        self.u16().map(AlgId)
    }

    pub fn u16(&mut self) -> TpmResult<u16> {
        self.array().map(u16::from_be_bytes)
    }

    pub fn u32(&mut self) -> TpmResult<u32> {
        self.array().map(u32::from_be_bytes)
    }

    pub fn u64(&mut self) -> TpmResult<u64> {
        self.array().map(u64::from_be_bytes)
    }

    /// A TPM2B: u16 size then that many bytes; `TPM_RC_SIZE` if the size exceeds `max`.
    pub fn tpm2b(&mut self, max: usize) -> TpmResult<&'a [u8]> {
        let size = usize::from(self.u16()?);
        if size > max {
            return Err(ResponseCode::SIZE);
        }
        self.bytes(size)
    }

    /// A TPMI_YES_NO: 0 or 1, else `TPM_RC_VALUE`.
    pub fn yes_no(&mut self) -> TpmResult<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(ResponseCode::VALUE),
        }
    }

    /// Fails with `TPM_RC_SIZE` if bytes are left over (Part 3: a command with trailing bytes is malformed).
    pub fn finish(&self) -> TpmResult<()> {
        if self.buf.is_empty() { Ok(()) } else { Err(ResponseCode::SIZE) }
    }
}

/// A growing response buffer. When it outgrows its allocation the old one is wiped before it is
/// freed: responses and marshalled sensitive areas carry secrets (threat model T5).
#[derive(Debug, Default, Clone)]
pub struct Writer {
    pub buf: Vec<u8>,
}

/// The first allocation of a writer: most responses and nested structures fit.
const FIRST_CAPACITY: usize = 256;

impl Writer {
    pub fn new() -> Self {
        Writer { buf: Vec::new() }
    }

    /// A writer for bytes that hold secrets; take them out with [`Writer::into_secret`].
    pub fn secret() -> Self {
        Writer::new()
    }

    /// The bytes written, wiped when dropped.
    pub fn into_secret(self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.buf)
    }

    /// Makes room for `extra` more bytes, moving into a larger allocation and wiping the old one
    /// instead of letting `Vec` free it with its contents.
    fn reserve(&mut self, extra: usize) {
        let need = self.buf.len().saturating_add(extra);
        if need > self.buf.capacity() {
            let mut larger = Vec::with_capacity(need.max(self.buf.capacity() * 2).max(FIRST_CAPACITY));
            larger.extend_from_slice(&self.buf);
            let mut old = core::mem::replace(&mut self.buf, larger);
            old.zeroize();
        }
    }

    pub fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }

    /// A TPM_HANDLE.
    pub fn handle(&mut self, h: Handle) {
        self.u32(h.0);
    }

    /// A TPM_ALG_ID.
    pub fn alg(&mut self, id: AlgId) {
        self.u16(id.0);
    }

    pub fn u16(&mut self, v: u16) {
        self.bytes(&v.to_be_bytes());
    }

    pub fn u32(&mut self, v: u32) {
        self.bytes(&v.to_be_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.bytes(&v.to_be_bytes());
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.reserve(b.len());
        self.buf.extend_from_slice(b);
    }

    /// A TPM2B. Every caller passes a buffer bounded far below 64 KiB; a longer one is cut rather than
    /// letting the size field wrap.
    pub fn tpm2b(&mut self, b: &[u8]) {
        let n = b.len().min(usize::from(u16::MAX));
        self.u16(n as u16);
        self.bytes(b.get(..n).unwrap_or_default());
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::{Reader, Writer};
    use crate::wire::response_code::ResponseCode;

    #[test]
    fn reader_is_big_endian_and_bounded() {
        let mut r = Reader::new(&[0x12, 0x34, 0x00, 0x02, 0xAA, 0xBB, 0x01]);
        assert_eq!(r.u16(), Ok(0x1234));
        assert_eq!(r.tpm2b(2), Ok(&[0xAA, 0xBB][..]));
        assert_eq!(r.finish(), Err(ResponseCode::SIZE));
        assert_eq!(r.u16(), Err(ResponseCode::INSUFFICIENT));
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.u8(), Err(ResponseCode::INSUFFICIENT));
        assert_eq!(r.finish(), Ok(()));
    }

    #[test]
    fn tpm2b_enforces_its_maximum() {
        assert_eq!(Reader::new(&[0, 3, 1, 2, 3]).tpm2b(2), Err(ResponseCode::SIZE));
        assert_eq!(Reader::new(&[0, 3, 1, 2]).tpm2b(8), Err(ResponseCode::INSUFFICIENT));
        assert_eq!(Reader::new(&[2]).yes_no(), Err(ResponseCode::VALUE));
    }

    #[test]
    fn writer_is_big_endian() {
        let mut w = Writer::new();
        w.u32(0x0102_0304);
        w.tpm2b(&[9]);
        assert_eq!(w.buf, [1, 2, 3, 4, 0, 1, 9]);
    }
}
