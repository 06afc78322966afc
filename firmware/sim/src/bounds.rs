//! The theoretical minimum cost of accepting a memory map, computed by plain arithmetic (independent
//! of the engine's planner) so tests and the benchmark can hold the engine to it.
use warden_defs::psc::PSC_MAX_ENTRIES;
use warden_platform::memory::GpaRange;

use crate::{HUGE, LARGE, PAGE};

/// Minimum counts for one map.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Minimum {
    /// One PVALIDATE per 2 MiB-aligned 2 MiB, plus one per leftover 4 KiB page.
    pub pvalidate: u64,
    /// One page-state-change exit per 253 of those entries.
    pub psc_exits: u64,
    /// One TDX accept per aligned 1 GiB, plus one per leftover aligned 2 MiB, plus one per 4 KiB.
    pub tdx_accepts: u64,
}

/// How many aligned `size` blocks fit in `[start, end)`, and the bytes left outside them.
fn blocks(start: u64, end: u64, size: u64) -> (u64, u64) {
    let first = start.div_ceil(size) * size;
    let last = end / size * size;
    if first >= last { (0, end - start) } else { ((last - first) / size, (first - start) + (end - last)) }
}

/// The minimum for `ranges` (assumed disjoint).
pub fn minimum(ranges: &[GpaRange]) -> Minimum {
    let mut m = Minimum::default();
    let mut entries = 0;
    for r in ranges {
        let (large, rest) = blocks(r.start(), r.end(), LARGE);
        entries += large + rest / PAGE;
        let (huge, _) = blocks(r.start(), r.end(), HUGE);
        // Inside the 1 GiB blocks nothing is left over; outside them, count 2 MiB blocks and pages.
        let huge_bytes = huge * HUGE;
        let large_outside = large - huge_bytes / LARGE;
        m.tdx_accepts += huge + large_outside + rest / PAGE;
    }
    m.pvalidate = entries;
    m.psc_exits = entries.div_ceil(PSC_MAX_ENTRIES as u64);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_alignment() {
        let r = |s, e| GpaRange::new(s, e).unwrap();
        let m = minimum(&[r(0x1000, 0x4000_0000 + 0x20_0000 + 0x3000)]);
        // 0x1000..0x20_0000: 511 pages; then 2 MiB blocks up to 1 GiB + 2 MiB: 512; then 3 pages.
        assert_eq!(m.pvalidate, 511 + 512 + 3);
        assert_eq!(m.psc_exits, (511u64 + 512 + 3).div_ceil(253));
        // No aligned GiB fits: same as SNP.
        assert_eq!(m.tdx_accepts, 511 + 512 + 3);
        let a = minimum(&[r(0x4000_0000, 0x4000_0000 * 3 + 0x20_0000)]);
        assert_eq!((a.tdx_accepts, a.pvalidate, a.psc_exits), (2 + 1, 1025, 5));
    }
}
