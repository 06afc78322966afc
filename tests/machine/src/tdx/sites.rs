//! The instructions of a TD that the machine must act on before they execute, found as the SNP
//! machine finds its intercepts (`crate::intercepts`: a linear sweep plus byte patterns, code hooks
//! on each site): CPUID, RDMSR/WRMSR and IN/OUT (the TDX module answers them or raises #VE), TDCALL
//! (`66 0F 01 CC`, which unicorn does not implement), VMCALL (`0F 01 C1`, an L2's exit to its L1) and
//! MOV to CR4 (clearing CR4.MCE raises #VE).
use iced_x86::{Decoder, DecoderOptions, Mnemonic, OpKind, Register};

use crate::intercepts::{self, Site};

/// TDCALL's encoding.
pub const TDCALL: [u8; 4] = [0x66, 0x0F, 0x01, 0xCC];
/// VMCALL's encoding (an L2's exit to its L1).
pub const VMCALL: [u8; 3] = [0x0F, 0x01, 0xC1];

/// A site in a TD's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TdSite {
    /// CPUID.
    Cpuid,
    /// RDMSR.
    Rdmsr,
    /// WRMSR.
    Wrmsr,
    /// IN, OUT, INS, OUTS.
    Io,
    /// TDCALL.
    Tdcall,
    /// VMCALL.
    Vmcall,
    /// MOV to CR4.
    MovCr4,
}

/// Every site in `code` (loaded at `base`), decoded as `bitness`-bit code.
pub fn scan(code: &[u8], base: u64, bitness: u32) -> Vec<(u64, TdSite)> {
    let mut sites: Vec<(u64, TdSite)> = intercepts::scan(code, base, bitness)
        .into_iter()
        .filter_map(|(a, s)| {
            let site = match s {
                Site::Cpuid => TdSite::Cpuid,
                Site::Rdmsr => TdSite::Rdmsr,
                Site::Wrmsr => TdSite::Wrmsr,
                Site::Io => TdSite::Io,
                _ => return None,
            };
            Some((a, site))
        })
        .collect();
    for insn in Decoder::with_ip(bitness, code, base, DecoderOptions::NONE) {
        if insn.mnemonic() == Mnemonic::Mov
            && insn.op0_kind() == OpKind::Register
            && insn.op0_register() == Register::CR4
        {
            sites.push((insn.ip(), TdSite::MovCr4));
        }
    }
    for (i, w) in code.windows(4).enumerate() {
        if w == TDCALL {
            sites.push((base + i as u64, TdSite::Tdcall));
        }
    }
    for (i, w) in code.windows(3).enumerate() {
        if w == VMCALL {
            sites.push((base + i as u64, TdSite::Vmcall));
        }
    }
    sites.sort_by_key(|s| s.0);
    sites.dedup_by_key(|s| s.0);
    sites
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tdcall_cpuid_and_mov_cr4_are_found() {
        // tdcall; cpuid; mov cr4, rax; nop
        let code = [0x66, 0x0F, 0x01, 0xCC, 0x0F, 0xA2, 0x0F, 0x22, 0xE0, 0x90];
        let sites = scan(&code, 0x1000, 64);
        assert_eq!(sites, vec![(0x1000, TdSite::Tdcall), (0x1004, TdSite::Cpuid), (0x1006, TdSite::MovCr4)]);
    }
}
