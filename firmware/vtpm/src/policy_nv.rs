//! The comparisons of TPM2_PolicyNV (Part 2 Table 16, TPM_EO; ms-tpm-20-ref PolicySptCheckCondition):
//! operand A is the NV data, operand B the caller's bytes of the same length, both big-endian.

use core::cmp::Ordering;

/// TPM_EO_BITCLEAR, the last defined operation.
pub const MAX_EO: u16 = 0x000B;

/// Signed comparison of two's-complement big-endian numbers of equal length.
fn signed_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let neg = |x: &[u8]| x.first().is_some_and(|v| v & 0x80 != 0);
    match (neg(a), neg(b)) {
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        // Same sign: two's complement orders like the unsigned bytes.
        _ => a.cmp(b),
    }
}

/// Whether `a <operation> b` holds; `a` and `b` have the same length.
pub fn holds(operation: u16, a: &[u8], b: &[u8]) -> bool {
    let unsigned = a.cmp(b);
    let signed = signed_cmp(a, b);
    match operation {
        0x0 => a == b,
        0x1 => a != b,
        0x2 => signed == Ordering::Greater,
        0x3 => unsigned == Ordering::Greater,
        0x4 => signed == Ordering::Less,
        0x5 => unsigned == Ordering::Less,
        0x6 => signed != Ordering::Less,
        0x7 => unsigned != Ordering::Less,
        0x8 => signed != Ordering::Greater,
        0x9 => unsigned != Ordering::Greater,
        // BITSET: every bit set in B is set in A; BITCLEAR: no bit set in B is set in A.
        0xA => a.iter().zip(b).all(|(x, y)| x & y == *y),
        0xB => a.iter().zip(b).all(|(x, y)| x & y == 0),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::holds;

    /// Each operation checked against i16/u16 arithmetic on 2-byte operands.
    #[test]
    fn comparisons_match_integer_arithmetic() {
        let values: [i16; 7] = [i16::MIN, -300, -1, 0, 1, 255, i16::MAX];
        for &x in &values {
            for &y in &values {
                let (a, b) = (x.to_be_bytes(), y.to_be_bytes());
                let (ua, ub) = (x as u16, y as u16);
                let expect = [
                    x == y,
                    x != y,
                    x > y,
                    ua > ub,
                    x < y,
                    ua < ub,
                    x >= y,
                    ua >= ub,
                    x <= y,
                    ua <= ub,
                    ua & ub == ub,
                    ua & ub == 0,
                ];
                for (op, want) in expect.iter().enumerate() {
                    assert_eq!(holds(op as u16, &a, &b), *want, "{x} op {op} {y}");
                }
            }
        }
        assert!(!holds(0xC, &[0], &[0]));
    }
}
