//! Run-time CPU feature detection (CPUID, XGETBV), done once and cached in an atomic.
//!
//! The accelerated paths need both the CPU feature *and* the register state enabled by whoever runs us
//! (Linux on the host, the firmware's own boot code inside the SVSM). CPUID leaf 1 ECX.OSXSAVE mirrors
//! CR4.OSXSAVE, and XCR0 then says which register state the OS/firmware manages: bit 1 (SSE) and bit 2
//! (AVX). We require XCR0.SSE even for the legacy-SSE SHA-NI path: an OS that lets XSAVE manage the XMM
//! registers has also set CR4.OSFXSR, which CPL 3 cannot read directly. A firmware that has not enabled
//! any of this simply gets the portable code.

use core::arch::x86_64::{__cpuid_count, CpuidResult};
use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// Cache bit: detection has run.
const DETECTED: u8 = 1 << 0;
/// Cache bit: SHA-NI with SSSE3 and SSE4.1, SSE state enabled.
const SHA256_NI: u8 = 1 << 1;
/// Cache bit: AVX2 and BMI2, SSE and AVX state enabled.
const SHA512_AVX2: u8 = 1 << 2;

static FEATURES: AtomicU8 = AtomicU8::new(0);

/// XCR0 as declared by the code that wrote it (the firmware), or [`NOT_DECLARED`].
static DECLARED_XCR0: AtomicU64 = AtomicU64::new(NOT_DECLARED);
const NOT_DECLARED: u64 = u64::MAX;

/// Tells the crate which XCR0 value the caller wrote, so detection does not execute XGETBV.
///
/// The firmware writes XCR0 itself at boot, so it knows the value; and nested KVM (as on the CI machines)
/// fails to emulate XGETBV, which would otherwise stop the firmware on its first hash. Call it before the
/// first hash; a later call has no effect on an already cached decision.
pub fn declare_xcr0(xcr0: u64) {
    DECLARED_XCR0.store(xcr0, Ordering::Relaxed);
}

/// CPUID.1:ECX bits.
const ECX1_SSSE3: u32 = 1 << 9;
const ECX1_SSE41: u32 = 1 << 19;
const ECX1_OSXSAVE: u32 = 1 << 27;
const ECX1_AVX: u32 = 1 << 28;
/// CPUID.1:EDX.SSE2 (baseline on x86-64, checked anyway).
const EDX1_SSE2: u32 = 1 << 26;
/// CPUID.(7,0):EBX bits.
const EBX7_AVX2: u32 = 1 << 5;
const EBX7_BMI2: u32 = 1 << 8;
const EBX7_SHA: u32 = 1 << 29;
/// XCR0 bits: SSE (XMM) state and AVX (upper YMM) state.
const XCR0_SSE: u64 = 1 << 1;
const XCR0_AVX: u64 = 1 << 2;

fn features() -> u8 {
    let cached = FEATURES.load(Ordering::Relaxed);
    if cached & DETECTED != 0 {
        return cached;
    }
    // Detection is idempotent, so two racing first callers store the same value.
    let detected = detect() | DETECTED;
    FEATURES.store(detected, Ordering::Relaxed);
    detected
}

fn detect() -> u8 {
    // Under SEV-SNP/TDX, CPUID traps to the #VC/#VE handler, which must already be installed when the
    // firmware first hashes. The values only choose a code path; the hypervisor can at worst make us
    // pick the portable code or fault on an instruction that does not exist (no memory-safety impact).
    let max_leaf = cpuid(0, 0).eax;
    if max_leaf < 7 {
        return 0;
    }
    let leaf1 = cpuid(1, 0);
    let leaf7 = cpuid(7, 0);
    let xcr0 = match DECLARED_XCR0.load(Ordering::Relaxed) {
        NOT_DECLARED if leaf1.ecx & ECX1_OSXSAVE != 0 => xgetbv0(),
        NOT_DECLARED => 0,
        declared => declared,
    };
    decide(leaf1.ecx, leaf1.edx, leaf7.ebx, xcr0)
}

/// The feature bits from CPUID.1:ECX/EDX, CPUID.(7,0):EBX and XCR0 (0 when OSXSAVE is clear).
fn decide(ecx1: u32, edx1: u32, ebx7: u32, xcr0: u64) -> u8 {
    let osxsave = ecx1 & ECX1_OSXSAVE != 0;
    let sse_on = osxsave && xcr0 & XCR0_SSE != 0 && edx1 & EDX1_SSE2 != 0;
    let avx_on = sse_on && xcr0 & XCR0_AVX != 0 && ecx1 & ECX1_AVX != 0;

    let mut found = 0;
    if sse_on && ebx7 & EBX7_SHA != 0 && ecx1 & ECX1_SSSE3 != 0 && ecx1 & ECX1_SSE41 != 0 {
        found |= SHA256_NI;
    }
    if avx_on && ebx7 & EBX7_AVX2 != 0 && ebx7 & EBX7_BMI2 != 0 {
        found |= SHA512_AVX2;
    }
    found
}

