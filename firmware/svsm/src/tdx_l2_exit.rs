//! An L2 exit on TDX, decoded: what TDG.VP.ENTER returned to Warden (the L1) when the L2 guest stopped,
//! turned into an [`L2Exit`], and the port I/O policy Warden applies to the L2's IN and OUT.
//!
//! Sources: Intel TDX Module TD Partitioning Architecture Specification (TDG.VP.ENTER's output: RAX =
//! exit status with the VMX basic exit reason in bits 31:0, RCX = exit qualification, R8 = GPA,
//! R11 = instruction length << 32 | instruction information); Intel SDM vol. 3, Appendix C (basic exit
//! reasons), Table 28-5 (I/O qualification), Table 28-7 (EPT-violation qualification).
//!
//! The exit information comes from the TDX module, which Warden trusts more than the VMM; it is decoded
//! defensively all the same (a length no x86 instruction has stops the guest rather than moving RIP
//! somewhere wild).
use warden_defs::layout::COM1_PORT;
use warden_defs::tdx_partition::{EptQualification, IoQualification, l2_exit_reason};

/// The longest x86 instruction (Intel SDM vol. 2, §2.3.11).
pub const MAX_INSTRUCTION_LENGTH: u8 = 15;
/// The test machine's host-nonce port (`warden-machine --nonce`): one byte IN, forwarded.
pub const NONCE_PORT: u16 = 0x0A40;
/// The last of COM1's eight registers.
const COM1_LAST: u16 = COM1_PORT + 7;

/// The registers TDG.VP.ENTER returns on an L2 exit, as the TDX module left them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExitInfo {
    /// RAX: bits 63:32 the TDCALL's status class (0 = the L2 ran and exited), bits 31:0 the exit reason.
    pub status: u64,
    /// RCX: the exit qualification.
    pub qualification: u64,
    /// R8: the faulting GPA (EPT violation).
    pub gpa: u64,
    /// R11: instruction length in bits 63:32, instruction information in bits 31:0.
    pub instruction: u64,
}

/// Why an exit cannot be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitError {
    /// TDG.VP.ENTER itself failed (a non-zero status class): the L2 did not run.
    EnterFailed(u64),
    /// An exit that needs RIP advanced reported a length no instruction has (0 or above 15).
    InstructionLength(u64),
}

/// An L2 exit, as Warden serves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L2Exit {
    /// VMCALL: an SVSM call (RAX = protocol << 32 | call, arguments in RCX, RDX, R8, R9).
    SvsmCall {
        /// The instruction's length.
        length: u8,
    },
    /// IN or OUT (or their string forms).
    Io {
        /// The exit qualification.
        qualification: IoQualification,
        /// The instruction's length.
        length: u8,
    },
    /// CPUID (leaf in EAX, sub-leaf in ECX).
    Cpuid {
        /// The instruction's length.
        length: u8,
    },
    /// HLT: the guest is done.
    Hlt,
    /// The L2 touched a page Warden did not grant it; the access did not happen.
    EptViolation {
        /// The GPA it touched.
        gpa: u64,
        /// How.
        qualification: EptQualification,
    },
    /// TDCALL from the L2 (any leaf): the TDX module's services belong to the L1.
    Tdcall {
        /// The instruction's length.
        length: u8,
    },
    /// RDMSR or WRMSR (MSR in ECX).
    Msr {
        /// WRMSR.
        write: bool,
        /// The instruction's length.
        length: u8,
    },
    /// A triple fault inside the L2.
    TripleFault,
    /// Any other basic exit reason.
    Other(u32),
}

/// The instruction length of `info`, checked.
fn length(info: &ExitInfo) -> Result<u8, ExitError> {
    let length = info.instruction >> 32;
    match u8::try_from(length) {
        Ok(len @ 1..=MAX_INSTRUCTION_LENGTH) => Ok(len),
        _ => Err(ExitError::InstructionLength(length)),
    }
}

