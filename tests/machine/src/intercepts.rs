//! Instructions SEV-ES/SNP intercepts and turns into #VC (GHCB spec (AMD 56421) §4.1 "#VC exception",
//! error code = the SVM exit code), and how the machine finds them: unicorn cannot make an instruction
//! raise an exception, and its CPUID hook cannot skip the instruction, so the machine decodes the
//! pages it loads (a linear sweep with iced-x86, plus every byte-pattern match of the two-byte
//! opcodes) and puts a code hook on each site. A hook only fires when an instruction starts there,
//! so sites found in data are harmless. Unicorn's own IN/OUT and CPUID hooks stay as a safety net:
//! if one fires, a site was missed, and the machine stops rather than let the instruction run.
//!
//! Not intercepted (KVM's SEV-ES defaults, APM vol. 2 §15.35.4): RDTSC, XSETBV, RDMSR/WRMSR of EFER
//! and PAT ([`PASSTHROUGH_MSRS`]); HLT is an automatic exit. The GHCB MSR (0xC001_0130) and SEV_STATUS (0xC001_0131) are handled by the CPU itself.
use iced_x86::{Decoder, DecoderOptions, Mnemonic, OpKind, Register};

/// SVM exit code of CPUID, the #VC error code.
pub const EXIT_CPUID: u64 = 0x72;
/// SVM exit code of IN/OUT/INS/OUTS.
pub const EXIT_IOIO: u64 = 0x7B;
/// SVM exit code of RDMSR/WRMSR.
pub const EXIT_MSR: u64 = 0x7C;
/// The GHCB MSR.
pub const MSR_GHCB: u32 = 0xC001_0130;
/// SEV_STATUS: SEV | SEV-ES | SNP.
pub const MSR_SEV_STATUS: u32 = 0xC001_0131;
/// MSRs whose RDMSR/WRMSR the hypervisor does not intercept for an SEV-ES/SNP guest: EFER
/// (0xC000_0080; writes are a trap-style automatic exit instead) and PAT (0x277). KVM clears both
/// intercepts when it sets up an SEV-ES vCPU (Linux `arch/x86/kvm/svm/sev.c`, `sev_es_init_vmcb`).
pub const PASSTHROUGH_MSRS: [u32; 2] = [0xC000_0080, 0x277];
/// SEV_STATUS's value on this machine: bits 0 (SEV), 1 (SEV-ES), 2 (SNP).
pub const SEV_STATUS: u64 = 0b111;

/// An instruction the machine must act on before it executes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    /// CPUID.
    Cpuid,
    /// RDMSR.
    Rdmsr,
    /// WRMSR.
    Wrmsr,
    /// IN, OUT, INS, OUTS.
    Io,
    /// `mov cr0, reg`: may turn paging on (the end of the paging-off phase).
    MovCr0,
    /// `mov cr3, reg`: the machine sets the C-bit in CR3, because SNP walks guest page tables as
    /// private memory whatever CR3 says (AMD64 APM vol. 2 §15.34.5), and unicorn follows CR3.
    MovCr3,
    /// `mov reg, cr3`: reads CR3 as the firmware wrote it (without the C-bit the machine added).
    MovFromCr3,
    /// PVALIDATE, RMPADJUST or VMGEXIT, which unicorn does not implement (the invalid-instruction
    /// hook would see them too, but only the first time; see `machine`).
    SnpInstruction,
}

impl Site {
    /// The instruction's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cpuid => "CPUID",
            Self::Rdmsr => "RDMSR",
            Self::Wrmsr => "WRMSR",
            Self::Io => "IN/OUT",
            Self::MovCr0 => "MOV CR0",
            Self::MovCr3 => "MOV CR3",
            Self::MovFromCr3 => "MOV from CR3",
            Self::SnpInstruction => "PVALIDATE/RMPADJUST/VMGEXIT",
        }
    }

    /// The #VC error code of an intercepted site.
    pub fn exit_code(self) -> Option<u64> {
        match self {
            Self::Cpuid => Some(EXIT_CPUID),
            Self::Rdmsr | Self::Wrmsr => Some(EXIT_MSR),
            Self::Io => Some(EXIT_IOIO),
            Self::MovCr0 | Self::MovCr3 | Self::MovFromCr3 | Self::SnpInstruction => None,
        }
    }
}

