//! Instructions SEV-ES/SNP intercepts and turns into #VC (GHCB spec (AMD 56421) §4.1 "#VC exception",
//! error code = the SVM exit code), and how the machine finds them: unicorn cannot make an instruction
//! raise an exception, and its CPUID hook cannot skip the instruction, so the machine decodes the
//! pages it loads (a linear sweep with iced-x86, plus every byte-pattern match of the two-byte
//! opcodes) and puts a code hook on each site. A hook only fires when an instruction starts there,
//! so sites found in data are harmless. Unicorn's own IN/OUT and CPUID hooks stay as a safety net:
//! if one fires, a site was missed, and the machine stops rather than let the instruction run.
//!
//! Not intercepted (KVM's SEV-ES defaults, APM vol. 2 §15.35.4): RDTSC, XSETBV, HLT is an automatic
//! exit. The GHCB MSR (0xC001_0130) and SEV_STATUS (0xC001_0131) are handled by the CPU itself.
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
}

impl Site {
    /// The #VC error code of an intercepted site.
    pub fn exit_code(self) -> Option<u64> {
        match self {
            Self::Cpuid => Some(EXIT_CPUID),
            Self::Rdmsr | Self::Wrmsr => Some(EXIT_MSR),
            Self::Io => Some(EXIT_IOIO),
            Self::MovCr0 => None,
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
            Mnemonic::Mov if insn.op0_kind() == OpKind::Register && insn.op0_register() == Register::CR0 => {
                Site::MovCr0
            }
            _ => continue,
        };
        sites.push((insn.ip(), site));
    }
    for (i, w) in code.windows(2).enumerate() {
        let site = match w {
            [0x0F, 0xA2] => Site::Cpuid,
            [0x0F, 0x32] => Site::Rdmsr,
            [0x0F, 0x30] => Site::Wrmsr,
            _ => continue,
        };
        sites.push((base + i as u64, site));
    }
    sites.sort_by_key(|s| s.0);
    sites.dedup_by_key(|s| s.0);
    sites
}