/// Decodes TDG.VP.ENTER's output.
pub fn decode(info: &ExitInfo) -> Result<L2Exit, ExitError> {
    if info.status >> 32 != 0 {
        return Err(ExitError::EnterFailed(info.status));
    }
    let reason = info.status as u32;
    Ok(match reason {
        l2_exit_reason::VMCALL => L2Exit::SvsmCall { length: length(info)? },
        l2_exit_reason::IO => {
            L2Exit::Io { qualification: IoQualification(info.qualification), length: length(info)? }
        }
        l2_exit_reason::CPUID => L2Exit::Cpuid { length: length(info)? },
        l2_exit_reason::HLT => L2Exit::Hlt,
        l2_exit_reason::EPT_VIOLATION => {
            L2Exit::EptViolation { gpa: info.gpa, qualification: EptQualification(info.qualification) }
        }
        l2_exit_reason::TDCALL => L2Exit::Tdcall { length: length(info)? },
        l2_exit_reason::RDMSR => L2Exit::Msr { write: false, length: length(info)? },
        l2_exit_reason::WRMSR => L2Exit::Msr { write: true, length: length(info)? },
        l2_exit_reason::TRIPLE_FAULT => L2Exit::TripleFault,
        other => L2Exit::Other(other),
    })
}

/// What Warden does with an L2 port access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoAction {
    /// OUT to COM1: forwarded to the VMM (TDG.VP.VMCALL<Instruction.IO>), the guest's console.
    ForwardOut {
        /// The port.
        port: u16,
        /// Bytes (1, 2 or 4).
        size: u8,
        /// The value (the low `size` bytes of RAX).
        value: u32,
    },
    /// A one-byte IN from the host-nonce port: forwarded, the VMM's byte goes into AL.
    ForwardIn {
        /// The port.
        port: u16,
    },
    /// Any other IN: all ones in the low `size` bytes of RAX, as from a port nothing answers.
    AllOnes {
        /// Bytes (1, 2 or 4).
        size: u8,
    },
    /// Any other OUT, and every string or REP form (no memory is read or written for them): dropped.
    Drop,
}

