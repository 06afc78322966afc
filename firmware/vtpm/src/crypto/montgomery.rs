//! Montgomery arithmetic modulo an odd number of `L` 64-bit limbs (L = 8 or 16: the 512- and 1024-bit
//! primes of RSA-1024 and RSA-2048), for the Miller-Rabin tests of the RSA prime search.
//!
//! Why our own and not `crypto-bigint` 0.5's `DynResidue` (already in the tree): the prime search
//! spends nearly all its time squaring modulo a candidate, and these loops, each of a fixed number of
//! iterations the compiler unrolls, measured about 1.5× faster per squaring (390 against 500-660 ns
//! for 1024 bits on the bench host, which was loaded; `DynResidue::pow`: 680 µs per 1024-bit
//! exponent). Every operation is constant-time in its operands (no branch or index depends on a
//! limb value); only the operand size is public. Limbs are little-endian (`v[0]` the least
//! significant).

use zeroize::Zeroize;

/// The largest operand handled, in limbs (a 1024-bit prime).
const MAX_LIMBS: usize = 16;

/// An odd modulus `m` with its top bit set and its Montgomery constants (R = 2^(64·L)).
#[derive(Zeroize)]
#[zeroize(drop)]
pub struct Modulus<const L: usize> {
    m: [u64; L],
    /// -m⁻¹ mod 2^64.
    m_neg_inv: u64,
    /// R mod m: 1 in Montgomery form.
    one: [u64; L],
    /// R² mod m: converts an integer into Montgomery form.
    r2: [u64; L],
}

/// `a + b + carry` as (sum, carry).
#[inline(always)]
fn adc(a: u64, b: u64, carry: u64) -> (u64, u64) {
    let s = u128::from(a).wrapping_add(u128::from(b)).wrapping_add(u128::from(carry));
    (s as u64, (s >> 64) as u64)
}

/// `a + b·c + carry` as (low, high); cannot overflow 128 bits.
#[inline(always)]
fn mac(a: u64, b: u64, c: u64, carry: u64) -> (u64, u64) {
    let s =
        u128::from(b).wrapping_mul(u128::from(c)).wrapping_add(u128::from(a)).wrapping_add(u128::from(carry));
    (s as u64, (s >> 64) as u64)
}

/// `a - b - borrow` as (difference, borrow 0 or 1).
#[inline(always)]
fn sbb(a: u64, b: u64, borrow: u64) -> (u64, u64) {
    let d = u128::from(a).wrapping_sub(u128::from(b)).wrapping_sub(u128::from(borrow));
    (d as u64, ((d >> 64) as u64) & 1)
}

