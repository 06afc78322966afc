//! Which implementation a hasher type uses: chosen at run time ([`Auto`]) or pinned to portable code
//! ([`Portable`], for the benchmark and the differential test).

use core::fmt::Debug;

/// Selects the block function of a hasher type. Sealed: only [`Auto`] and [`Portable`] exist.
pub trait Backend: sealed::Sealed + Clone + Default + Debug + 'static {
    /// True if this backend never uses the accelerated code, whatever the CPU offers.
    const FORCE_PORTABLE: bool;
}

/// The accelerated code when the CPU and the OS/firmware allow it, otherwise portable code.
#[derive(Clone, Copy, Debug, Default)]
pub struct Auto;

/// Always the portable code (the `sha2` crate's software implementation).
#[derive(Clone, Copy, Debug, Default)]
pub struct Portable;

impl Backend for Auto {
    const FORCE_PORTABLE: bool = false;
}

impl Backend for Portable {
    const FORCE_PORTABLE: bool = true;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Auto {}
    impl Sealed for super::Portable {}
}

/// Which code computes a digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Implementation {
    /// Assembly on CPU extensions (SHA-NI for SHA-256, AVX2 for SHA-384/512).
    Accelerated,
    /// Portable Rust code.
    Portable,
}

/// The hash algorithms this crate provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// SHA-256 (FIPS 180-4).
    Sha256,
    /// SHA-384 (FIPS 180-4); shares the SHA-512 block function.
    Sha384,
    /// SHA-512 (FIPS 180-4).
    Sha512,
}

/// The implementation that `Sha256`, `Sha384` or `Sha512` (the [`Auto`] types) use on this machine.
pub fn implementation(algorithm: Algorithm) -> Implementation {
    let accelerated = match algorithm {
        Algorithm::Sha256 => crate::cpu::sha256_accelerated(),
        Algorithm::Sha384 | Algorithm::Sha512 => crate::cpu::sha512_accelerated(),
    };
    if accelerated { Implementation::Accelerated } else { Implementation::Portable }
}
