//! CPU features: the evidence that decides the platform, and the SIMD state the hash code needs.
use core::arch::x86_64::{__cpuid, __cpuid_count};
use warden_platform::CpuEvidence;
use x86_64::registers::control::{Cr4, Cr4Flags};
use x86_64::registers::model_specific::Msr;

/// SEV_STATUS: which SEV features the guest runs with (AMD APM vol. 2, 15.34.10).
const MSR_SEV_STATUS: u32 = 0xC001_0131;
const SEV_STATUS_SNP_ACTIVE: u64 = 1 << 2;

/// Reads what the CPU says about confidential computing.
///
/// SNP: CPUID 0x8000_001F EAX bit 1 (SEV) and bit 4 (SNP), then SEV_STATUS bit 2. The MSR is read only
/// when CPUID advertises SEV: on other CPUs it does not exist and reading it faults. TDX: leaf 0x21
/// returns the vendor string "IntelTDX    ".
pub fn evidence() -> CpuEvidence {
    let (max_basic, max_extended) = (__cpuid(0).eax, __cpuid(0x8000_0000).eax);
    let snp_active = if max_extended >= 0x8000_001F {
        let sev = __cpuid(0x8000_001F);
        let advertised = sev.eax & (1 << 1) != 0 && sev.eax & (1 << 4) != 0;
        // SAFETY: SEV_STATUS exists on CPUs that advertise SEV; reading it has no side effects.
        advertised && unsafe { Msr::new(MSR_SEV_STATUS).read() } & SEV_STATUS_SNP_ACTIVE != 0
    } else {
        false
    };
    let tdx_guest = max_basic >= 0x21 && {
        let leaf = __cpuid_count(0x21, 0);
        [leaf.ebx, leaf.edx, leaf.ecx]
            == [u32::from_le_bytes(*b"Inte"), u32::from_le_bytes(*b"lTDX"), 0x2020_2020]
    };
    CpuEvidence { snp_active, tdx_guest }
}

/// Reads what the CPU says about SEV-SNP without CPUID, for a boot that claims SNP: there CPUID raises
/// #VC and is answered by the hypervisor, whose word cannot decide the platform (threat model T3).
/// SEV_STATUS bit 2 is the CPU's own (AMD APM vol. 2 §15.34.10; SEV-ES/SNP never intercept it: GHCB
/// spec (AMD 56421) §2.2, a #VC for it would be the hypervisor's forgery). On a CPU without the MSR (no
/// SEV, or Intel) RDMSR raises #GP, which the caller's IDT reports as fatal: a false claim stops there.
/// `tdx_guest` is false: a CPU that has SEV_STATUS is an AMD CPU.
pub fn snp_evidence() -> CpuEvidence {
    // SAFETY: reading SEV_STATUS has no side effects; where it does not exist the #GP is reported by the
    // IDT the caller loaded first (`start`), and the CPU halts.
    let status = unsafe { Msr::new(MSR_SEV_STATUS).read() };
    CpuEvidence { snp_active: status & SEV_STATUS_SNP_ACTIVE != 0, tdx_guest: false }
}

/// What SIMD state is enabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimdState {
    /// SSE state (CR4.OSFXSR) is on: SHA-NI code may run.
    pub sse: bool,
    /// AVX state (XCR0 bits 1-2) is on: AVX2 code may run.
    pub avx: bool,
    /// The value written to XCR0 (0 when the CPU has no XSAVE).
    pub xcr0: u64,
}

/// Enables SSE (the boot path already set CR4.OSFXSR/OSXMMEXCPT) and, where the CPU has XSAVE and AVX,
/// the AVX state in XCR0, so that the accelerated hash code may use XMM/YMM registers. The compiler
/// never emits SIMD code for this target, so only that hand-written code uses the state.
pub fn enable_simd() -> SimdState {
    let leaf1 = __cpuid(1);
    let has_xsave = leaf1.ecx & (1 << 26) != 0;
    let has_avx = leaf1.ecx & (1 << 28) != 0;
    let mut flags = Cr4::read();
    flags |= Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE;
    if has_xsave {
        flags |= Cr4Flags::OSXSAVE;
    }
    // SAFETY: these bits only enable SIMD state management; no memory mapping changes.
    unsafe { Cr4::write(flags) };
    let mut avx = false;
    let mut xcr0 = 0;
    if has_xsave {
        // XCR0: x87 (bit 0, always), SSE (bit 1), and AVX (bit 2) when the CPU has it.
        let wanted: u64 = if has_avx { 0b111 } else { 0b011 };
        // SAFETY: CR4.OSXSAVE is set above, and `wanted` only names state components the CPU supports.
        unsafe {
            core::arch::asm!("xsetbv", in("ecx") 0, in("eax") wanted as u32, in("edx") (wanted >> 32) as u32,
                options(nomem, nostack));
        }
        // XSETBV raises #GP for a value it refuses, so reaching here means XCR0 holds `wanted`. (XGETBV is
        // not used to confirm it: nested KVM, as on the CI machines, fails to emulate it.)
        avx = has_avx;
        xcr0 = wanted;
    }
    SimdState { sse: Cr4::read().contains(Cr4Flags::OSFXSR), avx, xcr0 }
}
