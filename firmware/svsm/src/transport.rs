//! The test transport: a whole SVSM call as one frame, the call's registers and the guest pages it
//! references, the pages serving as its only guest memory.
//!
//! The in-firmware tests drive the [`Dispatcher`] with it (and the fuzz target `svsm_transport_frame`
//! holds the parser to T4): a frame runs through the same dispatcher a VMGEXIT reaches and comes back
//! with the result registers and the pages as they are afterwards. It is no longer how the booted
//! firmware is called: the native channel keeps the call in shared guest RAM ([`crate::doorbell`]).
//! All integers are little-endian.
//!
//! ```text
//! request:  magic "WSRQ" | version u16 = 1 | pages u16 (<= MAX_PAGES) | RAX RCX RDX R8 R9 (u64 each)
//!           | pages x (GPA u64, 4096 bytes) | CRC-32 of everything before it (u32)
//! response: magic "WSRP" | version u16 = 1 | pages u16 | status u32 | reserved u32
//!           | RAX RCX RDX R8 R9 after the call | pages x (GPA u64, 4096 bytes) | CRC-32 (u32)
//! ```
//!
//! Every frame is an allegation (threat model T4): lengths are bounded by [`MAX_PAGES`] before
//! anything is allocated, the CRC and magic catch a desynchronised stream, and page GPAs must be
//! page-aligned and distinct. Nothing here panics on any input.
use crate::dispatch::Dispatcher;
use crate::guest::{GuestMemory, MemoryError, Paired};
use crate::regs::{Caller, GuestRegs};
use alloc::boxed::Box;
use alloc::vec::Vec;
use warden_defs::layout::PAGE_SIZE;
use warden_platform::memory::SnpMemory;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The request magic.
pub const REQUEST_MAGIC: [u8; 4] = *b"WSRQ";
/// The response magic.
pub const RESPONSE_MAGIC: [u8; 4] = *b"WSRP";
/// The framing version.
pub const VERSION: u16 = 1;
/// The most guest pages one frame carries.
pub const MAX_PAGES: usize = 4;

const PAGE: usize = PAGE_SIZE as usize;
const PAGE_RECORD: usize = 8 + PAGE;
const CRC_LEN: usize = 4;

/// The request's fixed part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct RequestHeader {
    /// [`REQUEST_MAGIC`].
    pub magic: [u8; 4],
    /// [`VERSION`].
    pub version: u16,
    /// How many page records follow.
    pub pages: u16,
    /// Protocol << 32 | call.
    pub rax: u64,
    /// RCX.
    pub rcx: u64,
    /// RDX.
    pub rdx: u64,
    /// R8.
    pub r8: u64,
    /// R9.
    pub r9: u64,
}

/// The response's fixed part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct ResponseHeader {
    /// [`RESPONSE_MAGIC`].
    pub magic: [u8; 4],
    /// [`VERSION`].
    pub version: u16,
    /// How many page records follow.
    pub pages: u16,
    /// 0 when the call was dispatched, else a [`FrameError::code`] for the request frame.
    pub status: u32,
    /// Zero.
    pub reserved: u32,
    /// RAX after the call: the SVSM result code.
    pub rax: u64,
    /// RCX after the call.
    pub rcx: u64,
    /// RDX after the call.
    pub rdx: u64,
    /// R8 after the call.
    pub r8: u64,
    /// R9 (unchanged).
    pub r9: u64,
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<RequestHeader>() == 48);
    assert!(offset_of!(RequestHeader, rax) == 8);
    assert!(size_of::<ResponseHeader>() == 56);
    assert!(offset_of!(ResponseHeader, rax) == 16);
};

/// Why a frame is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes than the header says.
    Short,
    /// Bytes after the frame's end.
    Trailing,
    /// Wrong magic: the stream is out of step.
    BadMagic,
    /// Unknown framing version.
    BadVersion,
    /// More than [`MAX_PAGES`] pages.
    TooManyPages,
    /// The CRC does not match.
    Checksum,
    /// A page GPA is not page-aligned.
    UnalignedPage,
    /// Two records name the same page.
    DuplicatePage,
}

impl FrameError {
    /// The nonzero status a response carries for this error.
    pub const fn code(self) -> u32 {
        match self {
            Self::Short => 1,
            Self::Trailing => 2,
            Self::BadMagic => 3,
            Self::BadVersion => 4,
            Self::TooManyPages => 5,
            Self::Checksum => 6,
            Self::UnalignedPage => 7,
            Self::DuplicatePage => 8,
        }
    }
}

