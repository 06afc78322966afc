//! The simulated SNP platform follows the architecture's rules (each test removes nothing it checks).
use warden_defs::psc::{PSC_ERROR_GENERIC, PscDescriptor, PscEntry, PscHeader, PscOp};
use warden_platform::memory::{
    GpaRange, PageSize, PscError, PvalidateError, PvalidateOutcome, RmpadjustError, SnpMemory, VmplPerms,
};
use warden_sim::Fault;
use warden_sim::snp::{PscBehavior, SimSnp};

const M2: u64 = 0x20_0000;
const BASE: u64 = 0x1_0000_0000;

fn sim() -> SimSnp {
    SimSnp::new(&[GpaRange::from_len(BASE, 16 * M2).unwrap()])
}

fn pv(s: &mut SimSnp, gpa: u64, size: PageSize, v: bool) -> Result<PvalidateOutcome, PvalidateError> {
    // SAFETY: the simulator has no real memory behind guest addresses.
    unsafe { s.pvalidate(gpa, size, v) }
}

fn adj(
    s: &mut SimSnp,
    gpa: u64,
    size: PageSize,
    vmpl: u8,
    perms: VmplPerms,
    vmsa: bool,
) -> Result<(), RmpadjustError> {
    // SAFETY: as above.
    unsafe { s.rmpadjust(gpa, size, vmpl, perms, vmsa) }
}

/// Sends `entries` in one exit; returns the descriptor the hypervisor wrote back.
fn psc(s: &mut SimSnp, entries: &[PscEntry]) -> (Result<(), PscError>, PscDescriptor) {
    let mut d = PscDescriptor::zeroed();
    d.header = PscHeader { cur_entry: 0, end_entry: entries.len() as u16 - 1, reserved: 0 };
    d.entries[..entries.len()].copy_from_slice(entries);
    // SAFETY: as above.
    let r = unsafe { s.page_state_change(&mut d) };
    (r, d)
}

fn private(gpa: u64, large: bool) -> PscEntry {
    PscEntry::new(gpa >> 12, PscOp::PRIVATE, large)
}

#[test]
fn pvalidate_refuses_bad_input_and_unassigned_pages() {
    let mut s = sim();
    assert_eq!(pv(&mut s, BASE + 0x800, PageSize::Size4K, true), Err(PvalidateError::FailInput));
    assert_eq!(pv(&mut s, BASE + 0x1000, PageSize::Size2M, true), Err(PvalidateError::FailInput));
    assert_eq!(pv(&mut s, BASE, PageSize::Size4K, true), Err(PvalidateError::NotAssigned));
    assert_eq!(pv(&mut s, 0, PageSize::Size4K, true), Err(PvalidateError::NotAssigned));
    assert_eq!(s.counters.pvalidate, 4);
}

#[test]
fn pvalidate_size_must_match_the_rmp_entry() {
    let mut s = sim();
    let (r, _) = psc(&mut s, &[private(BASE, true), private(BASE + M2, false)]);
    assert_eq!(r, Ok(()));
    assert!(s.rmp_entry(BASE + 0x5000).1, "a 2M private entry is one 2M RMP entry");
    assert_eq!(pv(&mut s, BASE + 0x5000, PageSize::Size4K, true), Err(PvalidateError::FailSizeMismatch));
    assert_eq!(pv(&mut s, BASE + M2, PageSize::Size2M, true), Err(PvalidateError::FailSizeMismatch));
    assert_eq!(pv(&mut s, BASE + M2, PageSize::Size4K, true), Ok(PvalidateOutcome::Changed));
    assert_eq!(pv(&mut s, BASE, PageSize::Size2M, true), Ok(PvalidateOutcome::Changed));
    assert!(s.rmp_entry(BASE + 0x1F_F000).0.validated);
}

