//! The simulated TDX platform follows the TDX module's accept rules.
use warden_platform::memory::{GpaRange, MapGpaOutcome, TdxAcceptError, TdxLevel, TdxMemory};
use warden_sim::tdx::{MapGpaBehavior, SimTdx};
use warden_sim::{Fault, PageState};

const G1: u64 = 0x4000_0000;
const M2: u64 = 0x20_0000;
const BASE: u64 = 0x1_0000_0000;

fn sim() -> SimTdx {
    SimTdx::new(&[GpaRange::from_len(BASE, 2 * G1).unwrap()])
}

fn acc(s: &mut SimTdx, gpa: u64, level: TdxLevel) -> Result<(), TdxAcceptError> {
    // SAFETY: the simulator has no real memory behind guest addresses.
    unsafe { s.accept(gpa, level) }
}

#[test]
fn accept_at_each_level_and_already_accepted() {
    let mut s = sim();
    let mut b = [0u8; 1];
    assert_eq!(s.read(BASE, &mut b), Err(Fault::NotAccepted { gpa: BASE }));
    assert_eq!(acc(&mut s, BASE, TdxLevel::Size1G), Ok(()));
    assert!(s.mapped_as_1g(BASE));
    assert_eq!(s.page_state(BASE + G1 - 0x1000), PageState::Accepted);
    assert_eq!(acc(&mut s, BASE, TdxLevel::Size1G), Err(TdxAcceptError::AlreadyAccepted));
    assert_eq!(acc(&mut s, BASE + M2, TdxLevel::Size2M), Err(TdxAcceptError::AlreadyAccepted));
    assert_eq!(acc(&mut s, BASE + G1 + M2, TdxLevel::Size2M), Ok(()));
    assert_eq!(acc(&mut s, BASE + G1 + M2 + 0x1000, TdxLevel::Size4K), Err(TdxAcceptError::AlreadyAccepted));
    assert_eq!(s.page_state(BASE + G1), PageState::Pending);
    assert_eq!(s.counters.accepts, 5);
    assert_eq!(s.counters.accepts_by_level, [2, 2, 1]);
    assert_eq!(s.counters.already_accepted, 3);
}

#[test]
fn larger_accept_over_smaller_mapping_is_a_size_mismatch() {
    let mut s = sim();
    acc(&mut s, BASE + 0x3000, TdxLevel::Size4K).unwrap();
    assert_eq!(acc(&mut s, BASE, TdxLevel::Size2M), Err(TdxAcceptError::SizeMismatch));
    assert_eq!(acc(&mut s, BASE, TdxLevel::Size1G), Err(TdxAcceptError::SizeMismatch));
    assert_eq!(acc(&mut s, BASE + M2, TdxLevel::Size2M), Ok(()));
    assert_eq!(acc(&mut s, BASE + 0x4000, TdxLevel::Size4K), Ok(()));
}

#[test]
fn bad_operands_and_busy() {
    let mut s = sim();
    assert_eq!(acc(&mut s, BASE + 0x1000, TdxLevel::Size2M), Err(TdxAcceptError::OperandInvalid));
    assert_eq!(acc(&mut s, 0, TdxLevel::Size4K), Err(TdxAcceptError::OperandInvalid));
    s.busy_next = 2;
    assert_eq!(acc(&mut s, BASE, TdxLevel::Size4K), Err(TdxAcceptError::OperandBusy));
    assert_eq!(acc(&mut s, BASE, TdxLevel::Size4K), Err(TdxAcceptError::OperandBusy));
    assert_eq!(acc(&mut s, BASE, TdxLevel::Size4K), Ok(()));
}

#[test]
fn accept_zeroes_but_already_accepted_does_not() {
    let mut s = sim();
    acc(&mut s, BASE, TdxLevel::Size4K).unwrap();
    s.write(BASE + 8, &[0xAA]).unwrap();
    assert_eq!(acc(&mut s, BASE, TdxLevel::Size4K), Err(TdxAcceptError::AlreadyAccepted));
    let mut b = [0u8; 1];
    s.read(BASE + 8, &mut b).unwrap();
    assert_eq!(b, [0xAA], "PAGE_ALREADY_ACCEPTED leaves the contents");
    let page = GpaRange::from_len(BASE, 0x1000).unwrap();
    // SAFETY: as above.
    unsafe {
        assert_eq!(s.map_gpa(page, true), Ok(MapGpaOutcome::Done));
    }
    assert_eq!(s.page_state(BASE), PageState::Shared);
    assert_eq!(acc(&mut s, BASE, TdxLevel::Size4K), Err(TdxAcceptError::OperandInvalid));
    // SAFETY: as above.
    unsafe {
        assert_eq!(s.map_gpa(page, false), Ok(MapGpaOutcome::Done));
    }
    s.preaccept(page);
    s.write(BASE + 8, &[0xBB]).unwrap();
    // SAFETY: as above.
    unsafe { s.zero(BASE, 0x1000) };
    s.read(BASE + 8, &mut b).unwrap();
    assert_eq!((b, s.counters.zeroed_bytes), ([0], 0x1000));
}

#[test]
fn map_gpa_can_complete_partially() {
    let mut s = sim();
    s.map_gpa_behavior = MapGpaBehavior::Partial { pages: 3 };
    let r = GpaRange::from_len(BASE, 0x5000).unwrap();
    // SAFETY: as above.
    let out = unsafe { s.map_gpa(r, true) };
    assert_eq!(out, Ok(MapGpaOutcome::Retry { resume_at: BASE + 0x3000 }));
    assert_eq!(s.page_state(BASE + 0x2000), PageState::Shared);
    assert_eq!(s.page_state(BASE + 0x3000), PageState::Pending);
}
