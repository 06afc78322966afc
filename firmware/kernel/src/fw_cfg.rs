//! QEMU's firmware configuration device (native only): named files the host passes on the command line
//! (`-fw_cfg name=opt/warden/...`). Read through I/O ports 0x510 (selector) and 0x511 (data).
//!
//! Sizes come from the host; every read is bounded by the caller's buffer.
use crate::port::{inb, outw};

const SELECTOR: u16 = 0x510;
const DATA: u16 = 0x511;
const SIGNATURE: u16 = 0x0000;
const FILE_DIR: u16 = 0x0019;
const NAME_LEN: usize = 56;

fn select(key: u16) {
    // SAFETY: writing the selector only chooses which item the data port streams.
    unsafe { outw(SELECTOR, key) };
}

fn read(out: &mut [u8]) {
    for byte in out {
        // SAFETY: reading the data port advances the device's stream; no memory is touched.
        *byte = unsafe { inb(DATA) };
    }
}

fn read_be32() -> u32 {
    let mut bytes = [0; 4];
    read(&mut bytes);
    u32::from_be_bytes(bytes)
}

/// Whether QEMU's fw_cfg device answers.
fn present() -> bool {
    select(SIGNATURE);
    let mut signature = [0; 4];
    read(&mut signature);
    &signature == b"QEMU"
}

/// Reads the file `name` into `out`; returns how many bytes it holds (at most `out.len()`), or `None`.
pub fn read_file(name: &str, out: &mut [u8]) -> Option<usize> {
    if !present() {
        return None;
    }
    select(FILE_DIR);
    let count = read_be32();
    for _ in 0..count.min(4096) {
        let size = read_be32();
        let mut key = [0; 2];
        read(&mut key);
        let mut reserved = [0; 2];
        read(&mut reserved);
        let mut entry_name = [0u8; NAME_LEN];
        read(&mut entry_name);
        let len = entry_name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        if &entry_name[..len] == name.as_bytes() {
            let take = (size as usize).min(out.len());
            select(u16::from_be_bytes(key));
            read(&mut out[..take]);
            return Some(take);
        }
    }
    None
}