/// Every site in `code` (loaded at virtual `base`), decoded as `bitness`-bit code.
pub fn scan(code: &[u8], base: u64, bitness: u32) -> Vec<(u64, Site)> {
    let mut sites = Vec::new();
    let mut decoder = Decoder::with_ip(bitness, code, base, DecoderOptions::NONE);
    for insn in &mut decoder {
        let site = match insn.mnemonic() {
            Mnemonic::Cpuid => Site::Cpuid,
            Mnemonic::Rdmsr => Site::Rdmsr,
            Mnemonic::Wrmsr => Site::Wrmsr,
            Mnemonic::In | Mnemonic::Out | Mnemonic::Insb | Mnemonic::Insw | Mnemonic::Insd => Site::Io,
            Mnemonic::Outsb | Mnemonic::Outsw | Mnemonic::Outsd => Site::Io,
            Mnemonic::Pvalidate | Mnemonic::Rmpadjust | Mnemonic::Vmgexit => Site::SnpInstruction,
            Mnemonic::Mov if insn.op0_kind() == OpKind::Register && insn.op0_register() == Register::CR0 => {
                Site::MovCr0
            }
            Mnemonic::Mov if insn.op0_kind() == OpKind::Register && insn.op0_register() == Register::CR3 => {
                Site::MovCr3
            }
            Mnemonic::Mov if insn.op1_kind() == OpKind::Register && insn.op1_register() == Register::CR3 => {
                Site::MovFromCr3
            }
            _ => continue,
        };
        sites.push((insn.ip(), site));
    }
    for (i, w) in code.windows(4).enumerate() {
        let site = match w {
            [0x0F, 0xA2, ..] => Site::Cpuid,
            [0x0F, 0x32, ..] => Site::Rdmsr,
            [0x0F, 0x30, ..] => Site::Wrmsr,
            [0xF2, 0x0F, 0x01, 0xFF] | [0xF3, 0x0F, 0x01, 0xFE] | [0xF3, 0x0F, 0x01, 0xD9] => {
                Site::SnpInstruction
            }
            _ => continue,
        };
        sites.push((base + i as u64, site));
    }
    sites.sort_by_key(|s| s.0);
    sites.dedup_by_key(|s| s.0);
    sites
}

/// Decodes the instruction at `rip` (`bytes` read from there) as `bitness`-bit code.
pub fn decode(bytes: &[u8], rip: u64, bitness: u32) -> iced_x86::Instruction {
    Decoder::with_ip(bitness, bytes, rip, DecoderOptions::NONE).decode()
}

/// The unicorn register holding iced's 32- or 64-bit general-purpose `reg` (as its 64-bit register).
pub fn gpr(reg: Register) -> Option<unicorn_engine::RegisterX86> {
    use Register as R;
    use unicorn_engine::RegisterX86 as U;
    Some(match reg {
        R::EAX | R::RAX => U::RAX,
        R::ECX | R::RCX => U::RCX,
        R::EDX | R::RDX => U::RDX,
        R::EBX | R::RBX => U::RBX,
        R::ESP | R::RSP => U::RSP,
        R::EBP | R::RBP => U::RBP,
        R::ESI | R::RSI => U::RSI,
        R::EDI | R::RDI => U::RDI,
        R::R8D | R::R8 => U::R8,
        R::R9D | R::R9 => U::R9,
        R::R10D | R::R10 => U::R10,
        R::R11D | R::R11 => U::R11,
        R::R12D | R::R12 => U::R12,
        R::R13D | R::R13 => U::R13,
        R::R14D | R::R14 => U::R14,
        R::R15D | R::R15 => U::R15,
        _ => return None,
    })
}
