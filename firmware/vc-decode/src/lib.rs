//! Decodes the instruction that raised an SEV-SNP #VC exception, from its bytes, as a pure function.
//!
//! Under SEV-SNP the CPU does not let the hypervisor see Warden's registers: an intercepted instruction
//! raises #VC (vector 29) in Warden instead, and Warden's handler must emulate it through the GHCB. To
//! do that it needs the instruction's operands and length, which the CPU does not supply: the handler
//! reads the bytes at the faulting RIP (Warden's own text only, at most [`MAX_INSTRUCTION_LEN`]) and
//! calls [`decode`].
//!
//! Only what Warden's own code executes is decoded: CPUID, RDMSR, WRMSR, and non-string IN/OUT with an
//! 8-bit immediate or DX port, 8/16/32-bit data (AMD APM vol. 3, "IN", "OUT", "CPUID", "RDMSR",
//! "WRMSR"). Anything else (string I/O, other prefixes, other opcodes) is refused, so the handler can
//! terminate instead of guessing. Byte facts: the #VC exit codes (GHCB spec (AMD 56421) §4.1, and the
//! SVM intercept codes of AMD64 APM vol. 2 Appendix C), and the IOIO exit_info_1 layout (AMD64 APM
//! vol. 2 §15.10.2, "EXITINFO1 for IOIO Intercept"); #VC itself: AMD64 APM vol. 2 §15.35.
//!
//! `unsafe`: forbidden (`#![forbid(unsafe_code)]`): decoding is arithmetic on a byte slice.
#![no_std]
#![forbid(unsafe_code)]

use warden_defs::ghcb::exit::{ExitCode, IoDirection, IoWidth};

/// The architectural maximum length of an x86 instruction; the decoder never looks further.
pub const MAX_INSTRUCTION_LEN: usize = 15;

/// The operand-size override prefix: turns IN/OUT eAX into AX.
const OPERAND_SIZE_PREFIX: u8 = 0x66;

/// Where an IN/OUT takes its port from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Port {
    /// An 8-bit immediate (opcodes E4-E7).
    Immediate(u8),
    /// The DX register (opcodes EC-EF).
    Dx,
}

/// A port access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoAccess {
    /// IN or OUT.
    pub direction: IoDirection,
    /// The port's source.
    pub port: Port,
    /// The data width (AL, AX or EAX).
    pub width: IoWidth,
}

/// What the instruction does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VcKind {
    /// CPUID (0F A2).
    Cpuid,
    /// RDMSR (0F 32).
    Rdmsr,
    /// WRMSR (0F 30).
    Wrmsr,
    /// IN or OUT (E4-E7, EC-EF, optionally after 66).
    Io(IoAccess),
}

/// A decoded instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcInstruction {
    /// What it does.
    pub kind: VcKind,
    /// Its length in bytes: how far the handler advances RIP.
    pub length: u8,
}

/// Why the bytes were refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes end before the instruction does.
    Truncated,
    /// INS/OUTS (6C-6F): Warden never executes string I/O, and emulating it needs memory operands.
    StringIo,
    /// A prefix other than one operand-size override before IN/OUT.
    Prefix(u8),
    /// A one-byte opcode this decoder does not handle.
    Opcode(u8),
    /// A two-byte opcode (0F xx) this decoder does not handle.
    TwoByteOpcode(u8),
}

impl VcKind {
    /// The #VC error code (= the SW_EXITCODE) this instruction raises. The handler refuses a #VC whose
    /// error code disagrees with the decoded instruction.
    pub const fn exit_code(self) -> ExitCode {
        match self {
            VcKind::Cpuid => ExitCode::CPUID,
            VcKind::Rdmsr | VcKind::Wrmsr => ExitCode::MSR,
            VcKind::Io(_) => ExitCode::IOIO,
        }
    }
}

/// Whether `byte` is an x86 legacy or REX prefix (which this decoder refuses rather than skips).
const fn is_prefix(byte: u8) -> bool {
    matches!(byte, 0x26 | 0x2E | 0x36 | 0x3E | 0x40..=0x4F | 0x64..=0x67 | 0xF0 | 0xF2 | 0xF3)
}

