//! The SNP acceptor against the strict simulator: minimal cost, partial completion, lying and
//! misbehaving hypervisors, size-mismatch fallback, and no double validation.
use warden_accept::psc::PscResponseError;
use warden_accept::snp::SnpAcceptor;
use warden_accept::{AcceptError, Blame};
use warden_defs::psc::{PSC_ERROR_GENERIC, PscDescriptor};
use warden_platform::memory::{
    GpaRange, PageSize, PscError, PvalidateError, PvalidateOutcome, RmpadjustError, SnpMemory, VmplPerms,
};
use warden_sim::bounds::minimum;
use warden_sim::snp::{PscBehavior, SimSnp};

const K4: u64 = 0x1000;
const M2: u64 = 0x20_0000;
const G1: u64 = 0x4000_0000;

fn r(start: u64, end: u64) -> GpaRange {
    GpaRange::new(start, end).unwrap()
}

/// A map with holes and odd starts and ends.
fn fragmented() -> Vec<GpaRange> {
    vec![
        r(0x3000, 0xA_0000),
        r(0x10_5000, 0x7FF_B000),
        r(G1 + 0x1000, 2 * G1 - M2 - 0x2000),
        r(4 * G1, 4 * G1 + 3 * M2),
    ]
}

fn setup(map: &[GpaRange]) -> (SimSnp, SnpAcceptor) {
    let sim = SimSnp::new(&[r(0, 8 * G1)]);
    // SAFETY: the simulator's memory holds no Rust objects; the acceptor is its only user.
    let acc = unsafe { SnpAcceptor::new(map) };
    (sim, acc)
}

fn all_validated(sim: &SimSnp, map: &[GpaRange]) -> bool {
    map.iter().all(|range| {
        (range.start()..range.end()).step_by(K4 as usize).all(|gpa| sim.rmp_entry(gpa).0.validated)
    })
}

#[test]
fn aligned_map_costs_exactly_the_minimum() {
    let map = [r(G1, 2 * G1), r(3 * G1, 3 * G1 + 64 * M2)];
    let (mut sim, mut acc) = setup(&map);
    acc.accept_all(&mut sim).unwrap();
    let min = minimum(&map);
    assert_eq!((sim.counters.pvalidate, sim.counters.psc_exits), (min.pvalidate, min.psc_exits));
    assert_eq!((acc.stats().pvalidate, acc.stats().psc_exits), (min.pvalidate, min.psc_exits));
    assert_eq!(sim.counters.pvalidate_2m, min.pvalidate, "2 MiB everywhere");
    assert!(all_validated(&sim, &map));
    assert!(!sim.rmp_entry(2 * G1).0.assigned, "nothing outside the map is touched");
}

#[test]
fn fragmented_map_stays_within_five_percent_of_the_minimum() {
    let map = fragmented();
    let (mut sim, mut acc) = setup(&map);
    acc.accept_all(&mut sim).unwrap();
    let min = minimum(&map);
    assert!(
        sim.counters.pvalidate * 100 <= min.pvalidate * 105,
        "{} vs {}",
        sim.counters.pvalidate,
        min.pvalidate
    );
    assert!(sim.counters.psc_exits * 100 <= min.psc_exits * 105);
    assert!(all_validated(&sim, &map));
    assert!(!sim.rmp_entry(0x2000).0.assigned && !sim.rmp_entry(0xA_0000).0.assigned);
}

/// Threat model T2.
#[test]
fn partial_completion_is_resumed_from_the_checked_cur_entry() {
    let map = [r(G1 + 0x1000, G1 + 300 * M2)];
    let (mut sim, mut acc) = setup(&map);
    sim.psc_behavior = PscBehavior::Partial { per_exit: 7 };
    acc.accept_all(&mut sim).unwrap();
    assert!(all_validated(&sim, &map));
    let min = minimum(&map);
    assert_eq!(sim.counters.pvalidate, min.pvalidate);
    // 511 + 299 = 810 entries: batches of 253, 253, 253, 51, each taking ceil(n / 7) exits.
    assert_eq!(sim.counters.psc_exits, 3 * 253u64.div_ceil(7) + 51u64.div_ceil(7));
}

