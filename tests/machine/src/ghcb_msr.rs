//! The GHCB MSR protocol as the hypervisor answers it (GHCB spec (AMD 56421) §2.3.1 "GHCB MSR
//! protocol"): the request is in the GHCB MSR (0xC001_0130) at VMGEXIT, bits 11:0 the function, the
//! answer goes back into the same MSR.
use crate::memory::C_BIT;

/// What a VMGEXIT with an MSR-protocol request asks the hypervisor to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsrRequest {
    /// Answer with this MSR value.
    Respond(u64),
    /// Page-state change of one page: (GPA, make private).
    PageState { gpa: u64, private: bool },
    /// Run the VMSA of this VMPL on this vCPU.
    RunVmpl(u8),
    /// Terminate with (reason set, reason code).
    Terminate(u8, u8),
    /// Not a request this hypervisor knows.
    Unknown(u64),
}

/// Hypervisor features, GHCB MSR 0x080 answer bits 63:12: SNP (0), AP creation (1), multi-VMPL (5).
pub const HV_FEATURES: u64 = (1 << 0) | (1 << 1) | (1 << 5);
/// Lowest and highest GHCB protocol versions served.
const PROTOCOL_MIN: u64 = 2;
const PROTOCOL_MAX: u64 = 2;

/// Decodes `msr` (a request, bits 11:0 nonzero). `lie_echo` makes GHCB registration answer with a
/// different GFN (a lying hypervisor).
pub fn decode(msr: u64, cpuid: impl Fn(u32) -> [u32; 4], lie_echo: bool) -> MsrRequest {
    let data = msr >> 12;
    match msr & 0xFFF {
        0x002 => MsrRequest::Respond(
            0x001 | (u64::from(C_BIT) << 24) | (PROTOCOL_MIN << 32) | (PROTOCOL_MAX << 48),
        ),
        0x004 => {
            let reg = ((msr >> 30) & 3) as usize;
            let value = cpuid((msr >> 32) as u32)[reg];
            MsrRequest::Respond(0x005 | (msr & (3 << 30)) | (u64::from(value) << 32))
        }
        0x012 => {
            let gfn = if lie_echo { data ^ 1 } else { data };
            MsrRequest::Respond(0x013 | (gfn << 12))
        }
        0x014 => {
            let gfn = (msr >> 12) & ((1 << 40) - 1);
            match (msr >> 52) & 0xF {
                1 => MsrRequest::PageState { gpa: gfn << 12, private: true },
                2 => MsrRequest::PageState { gpa: gfn << 12, private: false },
                _ => MsrRequest::Respond(0x015 | (1 << 32)),
            }
        }
        0x016 => MsrRequest::RunVmpl(((msr >> 32) & 0xFF) as u8),
        0x080 => MsrRequest::Respond(0x081 | (HV_FEATURES << 12)),
        0x100 => MsrRequest::Terminate(((msr >> 12) & 0xF) as u8, ((msr >> 16) & 0xFF) as u8),
        _ => MsrRequest::Unknown(msr),
    }
}
