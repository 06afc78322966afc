//! The sieve of the RSA prime search: which of the odd numbers c, c+2, c+4, … (a window above a
//! DRBG-drawn candidate c) have no prime factor below 2^18 and are not 1 mod the public exponent.
//! The TPM reference code's `PrimeSieve` (TPM 2.0 Library Part 4, CryptPrimeSieve.c) does the same
//! with its table of primes; so do OpenSSL and libtpms. It leaves about 9% of the odd numbers, so
//! only about 32 candidates per 1024-bit prime reach the (expensive) Miller-Rabin test.
//!
//! Why 2^18: a bound B leaves a share of the odd numbers proportional to 1/ln B (Mertens), and each
//! prime below B costs one residue of c per window. Measured on 40 RSA-2048 keys: from 2^16 to 2^18
//! the Miller-Rabin tests to base 2 went from 63.6 to 57.0 per key, and a window's residues cost
//! about one such test either way (now by multiplications, formerly by divisions). 2^20 would save
//! about 6 more tests per key but, by the same count of steps, cost about 3 more in residues.
//!
//! Not constant-time: the marks it writes depend on c's residues. Like every incremental search, the
//! number of candidates tried tells how far above c the prime lies.

use alloc::vec::Vec;

use zeroize::Zeroize;

/// The primes below this bound divide out (the odd ones; the candidate is odd).
const SIEVE_BOUND: usize = 1 << 18;

/// How many odd primes there are below `SIEVE_BOUND` (π(2^18) = 23000, less the prime 2).
const SMALL_PRIME_COUNT: usize = 22999;

/// The odd primes below `SIEVE_BOUND` as half the gap to the one before (3 = 1 + 2·1, 5 = 3 + 2·1,
/// …): the largest gap below 2^18 is 86, so a byte each, found at compile time by the sieve of
/// Eratosthenes (23 KB in the image rather than 92 KB of `u32`s).
static HALF_GAPS: [u8; SMALL_PRIME_COUNT] = half_gaps();

const fn half_gaps() -> [u8; SMALL_PRIME_COUNT] {
    let mut composite = [false; SIEVE_BOUND];
    let mut out = [0u8; SMALL_PRIME_COUNT];
    let mut found = 0;
    let mut previous = 1;
    let mut n = 3;
    while n < SIEVE_BOUND {
        if !composite[n] {
            let half = (n - previous) / 2;
            assert!(half <= 255, "a prime gap below the bound fits a byte");
            out[found] = half as u8;
            previous = n;
            found += 1;
            let mut k = n * n;
            while k < SIEVE_BOUND {
                composite[k] = true;
                k += 2 * n;
            }
        }
        n += 2;
    }
    assert!(found == SMALL_PRIME_COUNT, "SMALL_PRIME_COUNT is the number of odd primes below the bound");
    out
}

/// The odd primes below `SIEVE_BOUND`, in increasing order.
fn small_primes() -> impl Iterator<Item = u32> {
    HALF_GAPS.iter().scan(1u32, |p, &half| {
        *p += 2 * u32::from(half);
        Some(*p)
    })
}

/// The public exponent: a candidate p with p ≡ 1 mod e has gcd(p-1, e) = e, not 1 (FIPS 186-5
/// A.1.3 step 4.5 asks for gcd(p-1, e) = 1; e = 65537 is prime).
const PUBLIC_EXPONENT: u64 = 65537;

/// The offsets k (candidate c + 2k) in one window that survive the sieve.
pub struct Window {
    /// `survives[k]`: c + 2k has no odd prime factor below `SIEVE_BOUND` and is not 1 mod e.
    survives: Vec<bool>,
}

impl Drop for Window {
    fn drop(&mut self) {
        self.survives.zeroize();
    }
}

/// Residues computed side by side: four independent chains keep the multiplier busy.
const LANES: usize = 16;

/// Bits of the candidate taken per reduction step: a divisor below 2^36 (two primes below 2^18)
/// keeps r·2^28 + chunk below 2^64.
const CHUNK_BITS: usize = 28;

/// Chunks of the largest candidate (1024 bits).
const MAX_CHUNKS: usize = 1024usize.div_ceil(CHUNK_BITS);

