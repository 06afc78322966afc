//! The TDX platform: Warden as a TD guest. The console and termination go through TDG.VP.VMCALL (the VMM
//! sees no port I/O of a TD), pages are accepted with TDG.MEM.PAGE.ACCEPT and converted with MapGPA.
//!
//! **Not exercised on hardware**: no machine this was written on has TDX. The semantics it must have are
//! those `warden-sim`'s TDX model enforces; encodings are checked against the public specifications only
//! (Intel TDX Module ABI spec: TDG.VP.INFO, TDG.MEM.PAGE.ACCEPT and their status codes; Intel GHCI spec
//! ch. 3: TDG.VP.VMCALL MapGPA, Instruction.IO, ReportFatalError).
//! The #VE handler (`ve`) emulates the CPUID, port I/O, MSR and HLT instructions the TDX module
//! leaves to the VMM.
pub mod attestation;
pub mod boot;
#[cfg(warden_request_loop)]
pub mod l2_guest;
#[cfg(warden_request_loop)]
pub mod partition;
pub mod tdcall;
pub mod ve;

use warden_defs::boot::BootPlatform;
use warden_defs::layout::COM1_PORT;
use warden_defs::tdx::{
    TDVMCALL_MAP_GPA, TDX_LEVEL_1G, TDX_LEVEL_2M, TDX_LEVEL_4K, TdvmcallStatus, TdxStatus, exit_reason,
};
use warden_platform::memory::{GpaRange, MapGpaError, MapGpaOutcome, TdxAcceptError, TdxLevel, TdxMemory};
use warden_platform::{Platform, Termination};

use self::tdcall::{TDVMCALL_REPORT_FATAL_ERROR, VmcallResult, vmcall};

/// Why [`TdxPlatform::init`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TdxInitError {
    /// TDG.VP.INFO failed with this status.
    VpInfo(u64),
    /// The guest-physical address width is neither 48 nor 52.
    AddressWidth(u64),
}

/// The TDX platform. Only [`TdxPlatform::init`] creates it.
#[derive(Debug)]
pub struct TdxPlatform {
    /// The shared bit: `1 << (GPAW - 1)`.
    shared_bit: u64,
    /// The L2 guest, once the boot found it and mapped its RAM (`BootSteps::guest_ram`).
    #[cfg(warden_request_loop)]
    l2: Option<l2_guest::L2Guest>,
}

const UART_POLLS: u32 = 1024;
const UART_LINE_STATUS: u16 = 5;
const UART_TX_EMPTY: u64 = 1 << 5;
const IO_READ: u64 = 0;
const IO_WRITE: u64 = 1;

impl TdxPlatform {
    /// Reads the TD's address width from the TDX module (TDG.VP.INFO) to find the shared bit.
    pub fn init() -> Result<Self, TdxInitError> {
        let (status, rcx) = tdcall::vp_info();
        if status != TdxStatus::SUCCESS.0 {
            return Err(TdxInitError::VpInfo(status));
        }
        let width = rcx & 0x3F;
        if width != 48 && width != 52 {
            return Err(TdxInitError::AddressWidth(width));
        }
        Ok(Self {
            shared_bit: 1 << (width - 1),
            #[cfg(warden_request_loop)]
            l2: None,
        })
    }
}

#[cfg(warden_request_loop)]
impl TdxPlatform {
    /// A second handle on the platform for the attestation protocol's reports (TDG.MR.REPORT needs no
    /// state but the TD itself), without the L2 guest, which the boot keeps.
    pub fn report_handle(&self) -> Self {
        Self { shared_bit: self.shared_bit, l2: None }
    }
}

/// Stops the TD: TDG.VP.VMCALL<ReportFatalError> with Warden's code in R12\[31:0\] (the same bytes the
/// native platform writes to `isa-debug-exit`), no message (R13 = 0, R12 bit 63 clear). Halts if the
/// VMM resumes the TD anyway.
pub fn report_fatal_error(reason: Termination) -> ! {
    let code = u64::from(crate::native::exit_code(reason));
    // SAFETY: ReportFatalError ends the TD; no memory is handed over (R13 = 0).
    unsafe { vmcall(TDVMCALL_REPORT_FATAL_ERROR, [code, 0, 0, 0]) };
    crate::machine::halt_forever()
}

/// A one-byte port access through TDG.VP.VMCALL<Instruction.IO>; a refusal terminates.
fn io_byte(port: u16, write: Option<u8>) -> u8 {
    port_io(port, 1, write.map(u32::from)) as u8
}

