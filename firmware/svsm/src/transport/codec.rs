//! Encoding and decoding of transport frames, shared by the firmware and the host program.
use super::{
    CRC_LEN, FrameError, MAX_PAGES, PAGE, PAGE_RECORD, PageSet, REQUEST_MAGIC, RESPONSE_MAGIC, RequestHeader,
    ResponseHeader, VERSION, frame_len,
};
use crate::regs::GuestRegs;
use alloc::boxed::Box;
use alloc::vec::Vec;
use zerocopy::{FromBytes, IntoBytes};

/// A decoded request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The call's registers.
    pub regs: GuestRegs,
    /// The guest pages it references.
    pub pages: PageSet,
}

/// A decoded response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// 0 if the request was dispatched, else the [`FrameError::code`] of the refused request.
    pub status: u32,
    /// The registers after the call (RAX = the SVSM result code).
    pub regs: GuestRegs,
    /// The pages after the call.
    pub pages: PageSet,
}

/// CRC-32 (IEEE 802.3, reflected, as zlib): catches a serial stream that dropped or garbled bytes.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// The CRC-32 of `bytes`: what a frame's last four bytes hold for everything before them.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

/// Checks length, magic, version and CRC; returns the body (without the CRC) and the page count.
fn check_frame(bytes: &[u8], magic: [u8; 4]) -> Result<(&[u8], usize), FrameError> {
    let first8: [u8; 8] = bytes.get(..8).and_then(|b| b.try_into().ok()).ok_or(FrameError::Short)?;
    let total = frame_len(first8)?;
    if first8[..4] != magic {
        return Err(FrameError::BadMagic);
    }
    match bytes.len() {
        n if n < total => return Err(FrameError::Short),
        n if n > total => return Err(FrameError::Trailing),
        _ => {}
    }
    let (body, crc) = bytes.split_at(total - CRC_LEN);
    let crc: [u8; 4] = crc.try_into().map_err(|_| FrameError::Short)?;
    if crc32(body) != u32::from_le_bytes(crc) {
        return Err(FrameError::Checksum);
    }
    Ok((body, usize::from(u16::from_le_bytes([first8[6], first8[7]]))))
}

fn decode_pages(mut records: &[u8], count: usize) -> Result<PageSet, FrameError> {
    let mut set = PageSet::default();
    for _ in 0..count {
        let (gpa, rest) = u64::read_from_prefix(records).map_err(|_| FrameError::Short)?;
        let (data, rest) = <[u8; PAGE]>::read_from_prefix(rest).map_err(|_| FrameError::Short)?;
        if gpa % PAGE as u64 != 0 {
            return Err(FrameError::UnalignedPage);
        }
        if set.page(gpa).is_some() {
            return Err(FrameError::DuplicatePage);
        }
        set.pages.push((gpa, Box::new(data)));
        records = rest;
    }
    if records.is_empty() { Ok(set) } else { Err(FrameError::Trailing) }
}

/// Decodes a request frame.
pub fn decode_request(bytes: &[u8]) -> Result<Request, FrameError> {
    let (body, count) = check_frame(bytes, REQUEST_MAGIC)?;
    let (h, records) = RequestHeader::read_from_prefix(body).map_err(|_| FrameError::Short)?;
    let regs = GuestRegs { rax: h.rax, rcx: h.rcx, rdx: h.rdx, r8: h.r8, r9: h.r9 };
    Ok(Request { regs, pages: decode_pages(records, count)? })
}

/// Decodes a response frame (the host side).
pub fn decode_response(bytes: &[u8]) -> Result<Response, FrameError> {
    let (body, count) = check_frame(bytes, RESPONSE_MAGIC)?;
    let (h, records) = ResponseHeader::read_from_prefix(body).map_err(|_| FrameError::Short)?;
    let regs = GuestRegs { rax: h.rax, rcx: h.rcx, rdx: h.rdx, r8: h.r8, r9: h.r9 };
    Ok(Response { status: h.status, regs, pages: decode_pages(records, count)? })
}

fn finish(mut frame: Vec<u8>, pages: &mut dyn Iterator<Item = (u64, &[u8; PAGE])>) -> Vec<u8> {
    for (gpa, data) in pages {
        frame.extend_from_slice(&gpa.to_le_bytes());
        frame.extend_from_slice(data);
    }
    let crc = crc32(&frame);
    frame.extend_from_slice(&crc.to_le_bytes());
    frame
}

/// Encodes a request (the host side). Refuses more than [`MAX_PAGES`] pages, unaligned or repeated
/// GPAs, exactly as the decoder would.
pub fn encode_request(regs: &GuestRegs, pages: &[(u64, &[u8; PAGE])]) -> Result<Vec<u8>, FrameError> {
    if pages.len() > MAX_PAGES {
        return Err(FrameError::TooManyPages);
    }
    for (i, (gpa, _)) in pages.iter().enumerate() {
        if gpa % PAGE as u64 != 0 {
            return Err(FrameError::UnalignedPage);
        }
        if pages.iter().take(i).any(|(g, _)| g == gpa) {
            return Err(FrameError::DuplicatePage);
        }
    }
    let header = RequestHeader {
        magic: REQUEST_MAGIC,
        version: VERSION,
        pages: pages.len() as u16,
        rax: regs.rax,
        rcx: regs.rcx,
        rdx: regs.rdx,
        r8: regs.r8,
        r9: regs.r9,
    };
    let mut frame = Vec::with_capacity(header.as_bytes().len() + pages.len() * PAGE_RECORD + CRC_LEN);
    frame.extend_from_slice(header.as_bytes());
    Ok(finish(frame, &mut pages.iter().map(|(g, d)| (*g, *d))))
}

/// Encodes a response (the firmware side). `pages` came from a decoded request, so it is bounded.
pub fn encode_response(status: u32, regs: &GuestRegs, pages: &PageSet) -> Vec<u8> {
    let header = ResponseHeader {
        magic: RESPONSE_MAGIC,
        version: VERSION,
        pages: pages.pages.len().min(MAX_PAGES) as u16,
        status,
        reserved: 0,
        rax: regs.rax,
        rcx: regs.rcx,
        rdx: regs.rdx,
        r8: regs.r8,
        r9: regs.r9,
    };
    let mut frame = Vec::with_capacity(header.as_bytes().len() + MAX_PAGES * PAGE_RECORD + CRC_LEN);
    frame.extend_from_slice(header.as_bytes());
    finish(frame, &mut pages.pages().take(MAX_PAGES))
}