/// The I/O policy: the L2 reaches the VMM only through COM1 (out) and the nonce port (in, one byte);
/// everything else is answered as an empty port. Warden never lets the L2 program a device the VMM
/// emulates for Warden itself.
pub fn io_policy(qualification: IoQualification, rax: u64) -> IoAction {
    let (port, size) = (qualification.port(), qualification.size());
    if qualification.is_string() || qualification.is_rep() || !matches!(size, 1 | 2 | 4) {
        return IoAction::Drop;
    }
    if qualification.is_in() {
        if port == NONCE_PORT && size == 1 {
            return IoAction::ForwardIn { port };
        }
        return IoAction::AllOnes { size };
    }
    if (COM1_PORT..=COM1_LAST).contains(&port) {
        let mask = if size == 4 { u32::MAX } else { (1u32 << (8 * u32::from(size))) - 1 };
        return IoAction::ForwardOut { port, size, value: rax as u32 & mask };
    }
    IoAction::Drop
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(reason: u32, length: u64) -> ExitInfo {
        ExitInfo { status: u64::from(reason), instruction: length << 32, ..ExitInfo::default() }
    }

    /// An I/O qualification: size, IN, port (Table 28-5).
    fn io(size: u8, is_in: bool, port: u16) -> IoQualification {
        IoQualification(u64::from(size - 1) | (u64::from(is_in) << 3) | (u64::from(port) << 16))
    }

    #[test]
    fn each_reason_decodes_to_its_exit() {
        assert_eq!(decode(&exit(18, 3)), Ok(L2Exit::SvsmCall { length: 3 }));
        assert_eq!(decode(&exit(10, 2)), Ok(L2Exit::Cpuid { length: 2 }));
        assert_eq!(decode(&exit(12, 1)), Ok(L2Exit::Hlt));
        assert_eq!(decode(&exit(77, 4)), Ok(L2Exit::Tdcall { length: 4 }));
        assert_eq!(decode(&exit(31, 2)), Ok(L2Exit::Msr { write: false, length: 2 }));
        assert_eq!(decode(&exit(32, 2)), Ok(L2Exit::Msr { write: true, length: 2 }));
        assert_eq!(decode(&exit(2, 0)), Ok(L2Exit::TripleFault));
        assert_eq!(decode(&exit(52, 0)), Ok(L2Exit::Other(52)));
        let ept = ExitInfo { status: 48, qualification: 0x82, gpa: 0x0200_0000, instruction: 0 };
        assert_eq!(
            decode(&ept),
            Ok(L2Exit::EptViolation { gpa: 0x0200_0000, qualification: EptQualification(0x82) })
        );
        let out = ExitInfo { qualification: io(1, false, 0x3F8).0, ..exit(30, 1) };
        assert_eq!(decode(&out), Ok(L2Exit::Io { qualification: io(1, false, 0x3F8), length: 1 }));
    }

    #[test]
    fn a_failed_entry_or_an_impossible_length_is_refused() {
        let failed = ExitInfo { status: 0xC000_0100_0000_0040, ..ExitInfo::default() };
        assert_eq!(decode(&failed), Err(ExitError::EnterFailed(0xC000_0100_0000_0040)));
        for bad in [0, 16, 255, 0xFFFF_FFFF] {
            assert_eq!(decode(&exit(18, bad)), Err(ExitError::InstructionLength(bad)), "{bad}");
            assert_eq!(decode(&exit(30, bad)), Err(ExitError::InstructionLength(bad)), "{bad}");
        }
        // Exits that do not move RIP do not care about the length.
        assert_eq!(decode(&exit(12, 0)), Ok(L2Exit::Hlt));
        assert_eq!(decode(&exit(48, 99)).map(|e| matches!(e, L2Exit::EptViolation { .. })), Ok(true));
    }

    #[test]
    fn the_ept_qualification_says_how_the_page_was_touched() {
        let write_with_gla = EptQualification(0b1000_0010);
        assert!(write_with_gla.write() && !write_with_gla.read() && !write_with_gla.fetch());
        assert!(write_with_gla.linear_address_valid());
        assert_eq!(write_with_gla.page_permissions(), 0);
        assert_eq!(EptQualification(0b11_1001).page_permissions(), 0b111);
    }

    #[test]
    fn com1_out_and_the_nonce_byte_are_forwarded() {
        let rax = 0xDEAD_BEEF_1234_5641;
        assert_eq!(
            io_policy(io(1, false, 0x3F8), rax),
            IoAction::ForwardOut { port: 0x3F8, size: 1, value: 0x41 }
        );
        assert_eq!(
            io_policy(io(2, false, 0x3FF), rax),
            IoAction::ForwardOut { port: 0x3FF, size: 2, value: 0x5641 }
        );
        assert_eq!(
            io_policy(io(4, false, 0x3FC), rax),
            IoAction::ForwardOut { port: 0x3FC, size: 4, value: 0x1234_5641 }
        );
        assert_eq!(io_policy(io(1, true, NONCE_PORT), rax), IoAction::ForwardIn { port: NONCE_PORT });
    }

    #[test]
    fn every_other_port_is_an_empty_one() {
        // COM1 IN (the line status a console polls) reads all ones: "transmitter empty".
        assert_eq!(io_policy(io(1, true, 0x3FD), 0), IoAction::AllOnes { size: 1 });
        // A wider nonce read is not the allowed one.
        assert_eq!(io_policy(io(2, true, NONCE_PORT), 0), IoAction::AllOnes { size: 2 });
        // Warden's own devices: COM2 (the native doorbell), fw_cfg, isa-debug-exit, the PIT.
        for port in [0x2F8u16, 0x510, 0x511, 0xF4, 0x40, 0x3F7, 0x400] {
            assert_eq!(io_policy(io(1, false, port), 0xFF), IoAction::Drop, "{port:#x}");
            assert_eq!(io_policy(io(4, true, port), 0), IoAction::AllOnes { size: 4 }, "{port:#x}");
        }
        assert_eq!(io_policy(io(1, false, NONCE_PORT), 1), IoAction::Drop);
    }

    #[test]
    fn string_rep_and_odd_sized_io_is_dropped_even_on_an_allowed_port() {
        let string = IoQualification(io(1, false, 0x3F8).0 | 1 << 4);
        let rep = IoQualification(io(1, true, NONCE_PORT).0 | 1 << 5 | 1 << 4);
        let three_bytes = IoQualification(io(1, false, 0x3F8).0 | 2);
        for qualification in [string, rep, three_bytes] {
            assert_eq!(io_policy(qualification, 0x41), IoAction::Drop, "{qualification:?}");
        }
    }
}
