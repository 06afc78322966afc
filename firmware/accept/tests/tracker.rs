//! The compact page tracker agrees with a plain per-page bitmap under random updates.
use warden_accept::tracker::PageTracker;
use warden_platform::memory::GpaRange;

const K4: u64 = 0x1000;
const G1: u64 = 0x4000_0000;
/// Three GiB, tracked per page in the reference.
const PAGES: u64 = 3 * G1 / K4;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn matches_a_per_page_bitmap() {
    let mut t = PageTracker::new(&[GpaRange::new(0, 3 * G1).unwrap()]);
    let mut reference = vec![false; PAGES as usize];
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    for step in 0..400 {
        // Mix large aligned spans with small odd ones.
        let len = match rng.next() % 3 {
            0 => (rng.next() % 4 + 1) * 512,
            1 => rng.next() % 40 + 1,
            _ => rng.next() % (PAGES / 2) + 1,
        };
        let start = rng.next() % (PAGES - len);
        let value = rng.next() & 1 == 0;
        t.set(GpaRange::new(start * K4, (start + len) * K4).unwrap(), value);
        reference[start as usize..(start + len) as usize].fill(value);
        let probe = rng.next() % PAGES;
        assert_eq!(t.is_accepted(probe * K4), reference[probe as usize], "step {step}");
        let (end, v) = t.run_at(probe * K4, 3 * G1);
        assert_eq!(v, reference[probe as usize]);
        let expected_end = (probe..PAGES).find(|p| reference[*p as usize] != v).unwrap_or(PAGES);
        assert_eq!(end, expected_end * K4, "step {step}");
    }
    for p in (0..PAGES).step_by(97) {
        assert_eq!(t.is_accepted(p * K4), reference[p as usize]);
    }
}

#[test]
fn ownership_is_exact_and_adjacent_ranges_merge() {
    let r = |s, e| GpaRange::new(s, e).unwrap();
    let t = PageTracker::new(&[r(0x5000, 0x9000), r(0x1000, 0x3000), r(0x3000, 0x4000)]);
    assert_eq!(t.owned(), &[r(0x1000, 0x4000), r(0x5000, 0x9000)]);
    assert!(t.owns(r(0x1000, 0x4000)) && t.owns(r(0x6000, 0x9000)));
    assert!(!t.owns(r(0x3000, 0x6000)) && !t.owns(r(0, 0x2000)) && !t.owns(r(0x8000, 0xA000)));
}