/// The candidate's `CHUNK_BITS`-bit chunks, most significant first, and how many there are.
fn chunks(c: &[u64]) -> ([u64; MAX_CHUNKS], usize) {
    let count = (64 * c.len()).div_ceil(CHUNK_BITS).min(MAX_CHUNKS);
    let mut out = [0u64; MAX_CHUNKS];
    for (i, chunk) in out[..count].iter_mut().enumerate() {
        let low = (count - 1 - i) * CHUNK_BITS;
        let bit = |b: usize| c.get(b / 64).map_or(0, |&limb| limb >> (b % 64));
        // The chunk may straddle two limbs.
        let joined = bit(low)
            | if low % 64 > 64 - CHUNK_BITS { bit(low + 64 - low % 64) << (64 - low % 64) } else { 0 };
        *chunk = joined & ((1 << CHUNK_BITS) - 1);
    }
    (out, count)
}

/// The candidate modulo each of `LANES` divisors 1 ≤ d < 2^36, one chunk at a time. Each step
/// reduces n = r·2^28 + chunk < 2^64 by Barrett's method with ⌊(2^64-1)/d⌋ in place of a division
/// (HAC 14.42): the estimated quotient is q or q-1, so one subtraction of d finishes it. A
/// hardware division per step measured several times slower.
fn residues(chunks: &[u64], d: &[u64; LANES]) -> [u64; LANES] {
    let reciprocal = d.map(|d| u64::MAX / d);
    let mut r = [0u64; LANES];
    for &chunk in chunks {
        for ((r, &d), &m) in r.iter_mut().zip(d).zip(&reciprocal) {
            let n = (*r << CHUNK_BITS) | chunk;
            let q = ((u128::from(n) * u128::from(m)) >> 64) as u64;
            // q·d ≤ n, and n - q·d < 2d: no wrap in either step.
            let t = n.wrapping_sub(q.wrapping_mul(d));
            // t - d wraps to above 2^63 when t < d: the minimum picks the reduced value, without
            // a branch the predictor would miss half the time.
            *r = t.min(t.wrapping_sub(d));
        }
    }
    r
}

/// The first k ≥ 0 with c + 2k ≡ target (mod d), d odd, from r = c mod d and target < d: k is
/// half of target - r (mod d), adding d first when that is odd.
fn first_offset(r: u64, target: u64, d: u64) -> u64 {
    let diff = if target >= r { target - r } else { target + d - r };
    if diff % 2 == 0 { diff / 2 } else { (diff + d) / 2 }
}

/// One divisor of a residue: two consecutive primes (their product is below 2^36); the last
/// prime, if the count is odd, is paired with 1.
#[derive(Clone, Copy)]
struct Divisor {
    primes: [u32; 2],
}

impl Divisor {
    fn value(&self) -> u64 {
        self.primes.iter().map(|&p| u64::from(p)).product()
    }
}

