//! The TDX acceptor against the simulated TDX module: 1 GiB where aligned, fallback, busy retries,
//! zeroing of already-accepted pages, MapGPA resume checks, and no double accept.
use warden_accept::tdx::{BUSY_RETRIES, TdxAcceptor};
use warden_accept::{AcceptError, Blame};
use warden_platform::memory::GpaRange;
use warden_sim::PageState;
use warden_sim::bounds::minimum;
use warden_sim::tdx::{MapGpaBehavior, SimTdx};

const K4: u64 = 0x1000;
const M2: u64 = 0x20_0000;
const G1: u64 = 0x4000_0000;

fn r(start: u64, end: u64) -> GpaRange {
    GpaRange::new(start, end).unwrap()
}

fn setup(map: &[GpaRange]) -> (SimTdx, TdxAcceptor) {
    let sim = SimTdx::new(&[r(0, 8 * G1)]);
    // SAFETY: the simulator's memory holds no Rust objects; the acceptor is its only user.
    let acc = unsafe { TdxAcceptor::new(map) };
    (sim, acc)
}

fn all_accepted(sim: &SimTdx, map: &[GpaRange]) -> bool {
    map.iter().all(|range| {
        (range.start()..range.end()).step_by(K4 as usize).all(|g| sim.page_state(g) == PageState::Accepted)
    })
}

#[test]
fn aligned_map_costs_one_accept_per_gib() {
    let map = [r(G1, 4 * G1)];
    let (mut sim, mut acc) = setup(&map);
    acc.accept_all(&mut sim).unwrap();
    assert_eq!(sim.counters.accepts, 3);
    assert_eq!(sim.counters.accepts, minimum(&map).tdx_accepts);
    assert_eq!(sim.counters.accepts_by_level, [3, 0, 0]);
    assert!(sim.mapped_as_1g(G1) && all_accepted(&sim, &map));
}

#[test]
fn fragmented_map_stays_within_five_percent_of_the_minimum() {
    let map = [r(0x3000, 0xA_0000), r(0x10_0000, G1 + 3 * M2 + K4), r(2 * G1 - M2, 4 * G1 + K4)];
    let (mut sim, mut acc) = setup(&map);
    acc.accept_all(&mut sim).unwrap();
    let min = minimum(&map).tdx_accepts;
    assert!(sim.counters.accepts * 100 <= min * 105, "{} vs {min}", sim.counters.accepts);
    assert!(all_accepted(&sim, &map));
    assert_eq!(sim.page_state(0x2000), PageState::Pending);
}

/// Threat model T6.
#[test]
fn size_mismatch_falls_back_and_already_accepted_pages_are_zeroed() {
    let map = [r(G1, 2 * G1)];
    let (mut sim, mut acc) = setup(&map);
    // A page accepted earlier (say by the loader) still holds its old contents.
    sim.preaccept(r(G1 + 5 * M2 + 3 * K4, G1 + 5 * M2 + 4 * K4));
    sim.write(G1 + 5 * M2 + 3 * K4 + 16, b"stale secret").unwrap();
    acc.accept_all(&mut sim).unwrap();
    assert!(all_accepted(&sim, &map));
    // 1 GiB (mismatch) + 512 × 2 MiB, one of which mismatches + 512 × 4 KiB.
    assert_eq!(sim.counters.accepts, 1 + 512 + 512);
    assert_eq!(acc.stats().fallbacks, 2);
    assert_eq!(sim.counters.already_accepted, 1);
    assert_eq!(acc.stats().zeroed_bytes, K4);
    let mut buf = [0xFFu8; 12];
    sim.read(G1 + 5 * M2 + 3 * K4 + 16, &mut buf).unwrap();
    assert_eq!(buf, [0; 12], "hardware did not zero it; the engine must");
}

#[test]
fn busy_is_retried_but_not_forever() {
    let map = [r(G1, G1 + M2)];
    let (mut sim, mut acc) = setup(&map);
    sim.busy_next = 5;
    acc.accept_all(&mut sim).unwrap();
    assert_eq!(sim.counters.accepts, 6);
    let (mut sim, mut acc) = setup(&map);
    sim.busy_next = u32::MAX;
    let err = acc.accept_all(&mut sim).unwrap_err();
    assert_eq!((err, err.blame()), (AcceptError::Busy { gpa: G1 }, Blame::Hypervisor));
    assert_eq!(sim.counters.accepts, u64::from(BUSY_RETRIES) + 1);
}

/// Threat model T6.
#[test]
fn a_page_is_never_accepted_twice() {
    let map = [r(G1 - 2 * M2, 2 * G1 + K4)];
    let (mut sim, mut acc) = setup(&map);
    acc.accept_range(&mut sim, r(G1 + M2, G1 + 2 * M2)).unwrap();
    acc.accept_all(&mut sim).unwrap();
    acc.accept_all(&mut sim).unwrap();
    assert_eq!(sim.counters.already_accepted, 0);
    // The on-demand 2 MiB, then around it: 2 × 2 MiB below 1 GiB, 1 + 510 × 2 MiB, 1 × 4 KiB.
    let rest = [r(G1 - 2 * M2, G1 + M2), r(G1 + 2 * M2, 2 * G1 + K4)];
    assert_eq!(sim.counters.accepts, 1 + minimum(&rest).tdx_accepts);
    assert!(all_accepted(&sim, &map));
}

#[test]
fn memory_the_td_does_not_have_is_reported() {
    let (mut sim, mut acc) = setup(&[r(8 * G1 - M2, 8 * G1 + M2)]);
    assert_eq!(acc.accept_all(&mut sim), Err(AcceptError::NotTdPrivate { gpa: 8 * G1 }));
    assert!(acc.tracker().is_accepted(8 * G1 - K4), "what was accepted before the error stays tracked");
    assert!(!acc.tracker().is_accepted(8 * G1));
}

/// Threat model T2.
#[test]
fn map_gpa_partial_completion_is_resumed_and_bad_resumes_refused() {
    let map = [r(G1, G1 + M2)];
    let (mut sim, mut acc) = setup(&map);
    acc.accept_all(&mut sim).unwrap();
    sim.map_gpa_behavior = MapGpaBehavior::Partial { pages: 100 };
    // SAFETY: nothing references the simulated memory.
    unsafe { acc.convert_range(&mut sim, map[0], true) }.unwrap();
    assert_eq!(sim.counters.map_gpa, 6);
    assert_eq!(sim.page_state(G1 + M2 - K4), PageState::Shared);
    assert!(!acc.tracker().is_accepted(G1));
    for bad in [G1, G1 + M2, G1 + 0x800, 0] {
        sim.map_gpa_behavior = MapGpaBehavior::RetryAt(bad);
        // SAFETY: as above.
        let err = unsafe { acc.convert_range(&mut sim, map[0], false) };
        assert_eq!(err, Err(AcceptError::MapGpaResume { gpa: bad }));
    }
    sim.map_gpa_behavior = MapGpaBehavior::Honest;
    // SAFETY: as above.
    unsafe { acc.convert_range(&mut sim, map[0], false) }.unwrap();
    acc.accept_all(&mut sim).unwrap();
    assert!(all_accepted(&sim, &map));
}
