//! The sieve of the RSA prime search: which of the odd numbers c, c+2, c+4, … (a window above a
//! DRBG-drawn candidate c) have no prime factor below 2^16 and are not 1 mod the public exponent.
//! The TPM reference code's `PrimeSieve` (TPM 2.0 Library Part 4, CryptPrimeSieve.c) does the same
//! with its table of primes; so do OpenSSL and libtpms. It removes about 90% of the odd numbers, so
//! only about 36 candidates per 1024-bit prime reach the (expensive) Miller-Rabin test.
//!
//! Not constant-time: the marks it writes depend on c's residues. Like every incremental search, the
//! number of candidates tried tells how far above c the prime lies.

use alloc::vec::Vec;

use zeroize::Zeroize;

/// The primes below this bound divide out (the odd ones; the candidate is odd).
const SIEVE_BOUND: usize = 1 << 16;

/// How many odd primes there are below 2^16 (6542 primes, less 2).
const SMALL_PRIME_COUNT: usize = 6541;

/// The odd primes below 2^16, found at compile time by the sieve of Eratosthenes.
static SMALL_PRIMES: [u16; SMALL_PRIME_COUNT] = small_primes();

const fn small_primes() -> [u16; SMALL_PRIME_COUNT] {
    let mut composite = [false; SIEVE_BOUND];
    let mut out = [0u16; SMALL_PRIME_COUNT];
    let mut found = 0;
    let mut n = 3;
    while n < SIEVE_BOUND {
        if !composite[n] {
            out[found] = n as u16;
            found += 1;
            let mut k = n * n;
            while k < SIEVE_BOUND {
                composite[k] = true;
                k += 2 * n;
            }
        }
        n += 2;
    }
    assert!(found == SMALL_PRIME_COUNT, "SMALL_PRIME_COUNT is the number of odd primes below 2^16");
    out
}

/// The public exponent: a candidate p with p ≡ 1 mod e has gcd(p-1, e) = e, not 1 (FIPS 186-5
/// A.1.3 step 4.5 asks for gcd(p-1, e) = 1; e = 65537 is prime).
const PUBLIC_EXPONENT: u64 = 65537;

/// The offsets k (candidate c + 2k) in one window that survive the sieve.
pub struct Window {
    /// `survives[k]`: c + 2k has no odd prime factor below 2^16 and is not 1 mod e.
    survives: Vec<bool>,
}

impl Drop for Window {
    fn drop(&mut self) {
        self.survives.zeroize();
    }
}

/// `c` (64-bit limbs, least significant first) modulo `d` < 2^32, 32 bits at a time.
fn residue(c: &[u64], d: u64) -> u64 {
    let mut r = 0u64;
    for &limb in c.iter().rev() {
        r = ((r << 32) | (limb >> 32)) % d;
        r = ((r << 32) | (limb & 0xFFFF_FFFF)) % d;
    }
    r
}

/// The first k ≥ 0 with c + 2k ≡ target (mod d), d odd, from r = c mod d: 2k ≡ target - r, and
/// (d+1)/2 is the inverse of 2 mod d.
fn first_offset(r: u64, target: u64, d: u64) -> u64 {
    let diff = (target + d - r) % d;
    diff * d.div_ceil(2) % d
}

impl Window {
    /// Sieves `len` offsets above `c` (limbs least significant first, odd).
    pub fn new(c: &[u64], len: usize) -> Self {
        let mut survives = alloc::vec![true; len];
        let mut strike = |r: u64, target: u64, d: u64| {
            let mut k = first_offset(r, target, d) as usize;
            let step = d as usize;
            while k < len {
                survives[k] = false;
                k += step;
            }
        };
        // Two primes at a time: their product is below 2^32, so one division chain serves both.
        for pair in SMALL_PRIMES.chunks(2) {
            let d: u64 = pair.iter().map(|&p| u64::from(p)).product();
            let r = residue(c, d);
            for &p in pair {
                let p = u64::from(p);
                strike(r % p, 0, p);
            }
        }
        strike(residue(c, PUBLIC_EXPONENT), 1, PUBLIC_EXPONENT);
        // A small prime itself is no RSA prime: c is far above 2^16, so c + 2k never is one.
        Window { survives }
    }

    /// The surviving offsets, in increasing order.
    pub fn survivors(&self) -> impl Iterator<Item = usize> + '_ {
        self.survives.iter().enumerate().filter(|&(_, &s)| s).map(|(k, _)| k)
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::{SMALL_PRIMES, Window, first_offset, residue};

    #[test]
    fn the_table_holds_the_odd_primes_below_2_16() {
        assert_eq!(SMALL_PRIMES[..6], [3, 5, 7, 11, 13, 17]);
        assert_eq!(SMALL_PRIMES[SMALL_PRIMES.len() - 1], 65521);
        // Each entry is prime by trial division.
        for &p in SMALL_PRIMES.iter() {
            let p = u32::from(p);
            assert!((2..).take_while(|d| d * d <= p).all(|d| p % d != 0), "{p}");
        }
    }

    #[test]
    fn residues_and_offsets_agree_with_u128_arithmetic() {
        let c = [0xFEDC_BA98_7654_3211u64, 0x0123_4567_89AB_CDEF];
        let value = (u128::from(c[1]) << 64) | u128::from(c[0]);
        for d in [3u64, 65521, 65537, 3 * 5, 65519 * 65521] {
            let r = residue(&c, d);
            assert_eq!(u128::from(r), value % u128::from(d));
            let k = first_offset(r, 0, d);
            assert_eq!((value + 2 * u128::from(k)) % u128::from(d), 0, "d = {d}");
        }
    }

    #[test]
    fn survivors_are_exactly_the_offsets_without_small_factors() {
        // A 128-bit odd start: every offset checked against the whole table by u128 division.
        let c = [0x0000_0000_0000_0F01u64, 0xC000_0000_0000_0001];
        let start = (u128::from(c[1]) << 64) | u128::from(c[0]);
        let w = Window::new(&c, 3000);
        let got: Vec<usize> = w.survivors().collect();
        let want: Vec<usize> = (0..3000)
            .filter(|&k| {
                let v = start + 2 * k as u128;
                SMALL_PRIMES.iter().all(|&p| !v.is_multiple_of(u128::from(p))) && v % 65537 != 1
            })
            .collect();
        assert_eq!(got, want);
        assert!(got.len() > 100 && got.len() < 600, "about a tenth survive: {}", got.len());
    }
}