/// Decodes the instruction at the start of `bytes` (anything past [`MAX_INSTRUCTION_LEN`] is ignored).
pub fn decode(bytes: &[u8]) -> Result<VcInstruction, DecodeError> {
    let bytes = bytes.get(..MAX_INSTRUCTION_LEN).unwrap_or(bytes);
    let first = *bytes.first().ok_or(DecodeError::Truncated)?;
    let operand16 = first == OPERAND_SIZE_PREFIX;
    let at = usize::from(operand16);
    let opcode = *bytes.get(at).ok_or(DecodeError::Truncated)?;
    let (kind, length) = match opcode {
        0x0F if !operand16 => {
            let kind = match *bytes.get(1).ok_or(DecodeError::Truncated)? {
                0xA2 => VcKind::Cpuid,
                0x32 => VcKind::Rdmsr,
                0x30 => VcKind::Wrmsr,
                other => return Err(DecodeError::TwoByteOpcode(other)),
            };
            (kind, 2)
        }
        0xE4..=0xE7 => {
            let port = *bytes.get(at + 1).ok_or(DecodeError::Truncated)?;
            (VcKind::Io(io(opcode, Port::Immediate(port), operand16)), at + 2)
        }
        0xEC..=0xEF => (VcKind::Io(io(opcode, Port::Dx, operand16)), at + 1),
        0x6C..=0x6F => return Err(DecodeError::StringIo),
        other if is_prefix(other) => return Err(DecodeError::Prefix(other)),
        // 66 before a non-I/O opcode: the prefix is what is refused (66 0F A2 is still CPUID, but
        // Warden never emits it, so it is not worth the ambiguity).
        _ if operand16 => return Err(DecodeError::Prefix(OPERAND_SIZE_PREFIX)),
        other => return Err(DecodeError::Opcode(other)),
    };
    // At most 3 bytes (66 E5 ib): the cast cannot truncate.
    Ok(VcInstruction { kind, length: length as u8 })
}

/// IN/OUT: bit 1 of the opcode is the direction (0 IN, 1 OUT), bit 0 the width (0 AL, 1 eAX).
fn io(opcode: u8, port: Port, operand16: bool) -> IoAccess {
    let direction = if opcode & 0b10 == 0 { IoDirection::In } else { IoDirection::Out };
    let width = match (opcode & 1 == 0, operand16) {
        (true, _) => IoWidth::Byte,
        (false, true) => IoWidth::Word,
        (false, false) => IoWidth::Dword,
    };
    IoAccess { direction, port, width }
}

/// The mask of a port access's data bits.
pub const fn width_mask(width: IoWidth) -> u64 {
    width.mask()
}

/// RAX after an IN of `width` that returned `value`: IN AL and IN AX keep RAX's other bits, IN EAX
/// zero-extends into RAX (a 32-bit register write). Bits of `value` above the width are dropped, so a
/// hypervisor that returns more than the width cannot reach the rest of RAX.
pub const fn merge_in(rax: u64, value: u64, width: IoWidth) -> u64 {
    let mask = width_mask(width);
    match width {
        IoWidth::Dword => value & mask,
        IoWidth::Byte | IoWidth::Word => (rax & !mask) | (value & mask),
    }
}

/// CPUID leaf 0x8000_001F EAX bit 1: SEV.
const CPUID_SEV: u32 = 1 << 1;
/// CPUID leaf 0x8000_001F EAX bit 4: SEV-SNP.
const CPUID_SNP: u32 = 1 << 4;

/// Whether a hypervisor's CPUID answer (leaf `leaf`, result `eax`) contradicts SNP. A #VC exists only
/// under SEV-ES/SNP, so CPUID must report the SEV leaf (0x8000_0000 EAX >= 0x8000_001F) and the SEV and
/// SNP bits of 0x8000_001F; a hypervisor that hides them tries to steer Warden onto a non-confidential
/// path (threat model T3). Linux `do_vc_no_ghcb` makes the same checks (SEV bit only).
pub const fn cpuid_contradicts_snp(leaf: u32, eax: u32) -> bool {
    match leaf {
        0x8000_0000 => eax < 0x8000_001F,
        0x8000_001F => eax & CPUID_SEV == 0 || eax & CPUID_SNP == 0,
        _ => false,
    }
}

#[cfg(test)]
mod tests;