/// CPUID for `leaf` and `subleaf`.
#[allow(
    unused_unsafe,
    reason = "`__cpuid_count` is an `unsafe fn` in older Rust (1.93 documents it so) but safe in the 1.95 \
              we build with, and the workspace's rust-version is 1.88"
)]
fn cpuid(leaf: u32, subleaf: u32) -> CpuidResult {
    // SAFETY: CPUID exists on every x86-64 CPU, is allowed at any privilege level and only writes
    // registers, which the intrinsic declares.
    unsafe { __cpuid_count(leaf, subleaf) }
}

/// XCR0 via XGETBV with ECX = 0. Only called when CPUID says CR4.OSXSAVE is set.
fn xgetbv0() -> u64 {
    let (eax, edx): (u32, u32);
    // SAFETY: XGETBV(0) is available and does not fault when CR4.OSXSAVE = 1, which the caller checked
    // through CPUID.1:ECX.OSXSAVE. It reads a register and touches no memory.
    unsafe {
        core::arch::asm!(
            "xgetbv",
            in("ecx") 0u32,
            out("eax") eax,
            out("edx") edx,
            options(nomem, nostack, preserves_flags),
        );
    }
    (u64::from(edx) << 32) | u64::from(eax)
}

/// True if [`crate::ni256`] may run: SHA, SSSE3, SSE4.1 and SSE state enabled.
pub(crate) fn sha256_accelerated() -> bool {
    features() & SHA256_NI != 0
}

/// True if [`crate::avx2_512`] may run: AVX2, BMI2, and SSE + AVX state enabled.
pub(crate) fn sha512_accelerated() -> bool {
    features() & SHA512_AVX2 != 0
}

#[cfg(test)]
mod tests {
    use super::{
        EBX7_AVX2, EBX7_BMI2, EBX7_SHA, ECX1_AVX, ECX1_OSXSAVE, ECX1_SSE41, ECX1_SSSE3, EDX1_SSE2, SHA256_NI,
        SHA512_AVX2, XCR0_AVX, XCR0_SSE, decide,
    };

    const ALL_ECX1: u32 = ECX1_SSSE3 | ECX1_SSE41 | ECX1_OSXSAVE | ECX1_AVX;
    const ALL_EBX7: u32 = EBX7_SHA | EBX7_AVX2 | EBX7_BMI2;
    const XCR0_X87: u64 = 1;
    const ALL_XCR0: u64 = XCR0_X87 | XCR0_SSE | XCR0_AVX;

    #[test]
    fn everything_present_selects_both() {
        assert_eq!(decide(ALL_ECX1, EDX1_SSE2, ALL_EBX7, ALL_XCR0), SHA256_NI | SHA512_AVX2);
    }

    #[test]
    fn register_state_not_enabled_means_portable() {
        // The CPU has the instructions but the OS/firmware has not enabled the state.
        assert_eq!(decide(ALL_ECX1 & !ECX1_OSXSAVE, EDX1_SSE2, ALL_EBX7, ALL_XCR0), 0);
        assert_eq!(decide(ALL_ECX1, EDX1_SSE2, ALL_EBX7, XCR0_X87), 0);
        // SSE state only: SHA-NI yes, AVX2 no.
        assert_eq!(decide(ALL_ECX1, EDX1_SSE2, ALL_EBX7, XCR0_X87 | XCR0_SSE), SHA256_NI);
    }

    #[test]
    fn each_required_feature_is_checked() {
        for missing in [ECX1_SSSE3, ECX1_SSE41] {
            assert_eq!(decide(ALL_ECX1 & !missing, EDX1_SSE2, ALL_EBX7, ALL_XCR0), SHA512_AVX2);
        }
        assert_eq!(decide(ALL_ECX1, EDX1_SSE2, ALL_EBX7 & !EBX7_SHA, ALL_XCR0), SHA512_AVX2);
        assert_eq!(decide(ALL_ECX1 & !ECX1_AVX, EDX1_SSE2, ALL_EBX7, ALL_XCR0), SHA256_NI);
        for missing in [EBX7_AVX2, EBX7_BMI2] {
            assert_eq!(decide(ALL_ECX1, EDX1_SSE2, ALL_EBX7 & !missing, ALL_XCR0), SHA256_NI);
        }
        assert_eq!(decide(ALL_ECX1, 0, ALL_EBX7, ALL_XCR0), 0);
    }
}
