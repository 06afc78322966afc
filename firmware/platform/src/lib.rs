//! What Warden needs from the machine, as one trait.
//!
//! The boot sequence and every service are generic over [`Platform`]. Implementations: the real SNP, TDX
//! and native platforms in the firmware binary (they execute instructions), and the simulated SNP and TDX
//! platforms used by host tests (they enforce the architecture's rules on a model of the RMP/SEPT).
//!
//! unsafe: denied crate-wide, with one exception: `memory` may declare the memory traits' `unsafe fn`s
//! (a contract for callers); it runs no unsafe code.
#![no_std]
#![deny(unsafe_code)]

use warden_defs::boot::BootPlatform;

pub mod ghcb_exits;
// Declares the `unsafe fn`s of the memory traits (a contract, STYLE convention 3); runs no unsafe code.
#[allow(unsafe_code)]
pub mod memory;
pub mod tdx_attestation;
pub mod tdx_ve;

/// Why Warden stopped. Sent to the hypervisor (SNP/TDX) or turned into an exit status (native).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Termination {
    /// Every in-firmware test passed (test images only).
    TestsPassed,
    /// A test failed, or the firmware hit a fault or a panic.
    Failure,
    /// The boot path's platform claim disagrees with what the CPU reports.
    PlatformMismatch,
}

/// CPU facts that decide which platform Warden is really on. Read by the binary from CPUID and MSRs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuEvidence {
    /// CPUID 0x8000_001F EAX bit 4 (SEV-SNP supported) and SEV_STATUS MSR bit 2 (SNP active).
    pub snp_active: bool,
    /// CPUID leaf 0x21 returns the "IntelTDX    " signature.
    pub tdx_guest: bool,
}

/// The platform Warden believes it runs on, or why it refuses to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DetectError {
    /// RDI held no known platform value.
    UnknownClaim(u64),
    /// The boot path claimed one platform, the CPU reports another.
    Mismatch {
        /// What the boot path said.
        claimed: BootPlatform,
        /// What CPUID/MSRs say.
        evidence: CpuEvidence,
    },
}

/// Decides the platform from the boot path's claim and the CPU's evidence; they must agree.
///
/// Threat model T3: the boot parameters are written by a loader the hypervisor controls, so a claim of
/// "native" on an SNP machine (which would skip validation) is refused, and so is a claim of SNP where the
/// CPU has no SNP (which would run instructions that fault).
pub fn detect(claim: u64, evidence: CpuEvidence) -> Result<BootPlatform, DetectError> {
    let claimed = BootPlatform::from_register(claim).ok_or(DetectError::UnknownClaim(claim))?;
    let consistent = match claimed {
        BootPlatform::Native => !evidence.snp_active && !evidence.tdx_guest,
        BootPlatform::Snp => evidence.snp_active && !evidence.tdx_guest,
        BootPlatform::Tdx => evidence.tdx_guest && !evidence.snp_active,
    };
    if consistent { Ok(claimed) } else { Err(DetectError::Mismatch { claimed, evidence }) }
}

/// What Warden needs from the machine. The memory primitives are the traits in [`memory`]; the boot
/// steps that need the firmware's own types (the #VC entry, the heap's acceptance proof, the request
/// transport) are the binary's extension of this trait (`BootSteps` in `warden-kernel`). Running the
/// guest and attestation evidence are added by later work.
pub trait Platform {
    /// Which platform this is.
    fn kind(&self) -> BootPlatform;
    /// Writes bytes to the console (serial port, through the GHCB or TDVMCALL where I/O is intercepted).
    fn console_write(&self, bytes: &[u8]);
    /// Stops Warden for good, telling the hypervisor why.
    fn terminate(&self, reason: Termination) -> !;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Threat model T3.
    #[test]
    fn native_claim_needs_no_confidential_hardware() {
        assert_eq!(detect(0, CpuEvidence::default()), Ok(BootPlatform::Native));
        let snp = CpuEvidence { snp_active: true, tdx_guest: false };
        assert!(matches!(detect(0, snp), Err(DetectError::Mismatch { .. })));
    }

    /// Threat model T3.
    #[test]
    fn snp_and_tdx_claims_need_their_hardware() {
        let snp = CpuEvidence { snp_active: true, tdx_guest: false };
        let tdx = CpuEvidence { snp_active: false, tdx_guest: true };
        assert_eq!(detect(1, snp), Ok(BootPlatform::Snp));
        assert_eq!(detect(2, tdx), Ok(BootPlatform::Tdx));
        assert!(detect(1, CpuEvidence::default()).is_err());
        assert!(detect(2, snp).is_err());
        assert_eq!(detect(7, snp), Err(DetectError::UnknownClaim(7)));
    }
}