/// The sieve's divisors in order.
fn divisors() -> impl Iterator<Item = Divisor> {
    let mut primes = small_primes();
    core::iter::from_fn(move || {
        let first = primes.next()?;
        Some(Divisor { primes: [first, primes.next().unwrap_or(1)] })
    })
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
        let (chunks, count) = chunks(c);
        let mut all = divisors();
        loop {
            // The last group is padded with 1s (every residue mod 1 is 0, and 1 strikes nothing).
            let mut group = [Divisor { primes: [1, 1] }; LANES];
            let mut filled = 0;
            for (slot, divisor) in group.iter_mut().zip(all.by_ref()) {
                *slot = divisor;
                filled += 1;
            }
            if filled == 0 {
                break;
            }
            let r = residues(&chunks[..count], &group.map(|d| d.value()));
            for (divisor, r) in group.iter().zip(r) {
                for &p in divisor.primes.iter().filter(|&&p| p > 1) {
                    let p = u64::from(p);
                    strike(r % p, 0, p);
                }
            }
        }
        strike(
            residues(&chunks[..count], &core::array::from_fn(|i| if i == 0 { PUBLIC_EXPONENT } else { 1 }))
                [0],
            1,
            PUBLIC_EXPONENT,
        );
        // A small prime itself is no RSA prime: c is far above the bound, so c + 2k never is one.
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

    use super::{LANES, SMALL_PRIME_COUNT, Window, chunks, divisors, first_offset, residues, small_primes};

    #[test]
    fn the_table_holds_the_odd_primes_below_the_bound() {
        let primes: Vec<u32> = small_primes().collect();
        assert_eq!(primes.len(), SMALL_PRIME_COUNT);
        assert_eq!(primes[..6], [3, 5, 7, 11, 13, 17]);
        // The largest prime below 2^18.
        assert_eq!(primes[primes.len() - 1], 262139);
        // Each entry is prime by trial division, and none is missing: every odd number between two
        // neighbours is composite.
        let is_prime = |n: u32| (2..).take_while(|d| d * d <= n).all(|d| !n.is_multiple_of(d));
        for pair in primes.windows(2) {
            assert!(is_prime(pair[1]), "{}", pair[1]);
            assert!((pair[0] + 2..pair[1]).step_by(2).all(|n| !is_prime(n)), "gap after {}", pair[0]);
        }
    }

    #[test]
    fn divisors_pair_the_primes_and_cover_each_prime_once() {
        let mut seen: Vec<u32> = Vec::new();
        for d in divisors() {
            assert!(d.value() < 1 << 36);
            seen.extend(d.primes.iter().filter(|&&p| p > 1));
        }
        assert_eq!(seen, small_primes().collect::<Vec<u32>>());
    }

    #[test]
    fn residues_and_offsets_agree_with_u128_arithmetic() {
        let c = [0xFEDC_BA98_7654_3211u64, 0x0123_4567_89AB_CDEF];
        let value = (u128::from(c[1]) << 64) | u128::from(c[0]);
        let divisors = [3u64, 65521, 65537, 3 * 5, 65519 * 65521, 262139 * 262133, 1, (1 << 36) - 1];
        let (chunks, count) = chunks(&c);
        for group in divisors.chunks(LANES) {
            let d: [u64; LANES] = core::array::from_fn(|i| group.get(i).copied().unwrap_or(1));
            let r = residues(&chunks[..count], &d);
            for (&r, &d) in r.iter().zip(&d) {
                assert_eq!(u128::from(r), value % u128::from(d), "d = {d}");
                if d > 1 && d % 2 == 1 {
                    for target in [0, 1, d - 1] {
                        let k = first_offset(r, target, d);
                        assert!(k < d);
                        assert_eq!(
                            (value + 2 * u128::from(k)) % u128::from(d),
                            u128::from(target),
                            "d = {d}"
                        );
                    }
                }
            }
        }
    }

    /// A full-size candidate: every residue against num-bigint-dig's division.
    #[test]
    fn residues_of_a_1024_bit_candidate_agree_with_a_bigint() {
        let c: [u64; 16] = core::array::from_fn(|i| 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(i as u64 + 1) | 1);
        let bytes: Vec<u8> = c.iter().flat_map(|l| l.to_le_bytes()).collect();
        let big = rsa::BigUint::from_bytes_le(&bytes);
        let (chunks, count) = chunks(&c);
        let all: Vec<u64> = divisors().map(|d| d.value()).collect();
        for group in all.chunks(LANES).step_by(97) {
            let d: [u64; LANES] = core::array::from_fn(|i| group.get(i).copied().unwrap_or(1));
            for (r, d) in residues(&chunks[..count], &d).into_iter().zip(d) {
                assert_eq!(rsa::BigUint::from(r), &big % d, "d = {d}");
            }
        }
    }

    #[test]
    fn survivors_are_exactly_the_offsets_without_small_factors() {
        // A 128-bit odd start: every offset checked against the whole table by u128 division.
        let c = [0x0000_0000_0000_0F01u64, 0xC000_0000_0000_0001];
        let start = (u128::from(c[1]) << 64) | u128::from(c[0]);
        let w = Window::new(&c, 3000);
        let got: Vec<usize> = w.survivors().collect();
        let primes: Vec<u32> = small_primes().collect();
        let want: Vec<usize> = (0..3000)
            .filter(|&k| {
                let v = start + 2 * k as u128;
                primes.iter().all(|&p| !v.is_multiple_of(u128::from(p))) && v % 65537 != 1
            })
            .collect();
        assert_eq!(got, want);
        assert!(got.len() > 100 && got.len() < 600, "about a tenth survive: {}", got.len());
    }
}
