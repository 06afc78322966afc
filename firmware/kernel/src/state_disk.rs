//! The native vTPM state disk: a raw file QEMU exposes as an ATA disk on a legacy ISA IDE channel
//! (`-device isa-ide` at ports 0x1F0/0x3F6, `-device ide-hd` on the file; `cargo xtask run --vtpm-state
//! FILE`), driven by 28-bit LBA PIO (ATA/ATAPI-6, T13 1410D: IDENTIFY DEVICE, READ SECTOR(S), WRITE
//! SECTOR(S), FLUSH CACHE). Port I/O only: no MMIO to map, no DMA, no interrupts (nIEN), the same under
//! TCG and KVM, and QEMU writes the sectors straight into the file, so a state written is a state kept.
//!
//! The disk is the host's (threat model T1): its answers are bounded by Warden's buffers, every wait
//! is bounded, and what it returns is authenticated by `warden_vtpm::persistence::seal`, not here.
use warden_vtpm::persistence::keeper::{StateStorage, StorageError};

use crate::port::{inb, inw, outb, outw};

const DATA: u16 = 0x1F0;
const SECTOR_COUNT: u16 = 0x1F2;
const LBA_LOW: u16 = 0x1F3;
const LBA_MID: u16 = 0x1F4;
const LBA_HIGH: u16 = 0x1F5;
const DRIVE: u16 = 0x1F6;
const STATUS_COMMAND: u16 = 0x1F7;
const CONTROL: u16 = 0x3F6;

const BSY: u8 = 0x80;
const DF: u8 = 0x20;
const DRQ: u8 = 0x08;
const ERR: u8 = 0x01;

const IDENTIFY: u8 = 0xEC;
const READ_SECTORS: u8 = 0x20;
const WRITE_SECTORS: u8 = 0x30;
const FLUSH_CACHE: u8 = 0xE7;

const SECTOR: usize = 512;
/// Status polls before a command is given up (the device is QEMU's: it answers within a few).
const POLLS: u32 = 1_000_000;
/// Status polls the probe allows IDENTIFY: QEMU answers at once, and a channel without a disk must not
/// cost a million port reads (under KVM each is a VM exit: ~50 s at boot).
const PROBE_POLLS: u32 = 1_000;
/// Most sectors used: 256 KiB, more than the largest sealed state.
const MAX_SECTORS: u32 = 512;

/// The master disk of the primary ISA IDE channel, if one answered IDENTIFY.
#[derive(Debug)]
pub struct StateDisk {
    sectors: u32,
}

fn status() -> u8 {
    // SAFETY: reading the status register of the IDE channel Warden owns; no memory is touched.
    unsafe { inb(STATUS_COMMAND) }
}

/// Waits until the device is not busy; then, with `want_data`, until it asks for data. `Err` on a
/// device error or no answer.
fn wait(want_data: bool) -> Result<(), StorageError> {
    wait_for(want_data, POLLS)
}

/// [`wait`] with at most `polls` status reads.
fn wait_for(want_data: bool, polls: u32) -> Result<(), StorageError> {
    for _ in 0..polls {
        let s = status();
        if s == 0xFF {
            return Err(StorageError::Device);
        }
        if s & BSY == 0 {
            if s & (ERR | DF) != 0 {
                return Err(StorageError::Device);
            }
            if !want_data || s & DRQ != 0 {
                return Ok(());
            }
        }
        core::hint::spin_loop();
    }
    Err(StorageError::Device)
}

/// Selects the master at `lba` with `count` sectors and issues `command`.
fn issue(command: u8, lba: u32, count: u8) {
    // SAFETY: ATA task-file registers of the primary channel; writing them programs the command and
    // touches no memory (PIO: the data moves through the data port only).
    unsafe {
        outb(DRIVE, 0xE0 | ((lba >> 24) & 0x0F) as u8);
        outb(SECTOR_COUNT, count);
        outb(LBA_LOW, lba as u8);
        outb(LBA_MID, (lba >> 8) as u8);
        outb(LBA_HIGH, (lba >> 16) as u8);
        outb(STATUS_COMMAND, command);
    }
}

fn read_words(out: &mut [u8; SECTOR]) {
    for pair in out.chunks_exact_mut(2) {
        // SAFETY: the device asserted DRQ: the data port streams the sector; no memory is touched.
        pair.copy_from_slice(&unsafe { inw(DATA) }.to_le_bytes());
    }
}

impl StateDisk {
    /// The disk, if the channel has one that answers IDENTIFY DEVICE.
    pub fn probe() -> Option<StateDisk> {
        // SAFETY: the device control register: nIEN, so the disk never raises an interrupt.
        unsafe { outb(CONTROL, 0x02) };
        // A floating bus (no controller) reads 0xFF; a channel without a disk reads 0.
        if matches!(status(), 0xFF | 0x00) {
            return None;
        }
        issue(IDENTIFY, 0, 0);
        if status() == 0 || wait_for(true, PROBE_POLLS).is_err() {
            return None;
        }
        let mut id = [0u8; SECTOR];
        read_words(&mut id);
        // Words 60-61: the sectors addressable with 28-bit LBA.
        let sectors = u32::from_le_bytes([id[120], id[121], id[122], id[123]]);
        (sectors > 0).then_some(StateDisk { sectors: sectors.min(MAX_SECTORS) })
    }

    fn read_sector(&mut self, lba: u32, out: &mut [u8; SECTOR]) -> Result<(), StorageError> {
        issue(READ_SECTORS, lba, 1);
        wait(true)?;
        read_words(out);
        Ok(())
    }

    fn write_sector(&mut self, lba: u32, data: &[u8; SECTOR]) -> Result<(), StorageError> {
        issue(WRITE_SECTORS, lba, 1);
        wait(true)?;
        for pair in data.chunks_exact(2) {
            // SAFETY: the device asserted DRQ: the data port takes the sector; no memory is touched.
            unsafe { outw(DATA, u16::from_le_bytes([pair[0], pair[1]])) };
        }
        wait(false)
    }
}

impl StateStorage for StateDisk {
    fn capacity(&self) -> usize {
        self.sectors as usize * SECTOR
    }

    fn read_at(&mut self, offset: usize, out: &mut [u8]) -> Result<(), StorageError> {
        let end =
            offset.checked_add(out.len()).filter(|&e| e <= self.capacity()).ok_or(StorageError::TooLarge)?;
        let mut sector = [0u8; SECTOR];
        let mut at = offset;
        while at < end {
            let lba = (at / SECTOR) as u32;
            self.read_sector(lba, &mut sector)?;
            let within = at % SECTOR;
            let take = (SECTOR - within).min(end - at);
            out[at - offset..at - offset + take].copy_from_slice(&sector[within..within + take]);
            at += take;
        }
        Ok(())
    }

    fn write(&mut self, data: &[u8]) -> Result<(), StorageError> {
        if data.len() > self.capacity() {
            return Err(StorageError::TooLarge);
        }
        for (lba, chunk) in data.chunks(SECTOR).enumerate() {
            let mut sector = [0u8; SECTOR];
            sector[..chunk.len()].copy_from_slice(chunk);
            self.write_sector(lba as u32, &sector)?;
        }
        issue(FLUSH_CACHE, 0, 0);
        wait(false)
    }
}