/// Threat model T2.
#[test]
fn hypervisor_that_overreports_is_caught_by_pvalidate() {
    let map = [r(G1, G1 + 10 * K4)];
    let (mut sim, mut acc) = setup(&map);
    sim.psc_behavior = PscBehavior::OverReport { per_exit: 2, claimed: 10 };
    let err = acc.accept_all(&mut sim).unwrap_err();
    assert_eq!(err, AcceptError::NotPrivate { gpa: G1 + 2 * K4 });
    assert_eq!(err.blame(), Blame::Hypervisor);
    // The two pages really done were validated and are tracked: an honest retry does the other 8.
    sim.psc_behavior = PscBehavior::Honest;
    let before = sim.counters.pvalidate;
    acc.accept_all(&mut sim).unwrap();
    assert_eq!(sim.counters.pvalidate - before, 8);
    assert!(all_validated(&sim, &map));
}

/// Threat model T2.
#[test]
fn lies_about_cur_entry_and_end_entry_are_refused() {
    let map = [r(G1, G1 + 10 * K4)];
    for (behavior, expected) in [
        (PscBehavior::SetCurEntry(11), PscResponseError::OutOfBounds { cur_entry: 11 }),
        (PscBehavior::SetCurEntry(0xFFFF), PscResponseError::OutOfBounds { cur_entry: 0xFFFF }),
        (PscBehavior::SetCurEntry(0), PscResponseError::NoProgress { cur_entry: 0 }),
        (PscBehavior::Stall, PscResponseError::NoProgress { cur_entry: 0 }),
        (PscBehavior::SetEndEntry(200), PscResponseError::EndChanged { end_entry: 200 }),
    ] {
        let (mut sim, mut acc) = setup(&map);
        sim.psc_behavior = behavior;
        assert_eq!(acc.accept_all(&mut sim), Err(AcceptError::PscResponse(expected)), "{behavior:?}");
        assert_eq!(sim.counters.psc_exits, 1, "no retry loop on a bad reply");
        assert_eq!(sim.counters.pvalidate, 0, "nothing validated on an unchecked reply");
    }
}

/// Threat model T2.
#[test]
fn rewritten_entries_are_never_sent_back() {
    let map = [r(G1 + 0x5000, G1 + 40 * M2)];
    let (mut sim, mut acc) = setup(&map);
    sim.psc_behavior = PscBehavior::CorruptEntries { per_exit: 5 };
    acc.accept_all(&mut sim).unwrap();
    assert!(all_validated(&sim, &map));
    assert!(!sim.rmp_entry(0x1234 * K4).0.assigned, "the hypervisor's planted entry was never sent");
}

/// Threat model T2.
#[test]
fn refused_page_state_change_is_reported() {
    let (mut sim, mut acc) = setup(&[r(G1, G1 + M2)]);
    sim.psc_behavior = PscBehavior::Fail(PSC_ERROR_GENERIC);
    assert_eq!(acc.accept_all(&mut sim), Err(AcceptError::PscRefused(PscError::Generic)));
}

/// Threat model T6.
#[test]
fn a_page_is_never_validated_twice() {
    let map = [r(G1 + 0x3000, G1 + 5 * M2)];
    let (mut sim, mut acc) = setup(&map);
    acc.accept_range(&mut sim, r(G1 + 2 * M2, G1 + 3 * M2 + 0x4000)).unwrap();
    let first = sim.counters.pvalidate;
    assert_eq!(first, 1 + 4);
    acc.accept_all(&mut sim).unwrap();
    acc.accept_all(&mut sim).unwrap();
    acc.accept_ranges(&mut sim, &[r(G1 + 0x3000, G1 + 0x5000), r(G1 + 0x4000, G1 + 0x9000)]).unwrap();
    // Exactly the first request plus what was left around it: nothing re-validated.
    let rest = [r(G1 + 0x3000, G1 + 2 * M2), r(G1 + 3 * M2 + 0x4000, G1 + 5 * M2)];
    assert_eq!(sim.counters.pvalidate, first + minimum(&rest).pvalidate);
    assert_eq!(sim.counters.pvalidate_unchanged, 0);
    assert!(all_validated(&sim, &map));
    assert!(acc.tracker().is_accepted(G1 + 0x3000) && !acc.tracker().is_accepted(G1 + 0x2000));
}

