//! The GHCB: the page Warden shares with the hypervisor on SEV-SNP, its MSR protocol, the NAE exit codes
//! Warden issues, and pure checks of the values the hypervisor writes back.
//!
//! Source: GHCB spec (AMD 56421) "GHCB Layout" (table "GHCB Layout"); Linux
//! `arch/x86/include/asm/svm.h` `struct ghcb`, COCONUT `GHCB`. Threat model T1: every field read back from the GHCB is written by the hypervisor. The
//! firmware copies the page into a private [`Ghcb`] once after VMGEXIT and then only calls the checks
//! here: an output counts only if its valid bit is set, and `sw_exit_info_1/2` decode into typed errors.
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

/// The GHCB protocol version Warden speaks (the SNP version).
pub const GHCB_PROTOCOL_VERSION: u16 = 2;
/// `ghcb_usage` for the standard layout.
pub const GHCB_USAGE_STANDARD: u32 = 0;
/// The size of the shared buffer at 0x800.
pub const SHARED_BUFFER_SIZE: usize = 0x7F0;

/// The GHCB page (GHCB spec, AMD 56421, "GHCB Layout"): the save-area fields Warden uses, every other byte spelled out as
/// reserved, the shared buffer, the protocol version and the usage.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Ghcb {
    /// 0x000: segment registers and more; unused by Warden.
    pub reserved_0x000: [u8; 0xCB],
    /// 0x0CB: CPL.
    pub cpl: u8,
    /// 0x0CC: unused.
    pub reserved_0x0cc: [u8; 0x74],
    /// 0x140: XSS.
    pub xss: u64,
    /// 0x148: unused.
    pub reserved_0x148: [u8; 0x30],
    /// 0x178: RIP.
    pub rip: u64,
    /// 0x180: unused.
    pub reserved_0x180: [u8; 0x78],
    /// 0x1F8: RAX.
    pub rax: u64,
    /// 0x200: unused.
    pub reserved_0x200: [u8; 0x108],
    /// 0x308: RCX.
    pub rcx: u64,
    /// 0x310: RDX.
    pub rdx: u64,
    /// 0x318: RBX.
    pub rbx: u64,
    /// 0x320: RBP..R15, unused by Warden's exits.
    pub reserved_0x320: [u8; 0x70],
    /// 0x390: SW_EXITCODE.
    pub sw_exit_code: u64,
    /// 0x398: SW_EXITINFO1.
    pub sw_exit_info_1: u64,
    /// 0x3A0: SW_EXITINFO2.
    pub sw_exit_info_2: u64,
    /// 0x3A8: SW_SCRATCH.
    pub sw_scratch: u64,
    /// 0x3B0: unused.
    pub reserved_0x3b0: [u8; 0x38],
    /// 0x3E8: XCR0.
    pub xcr0: u64,
    /// 0x3F0: the valid bitmap: bit `off / 8` says the field at `off` was written.
    pub valid_bitmap: [u64; 2],
    /// 0x400: x87 state GPA and the rest of the save area; unused.
    pub reserved_0x400: [u8; 0x400],
    /// 0x800: the shared buffer (PSC descriptors, string I/O, MMIO data).
    pub shared_buffer: [u8; SHARED_BUFFER_SIZE],
    /// 0xFF0: reserved.
    pub reserved_0xff0: [u8; 10],
    /// 0xFFA: the protocol version.
    pub protocol_version: u16,
    /// 0xFFC: the usage (0 = standard).
    pub ghcb_usage: u32,
}