impl<const L: usize> Modulus<L> {
    /// The constants for `m`; `None` unless `m` is odd with its top bit set (every prime candidate
    /// is: the search sets both bits) and `L` a power of two (8 or 16).
    pub fn new(m: &[u64; L]) -> Option<Self> {
        if !L.is_power_of_two() || L > MAX_LIMBS || m[0] & 1 == 0 || m[L - 1] >> 63 == 0 {
            return None;
        }
        // Newton's iteration for m⁻¹ mod 2^64: each step doubles the correct low bits (m·m ≡ 1 mod 8).
        let mut inv = m[0];
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(m[0].wrapping_mul(inv)));
        }
        // m ≥ R/2, so R mod m = R - m.
        let mut one = [0u64; L];
        let mut borrow = 0;
        for (o, &limb) in one.iter_mut().zip(m) {
            (*o, borrow) = sbb(0, limb, borrow);
        }
        let mut md = Modulus { m: *m, m_neg_inv: inv.wrapping_neg(), one, r2: [0; L] };
        // R² mod m is R in Montgomery form: from 2 (2R mod m), squaring k times gives 2^(2^k), and
        // 64·L = 2^k as L is a power of two. Ten squarings for L = 16 where 1024 doublings took
        // 4% of the prime search (one `Modulus` per candidate).
        let mut r2 = md.double(&one);
        for _ in 0..(64 * L).trailing_zeros() {
            r2 = md.square(&r2);
        }
        md.r2 = r2;
        Some(md)
    }

    /// 1 in Montgomery form.
    pub fn one(&self) -> [u64; L] {
        self.one
    }

    /// m - 1 in Montgomery form (-R mod m), what a Miller-Rabin witness squares to for a prime.
    pub fn minus_one(&self) -> [u64; L] {
        let mut out = [0u64; L];
        let mut borrow = 0;
        for ((o, &a), &b) in out.iter_mut().zip(&self.m).zip(&self.one) {
            (*o, borrow) = sbb(a, b, borrow);
        }
        out
    }

    /// `a` (< m) into Montgomery form: a·R mod m.
    pub fn to_montgomery(&self, a: &[u64; L]) -> [u64; L] {
        self.mul(a, &self.r2)
    }

    /// `t` minus m when `t` (with its carry-out `hi`) is at least m: the last step of every operation,
    /// by mask rather than by branch.
    #[inline(always)]
    fn reduce_once(&self, t: &[u64; L], hi: u64) -> [u64; L] {
        let mut d = [0u64; L];
        let mut borrow = 0;
        for ((o, &a), &b) in d.iter_mut().zip(t).zip(&self.m) {
            (*o, borrow) = sbb(a, b, borrow);
        }
        // Keep `t` when the subtraction borrowed past the carry-out (t < m).
        let (_, keep) = sbb(hi, 0, borrow);
        let mask = keep.wrapping_neg();
        let mut out = [0u64; L];
        for ((o, &a), &b) in out.iter_mut().zip(t).zip(&d) {
            *o = (a & mask) | (b & !mask);
        }
        out
    }

    /// 2·a mod m for a < m.
    #[inline(always)]
    pub fn double(&self, a: &[u64; L]) -> [u64; L] {
        let mut t = [0u64; L];
        let mut carry = 0;
        for (o, &limb) in t.iter_mut().zip(a) {
            *o = (limb << 1) | carry;
            carry = limb >> 63;
        }
        self.reduce_once(&t, carry)
    }

    /// a·b·R⁻¹ mod m for a, b < m: coarsely integrated operand scanning (CIOS, Koç, Acar and
    /// Kaliski 1996). Every inner loop runs exactly L times, so the compiler unrolls it: measured 2×
    /// faster than product scanning or a separate squaring with their triangular loops.
    // Indexing several arrays by the same j is the algorithm's own notation.
    #[allow(clippy::needless_range_loop)]
    pub fn mul(&self, a: &[u64; L], b: &[u64; L]) -> [u64; L] {
        let mut t = [0u64; L];
        let mut t_hi = 0u64;
        for i in 0..L {
            // t += a·b_i
            let mut c = 0;
            for j in 0..L {
                (t[j], c) = mac(t[j], a[j], b[i], c);
            }
            let (top, top_carry) = adc(t_hi, c, 0);
            // t = (t + u·m) / 2^64, u chosen to clear the low limb.
            let u = t[0].wrapping_mul(self.m_neg_inv);
            let (_, mut c) = mac(t[0], u, self.m[0], 0);
            for j in 1..L {
                (t[j - 1], c) = mac(t[j], u, self.m[j], c);
            }
            (t[L - 1], c) = adc(top, c, 0);
            t_hi = top_carry.wrapping_add(c);
        }
        self.reduce_once(&t, t_hi)
    }

    /// a²·R⁻¹ mod m for a < m: the full square with each cross product a_i·a_j (i < j) computed once
    /// and doubled, then a Montgomery reduction (HAC Algorithm 14.32) whose rows run L times each.
    #[allow(clippy::needless_range_loop)]
    pub fn square(&self, a: &[u64; L]) -> [u64; L] {
        let mut w = [0u64; 2 * MAX_LIMBS];
        for i in 0..L {
            let mut c = 0;
            for j in i + 1..L {
                (w[i + j], c) = mac(w[i + j], a[i], a[j], c);
            }
            w[i + L] = c;
        }
        let mut shifted_out = 0;
        for k in 0..2 * L {
            let next = w[k] >> 63;
            w[k] = (w[k] << 1) | shifted_out;
            shifted_out = next;
        }
        let mut c = 0;
        for i in 0..L {
            let sq = u128::from(a[i]).wrapping_mul(u128::from(a[i]));
            (w[2 * i], c) = adc(w[2 * i], sq as u64, c);
            (w[2 * i + 1], c) = adc(w[2 * i + 1], (sq >> 64) as u64, c);
        }
        // Clear limb i by adding u·m·2^(64i); the carry out of limb i+L waits in `spill`.
        let mut spill = 0;
        for i in 0..L {
            let u = w[i].wrapping_mul(self.m_neg_inv);
            let mut c = 0;
            for j in 0..L {
                (w[i + j], c) = mac(w[i + j], u, self.m[j], c);
            }
            (w[i + L], spill) = adc(w[i + L], c, spill);
        }
        let mut hi = [0u64; L];
        hi.copy_from_slice(&w[L..2 * L]);
        self.reduce_once(&hi, spill)
    }

    /// 2^e mod m in Montgomery form, `e` of `bits` bits: left to right, each bit one squaring and,
    /// for a set bit, a doubling instead of a multiplication (always computed, selected by mask).
    pub fn pow2(&self, e: &[u64; L], bits: usize) -> [u64; L] {
        let mut x = self.one;
        for bit in (0..bits.min(64 * L)).rev() {
            x = self.square(&x);
            let doubled = self.double(&x);
            let mask = ((e[bit / 64] >> (bit % 64)) & 1).wrapping_neg();
            for (xi, &di) in x.iter_mut().zip(&doubled) {
                *xi = (di & mask) | (*xi & !mask);
            }
        }
        x
    }

    /// base^e mod m, `base` in Montgomery form, `e` of `bits` bits: fixed 4-bit windows, the table
    /// entry read by scanning all sixteen (no secret-dependent index).
    pub fn pow(&self, base: &[u64; L], e: &[u64; L], bits: usize) -> [u64; L] {
        let mut table = [[0u64; L]; 16];
        table[0] = self.one;
        for k in 1..16 {
            table[k] = self.mul(&table[k - 1], base);
        }
        let bits = bits.min(64 * L);
        let mut x = self.one;
        for window in (0..bits.div_ceil(4)).rev() {
            for _ in 0..4 {
                x = self.square(&x);
            }
            let bit = window * 4;
            let digit = (e[bit / 64] >> (bit % 64)) & 0xF;
            let mut entry = [0u64; L];
            for (k, row) in table.iter().enumerate() {
                let mask = u64::from(k as u64 == digit).wrapping_neg();
                for (o, &v) in entry.iter_mut().zip(row) {
                    *o |= v & mask;
                }
            }
            x = self.mul(&x, &entry);
        }
        table.zeroize();
        x
    }
}

