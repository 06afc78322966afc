//! The vTPM state disk of the hypervisor model: a host file behind the same register interface QEMU's
//! ISA IDE disk gives native Warden (primary channel, ports 0x1F0-0x1F7 and 0x3F6; 28-bit LBA PIO per
//! ATA/ATAPI-6, T13 1410D: IDENTIFY DEVICE, READ SECTOR(S), WRITE SECTOR(S), FLUSH CACHE), so the
//! firmware keeps one state-disk driver. On SEV-SNP its port accesses arrive as IOIO exits through the
//! GHCB (GHCB spec (AMD 56421) §4.1.2, Table 7 "IOIO_PROT"); [`crate::nae`] hands them here.
//!
//! Only VMPL0 (Warden) reaches it: the guest's port accesses never get here. Writes go straight to the
//! file (a state written is a state kept, as with QEMU's `cache=writethrough`), and FLUSH CACHE syncs it.
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Bytes the file is grown to when smaller (zeros: no state yet); the xtask's native disk is as large.
pub const STATE_BYTES: u64 = 256 * 1024;
const SECTOR: usize = 512;

/// The ports the disk answers (LBA low, mid and high lie between the count and the drive register).
const DATA: u16 = 0x1F0;
const ERROR: u16 = 0x1F1;
const SECTOR_COUNT: u16 = 0x1F2;
const DRIVE: u16 = 0x1F6;
const STATUS_COMMAND: u16 = 0x1F7;
const CONTROL: u16 = 0x3F6;

const DRDY: u8 = 0x40;
const DRQ: u8 = 0x08;
const ERR: u8 = 0x01;
/// ABRT in the error register: the command is not supported or its parameters are invalid.
const ABRT: u8 = 0x04;

const IDENTIFY: u8 = 0xEC;
const READ_SECTORS: u8 = 0x20;
const WRITE_SECTORS: u8 = 0x30;
const FLUSH_CACHE: u8 = 0xE7;

/// What the data port is doing.
#[derive(Debug, PartialEq)]
enum Transfer {
    Idle,
    /// The device streams `buffer` out; more sectors from `next_lba` while `left` > 0.
    Reading {
        at: usize,
        next_lba: u32,
        left: u32,
    },
    /// The host streams a sector into `buffer`, stored at `lba`; `left` more after this one.
    Writing {
        at: usize,
        lba: u32,
        left: u32,
    },
}

/// One ATA disk on the primary channel, backed by a host file.
#[derive(Debug)]
pub struct StateDisk {
    file: File,
    sectors: u32,
    task: [u8; 6],
    status: u8,
    error: u8,
    buffer: [u8; SECTOR],
    transfer: Transfer,
}

/// Whether `port` is one of the disk's.
pub fn owns(port: u16) -> bool {
    (DATA..=STATUS_COMMAND).contains(&port) || port == CONTROL
}

impl StateDisk {
    /// The disk on `path`: created if missing, grown to [`STATE_BYTES`] if smaller.
    pub fn open(path: &Path) -> std::io::Result<StateDisk> {
        let file = File::options().create(true).truncate(false).read(true).write(true).open(path)?;
        if file.metadata()?.len() < STATE_BYTES {
            file.set_len(STATE_BYTES)?;
        }
        let sectors = u32::try_from(file.metadata()?.len() / SECTOR as u64).unwrap_or(u32::MAX);
        Ok(StateDisk {
            file,
            sectors,
            task: [0; 6],
            status: DRDY,
            error: 0,
            buffer: [0; SECTOR],
            transfer: Transfer::Idle,
        })
    }

    /// A read of `width` bytes from `port`.
    pub fn read(&mut self, port: u16, width: u8) -> u64 {
        match port {
            DATA => {
                let word = self.next_word();
                if width == 1 { word & 0xFF } else { word }
            }
            ERROR => u64::from(self.error),
            STATUS_COMMAND | CONTROL => u64::from(self.status),
            SECTOR_COUNT..=DRIVE => u64::from(self.task[usize::from(port - SECTOR_COUNT)]),
            _ => 0xFF,
        }
    }

    /// A write of `value` to `port`.
    pub fn write(&mut self, port: u16, value: u64) {
        match port {
            DATA => self.put_word(value as u16),
            SECTOR_COUNT..=DRIVE => self.task[usize::from(port - SECTOR_COUNT)] = value as u8,
            STATUS_COMMAND => self.command(value as u8),
            // nIEN and SRST: this disk raises no interrupt and has nothing to reset mid-command.
            _ => {}
        }
    }

    fn lba(&self) -> u32 {
        u32::from_le_bytes([self.task[1], self.task[2], self.task[3], self.task[4] & 0x0F])
    }

    fn count(&self) -> u32 {
        if self.task[0] == 0 { 256 } else { u32::from(self.task[0]) }
    }

    fn abort(&mut self) {
        self.transfer = Transfer::Idle;
        self.error = ABRT;
        self.status = DRDY | ERR;
    }