/// A port access of `size` bytes (1, 2 or 4) through TDG.VP.VMCALL<Instruction.IO>: Warden's console,
/// and the L2 guest's allowed ports (`l2_guest`). A refusal terminates.
pub fn port_io(port: u16, size: u8, write: Option<u32>) -> u32 {
    let (direction, data) = match write {
        Some(value) => (IO_WRITE, u64::from(value)),
        None => (IO_READ, 0),
    };
    // SAFETY: only port I/O, which the VMM emulates; no memory is involved.
    let VmcallResult { tdcall_status, status, output, .. } =
        unsafe { vmcall(u64::from(exit_reason::IO), [u64::from(size), direction, u64::from(port), data]) };
    if tdcall_status != 0 || status != TdvmcallStatus::SUCCESS.0 {
        report_fatal_error(Termination::Failure);
    }
    // The read's width: whatever else the VMM put in R11 is dropped.
    let mask = if size >= 4 { u64::from(u32::MAX) } else { (1u64 << (8 * u32::from(size))) - 1 };
    (output & mask) as u32
}

/// COM1 through Instruction.IO calls: poll the line status (bounded), then write.
pub fn console_write_bytes(bytes: &[u8]) {
    for &byte in bytes {
        for _ in 0..UART_POLLS {
            if u64::from(io_byte(COM1_PORT + UART_LINE_STATUS, None)) & UART_TX_EMPTY != 0 {
                break;
            }
        }
        io_byte(COM1_PORT, Some(byte));
    }
}

impl Platform for TdxPlatform {
    fn kind(&self) -> BootPlatform {
        BootPlatform::Tdx
    }

    fn console_write(&self, bytes: &[u8]) {
        console_write_bytes(bytes);
    }

    fn terminate(&self, reason: Termination) -> ! {
        report_fatal_error(reason)
    }
}

impl TdxMemory for TdxPlatform {
    unsafe fn accept(&mut self, gpa: u64, level: TdxLevel) -> Result<(), TdxAcceptError> {
        let code = match level {
            TdxLevel::Size4K => TDX_LEVEL_4K,
            TdxLevel::Size2M => TDX_LEVEL_2M,
            TdxLevel::Size1G => TDX_LEVEL_1G,
        };
        // SAFETY: the caller upholds the trait's contract (the page is theirs and unreferenced).
        let status = TdxStatus(unsafe { tdcall::page_accept(gpa, code) });
        if status == TdxStatus::SUCCESS {
            return Ok(());
        }
        // The low half carries operand details: compare the class.
        Err(match status.class() {
            c if c == TdxStatus::PAGE_ALREADY_ACCEPTED.class() => TdxAcceptError::AlreadyAccepted,
            c if c == TdxStatus::PAGE_SIZE_MISMATCH.class() => TdxAcceptError::SizeMismatch,
            c if c == TdxStatus::OPERAND_BUSY.class() => TdxAcceptError::OperandBusy,
            c if c == TdxStatus::OPERAND_INVALID.class() => TdxAcceptError::OperandInvalid,
            _ => TdxAcceptError::Other(status.0),
        })
    }

    unsafe fn map_gpa(&mut self, range: GpaRange, shared: bool) -> Result<MapGpaOutcome, MapGpaError> {
        // A range reaching the shared bit would name other pages once the bit is set.
        if range.end() > self.shared_bit {
            return Err(MapGpaError::InvalidOperand);
        }
        let start = range.start() | if shared { self.shared_bit } else { 0 };
        // SAFETY: the caller upholds the trait's contract (no Rust reference into the range).
        let result = unsafe { vmcall(TDVMCALL_MAP_GPA, [start, range.len(), 0, 0]) };
        if result.tdcall_status != 0 {
            // The TDX module refused the TDCALL itself: not a VMM answer, and not recoverable.
            report_fatal_error(Termination::Failure);
        }
        match TdvmcallStatus(result.status) {
            TdvmcallStatus::SUCCESS => Ok(MapGpaOutcome::Done),
            // An allegation (the caller checks it lies inside the range and past the start); the VMM
            // may report it with or without the shared bit.
            TdvmcallStatus::RETRY => Ok(MapGpaOutcome::Retry { resume_at: result.output & !self.shared_bit }),
            TdvmcallStatus::INVALID_OPERAND => Err(MapGpaError::InvalidOperand),
            TdvmcallStatus::GPA_INUSE => Err(MapGpaError::GpaInUse),
            TdvmcallStatus::ALIGN_ERROR => Err(MapGpaError::AlignError),
            TdvmcallStatus(other) => Err(MapGpaError::Other(other)),
        }
    }

    unsafe fn zero(&mut self, gpa: u64, len: u64) {
        // Only Warden's region is mapped (identity): anything else is a caller bug, not a write elsewhere.
        let mut page = gpa & !0xFFF;
        while page < gpa.saturating_add(len) {
            match crate::paging::translate(page) {
                Ok(mapping) if mapping.physical == page && mapping.writable => page += 0x1000,
                _ => report_fatal_error(Termination::Failure),
            }
        }
        // SAFETY: every page of the range is identity-mapped writable (checked), accepted, owned by the
        // caller and unreferenced (the trait's contract).
        unsafe { core::ptr::write_bytes(gpa as *mut u8, 0, len as usize) };
    }
}
