//! Cutting a range into the largest naturally aligned pages: the only place page sizes are chosen.

/// The pages covering `[cur, end)`: at each step the largest size in `sizes` (descending, each a power
/// of two, the last 4 KiB) that is aligned at `cur` and fits before `end`.
#[derive(Clone, Debug)]
pub struct Chunks {
    cur: u64,
    end: u64,
    sizes: &'static [u64],
}

/// SNP sizes: 2 MiB, 4 KiB.
pub const SNP_SIZES: &[u64] = &[0x20_0000, 0x1000];
/// TDX sizes: 1 GiB, 2 MiB, 4 KiB.
pub const TDX_SIZES: &[u64] = &[0x4000_0000, 0x20_0000, 0x1000];

impl Chunks {
    /// The pages of `[start, end)`; both must be 4 KiB-aligned (a `GpaRange` is).
    pub const fn new(start: u64, end: u64, sizes: &'static [u64]) -> Self {
        Self { cur: start, end, sizes }
    }
}

impl Iterator for Chunks {
    /// (address, size in bytes)
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        if self.cur >= self.end {
            return None;
        }
        let size =
            self.sizes.iter().copied().find(|s| self.cur.is_multiple_of(*s) && self.end - self.cur >= *s)?;
        let at = self.cur;
        self.cur += size;
        Some((at, size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_start_takes_4k_until_aligned_then_2m() {
        let c: alloc::vec::Vec<_> = Chunks::new(0x1F_E000, 0x60_1000, SNP_SIZES).collect();
        assert_eq!(
            c,
            [
                (0x1F_E000, 0x1000),
                (0x1F_F000, 0x1000),
                (0x20_0000, 0x20_0000),
                (0x40_0000, 0x20_0000),
                (0x60_0000, 0x1000)
            ]
        );
        let t: alloc::vec::Vec<_> = Chunks::new(0x3FE0_0000, 0x8000_0000, TDX_SIZES).collect();
        assert_eq!(t, [(0x3FE0_0000, 0x20_0000), (0x4000_0000, 0x4000_0000)]);
    }
}