/// The frame length a request or response header announces, from its first 8 bytes (magic, version,
/// page count), so a serial reader knows how much to read. Bounded by [`MAX_PAGES`].
pub fn frame_len(first8: [u8; 8]) -> Result<usize, FrameError> {
    let magic = [first8[0], first8[1], first8[2], first8[3]];
    let header = match magic {
        REQUEST_MAGIC => core::mem::size_of::<RequestHeader>(),
        RESPONSE_MAGIC => core::mem::size_of::<ResponseHeader>(),
        _ => return Err(FrameError::BadMagic),
    };
    if u16::from_le_bytes([first8[4], first8[5]]) != VERSION {
        return Err(FrameError::BadVersion);
    }
    let pages = usize::from(u16::from_le_bytes([first8[6], first8[7]]));
    if pages > MAX_PAGES {
        return Err(FrameError::TooManyPages);
    }
    Ok(header + pages * PAGE_RECORD + CRC_LEN)
}

/// The guest pages a frame carries: the only guest memory a transported call can reach.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageSet {
    pages: Vec<(u64, Box<[u8; PAGE]>)>,
}

impl PageSet {
    /// The pages, in frame order.
    pub fn pages(&self) -> impl Iterator<Item = (u64, &[u8; PAGE])> {
        self.pages.iter().map(|(gpa, data)| (*gpa, &**data))
    }

    fn page(&self, gpa: u64) -> Option<&[u8; PAGE]> {
        self.pages.iter().find(|(p, _)| *p == gpa).map(|(_, d)| &**d)
    }

    fn page_mut(&mut self, gpa: u64) -> Option<&mut [u8; PAGE]> {
        self.pages.iter_mut().find(|(p, _)| *p == gpa).map(|(_, d)| &mut **d)
    }
}

/// Splits `[gpa, gpa + len)` into (page, offset, length) pieces; `None` on overflow.
fn pieces(gpa: u64, len: usize) -> Option<impl Iterator<Item = (u64, usize, usize)>> {
    gpa.checked_add(len as u64)?;
    let mut at = 0usize;
    Some(core::iter::from_fn(move || {
        if at >= len {
            return None;
        }
        let addr = gpa + at as u64;
        let offset = (addr % PAGE_SIZE) as usize;
        let n = (PAGE - offset).min(len - at);
        at += n;
        Some((addr - offset as u64, offset, n))
    }))
}

impl GuestMemory for PageSet {
    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        let mut done = 0;
        for (page, offset, n) in pieces(gpa, buf.len()).ok_or(MemoryError::Unavailable)? {
            let data = self.page(page).ok_or(MemoryError::Unavailable)?;
            let src = data.get(offset..offset + n).ok_or(MemoryError::Unavailable)?;
            buf.get_mut(done..done + n).ok_or(MemoryError::Unavailable)?.copy_from_slice(src);
            done += n;
        }
        Ok(())
    }

    fn write(&mut self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        // Check every piece first, so a failed write changes nothing.
        for (page, _, _) in pieces(gpa, data.len()).ok_or(MemoryError::Unavailable)? {
            self.page(page).ok_or(MemoryError::Unavailable)?;
        }
        let mut done = 0;
        for (page, offset, n) in pieces(gpa, data.len()).ok_or(MemoryError::Unavailable)? {
            let dst = self.page_mut(page).ok_or(MemoryError::Unavailable)?;
            let src = data.get(done..done + n).ok_or(MemoryError::Unavailable)?;
            dst.get_mut(offset..offset + n).ok_or(MemoryError::Unavailable)?.copy_from_slice(src);
            done += n;
        }
        Ok(())
    }
}

mod codec;

pub use codec::{Request, Response, crc32, decode_request, decode_response, encode_request, encode_response};

/// The firmware side: decode a request frame, dispatch it with `platform` for the RMP and the frame's
/// pages as guest memory, and encode the response. A refused frame gets a response with its status.
pub fn serve<P: SnpMemory>(
    dispatcher: &mut Dispatcher,
    platform: &mut P,
    caller: Caller,
    frame: &[u8],
) -> Vec<u8> {
    match decode_request(frame) {
        Ok(Request { mut regs, mut pages }) => {
            let reply = dispatcher.handle(&mut Paired { platform, memory: &mut pages }, caller, regs);
            reply.apply(&mut regs);
            encode_response(0, &regs, &pages)
        }
        Err(e) => encode_response(e.code(), &GuestRegs::default(), &PageSet::default()),
    }
}