/// Threat model T6.
#[test]
fn validated_page_the_hypervisor_did_not_reassign_is_an_attack() {
    let map = [r(G1, G1 + 4 * K4)];
    let (mut sim, mut acc) = setup(&map);
    // The page is already validated (say, at another GPA alias), and the hypervisor only pretends to
    // make it private: PVALIDATE's "unchanged" must stop us.
    sim.prevalidate(r(G1, G1 + K4));
    sim.psc_behavior = PscBehavior::OverReport { per_exit: 0, claimed: 4 };
    assert_eq!(acc.accept_all(&mut sim), Err(AcceptError::AlreadyValidated { gpa: G1 }));
    assert!(!acc.tracker().is_accepted(G1));
}

#[test]
fn size_mismatch_on_2m_falls_back_to_4k() {
    let map = [r(G1, G1 + 3 * M2 + K4)];
    let (mut sim, mut acc) = setup(&map);
    sim.psc_backs_2m_with_4k = true;
    acc.accept_all(&mut sim).unwrap();
    assert!(all_validated(&sim, &map));
    assert_eq!(sim.counters.pvalidate, 3 * (1 + 512) + 1);
    assert_eq!(acc.stats().fallbacks, 3);
}

#[test]
fn size_mismatch_on_4k_asks_for_psmash() {
    let map = [r(G1 + K4, G1 + 3 * K4)];
    let (mut sim, mut acc) = setup(&map);
    sim.psc_assigns_2m_for_4k = true;
    acc.accept_all(&mut sim).unwrap();
    assert!(all_validated(&sim, &map));
    assert!(!sim.rmp_entry(G1).0.validated, "its neighbour is not validated");
    assert_eq!(acc.stats().fallbacks, 1);
}

#[test]
fn ranges_outside_the_map_are_the_callers_fault() {
    let (mut sim, mut acc) = setup(&[r(G1, G1 + M2)]);
    let err = acc.accept_range(&mut sim, r(G1, G1 + M2 + K4)).unwrap_err();
    assert_eq!((err, err.blame()), (AcceptError::NotOwned { gpa: G1 }, Blame::Caller));
    assert_eq!(sim.counters.psc_exits + sim.counters.pvalidate, 0);
}

/// The simulator, except that PVALIDATE of one page reports it unassigned once.
struct FailOnce {
    sim: SimSnp,
    fail_at: Option<u64>,
}

// Implementing the trait's `unsafe fn`s by delegating to the simulator.
#[allow(unsafe_code)]
impl SnpMemory for FailOnce {
    unsafe fn pvalidate(
        &mut self,
        gpa: u64,
        size: PageSize,
        validate: bool,
    ) -> Result<PvalidateOutcome, PvalidateError> {
        if self.fail_at == Some(gpa) && size == PageSize::Size4K {
            self.fail_at = None;
            return Err(PvalidateError::NotAssigned);
        }
        // SAFETY: delegated; the caller's contract carries over.
        unsafe { self.sim.pvalidate(gpa, size, validate) }
    }

    unsafe fn rmpadjust(
        &mut self,
        gpa: u64,
        size: PageSize,
        vmpl: u8,
        perms: VmplPerms,
        vmsa: bool,
    ) -> Result<(), RmpadjustError> {
        // SAFETY: delegated.
        unsafe { self.sim.rmpadjust(gpa, size, vmpl, perms, vmsa) }
    }

    unsafe fn page_state_change(&mut self, desc: &mut PscDescriptor) -> Result<(), PscError> {
        // SAFETY: delegated.
        unsafe { self.sim.page_state_change(desc) }
    }
}

#[test]
fn pages_validated_before_a_fallback_failure_stay_tracked() {
    let map = [r(G1, G1 + M2)];
    let (mut sim, mut acc) = setup(&map);
    sim.psc_backs_2m_with_4k = true;
    let mut p = FailOnce { sim, fail_at: Some(G1 + 100 * K4) };
    assert_eq!(acc.accept_all(&mut p), Err(AcceptError::NotPrivate { gpa: G1 + 100 * K4 }));
    assert!(acc.tracker().is_accepted(G1 + 99 * K4) && !acc.tracker().is_accepted(G1 + 100 * K4));
    let before = p.sim.counters.pvalidate;
    acc.accept_all(&mut p).unwrap();
    assert_eq!(p.sim.counters.pvalidate - before, 512 - 100, "only the pages not yet validated");
    assert!(all_validated(&p.sim, &map));
}