    fn command(&mut self, command: u8) {
        self.error = 0;
        // Only the master in LBA mode is present.
        if self.task[4] & 0x50 != 0x40 {
            return self.abort();
        }
        let (lba, count) = (self.lba(), self.count());
        let in_range = lba.checked_add(count).is_some_and(|end| end <= self.sectors);
        match command {
            IDENTIFY => {
                self.buffer = [0; SECTOR];
                // Word 49 bit 9: LBA supported; words 60-61: sectors addressable with 28-bit LBA.
                self.buffer[99] = 0x02;
                self.buffer[120..124].copy_from_slice(&self.sectors.min(0x0FFF_FFFF).to_le_bytes());
                self.transfer = Transfer::Reading { at: 0, next_lba: 0, left: 0 };
                self.status = DRDY | DRQ;
            }
            READ_SECTORS if in_range => {
                if self.load(lba).is_err() {
                    return self.abort();
                }
                self.transfer = Transfer::Reading { at: 0, next_lba: lba + 1, left: count - 1 };
                self.status = DRDY | DRQ;
            }
            WRITE_SECTORS if in_range => {
                self.transfer = Transfer::Writing { at: 0, lba, left: count - 1 };
                self.status = DRDY | DRQ;
            }
            FLUSH_CACHE => {
                if self.file.sync_data().is_err() {
                    return self.abort();
                }
                self.status = DRDY;
            }
            _ => self.abort(),
        }
    }

    fn load(&mut self, lba: u32) -> std::io::Result<()> {
        self.file.seek(SeekFrom::Start(u64::from(lba) * SECTOR as u64))?;
        self.file.read_exact(&mut self.buffer)
    }

    fn store(&mut self, lba: u32) -> std::io::Result<()> {
        self.file.seek(SeekFrom::Start(u64::from(lba) * SECTOR as u64))?;
        self.file.write_all(&self.buffer)
    }

    fn next_word(&mut self) -> u64 {
        let Transfer::Reading { at, next_lba, left } = self.transfer else { return 0 };
        let word = u16::from_le_bytes([self.buffer[at], self.buffer[at + 1]]);
        if at + 2 < SECTOR {
            self.transfer = Transfer::Reading { at: at + 2, next_lba, left };
        } else if left == 0 {
            self.transfer = Transfer::Idle;
            self.status = DRDY;
        } else if self.load(next_lba).is_ok() {
            self.transfer = Transfer::Reading { at: 0, next_lba: next_lba + 1, left: left - 1 };
        } else {
            self.abort();
        }
        u64::from(word)
    }

    fn put_word(&mut self, word: u16) {
        let Transfer::Writing { at, lba, left } = self.transfer else { return };
        self.buffer[at..at + 2].copy_from_slice(&word.to_le_bytes());
        if at + 2 < SECTOR {
            self.transfer = Transfer::Writing { at: at + 2, lba, left };
        } else if self.store(lba).is_err() {
            self.abort();
        } else if left == 0 {
            self.transfer = Transfer::Idle;
            self.status = DRDY;
        } else {
            self.transfer = Transfer::Writing { at: 0, lba: lba + 1, left: left - 1 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LBA_LOW: u16 = 0x1F3;
    const LBA_MID: u16 = 0x1F4;
    const LBA_HIGH: u16 = 0x1F5;

    fn disk(name: &str) -> (StateDisk, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!("warden-machine-disk-{name}-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        (StateDisk::open(&path).expect("open"), path)
    }

    fn issue(d: &mut StateDisk, command: u8, lba: u32, count: u8) {
        d.write(DRIVE, u64::from(0xE0 | (lba >> 24) as u8 & 0x0F));
        d.write(SECTOR_COUNT, u64::from(count));
        d.write(LBA_LOW, u64::from(lba as u8));
        d.write(LBA_MID, u64::from((lba >> 8) as u8));
        d.write(LBA_HIGH, u64::from((lba >> 16) as u8));
        d.write(STATUS_COMMAND, u64::from(command));
    }

    #[test]
    fn identify_write_read_round_trip_through_the_file() {
        let (mut d, path) = disk("round-trip");
        assert_eq!(std::fs::metadata(&path).expect("file").len(), STATE_BYTES);
        issue(&mut d, IDENTIFY, 0, 0);
        let id: Vec<u16> = (0..256).map(|_| d.read(DATA, 2) as u16).collect();
        assert_eq!(u32::from(id[60]) | u32::from(id[61]) << 16, (STATE_BYTES / 512) as u32);
        assert_eq!(d.read(STATUS_COMMAND, 1) as u8 & DRQ, 0, "the transfer ended");
        issue(&mut d, WRITE_SECTORS, 3, 1);
        for i in 0..256u16 {
            d.write(DATA, u64::from(i));
        }
        issue(&mut d, FLUSH_CACHE, 0, 0);
        assert_eq!(d.read(STATUS_COMMAND, 1) as u8, DRDY);
        let file = std::fs::read(&path).expect("file");
        assert_eq!(&file[3 * 512..3 * 512 + 4], &[0, 0, 1, 0]);
        issue(&mut d, READ_SECTORS, 3, 1);
        let back: Vec<u16> = (0..256).map(|_| d.read(DATA, 2) as u16).collect();
        assert_eq!(back, (0..256).collect::<Vec<u16>>());
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn out_of_range_and_unknown_commands_abort() {
        let (mut d, path) = disk("abort");
        issue(&mut d, READ_SECTORS, (STATE_BYTES / 512) as u32, 1);
        assert_eq!(d.read(STATUS_COMMAND, 1) as u8, DRDY | ERR);
        assert_eq!(d.read(ERROR, 1) as u8, ABRT);
        issue(&mut d, 0x91, 0, 1);
        assert_eq!(d.read(STATUS_COMMAND, 1) as u8, DRDY | ERR);
        let _ = std::fs::remove_file(&path);
    }
}
