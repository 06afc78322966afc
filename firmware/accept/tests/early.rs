//! The heap-time path (`warden_accept::early`) against the strict simulators: it applies the same
//! rules as the tracking acceptors (minimum cost, checked partial completion, fallbacks, busy retry,
//! zeroing), and its `Accepted` proof covers exactly the range it accepted, and only on success.
use warden_accept::early::{accept_tdx, validate_snp};
use warden_accept::psc::PscResponseError;
use warden_accept::{AcceptError, AcceptStats};
use warden_platform::memory::GpaRange;
use warden_sim::PageState;
use warden_sim::bounds::minimum;
use warden_sim::snp::{PscBehavior, SimSnp};
use warden_sim::tdx::SimTdx;

const K4: u64 = 0x1000;
const M2: u64 = 0x20_0000;
const G1: u64 = 0x4000_0000;

fn r(start: u64, end: u64) -> GpaRange {
    GpaRange::new(start, end).unwrap()
}

fn snp() -> SimSnp {
    SimSnp::new(&[r(0, 8 * G1)])
}

fn tdx() -> SimTdx {
    SimTdx::new(&[r(0, 8 * G1)])
}

fn validated(sim: &SimSnp, range: GpaRange) -> Vec<bool> {
    (range.start()..range.end()).step_by(K4 as usize).map(|gpa| sim.rmp_entry(gpa).0.validated).collect()
}

fn accepted(sim: &SimTdx, range: GpaRange) -> Vec<bool> {
    (range.start()..range.end())
        .step_by(K4 as usize)
        .map(|g| sim.page_state(g) == PageState::Accepted)
        .collect()
}

#[test]
fn snp_proof_covers_exactly_the_validated_range_at_minimum_cost() {
    // More than one batch of 2 MiB entries, and 4 KiB edges.
    let range = r(G1 - 3 * K4, G1 + 300 * M2 + 5 * K4);
    let mut sim = snp();
    let mut stats = AcceptStats::default();
    // SAFETY: the simulator's memory holds no Rust objects; nothing else validates it.
    let proof = unsafe { validate_snp(&mut sim, range, &mut stats) }.unwrap();
    assert_eq!(proof.range(), range);
    assert!(validated(&sim, range).iter().all(|v| *v));
    assert!(!sim.rmp_entry(range.start() - K4).0.validated && !sim.rmp_entry(range.end()).0.validated);
    let min = minimum(&[range]);
    assert_eq!((sim.counters.pvalidate, sim.counters.psc_exits), (min.pvalidate, min.psc_exits));
    assert_eq!((stats.pvalidate, stats.psc_exits), (min.pvalidate, min.psc_exits));
}

/// Threat model T2.
#[test]
fn snp_partial_completion_is_resumed_and_lies_give_no_proof() {
    let range = r(G1, G1 + 40 * M2);
    let mut sim = snp();
    sim.psc_behavior = PscBehavior::Partial { per_exit: 7 };
    // SAFETY: as above.
    let proof = unsafe { validate_snp(&mut sim, range, &mut AcceptStats::default()) }.unwrap();
    assert_eq!(proof.range(), range);
    assert_eq!(sim.counters.psc_exits, 40u64.div_ceil(7));

    let mut sim = snp();
    sim.psc_behavior = PscBehavior::SetCurEntry(41);
    // SAFETY: as above.
    let refused = unsafe { validate_snp(&mut sim, range, &mut AcceptStats::default()) };
    assert_eq!(refused, Err(AcceptError::PscResponse(PscResponseError::OutOfBounds { cur_entry: 41 })));
    assert_eq!(sim.counters.pvalidate, 0, "nothing validated on an unchecked reply");
}

/// Threat model T6.
#[test]
fn snp_fallback_and_remapping_attack_match_the_tracking_acceptor() {
    let range = r(G1, G1 + 2 * M2);
    let mut sim = snp();
    sim.psc_backs_2m_with_4k = true;
    let mut stats = AcceptStats::default();
    // SAFETY: as above.
    unsafe { validate_snp(&mut sim, range, &mut stats) }.unwrap();
    assert_eq!((sim.counters.pvalidate, stats.fallbacks), (2 * (1 + 512), 2));

    let mut sim = snp();
    sim.prevalidate(r(G1, G1 + M2 * 2));
    sim.psc_behavior = PscBehavior::OverReport { per_exit: 0, claimed: 2 };
    // SAFETY: as above.
    let attack = unsafe { validate_snp(&mut sim, range, &mut AcceptStats::default()) };
    assert_eq!(attack, Err(AcceptError::AlreadyValidated { gpa: G1 }));
}

#[test]
fn tdx_proof_covers_exactly_the_accepted_range_and_stale_pages_are_zeroed() {
    let range = r(G1 - 2 * M2, 2 * G1 + K4);
    let mut sim = tdx();
    sim.preaccept(r(G1 + 3 * K4, G1 + 4 * K4));
    sim.write(G1 + 3 * K4 + 8, b"stale").unwrap();
    sim.busy_next = 3;
    let mut stats = AcceptStats::default();
    // SAFETY: the simulator's memory holds no Rust objects; nothing else accepts it.
    let proof = unsafe { accept_tdx(&mut sim, range, &mut stats) }.unwrap();
    assert_eq!(proof.range(), range);
    assert!(accepted(&sim, range).iter().all(|a| *a));
    assert_eq!(sim.page_state(range.start() - K4), PageState::Pending);
    assert_eq!(sim.page_state(range.end()), PageState::Pending);
    let mut buf = [0xFFu8; 5];
    sim.read(G1 + 3 * K4 + 8, &mut buf).unwrap();
    assert_eq!(buf, [0; 5], "the engine zeroes what the TDX module did not");
    assert_eq!(stats.zeroed_bytes, K4);
    assert_eq!(stats.tdx_accepts, sim.counters.accepts);
}

#[test]
fn tdx_endless_busy_gives_no_proof() {
    let mut sim = tdx();
    sim.busy_next = u32::MAX;
    // SAFETY: as above.
    let refused = unsafe { accept_tdx(&mut sim, r(G1, G1 + M2), &mut AcceptStats::default()) };
    assert_eq!(refused, Err(AcceptError::Busy { gpa: G1 }));
}
