//! The two primes of an RSA key, drawn from a seeded stream (so a primary is the same key every time
//! its seed and template are): FIPS 186-5 Appendix A.1.3, probable primes, with an incremental search.
//!
//! For each prime: draw an odd candidate c with its top two bits set (so p ≥ 1.5·2^(bits-1) >
//! √2·2^(bits-1), A.1.3 step 4.4), sieve a window of c, c+2, … against the odd primes below 2^18 and
//! against p ≡ 1 mod e (`prime_sieve`), give each survivor one Miller-Rabin round to base 2 (the cheap
//! filter that rejects the composites), and the first that passes the FIPS 186-5 Table B.1 number of
//! rounds with bases from the stream is the prime: 5 for the 1024-bit primes of RSA-2048 (error
//! ≤ 2^-112), 7 for the 512-bit primes of RSA-1024 (FIPS 186-4 Table C.3; 186-5 no longer lists
//! them). q must also differ from p in its top 100 bits (A.1.3 step 5.4). TPM 2.0 Library Part 1
//! asks only that a primary be reproducible from its seed and template; the reference code's
//! `CryptRsaGenerateKey` (Part 4) searches the same way, with its own sieve and round counts, so
//! the keys differ from another TPM's (and from this engine's before this search).
//!
//! Constant-time: the modular exponentiations (`montgomery`). Not constant-time: the sieve, the number
//! of candidates tried, and where a Miller-Rabin round stops squaring (which also depends on the
//! number of trailing zeros of p - 1); as in OpenSSL and libtpms, they tell about the rejected
//! numbers, the distance from c to the prime, and that count.

use alloc::vec::Vec;

use rand_core::RngCore;
use zeroize::{Zeroize, Zeroizing};

use crate::crypto::montgomery::Modulus;
use crate::crypto::prime_sieve::Window;

/// Odd offsets sieved above each candidate: a 1024-bit prime lies within one with probability
/// 1 - e^(-4096/355) (355 the mean gap between primes, in odd numbers); otherwise a new candidate.
const WINDOW: usize = 4096;

/// Candidates drawn before giving up (a broken stream), FIPS 186-5 A.1.3 step 4.7 in spirit.
const MAX_DRAWS: usize = 64;

/// The primes of one key, big-endian, wiped when dropped.
pub struct PrimePair {
    pub p: Zeroizing<Vec<u8>>,
    pub q: Zeroizing<Vec<u8>>,
}

// Secret: Debug output never shows the primes.
impl core::fmt::Debug for PrimePair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PrimePair(..)")
    }
}

/// Why no key came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrimeError {
    /// A modulus size other than 1024 or 2048 bits.
    UnsupportedSize,
    /// No prime within `MAX_DRAWS` candidates: the stream is not random.
    Exhausted,
}

/// Two distinct primes p, q of `modulus_bits / 2` bits each (big-endian bytes) for e = 65537.
pub fn generate_pair(rng: &mut dyn RngCore, modulus_bits: usize) -> Result<PrimePair, PrimeError> {
    match modulus_bits {
        1024 => pair::<8>(rng, 7),
        2048 => pair::<16>(rng, 5),
        _ => Err(PrimeError::UnsupportedSize),
    }
}

/// The pair for primes of `L` limbs with `rounds` random-base Miller-Rabin rounds (Table B.1).
fn pair<const L: usize>(rng: &mut dyn RngCore, rounds: usize) -> Result<PrimePair, PrimeError> {
    let p = Zeroizing::new(prime::<L>(rng, rounds)?);
    for _ in 0..MAX_DRAWS {
        let q = Zeroizing::new(prime::<L>(rng, rounds)?);
        // |p - q| > 2^(bits - 100): the top 100 bits differ (A.1.3 step 5.4).
        if far_apart(&p, &q, 64 * L - 100) {
            return Ok(PrimePair { p: to_be_bytes(&p), q: to_be_bytes(&q) });
        }
    }
    Err(PrimeError::Exhausted)
}

