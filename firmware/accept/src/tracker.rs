//! Which owned pages are accepted: a compact map with one summary per 1 GiB, 2 MiB summaries only
//! inside a GiB that is mixed, and a 512-bit bitmap only inside a 2 MiB region that is mixed.
//!
//! A uniformly accepted (or unaccepted) TiB costs 1024 map entries; fragmentation costs 8 KiB per mixed
//! GiB plus 64 bytes per mixed 2 MiB region. Every update merges back to the coarsest summary.
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use warden_platform::memory::GpaRange;

const PAGE: u64 = 0x1000;
const LARGE: u64 = 0x20_0000;
const HUGE: u64 = 0x4000_0000;

#[derive(Clone, Debug)]
enum Node2M {
    All(bool),
    Bits(Box<[u64; 8]>),
}

#[derive(Clone, Debug)]
enum Node1G {
    All(bool),
    Split(Box<[Node2M; 512]>),
}

/// The owned ranges and the accepted state of every page in them.
#[derive(Debug)]
pub struct PageTracker {
    owned: Vec<GpaRange>,
    /// Per GiB index; absent means "nothing accepted".
    nodes: BTreeMap<u64, Node1G>,
}

fn set_bits(bits: &mut [u64; 8], first: usize, last: usize, value: bool) {
    for i in first..last {
        let (w, b) = (i / 64, i % 64);
        if let Some(word) = bits.get_mut(w) {
            if value { *word |= 1 << b } else { *word &= !(1 << b) }
        }
    }
}

fn bit(bits: &[u64; 8], i: usize) -> bool {
    bits.get(i / 64).is_some_and(|w| (w >> (i % 64)) & 1 == 1)
}

impl PageTracker {
    /// Tracks `owned` (sorted and merged here; overlapping input is merged, not refused), all pages
    /// unaccepted.
    pub fn new(owned: &[GpaRange]) -> Self {
        Self { owned: normalize(owned), nodes: BTreeMap::new() }
    }

    /// The owned ranges, sorted, disjoint and not adjacent.
    pub fn owned(&self) -> &[GpaRange] {
        &self.owned
    }

    /// Whether every page of `range` is owned.
    pub fn owns(&self, range: GpaRange) -> bool {
        let i = self.owned.partition_point(|r| r.end() <= range.start());
        self.owned.get(i).is_some_and(|r| r.contains(range))
    }

    /// Whether the page holding `gpa` is accepted.
    pub fn is_accepted(&self, gpa: u64) -> bool {
        self.granule(gpa).0
    }

    /// The state of `gpa` and the end of the uniform granule (1 GiB, 2 MiB or bitmap run) holding it.
    fn granule(&self, gpa: u64) -> (bool, u64) {
        let next_1g = (gpa / HUGE + 1).saturating_mul(HUGE);
        let next_2m = (gpa / LARGE + 1).saturating_mul(LARGE);
        match self.nodes.get(&(gpa / HUGE)) {
            None => (false, next_1g),
            Some(Node1G::All(v)) => (*v, next_1g),
            Some(Node1G::Split(n)) => match n.get(((gpa % HUGE) / LARGE) as usize) {
                None | Some(Node2M::All(false)) => (false, next_2m),
                Some(Node2M::All(true)) => (true, next_2m),
                Some(Node2M::Bits(bits)) => {
                    let first = ((gpa % LARGE) / PAGE) as usize;
                    let v = bit(bits, first);
                    let run = (first..512).take_while(|i| bit(bits, *i) == v).count() as u64;
                    (v, (gpa & !(PAGE - 1)) + run * PAGE)
                }
            },
        }
    }

    /// The longest run of equal state starting at `from` (page-aligned) and ending at most at `end`:
    /// its end and whether it is accepted.
    pub fn run_at(&self, from: u64, end: u64) -> (u64, bool) {
        let (v, mut e) = self.granule(from);
        while e < end {
            let (v2, e2) = self.granule(e);
            if v2 != v {
                break;
            }
            e = e2;
        }
        (e.min(end), v)
    }

    /// Marks every page of `range` accepted (`true`) or not.
    pub fn set(&mut self, range: GpaRange, value: bool) {
        let mut gpa = range.start();
        while gpa < range.end() {
            let giga = gpa / HUGE;
            let seg_end = range.end().min((giga + 1).saturating_mul(HUGE));
            if gpa.is_multiple_of(HUGE) && seg_end - gpa == HUGE {
                self.nodes.insert(giga, Node1G::All(value));
            } else {
                let node = self.nodes.entry(giga).or_insert(Node1G::All(false));
                if let Node1G::All(old) = *node {
                    if old == value {
                        gpa = seg_end;
                        continue;
                    }
                    *node = Node1G::Split(Box::new(core::array::from_fn(|_| Node2M::All(old))));
                }
                if let Node1G::Split(n) = node {
                    set_in_giga(n, gpa % HUGE, seg_end - giga * HUGE, value);
                    if let Some(Node2M::All(first)) = n.first() {
                        let first = *first;
                        if n.iter().all(|x| matches!(x, Node2M::All(v) if *v == first)) {
                            *node = Node1G::All(first);
                        }
                    }
                }
            }
            if matches!(self.nodes.get(&giga), Some(Node1G::All(false))) {
                self.nodes.remove(&giga);
            }
            gpa = seg_end;
        }
    }
}

/// Sets `[from, to)` (offsets inside one GiB) in its 2 MiB nodes, merging bitmaps that become uniform.
fn set_in_giga(n: &mut [Node2M; 512], from: u64, to: u64, value: bool) {
    let mut off = from;
    while off < to {
        let idx = (off / LARGE) as usize;
        let seg_end = to.min((off / LARGE + 1) * LARGE);
        let Some(node) = n.get_mut(idx) else { return };
        if off.is_multiple_of(LARGE) && seg_end - off == LARGE {
            *node = Node2M::All(value);
        } else {
            if let Node2M::All(old) = *node {
                if old == value {
                    off = seg_end;
                    continue;
                }
                *node = Node2M::Bits(Box::new([if old { u64::MAX } else { 0 }; 8]));
            }
            if let Node2M::Bits(bits) = node {
                set_bits(
                    bits,
                    ((off % LARGE) / PAGE) as usize,
                    ((seg_end - 1) % LARGE / PAGE) as usize + 1,
                    value,
                );
                if bits.iter().all(|w| *w == 0) {
                    *node = Node2M::All(false);
                } else if bits.iter().all(|w| *w == u64::MAX) {
                    *node = Node2M::All(true);
                }
            }
        }
        off = seg_end;
    }
}

/// Sorts ranges and merges the overlapping and adjacent ones.
pub(crate) fn normalize(ranges: &[GpaRange]) -> Vec<GpaRange> {
    let mut v: Vec<GpaRange> = ranges.to_vec();
    v.sort_unstable_by_key(|r| r.start());
    let mut out: Vec<GpaRange> = Vec::with_capacity(v.len());
    for r in v {
        match out.last_mut() {
            Some(last) if r.start() <= last.end() => {
                if r.end() > last.end() {
                    // Both ends are page-aligned and last.start < r.end: never None.
                    if let Some(m) = GpaRange::new(last.start(), r.end()) {
                        *last = m;
                    }
                }
            }
            _ => out.push(r),
        }
    }
    out
}