#[cfg(test)]
mod tests {
    use rsa::BigUint;

    use super::Modulus;

    fn big<const L: usize>(v: &[u64; L]) -> BigUint {
        let bytes: alloc::vec::Vec<u8> = v.iter().flat_map(|l| l.to_le_bytes()).collect();
        BigUint::from_bytes_le(&bytes)
    }

    fn limbs<const L: usize>(b: &BigUint) -> [u64; L] {
        let mut bytes = b.to_bytes_le();
        bytes.resize(8 * L, 0);
        core::array::from_fn(|i| u64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().unwrap()))
    }

    /// A deterministic spread of limb values (splitmix64).
    fn spread<const L: usize>(seed: u64) -> [u64; L] {
        let mut x = seed;
        core::array::from_fn(|_| {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        })
    }

    /// Every operation against num-bigint-dig's arithmetic (the `rsa` crate's), an independent
    /// implementation: a·R mod m, then mul, square, pow and pow2 taken back out of Montgomery form.
    fn agrees_with_bigint<const L: usize>(seed: u64) {
        let mut m = spread::<L>(seed);
        m[0] |= 1;
        m[L - 1] |= 1 << 63;
        let md = Modulus::new(&m).unwrap();
        let (mb, r) = (big(&m), BigUint::from(1u8) << (64 * L));
        let a = limbs::<L>(&(big(&spread::<L>(seed + 1)) % &mb));
        let b = limbs::<L>(&(big(&spread::<L>(seed + 2)) % &mb));
        let (am, bm) = (md.to_montgomery(&a), md.to_montgomery(&b));
        assert_eq!(big(&am), big(&a) * &r % &mb, "a·R mod m");
        // out = x·y·R⁻¹ ⟺ out·R ≡ x·y.
        let check = |out: &[u64; L], expect_times_r: BigUint| {
            assert!(big(out) < mb, "fully reduced");
            assert_eq!(big(out) * &r % &mb, expect_times_r % &mb);
        };
        check(&md.mul(&am, &bm), big(&am) * big(&bm));
        check(&md.square(&am), big(&am) * big(&am));
        let e = spread::<L>(seed + 3);
        // x^e in Montgomery form is (a^e)·R.
        let want = big(&a).modpow(&big(&e), &mb) * &r % &mb;
        assert_eq!(big(&md.pow(&am, &e, 64 * L)), want, "pow");
        let want2 = BigUint::from(2u8).modpow(&big(&e), &mb) * &r % &mb;
        assert_eq!(big(&md.pow2(&e, 64 * L)), want2, "pow2");
        assert_eq!(big(&md.one()), &r % &mb);
        assert_eq!(big(&md.minus_one()), (&mb - BigUint::from(1u8)) * &r % &mb);
    }

    #[test]
    fn arithmetic_agrees_with_an_independent_bigint() {
        for seed in [1, 77, 1 << 40] {
            agrees_with_bigint::<8>(seed);
            agrees_with_bigint::<16>(seed);
        }
    }

    #[test]
    fn an_even_or_short_modulus_is_refused() {
        let mut m = [u64::MAX; 16];
        m[0] = 2;
        assert!(Modulus::new(&m).is_none());
        let mut m = [1u64; 16];
        m[15] = 1;
        assert!(Modulus::new(&m).is_none());
    }
}
