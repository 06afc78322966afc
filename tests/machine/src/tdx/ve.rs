//! #VE, the virtualization exception (vector 20), and the information the TDX module keeps for it
//! until the guest reads it with TDG.VP.VEINFO.GET ("Intel TDX Module v1.5 Base Architecture
//! Specification" (348549) §"Virtualization Exception (#VE)"; "Intel TDX Module v1.5 ABI
//! Specification" (348551) TDG.VP.VEINFO.GET). Exit reasons and qualifications are the VMX ones
//! (Intel SDM vol. 3 Appendix C, Table 28-5 for I/O, Table 28-7 for EPT violations).

/// The #VE vector.
pub const VE: u8 = 20;
/// #DF: a #VE while the previous #VE's information is still unread becomes a double fault.
pub const DF: u8 = 8;

/// VMX basic exit reason: CPUID.
pub const EXIT_CPUID: u32 = 10;
/// VMX basic exit reason: HLT.
pub const EXIT_HLT: u32 = 12;
/// VMX basic exit reason: control-register access (MOV to CR4 changing a bit the TDX module owns).
pub const EXIT_CR_ACCESS: u32 = 28;
/// VMX basic exit reason: I/O instruction.
pub const EXIT_IO: u32 = 30;
/// VMX basic exit reason: RDMSR.
pub const EXIT_RDMSR: u32 = 31;
/// VMX basic exit reason: WRMSR.
pub const EXIT_WRMSR: u32 = 32;
/// VMX basic exit reason: EPT violation.
pub const EXIT_EPT_VIOLATION: u32 = 48;

/// EPT-violation qualification bits: the access was a read, a write, an instruction fetch.
pub const EPT_READ: u64 = 1 << 0;
/// See [`EPT_READ`].
pub const EPT_WRITE: u64 = 1 << 1;
/// See [`EPT_READ`].
pub const EPT_FETCH: u64 = 1 << 2;

/// What TDG.VP.VEINFO.GET returns for the last #VE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VeInfo {
    /// RCX\[31:0\]: the exit reason.
    pub exit_reason: u32,
    /// RDX: the exit qualification.
    pub exit_qualification: u64,
    /// R8: the guest linear address (0 where the model does not know it).
    pub gla: u64,
    /// R9: the guest physical address (EPT violations).
    pub gpa: u64,
    /// R10\[31:0\]: the length of the instruction that caused the #VE.
    pub instruction_length: u32,
    /// R10\[63:32\]: the VMX instruction information.
    pub instruction_info: u32,
}

impl VeInfo {
    /// A #VE for an instruction of `length` bytes.
    pub fn instruction(exit_reason: u32, exit_qualification: u64, length: u32) -> Self {
        Self { exit_reason, exit_qualification, instruction_length: length, ..Self::default() }
    }

    /// The I/O qualification (SDM Table 28-5): size - 1 in \[2:0\], IN in bit 3, string in bit 4,
    /// REP in bit 5, immediate port in bit 6, the port in \[31:16\].
    pub fn io_qualification(
        size: u8,
        is_in: bool,
        string: bool,
        rep: bool,
        immediate: bool,
        port: u16,
    ) -> u64 {
        u64::from(size.saturating_sub(1) & 7)
            | (u64::from(is_in) << 3)
            | (u64::from(string) << 4)
            | (u64::from(rep) << 5)
            | (u64::from(immediate) << 6)
            | (u64::from(port) << 16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_qualification_follows_the_sdm_layout() {
        assert_eq!(VeInfo::io_qualification(1, false, false, false, false, 0x3F8), 0x03F8_0000);
        assert_eq!(VeInfo::io_qualification(4, true, false, false, true, 0x80), 0x0080_004B);
    }
}