/// Whether |a - b| ≥ 2^shift, compared on the bits at and above `shift` (variable time: the two
/// primes are only compared with each other, and a rejected q is thrown away).
fn far_apart<const L: usize>(a: &[u64; L], b: &[u64; L], shift: usize) -> bool {
    let (hi_a, hi_b) = (top_bits(a, shift), top_bits(b, shift));
    // Equal top parts, or adjacent ones: |a - b| may be below 2^shift. Stricter than needed, by a
    // probability of 2^-99.
    hi_a.abs_diff(hi_b) > 1
}

/// `v >> shift` for shift ≥ 64·L - 128, as a u128.
fn top_bits<const L: usize>(v: &[u64; L], shift: usize) -> u128 {
    let mut out = 0u128;
    for bit in (shift..64 * L).rev() {
        out = (out << 1) | u128::from((v[bit / 64] >> (bit % 64)) & 1);
    }
    out
}

fn to_be_bytes<const L: usize>(v: &[u64; L]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(8 * L));
    for limb in v.iter().rev() {
        out.extend_from_slice(&limb.to_be_bytes());
    }
    out
}

/// `L` limbs from the stream, least significant first.
fn draw<const L: usize>(rng: &mut dyn RngCore) -> [u64; L] {
    let mut bytes = Zeroizing::new([0u8; 128]);
    let bytes = &mut bytes[..8 * L];
    rng.fill_bytes(bytes);
    let mut out = [0u64; L];
    for (limb, chunk) in out.iter_mut().rev().zip(bytes.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *limb = u64::from_be_bytes(b);
    }
    out
}

/// `c + 2k`, or `None` if it carries out of `L` limbs.
fn add_offset<const L: usize>(c: &[u64; L], k: usize) -> Option<[u64; L]> {
    let mut out = *c;
    let mut carry = (k as u64).checked_mul(2)?;
    for limb in out.iter_mut() {
        let (s, o) = limb.overflowing_add(carry);
        *limb = s;
        carry = u64::from(o);
    }
    (carry == 0).then_some(out)
}

/// One probable prime of `64·L` bits.
fn prime<const L: usize>(rng: &mut dyn RngCore, rounds: usize) -> Result<[u64; L], PrimeError> {
    for _ in 0..MAX_DRAWS {
        let mut c = draw::<L>(rng);
        c[L - 1] |= 0b11 << 62;
        c[0] |= 1;
        let window = Window::new(&c, WINDOW);
        for k in window.survivors() {
            // Past 2^(64·L) the top bits are gone: draw again.
            let Some(mut w) = add_offset(&c, k) else { break };
            if is_probable_prime(&w, rng, rounds)? {
                c.zeroize();
                return Ok(w);
            }
            w.zeroize();
        }
        c.zeroize();
    }
    Err(PrimeError::Exhausted)
}

