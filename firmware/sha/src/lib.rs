//! `warden-sha`: SHA-256, SHA-384 and SHA-512 at hardware speed, inside the firmware and on the host.
//!
//! The firmware target (`x86_64-unknown-none`) is soft-float: the compiler may not emit SSE/AVX, so the
//! `sha2` crate's intrinsics backends are unavailable there and it falls back to portable code. This crate
//! carries its block functions as assembly instead, which the assembler accepts on any x86-64 target:
//!
//! - SHA-256 on the SHA extensions (SHA256RNDS2/MSG1/MSG2, PSHUFB), `ni256`;
//! - SHA-384/512 with the message schedule in AVX2 (four words per step) interleaved with BMI2 (RORX)
//!   scalar rounds, `avx2_512`.
//!
//! Each is chosen at run time by CPUID and XCR0 (`cpu`), cached in an atomic; otherwise `sha2`'s soft
//! code runs. The hasher types implement the RustCrypto `digest` 0.10 traits exactly as `sha2` does
//! (`CoreWrapper` around a block core), so they drop in for `sha2::Sha256` and friends.
//!
//! Why this crate opts into `unsafe`: calling assembly is `unsafe` by nature. Each call site argues the
//! two preconditions, the CPU feature (checked by `cpu`) and the pointer/length contract (taken from a
//! slice of whole blocks). The only other `unsafe` is in detection: XGETBV, and CPUID (an `unsafe fn`
//! before recent Rust). Assembly is Intel syntax (Rust's default), System V ABI, in `#[unsafe(naked)]`
//! functions.
//!
//! What the firmware must provide for the accelerated paths: CR4.OSFXSR and CR4.OSXSAVE set and XCR0
//! with x87|SSE (SHA-256) and AVX (SHA-384/512) enabled before the first hash, and a #VC/#VE handler
//! for CPUID. The block functions clobber xmm/ymm registers like any System V function (all
//! caller-saved); the soft-float firmware keeps nothing there. Run [`self_test`] at boot.
//!
//! `unsafe`: only the assembly block functions (`#[unsafe(naked)]`, in `ni256` and `avx2_512`) and their
//! calls from `core256` and `core512`, and CPUID/XGETBV in `cpu`; each argued as described above.

#![no_std]

mod avx2_512;
mod backend;
mod consts;
mod core256;
mod core512;
mod cpu;
mod ni256;
mod selftest;

use digest::core_api::CoreWrapper;

pub use backend::{Algorithm, Auto, Backend, Implementation, Portable, implementation};
pub use core256::Sha256Core;
pub use core512::{Sha512Core, V384, V512, Variant};
pub use cpu::declare_xcr0;
pub use digest;
pub use selftest::{ShaError, self_test};

/// SHA-256, accelerated when the CPU allows it; a drop-in for `sha2::Sha256`.
pub type Sha256 = CoreWrapper<Sha256Core<Auto>>;
/// SHA-384, accelerated when the CPU allows it; a drop-in for `sha2::Sha384`.
pub type Sha384 = CoreWrapper<Sha512Core<V384, Auto>>;
/// SHA-512, accelerated when the CPU allows it; a drop-in for `sha2::Sha512`.
pub type Sha512 = CoreWrapper<Sha512Core<V512, Auto>>;

/// The same hashers pinned to the portable code, whatever the CPU offers (benchmarks, differential tests,
/// or a firmware that does not trust its accelerated path after a failed [`self_test`]).
pub mod portable {
    use digest::core_api::CoreWrapper;

    use crate::{Portable, Sha256Core, Sha512Core, V384, V512};

    /// SHA-256 on portable code.
    pub type Sha256 = CoreWrapper<Sha256Core<Portable>>;
    /// SHA-384 on portable code.
    pub type Sha384 = CoreWrapper<Sha512Core<V384, Portable>>;
    /// SHA-512 on portable code.
    pub type Sha512 = CoreWrapper<Sha512Core<V512, Portable>>;
}
