//! Known-answer self-test the firmware runs at boot, on the accelerated and the portable paths.
//!
//! Expected digests come from outside this crate: "abc" from FIPS 180-4 (NIST CSVS example values) and
//! the 1000-byte pattern from Python's `hashlib` (OpenSSL), so the test cannot agree with a broken
//! implementation by construction. The pattern spans 15 SHA-256 and 7 SHA-512 blocks, enough to run the
//! multi-block loops and the AVX2 path's partial four-block group.

use digest::Digest;

use crate::backend::{Algorithm, Implementation, implementation};

/// A known-answer test failed: that implementation must not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShaError {
    /// `algorithm` computed a wrong digest on `implementation`.
    KnownAnswerMismatch { algorithm: Algorithm, implementation: Implementation },
}

const PATTERN_LEN: usize = 1000;

/// Byte i of the self-test pattern is `7 i + 3 (mod 256)`.
fn pattern() -> [u8; PATTERN_LEN] {
    let mut out = [0u8; PATTERN_LEN];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = (i as u8).wrapping_mul(7).wrapping_add(3);
    }
    out
}

/// Decodes a hex string at compile time (a malformed literal fails the build, never the firmware).
const fn hex<const N: usize>(s: &str) -> [u8; N] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("bad hex digit"),
        }
    }
    let bytes = s.as_bytes();
    assert!(bytes.len() == 2 * N, "hex literal has the wrong length");
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = (nibble(bytes[2 * i]) << 4) | nibble(bytes[2 * i + 1]);
        i += 1;
    }
    out
}

const ABC_256: [u8; 32] = hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
const ABC_384: [u8; 48] = hex(concat!(
    "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded163",
    "1a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"
));
const ABC_512: [u8; 64] = hex(concat!(
    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a",
    "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
));
const PATTERN_256: [u8; 32] = hex("1e9bc38cbf860b9ec31918b065f9b52476c549a782e0e7990bed8ce3868d2371");
const PATTERN_384: [u8; 48] = hex(concat!(
    "94c38db521ca733b8904c2d14b6e82d33dcfcc26e1318c57",
    "9dbee1fc2f472019034e792263b9d46e90e700de2f6e7e91"
));
const PATTERN_512: [u8; 64] = hex(concat!(
    "00e36fccf193e59697a92b5ab24666ce6326d7fa16bf10832d0991ddc591112e",
    "9dfa6a636950ed9c4d67344a760654c2ff7785e1d60094d651038735b5dccabd"
));

/// Checks `D` against both known answers.
fn check<D: Digest>(
    algorithm: Algorithm,
    implementation: Implementation,
    abc: &[u8],
    pattern_digest: &[u8],
) -> Result<(), ShaError> {
    let ok = D::digest(b"abc")[..] == *abc && D::digest(pattern())[..] == *pattern_digest;
    if ok { Ok(()) } else { Err(ShaError::KnownAnswerMismatch { algorithm, implementation }) }
}

/// Runs the known-answer tests on the portable code and on the code [`implementation`] selects (the same
/// code again on a CPU without the extensions). Costs a few microseconds; meant for every boot.
///
/// # Errors
/// [`ShaError::KnownAnswerMismatch`] for the first algorithm/implementation pair that is wrong.
pub fn self_test() -> Result<(), ShaError> {
    use crate::portable;
    let p = Implementation::Portable;
    check::<portable::Sha256>(Algorithm::Sha256, p, &ABC_256, &PATTERN_256)?;
    check::<portable::Sha384>(Algorithm::Sha384, p, &ABC_384, &PATTERN_384)?;
    check::<portable::Sha512>(Algorithm::Sha512, p, &ABC_512, &PATTERN_512)?;
    let a = |algorithm| implementation(algorithm);
    check::<crate::Sha256>(Algorithm::Sha256, a(Algorithm::Sha256), &ABC_256, &PATTERN_256)?;
    check::<crate::Sha384>(Algorithm::Sha384, a(Algorithm::Sha384), &ABC_384, &PATTERN_384)?;
    check::<crate::Sha512>(Algorithm::Sha512, a(Algorithm::Sha512), &ABC_512, &PATTERN_512)?;
    Ok(())
}
