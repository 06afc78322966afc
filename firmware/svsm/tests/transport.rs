//! The guest test transport: frames round-trip, every malformed frame is refused with its reason, and
//! a transported call reaches the same dispatcher and handlers as a VMGEXIT.
mod common;

use common::{BOOT, BOOT_CAA, SimEnv, dispatcher};
use warden_defs::svsm::{
    CallId, PvalidateEntry, PvalidateHeader, ResultCode, core_call, query_protocol_input,
};
use warden_svsm::GuestRegs;
use warden_svsm::transport::{
    FrameError, MAX_PAGES, decode_request, decode_response, encode_request, frame_len, serve,
};
use zerocopy::IntoBytes;

fn regs(call: u32, rcx: u64) -> GuestRegs {
    GuestRegs { rax: CallId { protocol: 0, call }.to_rax(), rcx, rdx: 2, r8: 3, r9: 4 }
}

#[test]
fn a_request_round_trips() {
    let page = [0x5Au8; 4096];
    let frame = encode_request(&regs(1, 0x1234), &[(0x1000, &page), (0x3000, &[0; 4096])]).unwrap();
    assert_eq!(frame.len(), 48 + 2 * (8 + 4096) + 4);
    assert_eq!(frame_len(frame[..8].try_into().unwrap()), Ok(frame.len()));
    let req = decode_request(&frame).unwrap();
    assert_eq!(req.regs, regs(1, 0x1234));
    let pages: Vec<_> = req.pages.pages().map(|(g, d)| (g, d[0])).collect();
    assert_eq!(pages, vec![(0x1000, 0x5A), (0x3000, 0)]);
}