/// Byte offsets of the fields Warden uses (GHCB spec table "GHCB Layout"); also their valid-bitmap positions (offset / 8).
pub mod offsets {
    /// CPL.
    pub const CPL: usize = 0x0CB;
    /// XSS.
    pub const XSS: usize = 0x140;
    /// RIP.
    pub const RIP: usize = 0x178;
    /// RAX.
    pub const RAX: usize = 0x1F8;
    /// RCX.
    pub const RCX: usize = 0x308;
    /// RDX.
    pub const RDX: usize = 0x310;
    /// RBX.
    pub const RBX: usize = 0x318;
    /// SW_EXITCODE.
    pub const SW_EXIT_CODE: usize = 0x390;
    /// SW_EXITINFO1.
    pub const SW_EXIT_INFO_1: usize = 0x398;
    /// SW_EXITINFO2.
    pub const SW_EXIT_INFO_2: usize = 0x3A0;
    /// SW_SCRATCH.
    pub const SW_SCRATCH: usize = 0x3A8;
    /// XCR0.
    pub const XCR0: usize = 0x3E8;
    /// The valid bitmap.
    pub const VALID_BITMAP: usize = 0x3F0;
    /// The shared buffer.
    pub const SHARED_BUFFER: usize = 0x800;
    /// The protocol version.
    pub const PROTOCOL_VERSION: usize = 0xFFA;
    /// The usage.
    pub const GHCB_USAGE: usize = 0xFFC;
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<Ghcb>() == 4096);
    assert!(offset_of!(Ghcb, cpl) == offsets::CPL);
    assert!(offset_of!(Ghcb, xss) == offsets::XSS);
    assert!(offset_of!(Ghcb, rip) == offsets::RIP);
    assert!(offset_of!(Ghcb, rax) == offsets::RAX);
    assert!(offset_of!(Ghcb, rcx) == offsets::RCX);
    assert!(offset_of!(Ghcb, rdx) == offsets::RDX);
    assert!(offset_of!(Ghcb, rbx) == offsets::RBX);
    assert!(offset_of!(Ghcb, sw_exit_code) == offsets::SW_EXIT_CODE);
    assert!(offset_of!(Ghcb, sw_exit_info_1) == offsets::SW_EXIT_INFO_1);
    assert!(offset_of!(Ghcb, sw_exit_info_2) == offsets::SW_EXIT_INFO_2);
    assert!(offset_of!(Ghcb, sw_scratch) == offsets::SW_SCRATCH);
    assert!(offset_of!(Ghcb, xcr0) == offsets::XCR0);
    assert!(offset_of!(Ghcb, valid_bitmap) == offsets::VALID_BITMAP);
    assert!(offset_of!(Ghcb, shared_buffer) == offsets::SHARED_BUFFER);
    assert!(offset_of!(Ghcb, protocol_version) == offsets::PROTOCOL_VERSION);
    assert!(offset_of!(Ghcb, ghcb_usage) == offsets::GHCB_USAGE);
    // 253 PSC entries of 8 bytes after an 8-byte header fill the shared buffer (GHCB spec "Page State Change").
    assert!((SHARED_BUFFER_SIZE - 8) / 8 == 253);
};

/// A save-area field Warden reads or writes; its discriminant is its byte offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Field {
    /// RAX.
    Rax = offsets::RAX,
    /// RBX.
    Rbx = offsets::RBX,
    /// RCX.
    Rcx = offsets::RCX,
    /// RDX.
    Rdx = offsets::RDX,
    /// SW_EXITCODE.
    SwExitCode = offsets::SW_EXIT_CODE,
    /// SW_EXITINFO1.
    SwExitInfo1 = offsets::SW_EXIT_INFO_1,
    /// SW_EXITINFO2.
    SwExitInfo2 = offsets::SW_EXIT_INFO_2,
    /// SW_SCRATCH.
    SwScratch = offsets::SW_SCRATCH,
    /// XCR0.
    Xcr0 = offsets::XCR0,
    /// XSS.
    Xss = offsets::XSS,
}

/// What a value read back from the GHCB says went wrong (all hypervisor-caused; threat model T1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GhcbError {
    /// An output the exit must produce has no valid bit.
    MissingOutput(Field),
    /// `sw_exit_info_1` = 1: the hypervisor asks to inject this exception into Warden.
    Exception(EventInjection),
    /// `sw_exit_info_1` = 1 with an `sw_exit_info_2` that is not a valid #GP/#UD exception.
    BadException(u64),
    /// `sw_exit_info_1` = 2: the hypervisor reports a GHCB error.
    Hypervisor(HvErrorCode),
    /// `sw_exit_info_1 bits 31:0` is none of 0, 1, 2.
    UnknownStatus(u32),
}

/// `sw_exit_info_2` of a GHCB error (GHCB spec, table "SW_EXITINFO2 error codes"): an open enum, an unknown value survives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HvErrorCode(pub u64);

impl HvErrorCode {
    /// The GHCB GPA was not registered.
    pub const NOT_REGISTERED: Self = Self(1);
    /// Invalid `ghcb_usage`.
    pub const INVALID_USAGE: Self = Self(2);
    /// Invalid `sw_scratch`.
    pub const INVALID_SCRATCH: Self = Self(3);
    /// An input had no valid bit.
    pub const MISSING_INPUT: Self = Self(4);
    /// An input was invalid.
    pub const INVALID_INPUT: Self = Self(5);
    /// An event-injection request was invalid.
    pub const INVALID_EVENT: Self = Self(6);
}

