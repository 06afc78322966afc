//! The NAE exit codes Warden issues through the GHCB, and the encodings of their `sw_exit_info` words.
//!
//! Source: GHCB spec (AMD 56421) "Non-Automatic Exit" (the NAE event table), IOIO,
//! "SNP AP Creation", "SNP Guest Request"; Linux `arch/x86/include/uapi/asm/svm.h`,
//! `arch/x86/include/asm/sev-common.h`.

/// An SW_EXITCODE: an open enum, because the hypervisor echoes it and an unknown value must survive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExitCode(pub u64);

impl ExitCode {
    /// CPUID (RAX, RCX, XCR0 in; RAX-RDX out).
    pub const CPUID: Self = Self(0x72);
    /// IN/OUT (exit_info_1 per [`ioio_exit_info`]; RAX carries the data).
    pub const IOIO: Self = Self(0x7B);
    /// RDMSR/WRMSR (exit_info_1 0 read, 1 write; RCX index; RAX/RDX value).
    pub const MSR: Self = Self(0x7C);
    /// SNP page state change (sw_scratch = the shared buffer's GPA).
    pub const SNP_PAGE_STATE_CHANGE: Self = Self(0x8000_0010);
    /// SNP guest request (info_1 request page GPA, info_2 response page GPA).
    pub const SNP_GUEST_REQUEST: Self = Self(0x8000_0011);
    /// SNP extended guest request (RAX certificate buffer GPA, RBX page count).
    pub const SNP_EXT_GUEST_REQUEST: Self = Self(0x8000_0012);
    /// SNP AP creation (exit_info per [`ap_create_exit_info_1`]).
    pub const SNP_AP_CREATION: Self = Self(0x8000_0013);
    /// Run a lower VMPL (exit_info_1 = exit_info_2 = 0).
    pub const SNP_RUN_VMPL: Self = Self(0x8000_0018);
    /// Hypervisor features.
    pub const HV_FEATURES: Self = Self(0x8000_FFFD);
    /// Termination request.
    pub const TERMINATE: Self = Self(0x8000_FFFE);
    /// What a hypervisor answers for an exit it does not support.
    pub const UNSUPPORTED: Self = Self(0x8000_FFFF);
}

/// IOIO exit_info_1 bit 0: the access is IN (clear: OUT).
pub const IOIO_TYPE_IN: u64 = 1 << 0;
/// IOIO exit_info_1 bit 2: string instruction.
pub const IOIO_STRING: u64 = 1 << 2;
/// IOIO exit_info_1 bit 3: REP prefix.
pub const IOIO_REP: u64 = 1 << 3;
/// IOIO exit_info_1 bit 4: 8-bit data.
pub const IOIO_DATA_8: u64 = 1 << 4;
/// IOIO exit_info_1 bit 5: 16-bit data.
pub const IOIO_DATA_16: u64 = 1 << 5;
/// IOIO exit_info_1 bit 6: 32-bit data.
pub const IOIO_DATA_32: u64 = 1 << 6;
/// IOIO exit_info_1 bit 9: 64-bit address size (Warden runs in long mode).
pub const IOIO_ADDR_64: u64 = 1 << 9;

/// The width of a port access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoWidth {
    /// 8 bits.
    Byte,
    /// 16 bits.
    Word,
    /// 32 bits.
    Dword,
}

impl IoWidth {
    /// The data bits of an access of this width (AL, AX or EAX).
    pub const fn mask(self) -> u64 {
        match self {
            IoWidth::Byte => 0xFF,
            IoWidth::Word => 0xFFFF,
            IoWidth::Dword => 0xFFFF_FFFF,
        }
    }
}

/// The direction of a port access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoDirection {
    /// IN: the hypervisor returns the data in RAX.
    In,
    /// OUT: Warden passes the data in RAX.
    Out,
}

/// exit_info_1 for a non-string IN/OUT from 64-bit code, the way Linux builds it for `in`/`out`.
pub const fn ioio_exit_info(port: u16, width: IoWidth, direction: IoDirection) -> u64 {
    let data = match width {
        IoWidth::Byte => IOIO_DATA_8,
        IoWidth::Word => IOIO_DATA_16,
        IoWidth::Dword => IOIO_DATA_32,
    };
    let kind = match direction {
        IoDirection::In => IOIO_TYPE_IN,
        IoDirection::Out => 0,
    };
    ((port as u64) << 16) | IOIO_ADDR_64 | data | kind
}

/// exit_info_1 for an MSR read.
pub const MSR_READ: u64 = 0;
/// exit_info_1 for an MSR write.
pub const MSR_WRITE: u64 = 1;

/// The AP creation request in exit_info_1 bits 31:0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ApCreateRequest {
    /// Create the vCPU when it receives INIT.
    OnInit = 0,
    /// Create it now.
    Create = 1,
    /// Destroy it.
    Destroy = 2,
}

/// exit_info_1 for AP creation: bits 31:0 the request with the target VMPL in bits 19:16, bits 63:32 the APIC ID.
/// exit_info_2 is the VMSA's GPA and RAX the SEV features.
pub const fn ap_create_exit_info_1(request: ApCreateRequest, vmpl: u8, apic_id: u32) -> u64 {
    ((apic_id as u64) << 32) | (((vmpl & 0xF) as u64) << 16) | request as u64
}

/// What the hypervisor's `sw_exit_info_2` says about a guest request (GHCB spec "SNP Guest Request"):
/// bits 31:0 the firmware's error, bits 63:32 the VMM's error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestRequestError {
    /// VMM error 1: the certificate buffer is too small (extended request; RBX holds the pages needed).
    InvalidLength,
    /// VMM error 2: the PSP is busy; retry.
    Busy,
    /// Another VMM error (open: the value is kept).
    Vmm(u32),
    /// The PSP firmware's error.
    Firmware(u32),
}

/// Decodes a guest request's `sw_exit_info_2`; 0 is success. A VMM error takes precedence because the
/// firmware code is then meaningless.
pub const fn guest_request_status(info_2: u64) -> Result<(), GuestRequestError> {
    let vmm = (info_2 >> 32) as u32;
    let firmware = info_2 as u32;
    match (vmm, firmware) {
        (0, 0) => Ok(()),
        (1, _) => Err(GuestRequestError::InvalidLength),
        (2, _) => Err(GuestRequestError::Busy),
        (0, code) => Err(GuestRequestError::Firmware(code)),
        (code, _) => Err(GuestRequestError::Vmm(code)),
    }
}