#[test]
fn unchanged_flag_exactly_when_the_bit_already_has_the_value() {
    let mut s = sim();
    psc(&mut s, &[private(BASE, false)]).0.unwrap();
    assert_eq!(pv(&mut s, BASE, PageSize::Size4K, false), Ok(PvalidateOutcome::Unchanged));
    assert_eq!(pv(&mut s, BASE, PageSize::Size4K, true), Ok(PvalidateOutcome::Changed));
    assert_eq!(pv(&mut s, BASE, PageSize::Size4K, true), Ok(PvalidateOutcome::Unchanged));
    assert_eq!(s.counters.pvalidate_unchanged, 1);
    assert_eq!(pv(&mut s, BASE, PageSize::Size4K, false), Ok(PvalidateOutcome::Changed));
    assert_eq!(pv(&mut s, BASE, PageSize::Size4K, false), Ok(PvalidateOutcome::Unchanged));
}

#[test]
fn hypervisor_backing_with_4k_entries_makes_2m_pvalidate_mismatch() {
    let mut s = sim();
    s.psc_backs_2m_with_4k = true;
    psc(&mut s, &[private(BASE, true)]).0.unwrap();
    assert_eq!(pv(&mut s, BASE, PageSize::Size2M, true), Err(PvalidateError::FailSizeMismatch));
    assert_eq!(pv(&mut s, BASE + 0x3000, PageSize::Size4K, true), Ok(PvalidateOutcome::Changed));
}

#[test]
fn psmash_and_unsmash_change_the_entry_size() {
    let mut s = sim();
    psc(&mut s, &[private(BASE, true)]).0.unwrap();
    psc(&mut s, &[PscEntry::new(BASE >> 12, PscOp::PSMASH, true)]).0.unwrap();
    assert!(!s.rmp_entry(BASE).1);
    psc(&mut s, &[PscEntry::new(BASE >> 12, PscOp::UNSMASH, true)]).0.unwrap();
    assert!(s.rmp_entry(BASE).1);
    // PSMASH of a region that is not one assigned 2M entry is an invalid entry.
    let (r, d) = psc(&mut s, &[PscEntry::new((BASE + M2) >> 12, PscOp::PSMASH, true)]);
    assert_eq!(r, Err(PscError::InvalidEntry));
    assert_eq!(d.header.cur_entry, 0);
}

#[test]
fn guest_access_faults_unless_validated_and_private() {
    let mut s = sim();
    let mut buf = [0u8; 8];
    assert_eq!(s.read(BASE, &mut buf), Err(Fault::NotAssigned { gpa: BASE }));
    psc(&mut s, &[private(BASE, false), private(BASE + 0x1000, false)]).0.unwrap();
    assert_eq!(s.write(BASE, &[1; 8]), Err(Fault::NotValidated { gpa: BASE }));
    pv(&mut s, BASE, PageSize::Size4K, true).unwrap();
    s.write(BASE + 0xFFC, &[7; 4]).unwrap();
    // An access that spills into the next, unvalidated page faults on that page.
    assert_eq!(s.write(BASE + 0xFFC, &[7; 8]), Err(Fault::NotValidated { gpa: BASE + 0x1000 }));
    s.read(BASE + 0xFF8, &mut buf).unwrap();
    assert_eq!(buf, [0, 0, 0, 0, 7, 7, 7, 7]);
    // Shared again: the page is the hypervisor's, and its contents are gone for the guest.
    psc(&mut s, &[PscEntry::new(BASE >> 12, PscOp::SHARED, false)]).0.unwrap();
    assert_eq!(s.read(BASE, &mut buf), Err(Fault::NotAssigned { gpa: BASE }));
    assert!(!s.rmp_entry(BASE).0.validated);
}