#[test]
fn the_checksum_is_standard_crc32() {
    // Flip one byte of a valid frame: the CRC must catch it; fix the CRC with zlib's CRC-32 (check
    // value 0xCBF43926 for "123456789", computed independently below) and it is accepted again.
    fn reference_crc(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
    assert_eq!(reference_crc(b"123456789"), 0xCBF4_3926);
    let mut frame = encode_request(&regs(6, 0), &[]).unwrap();
    let n = frame.len();
    assert_eq!(u32::from_le_bytes(frame[n - 4..].try_into().unwrap()), reference_crc(&frame[..n - 4]));
    frame[20] ^= 1;
    assert_eq!(decode_request(&frame), Err(FrameError::Checksum));
    let crc = reference_crc(&frame[..n - 4]);
    frame[n - 4..].copy_from_slice(&crc.to_le_bytes());
    assert!(decode_request(&frame).is_ok());
}

fn with_crc(mut body: Vec<u8>) -> Vec<u8> {
    // Re-sign a hand-edited frame: replace its last four bytes with the CRC-32 of the rest.
    let n = body.len();
    body.truncate(n - 4);
    let mut crc = !0u32;
    for &b in &body {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    body.extend_from_slice(&(!crc).to_le_bytes());
    body
}

/// Threat model T4.
#[test]
fn malformed_frames_are_refused() {
    let page = [0u8; 4096];
    let good = encode_request(&regs(1, 0), &[(0x1000, &page)]).unwrap();
    assert_eq!(decode_request(&good[..7]), Err(FrameError::Short));
    assert_eq!(decode_request(&good[..good.len() - 1]), Err(FrameError::Short));
    let mut long = good.clone();
    long.push(0);
    assert_eq!(decode_request(&long), Err(FrameError::Trailing));
    let mut bad = good.clone();
    bad[0] = b'X';
    assert_eq!(decode_request(&bad), Err(FrameError::BadMagic));
    let mut bad = good.clone();
    bad[4] = 2;
    assert_eq!(decode_request(&bad), Err(FrameError::BadVersion));
    let mut bad = good.clone();
    bad[6] = MAX_PAGES as u8 + 1;
    assert_eq!(decode_request(&bad), Err(FrameError::TooManyPages));
    assert_eq!(frame_len(*b"WSRQ\x01\x00\xff\xff"), Err(FrameError::TooManyPages));
    // A response is not a request.
    let mut bad = good.clone();
    bad[..4].copy_from_slice(b"WSRP");
    assert_eq!(decode_request(&bad), Err(FrameError::BadMagic));
    // Page GPAs: aligned and distinct (checked after the CRC, so re-sign the edited frames).
    let mut bad = good.clone();
    bad[48] = 8;
    assert_eq!(decode_request(&with_crc(bad)), Err(FrameError::UnalignedPage));
    let two = encode_request(&regs(1, 0), &[(0x1000, &page), (0x2000, &page)]).unwrap();
    let mut dup = two.clone();
    let second = 48 + 8 + 4096;
    dup[second..second + 8].copy_from_slice(&0x1000u64.to_le_bytes());
    assert_eq!(decode_request(&with_crc(dup)), Err(FrameError::DuplicatePage));
    // The encoder refuses what the decoder refuses.
    let many = [(0x1000, &page), (0x2000, &page), (0x3000, &page), (0x4000, &page), (0x5000, &page)];
    assert_eq!(encode_request(&regs(1, 0), &many), Err(FrameError::TooManyPages));
    assert_eq!(encode_request(&regs(1, 0), &[(0x1008, &page)]), Err(FrameError::UnalignedPage));
    assert_eq!(
        encode_request(&regs(1, 0), &[(0x1000, &page), (0x1000, &page)]),
        Err(FrameError::DuplicatePage)
    );
}

#[test]
fn a_transported_pvalidate_runs_the_real_handler() {
    let mut env = SimEnv::new();
    let mut d = dispatcher();
    let data = 0x40_0000;
    env.assign_4k(data, 1);
    // The guest's calling area page with the list at +8, and the page to validate, full of junk.
    let mut caa = [0u8; 4096];
    let header = PvalidateHeader { entries: 1, next: 0, reserved: 0 };
    caa[8..16].copy_from_slice(header.as_bytes());
    caa[16..24].copy_from_slice(&PvalidateEntry::new(data, false, true, false).0.to_le_bytes());
    let junk = [0xEEu8; 4096];
    let frame = encode_request(&regs(core_call::PVALIDATE, BOOT_CAA + 8), &[(BOOT_CAA, &caa), (data, &junk)])
        .unwrap();

    let response = decode_response(&serve(&mut d, &mut env, BOOT, &frame)).unwrap();
    assert_eq!(response.status, 0);
    assert_eq!(ResultCode(response.regs.rax), ResultCode::SUCCESS);
    assert_eq!((response.regs.rdx, response.regs.r8, response.regs.r9), (2, 3, 4), "inputs left alone");
    let pages: Vec<_> = response.pages.pages().map(|(g, d)| (g, *d)).collect();
    assert_eq!(pages[0].0, BOOT_CAA);
    assert_eq!(u16::from_le_bytes([pages[0].1[10], pages[0].1[11]]), 1, "next written back");
    assert_eq!((pages[1].0, pages[1].1), (data, [0u8; 4096]), "validated page zeroed");
    assert!(env.sim.rmp_entry(data).0.validated);

    // A list in a page the frame does not carry is unreachable: INVALID_ADDRESS.
    let frame = encode_request(&regs(core_call::PVALIDATE, 0x50_0008), &[]).unwrap();
    let response = decode_response(&serve(&mut d, &mut env, BOOT, &frame)).unwrap();
    assert_eq!(ResultCode(response.regs.rax), ResultCode::INVALID_ADDRESS);
}

#[test]
fn a_refused_frame_gets_its_status() {
    let mut env = SimEnv::new();
    let mut d = dispatcher();
    let response = decode_response(&serve(&mut d, &mut env, BOOT, b"garbage!")).unwrap();
    assert_eq!(response.status, FrameError::BadMagic.code());
    let frame = encode_request(&regs(core_call::QUERY_PROTOCOL, query_protocol_input(0, 1)), &[]).unwrap();
    let response = decode_response(&serve(&mut d, &mut env, BOOT, &frame)).unwrap();
    assert_eq!((response.status, response.regs.rax, response.regs.rcx), (0, 0, (1 << 32) | 1));
}

#[test]
fn frame_pages_are_the_only_guest_memory() {
    use warden_svsm::GuestMemory;
    let mut a = [0u8; 4096];
    a[4092..].copy_from_slice(&[1, 2, 3, 4]);
    let b = [5u8; 4096];
    let frame = encode_request(&regs(0, 0), &[(0x2000, &b), (0x1000, &a)]).unwrap();
    let mut pages = decode_request(&frame).unwrap().pages;
    // A read across the two adjacent pages is stitched together.
    let mut buf = [0u8; 8];
    pages.read(0x1FFC, &mut buf).unwrap();
    assert_eq!(buf, [1, 2, 3, 4, 5, 5, 5, 5]);
    // Anything touching a page the frame does not carry fails, and a failed write changes nothing.
    assert!(pages.read(0x2FFC, &mut buf).is_err());
    assert!(pages.read(u64::MAX - 3, &mut buf).is_err());
    assert!(pages.write(0x2FFC, &[9; 8]).is_err());
    pages.read(0x2FF8, &mut buf).unwrap();
    assert_eq!(buf, [5; 8]);
    pages.write(0x1FFE, &[7; 4]).unwrap();
    pages.read(0x1FFC, &mut buf).unwrap();
    assert_eq!(buf, [1, 2, 7, 7, 7, 7, 5, 5]);
}
