//! Intel TDX status codes and leaf numbers for page acceptance and MapGPA.
//!
//! TDX module ABI (TDG.MEM.PAGE.ACCEPT) and GHCI (`TDG.VP.VMCALL<MapGPA>`); status codes from
//! the Intel TDX Module ABI specification (completion status codes) and Linux `arch/x86/include/asm/shared/tdx.h`. A TDX status is a u64 whose
//! class sits in bits \[63:32\]: bit 63 = error, bit 62 = non-recoverable; a clear bit 63 with a non-zero
//! class is a warning. Codes are open ([`TdxStatus`]): an unknown one survives and is reported.

/// TDCALL leaf: TDG.VP.VMCALL.
pub const TDG_VP_VMCALL: u64 = 0;
/// TDCALL leaf: TDG.MEM.PAGE.ACCEPT (RCX = GPA | level).
pub const TDG_MEM_PAGE_ACCEPT: u64 = 6;
/// TDCALL leaf: TDG.VP.VEINFO.GET (Intel TDX Module v1.5 ABI Specification (348551), TDG.VP.VEINFO.GET):
/// RCX = exit reason, RDX = exit qualification, R8 = guest linear address, R9 = guest physical address,
/// R10\[31:0\] = instruction length, R10\[63:32\] = instruction information.
pub const TDG_VP_VEINFO_GET: u64 = 3;
/// TDG.VP.VMCALL sub-function (R11): MapGPA (R12 = GPA with the shared bit for "shared", R13 = size).
pub const TDVMCALL_MAP_GPA: u64 = 0x10001;

/// The VMX basic exit reasons a #VE reports (Intel SDM vol. 3, Appendix C "VMX Basic Exit Reasons"),
/// which GHCI for Intel TDX 1.5 (726792) §3 also uses as the TDG.VP.VMCALL sub-function (R11) of the
/// instruction's emulation: Instruction.CPUID, .HLT, .IO, .RDMSR, .WRMSR.
pub mod exit_reason {
    /// CPUID: R12 = leaf, R13 = sub-leaf; the VMM returns EAX, EBX, ECX, EDX in R12-R15.
    pub const CPUID: u32 = 10;
    /// HLT: R12 = 1 if interrupts are blocked.
    pub const HLT: u32 = 12;
    /// IN/OUT: R12 = size, R13 = direction (0 in, 1 out), R14 = port, R15 = data; R11 = data read.
    pub const IO: u32 = 30;
    /// RDMSR: R12 = MSR; R11 = value.
    pub const RDMSR: u32 = 31;
    /// WRMSR: R12 = MSR, R13 = value.
    pub const WRMSR: u32 = 32;
    /// An EPT violation: in a TD, an access to a private page that is pending (not accepted).
    pub const EPT_VIOLATION: u32 = 48;
}

/// Accept level (RCX\[2:0\]): 4 KiB.
pub const TDX_LEVEL_4K: u64 = 0;
/// Accept level: 2 MiB.
pub const TDX_LEVEL_2M: u64 = 1;
/// Accept level: 1 GiB.
pub const TDX_LEVEL_1G: u64 = 2;

/// A TDCALL completion status (RAX). Open: unknown values survive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TdxStatus(pub u64);

impl TdxStatus {
    /// Success.
    pub const SUCCESS: Self = Self(0);
    /// Warning: the page was already accepted. The TDX module did **not** zero it.
    pub const PAGE_ALREADY_ACCEPTED: Self = Self(0x0000_0B0A_0000_0000);
    /// The page is mapped in the Secure EPT at a smaller size than the request.
    pub const PAGE_SIZE_MISMATCH: Self = Self(0xC000_0B0B_0000_0000);
    /// An operand (Secure EPT entry) is busy: retry.
    pub const OPERAND_BUSY: Self = Self(0x8000_0200_0000_0000);
    /// An operand is invalid (bad GPA, level or alignment).
    pub const OPERAND_INVALID: Self = Self(0xC000_0100_0000_0000);

    /// The status class, bits \[63:32\], which is what the codes above are compared on (the low half
    /// carries operand details).
    pub const fn class(self) -> u64 {
        self.0 >> 32
    }
    /// Bit 63: an error, not a success or warning.
    pub const fn is_error(self) -> bool {
        self.0 >> 63 == 1
    }
    /// Bits \[63:62\] == 0b10: a recoverable error; retrying may succeed.
    pub const fn is_recoverable(self) -> bool {
        self.0 >> 62 == 2
    }
}

/// TDG.VP.VMCALL status (R10 on return, GHCI "TDG.VP.VMCALL codes"). Open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TdvmcallStatus(pub u64);

impl TdvmcallStatus {
    /// Success.
    pub const SUCCESS: Self = Self(0);
    /// MapGPA: the VMM converted only part of the range; R11 holds the GPA to resume from.
    pub const RETRY: Self = Self(1);
    /// An operand is invalid.
    pub const INVALID_OPERAND: Self = Self(0x8000_0000_0000_0000);
    /// The GPA is in use.
    pub const GPA_INUSE: Self = Self(0x8000_0000_0000_0001);
    /// Misaligned operand.
    pub const ALIGN_ERROR: Self = Self(0x8000_0000_0000_0002);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes_follow_the_bit_layout() {
        assert!(!TdxStatus::PAGE_ALREADY_ACCEPTED.is_error());
        assert_eq!(TdxStatus::PAGE_ALREADY_ACCEPTED.class(), 0xB0A);
        assert!(TdxStatus::PAGE_SIZE_MISMATCH.is_error());
        assert!(!TdxStatus::PAGE_SIZE_MISMATCH.is_recoverable());
        assert!(TdxStatus::OPERAND_BUSY.is_recoverable());
        assert!(!TdxStatus::OPERAND_INVALID.is_recoverable());
    }
}