#[test]
fn rmpadjust_grants_no_more_than_vmpl0_holds() {
    let mut s = sim();
    psc(&mut s, &[private(BASE, false)]).0.unwrap();
    assert_eq!(
        adj(&mut s, BASE, PageSize::Size4K, 1, VmplPerms::READ, false),
        Err(RmpadjustError::FailPermission)
    );
    pv(&mut s, BASE, PageSize::Size4K, true).unwrap();
    assert_eq!(
        adj(&mut s, BASE, PageSize::Size4K, 0, VmplPerms::READ, false),
        Err(RmpadjustError::FailPermission)
    );
    assert_eq!(
        adj(&mut s, BASE, PageSize::Size4K, 4, VmplPerms::READ, false),
        Err(RmpadjustError::FailInput)
    );
    assert_eq!(
        adj(&mut s, BASE + 8, PageSize::Size4K, 1, VmplPerms::READ, false),
        Err(RmpadjustError::FailInput)
    );
    assert_eq!(
        adj(&mut s, BASE, PageSize::Size2M, 1, VmplPerms::READ, false),
        Err(RmpadjustError::FailSizeMismatch)
    );
    assert_eq!(adj(&mut s, BASE, PageSize::Size2M, 1, VmplPerms::NONE, true), Err(RmpadjustError::FailInput));
    let mut buf = [0u8; 4];
    assert_eq!(s.read_as(1, BASE, &mut buf), Err(Fault::NoPermission { gpa: BASE, vmpl: 1 }));
    adj(&mut s, BASE, PageSize::Size4K, 1, VmplPerms::READ, false).unwrap();
    s.read_as(1, BASE, &mut buf).unwrap();
    assert_eq!(s.write_as(1, BASE, &buf), Err(Fault::NoPermission { gpa: BASE, vmpl: 1 }));
    assert_eq!(s.read_as(2, BASE, &mut buf), Err(Fault::NoPermission { gpa: BASE, vmpl: 2 }));
    adj(&mut s, BASE, PageSize::Size4K, 1, VmplPerms::NONE, true).unwrap();
    assert!(s.rmp_entry(BASE).0.vmsa);
    assert_eq!(s.counters.rmpadjust, 8);
}

#[test]
fn hypervisor_misbehaviour_is_what_it_was_told() {
    let entries: Vec<PscEntry> = (0..6).map(|i| private(BASE + i * 0x1000, false)).collect();
    let mut s = sim();
    s.psc_behavior = PscBehavior::Partial { per_exit: 2 };
    let (r, d) = psc(&mut s, &entries);
    assert_eq!((r, d.header.cur_entry), (Ok(()), 2));
    assert!(s.rmp_entry(BASE + 0x1000).0.assigned && !s.rmp_entry(BASE + 0x2000).0.assigned);

    s.psc_behavior = PscBehavior::OverReport { per_exit: 1, claimed: 5 };
    let (_, d) = psc(&mut s, &entries[3..]);
    assert_eq!(d.header.cur_entry, 5);
    assert!(s.rmp_entry(BASE + 0x3000).0.assigned && !s.rmp_entry(BASE + 0x4000).0.assigned);

    s.psc_behavior = PscBehavior::Stall;
    assert_eq!(psc(&mut s, &entries[4..]).1.header.cur_entry, 0);
    s.psc_behavior = PscBehavior::CorruptEntries { per_exit: 1 };
    let (_, d) = psc(&mut s, &entries[4..]);
    assert_ne!(d.entries[1], entries[5]);
    s.psc_behavior = PscBehavior::Fail(PSC_ERROR_GENERIC);
    assert_eq!(psc(&mut s, &entries).0, Err(PscError::Generic));
    assert_eq!(s.counters.psc_exits, 5);
    assert_eq!(s.counters.psc_entries_done, 2 + 1 + 1);
}

#[test]
fn honest_hypervisor_refuses_malformed_requests() {
    let mut s = sim();
    let mut d = PscDescriptor::zeroed();
    d.header = PscHeader { cur_entry: 0, end_entry: 253, reserved: 0 };
    // SAFETY: the simulator has no real memory behind guest addresses.
    assert_eq!(unsafe { s.page_state_change(&mut d) }, Err(PscError::InvalidHeader));
    let bad = [
        private(BASE, false),
        PscEntry(private(BASE + 0x1000, false).0 | 1 << 60),
        private(BASE + 0x2000, false),
    ];
    let (r, d) = psc(&mut s, &bad);
    assert_eq!((r, d.header.cur_entry), (Err(PscError::InvalidEntry), 1));
    let (r, _) = psc(&mut s, &[private(BASE + 0x1000, true)]);
    assert_eq!(r, Err(PscError::InvalidEntry), "a 2M entry must be 2M-aligned");
    let (r, _) = psc(&mut s, &[private(0, false)]);
    assert_eq!(r, Err(PscError::InvalidEntry), "outside the guest's memory");
}