/// An event in the SVM EVENTINJ format (`sw_exit_info_2` when `sw_exit_info_1` = 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventInjection {
    /// Bits bits 7:0.
    pub vector: u8,
    /// Bits bits 63:32 when bit 11 is set.
    pub error_code: Option<u32>,
}

const EVENTINJ_VECTOR_MASK: u64 = 0xFF;
const EVENTINJ_TYPE_MASK: u64 = 0x7 << 8;
const EVENTINJ_TYPE_EXCEPTION: u64 = 3 << 8;
const EVENTINJ_ERROR_VALID: u64 = 1 << 11;
const EVENTINJ_VALID: u64 = 1 << 31;
const VECTOR_UD: u8 = 6;
const VECTOR_GP: u8 = 13;

impl Ghcb {
    /// An all-zero GHCB with the standard version and usage: what Warden writes before each exit.
    pub fn new() -> Self {
        let mut ghcb = Self::new_zeroed();
        ghcb.protocol_version = GHCB_PROTOCOL_VERSION;
        ghcb.ghcb_usage = GHCB_USAGE_STANDARD;
        ghcb
    }

    /// Whether the valid bit of the field at byte offset `offset` is set. Out-of-range offsets are not.
    pub fn is_valid_at(&self, offset: usize) -> bool {
        let bit = offset / 8;
        match self.valid_bitmap.get(bit / 64) {
            Some(word) => word & (1 << (bit % 64)) != 0,
            None => false,
        }
    }

    /// Whether `field`'s valid bit is set.
    pub fn is_valid(&self, field: Field) -> bool {
        self.is_valid_at(field as usize)
    }

    /// Writes `value` into `field` and sets its valid bit (the request side).
    pub fn set(&mut self, field: Field, value: u64) {
        let slot = match field {
            Field::Rax => &mut self.rax,
            Field::Rbx => &mut self.rbx,
            Field::Rcx => &mut self.rcx,
            Field::Rdx => &mut self.rdx,
            Field::SwExitCode => &mut self.sw_exit_code,
            Field::SwExitInfo1 => &mut self.sw_exit_info_1,
            Field::SwExitInfo2 => &mut self.sw_exit_info_2,
            Field::SwScratch => &mut self.sw_scratch,
            Field::Xcr0 => &mut self.xcr0,
            Field::Xss => &mut self.xss,
        };
        *slot = value;
        let bit = field as usize / 8;
        self.valid_bitmap[bit / 64] |= 1 << (bit % 64);
    }

    /// Reads an output field the hypervisor must have written: refused unless its valid bit is set.
    pub fn output(&self, field: Field) -> Result<u64, GhcbError> {
        if !self.is_valid(field) {
            return Err(GhcbError::MissingOutput(field));
        }
        Ok(match field {
            Field::Rax => self.rax,
            Field::Rbx => self.rbx,
            Field::Rcx => self.rcx,
            Field::Rdx => self.rdx,
            Field::SwExitCode => self.sw_exit_code,
            Field::SwExitInfo1 => self.sw_exit_info_1,
            Field::SwExitInfo2 => self.sw_exit_info_2,
            Field::SwScratch => self.sw_scratch,
            Field::Xcr0 => self.xcr0,
            Field::Xss => self.xss,
        })
    }

    /// Decodes the exit status in `sw_exit_info_1 bits 31:0` (and `sw_exit_info_2` on failure), as Linux's
    /// `verify_exception_info` does. Success is 0; an injected exception is accepted as a report only if
    /// it is a valid #GP or #UD, anything else from the hypervisor is malformed.
    pub fn exit_status(&self) -> Result<(), GhcbError> {
        let status = self.sw_exit_info_1 as u32;
        let info = self.sw_exit_info_2;
        match status {
            0 => Ok(()),
            1 => {
                let vector = (info & EVENTINJ_VECTOR_MASK) as u8;
                let sane = info & EVENTINJ_VALID != 0
                    && info & EVENTINJ_TYPE_MASK == EVENTINJ_TYPE_EXCEPTION
                    && (vector == VECTOR_GP || vector == VECTOR_UD);
                if !sane {
                    return Err(GhcbError::BadException(info));
                }
                let error_code = (info & EVENTINJ_ERROR_VALID != 0).then_some((info >> 32) as u32);
                Err(GhcbError::Exception(EventInjection { vector, error_code }))
            }
            2 => Err(GhcbError::Hypervisor(HvErrorCode(info))),
            other => Err(GhcbError::UnknownStatus(other)),
        }
    }
}

impl Default for Ghcb {
    fn default() -> Self {
        Self::new()
    }
}

pub mod exit;
pub mod msr;

#[cfg(test)]
mod tests;