/// Miller-Rabin (FIPS 186-5 B.3.1): one round to base 2, then `rounds` with bases from `rng`.
fn is_probable_prime<const L: usize>(
    w: &[u64; L],
    rng: &mut dyn RngCore,
    rounds: usize,
) -> Result<bool, PrimeError> {
    let Some(m) = Modulus::new(w) else { return Ok(false) };
    // w - 1 = 2^a · d, d odd.
    let mut w_minus_1 = *w;
    w_minus_1[0] &= !1;
    let a = trailing_zeros(&w_minus_1);
    let d = shift_right(&w_minus_1, a);
    let bits = 64 * L - a;
    if !witness_passes(&m, m.pow2(&d, bits), a) {
        return Ok(false);
    }
    for _ in 0..rounds {
        // b in [2, w-2], drawn until one falls there (B.3.1 steps 4.1-4.2); each draw does with
        // probability above 3/4, as w ≥ 2^(64·L) · 3/4.
        let b = (0..MAX_DRAWS)
            .map(|_| draw::<L>(rng))
            .find(|b| gt_one(b) && lt(b, &w_minus_1))
            .ok_or(PrimeError::Exhausted)?;
        let x = m.pow(&m.to_montgomery(&b), &d, bits);
        if !witness_passes(&m, x, a) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether x = b^d (Montgomery form) shows w as probably prime: x = ±1, or some x^(2^j) = -1, j < a.
fn witness_passes<const L: usize>(m: &Modulus<L>, mut x: [u64; L], a: usize) -> bool {
    let (one, minus_one) = (m.one(), m.minus_one());
    if x == one || x == minus_one {
        return true;
    }
    for _ in 1..a {
        x = m.square(&x);
        if x == minus_one {
            return true;
        }
        if x == one {
            return false;
        }
    }
    false
}

fn trailing_zeros<const L: usize>(v: &[u64; L]) -> usize {
    let mut n = 0;
    for &limb in v {
        if limb != 0 {
            return n + limb.trailing_zeros() as usize;
        }
        n += 64;
    }
    n
}

/// `v >> s`, s < 64·L.
fn shift_right<const L: usize>(v: &[u64; L], s: usize) -> [u64; L] {
    let (limbs, bits) = (s / 64, s % 64);
    let mut out = [0u64; L];
    for i in 0..L - limbs {
        let lo = v[i + limbs] >> bits;
        let hi = if bits == 0 { 0 } else { v.get(i + limbs + 1).map_or(0, |&h| h << (64 - bits)) };
        out[i] = lo | hi;
    }
    out
}

fn gt_one<const L: usize>(v: &[u64; L]) -> bool {
    v[0] > 1 || v[1..].iter().any(|&l| l != 0)
}

fn lt<const L: usize>(a: &[u64; L], b: &[u64; L]) -> bool {
    a.iter().rev().cmp(b.iter().rev()) == core::cmp::Ordering::Less
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use num_bigint_dig::prime::probably_prime;
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};
    use rsa::{BigUint, RsaPrivateKey};

    use super::{PrimeError, far_apart, generate_pair};
    use crate::crypto::HashAlg;
    use crate::crypto::seeded_rng::SeededRng;

    fn stream(seed: &[u8]) -> SeededRng {
        SeededRng::new(HashAlg::Sha256, seed, b"RSA primes test", b"", b"").unwrap()
    }

    /// The checks FIPS 186-5 A.1.3 and the key's users need, each by code other than the search:
    /// p and q prime by num-bigint-dig's Miller-Rabin and Lucas test, of exactly half the bits, far
    /// apart; n of the full size; d·e ≡ 1 mod λ(n); RSAEP then RSADP gives the message back. (Signing
    /// and decryption through the TPM, blinded, are the integration tests' `rsa_sizes` and `crypt`.)
    fn check_key(p: &[u8], q: &[u8], bits: usize) -> RsaPrivateKey {
        let (pb, qb) = (BigUint::from_bytes_be(p), BigUint::from_bytes_be(q));
        for prime in [&pb, &qb] {
            assert!(probably_prime(prime, 20), "{prime:x} is not prime");
            assert_eq!(prime.bits(), bits / 2);
        }
        let diff = if pb > qb { &pb - &qb } else { &qb - &pb };
        assert!(diff.bits() > bits / 2 - 100, "|p - q| > 2^(nlen/2 - 100)");
        let k = RsaPrivateKey::from_p_q(pb.clone(), qb.clone(), BigUint::from(65537u32)).unwrap();
        k.validate().unwrap();
        assert_eq!(k.n().bits(), bits);
        assert_eq!(k.e(), &BigUint::from(65537u32));
        let one = BigUint::from(1u8);
        let (p1, q1) = (&pb - &one, &qb - &one);
        let lambda = &p1 * &q1 / num_integer_gcd(&p1, &q1);
        assert_eq!(k.d() * k.e() % &lambda, one, "d·e ≡ 1 mod λ(n)");
        assert!(k.d().bits() > bits / 2, "d > 2^(nlen/2)");
        // RSAEP then RSADP by plain modular exponentiation: (m^e)^d = m.
        let message = BigUint::from_bytes_be(b"a message below n");
        let encrypted = message.modpow(k.e(), k.n());
        assert_eq!(encrypted.modpow(k.d(), k.n()), message);
        k
    }

    fn num_integer_gcd(a: &BigUint, b: &BigUint) -> BigUint {
        let (mut a, mut b) = (a.clone(), b.clone());
        while b != BigUint::from(0u8) {
            let r = &a % &b;
            a = b;
            b = r;
        }
        a
    }

    #[test]
    fn rsa_2048_primes_are_prime_and_make_a_working_key() {
        for seed in [&b"one"[..], b"two", b"three"] {
            let pair = generate_pair(&mut stream(seed), 2048).unwrap();
            check_key(&pair.p, &pair.q, 2048);
        }
    }

    #[test]
    fn rsa_1024_primes_are_prime_and_make_a_working_key() {
        let pair = generate_pair(&mut stream(b"small"), 1024).unwrap();
        check_key(&pair.p, &pair.q, 1024);
    }

    #[test]
    fn the_same_stream_gives_the_same_primes() {
        let a = generate_pair(&mut stream(b"again"), 2048).unwrap();
        let b = generate_pair(&mut stream(b"again"), 2048).unwrap();
        let c = generate_pair(&mut stream(b"other"), 2048).unwrap();
        assert_eq!((&a.p[..], &a.q[..]), (&b.p[..], &b.q[..]));
        assert_ne!(&a.p[..], &c.p[..]);
    }

    /// A known answer: the primes of RSA-1024 from the stream keyed by the seed "known answer",
    /// recorded from this search and checked here by the independent test (so a change to the
    /// search that changes every primary shows up, and the recorded values are real primes).
    #[test]
    fn a_known_seed_gives_known_primes() {
        let pair = generate_pair(&mut stream(b"known answer"), 1024).unwrap();
        let want_p = BigUint::parse_bytes(KNOWN_P.as_bytes(), 16).unwrap();
        let want_q = BigUint::parse_bytes(KNOWN_Q.as_bytes(), 16).unwrap();
        check_key(&want_p.to_bytes_be(), &want_q.to_bytes_be(), 1024);
        assert_eq!(BigUint::from_bytes_be(&pair.p), want_p);
        assert_eq!(BigUint::from_bytes_be(&pair.q), want_q);
    }

    // Recorded 2026-12-03 from this search; also checked outside Rust (Python: 40 random-base
    // Miller-Rabin rounds, no factor below 70000, not 1 mod 65537).
    const KNOWN_P: &str = concat!(
        "c0d4e6eceef3394f1a1ca2372368b984c15f8b18690a158cd3db9ad49c969535",
        "9ea663f648a3c87e3b75dc8973fdea96023ccf81ca9b3131c900a1036308edc5"
    );
    const KNOWN_Q: &str = concat!(
        "f8e595b146ca57aa82340c6e36cf296ec2533388d46901b293749e202c0e7dd5",
        "2accddbfe5074aa72384606968fb8745230a85458a36de47d96f9cd0c186d70d"
    );

    #[test]
    fn other_sizes_are_refused() {
        assert_eq!(generate_pair(&mut stream(b"x"), 3072).err(), Some(PrimeError::UnsupportedSize));
    }

    /// A stream of zeros: every candidate is 0b11 followed by zeros and 1, the same window each
    /// time; the search must end with an error, not loop.
    #[test]
    fn a_constant_stream_ends_the_search() {
        struct Zeros;
        impl rand_core::RngCore for Zeros {
            fn next_u32(&mut self) -> u32 {
                0
            }
            fn next_u64(&mut self) -> u64 {
                0
            }
            fn fill_bytes(&mut self, dest: &mut [u8]) {
                dest.fill(0);
            }
            fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
                dest.fill(0);
                Ok(())
            }
        }
        // Its Miller-Rabin bases are all zero, never in [2, w-2]: the draw of bases gives up.
        assert_eq!(generate_pair(&mut Zeros, 1024).err(), Some(PrimeError::Exhausted));
    }

    #[test]
    fn far_apart_compares_the_top_100_bits() {
        let a = [0u64, 0, 0, 0, 0, 0, 0, 0xC000_0000_0000_0000];
        let mut b = a;
        b[1] = u64::MAX; // differs below bit 412 only
        assert!(!far_apart(&a, &b, 512 - 100));
        // Bit 412 is bit 28 of limb 6: top parts 1 apart may still be close, 2 apart are not.
        let close: Vec<bool> =
            [1u64 << 28, 2 << 28].iter().map(|&d| far_apart(&a, &[0, 0, 0, 0, 0, 0, d, a[7]], 412)).collect();
        assert_eq!(close, [false, true]);
        b[7] += 1 << 20;
        assert!(far_apart(&a, &b, 412));
    }
}
