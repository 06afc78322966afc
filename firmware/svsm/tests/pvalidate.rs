//! SVSM_CORE_PVALIDATE on the strict simulated SNP platform: the list rules, resumption, ignore-CF,
//! zeroing, and the pages a guest may never validate or rescind.
mod common;

use common::{BOOT_CAA, GUEST_VMPL, SimEnv, core_call, dispatcher, dispatcher_with_ram};
use warden_defs::layout::{LARGE_PAGE_SIZE, PAGE_SIZE, WARDEN_BASE, WARDEN_END};
use warden_defs::svsm::{PvalidateEntry, ResultCode, core_call::PVALIDATE};
use warden_platform::memory::{GpaRange, VmplPerms};
use warden_svsm::{AddressError, GuestError, ParamError, SvsmError};

const LIST: u64 = BOOT_CAA + 8;
const DATA: u64 = 0x40_0000;

fn v4k(gpa: u64) -> PvalidateEntry {
    PvalidateEntry::new(gpa, false, true, false)
}

fn rescind4k(gpa: u64) -> PvalidateEntry {
    PvalidateEntry::new(gpa, false, false, false)
}

fn param(e: ParamError) -> Option<SvsmError> {
    Some(SvsmError::Guest(GuestError::InvalidParameter(e)))
}

fn addr(e: AddressError) -> Option<SvsmError> {
    Some(SvsmError::Guest(GuestError::InvalidAddress(e)))
}

/// Threat model T6.
#[test]
fn validate_zeroes_the_page_then_grants_the_guest() {
    let mut env = SimEnv::new();
    // A page that held someone's secret: validated, written, then invalidated (as a hypervisor that
    // remaps a private page to a new GPA would leave it).
    env.guest_owned(DATA, 1);
    env.sim.write(DATA, b"secret").unwrap();
    let mut d = dispatcher();
    env.write_list(LIST, 0, &[rescind4k(DATA)]);
    assert_eq!(core_call(&mut d, &mut env, PVALIDATE, LIST, 0, 0).rax, ResultCode::SUCCESS);
    assert!(!env.sim.rmp_entry(DATA).0.validated);
    assert!(env.guest_read(DATA, 1).is_err(), "rescinded page is no longer the guest's");

    env.write_list(LIST, 0, &[v4k(DATA)]);
    let reply = core_call(&mut d, &mut env, PVALIDATE, LIST, 0, 0);
    assert_eq!((reply.rax, reply.error), (ResultCode::SUCCESS, None));
    let (entry, _) = env.sim.rmp_entry(DATA);
    assert!(entry.validated);
    assert_eq!(entry.perms[usize::from(GUEST_VMPL - 1)], VmplPerms::ALL);
    assert_eq!(env.guest_read(DATA, 4096).unwrap(), vec![0u8; 4096], "validated page must be zeroed");
    assert_eq!(env.list_next(LIST), 1);
}

#[test]
fn rescind_revokes_the_guest_and_clears_validated() {
    let mut env = SimEnv::new();
    env.guest_owned(DATA, 2);
    let mut d = dispatcher();
    env.write_list(LIST, 0, &[rescind4k(DATA), rescind4k(DATA + PAGE_SIZE)]);
    assert_eq!(core_call(&mut d, &mut env, PVALIDATE, LIST, 0, 0).rax, ResultCode::SUCCESS);
    for page in [DATA, DATA + PAGE_SIZE] {
        let (e, _) = env.sim.rmp_entry(page);
        assert!(!e.validated);
        assert_eq!(e.perms, [VmplPerms::NONE; 3]);
    }
}

#[test]
fn two_megabyte_entries_and_size_mismatch() {
    let mut env = SimEnv::new();
    let mut d = dispatcher();
    env.assign_2m(0x60_0000);
    env.write_list(LIST, 0, &[PvalidateEntry::new(0x60_0000, true, true, false)]);
    assert_eq!(core_call(&mut d, &mut env, PVALIDATE, LIST, 0, 0).rax, ResultCode::SUCCESS);
    assert_eq!(env.sim.rmp_entry(0x7F_F000), (env.sim.rmp_entry(0x60_0000).0, true));
    assert!(env.sim.rmp_entry(0x7F_F000).0.validated);
    assert_eq!(env.guest_read(0x7F_F000, 8).unwrap(), vec![0; 8]);

    // 2M on 4K RMP entries: the hardware's FAIL_SIZEMISMATCH, passed through for Linux to retry 4K.
    env.assign_4k(0xA0_0000, 512);
    env.write_list(LIST, 0, &[PvalidateEntry::new(0xA0_0000, true, true, false)]);
    let reply = core_call(&mut d, &mut env, PVALIDATE, LIST, 0, 0);
    assert_eq!(reply.rax, ResultCode::PVALIDATE_FAIL_SIZEMISMATCH);
    assert_eq!(env.list_next(LIST), 0);

    // A 2M entry must be 2M aligned.
    env.write_list(LIST, 0, &[PvalidateEntry::new(0xA0_0000 + PAGE_SIZE, true, true, false)]);
    let reply = core_call(&mut d, &mut env, PVALIDATE, LIST, 0, 0);
    assert_eq!((reply.rax, reply.error), (ResultCode::INVALID_PARAMETER, param(ParamError::Misaligned2M)));
}

#[test]
fn next_resumes_and_reports_the_failing_entry() {
    let mut env = SimEnv::new();
    let mut d = dispatcher();
    env.assign_4k(DATA, 4);
    let entries = [
        v4k(DATA),
        v4k(DATA + PAGE_SIZE),
        PvalidateEntry(v4k(DATA + 2 * PAGE_SIZE).0 | 0x10),
        v4k(DATA + 3 * PAGE_SIZE),
    ];
    env.write_list(LIST, 1, &entries);
    let reply = core_call(&mut d, &mut env, PVALIDATE, LIST, 0, 0);
    assert_eq!((reply.rax, reply.error), (ResultCode::INVALID_PARAMETER, param(ParamError::ReservedBits)));
    assert_eq!(env.list_next(LIST), 2, "stopped at the failing entry");
    assert!(!env.sim.rmp_entry(DATA).0.validated, "entries before next are skipped");
    assert!(env.sim.rmp_entry(DATA + PAGE_SIZE).0.validated);
    assert!(!env.sim.rmp_entry(DATA + 3 * PAGE_SIZE).0.validated, "nothing after the failure runs");

    // The guest fixes the entry and resumes from `next`.
    env.write_list(LIST, 2, &[entries[0], entries[1], v4k(DATA + 2 * PAGE_SIZE), entries[3]]);
    assert_eq!(core_call(&mut d, &mut env, PVALIDATE, LIST, 0, 0).rax, ResultCode::SUCCESS);
    assert_eq!(env.list_next(LIST), 4);
    assert!(env.sim.rmp_entry(DATA + 3 * PAGE_SIZE).0.validated);
}

#[test]
fn unchanged_fails_unless_ignore_cf() {
    let mut env = SimEnv::new();
    let mut d = dispatcher();
    env.guest_owned(DATA, 1);
    env.write_list(LIST, 0, &[v4k(DATA)]);
    assert_eq!(core_call(&mut d, &mut env, PVALIDATE, LIST, 0, 0).rax, ResultCode::PVALIDATE_FAIL_NO_CHANGE);
    assert_eq!(env.list_next(LIST), 0);
    env.write_list(LIST, 0, &[PvalidateEntry::new(DATA, false, true, true)]);
    assert_eq!(core_call(&mut d, &mut env, PVALIDATE, LIST, 0, 0).rax, ResultCode::SUCCESS);
    // Rescinding a page that is not validated: likewise.
    env.assign_4k(DATA + PAGE_SIZE, 1);
    env.write_list(LIST, 0, &[rescind4k(DATA + PAGE_SIZE)]);
    assert_eq!(core_call(&mut d, &mut env, PVALIDATE, LIST, 0, 0).rax, ResultCode::PVALIDATE_FAIL_NO_CHANGE);
    env.write_list(LIST, 0, &[PvalidateEntry::new(DATA + PAGE_SIZE, false, false, true)]);
    assert_eq!(core_call(&mut d, &mut env, PVALIDATE, LIST, 0, 0).rax, ResultCode::SUCCESS);
}

/// Threat model T4.
#[test]
fn header_rules() {
    let mut env = SimEnv::new();
    let mut d = dispatcher();
    env.assign_4k(DATA, 1);
    let mut call = |env: &mut SimEnv, gpa| core_call(&mut d, env, PVALIDATE, gpa, 0, 0);

    let reply = call(&mut env, LIST + 4);
    assert_eq!((reply.rax, reply.error), (ResultCode::INVALID_PARAMETER, param(ParamError::ListMisaligned)));
    env.write_list(LIST, 0, &[]);
    assert_eq!(call(&mut env, LIST).error, param(ParamError::NoEntries));
    env.write_list(LIST, 1, &[v4k(DATA)]);
    assert_eq!(call(&mut env, LIST).error, param(ParamError::NextPastEnd));
    // At CAA + 8, 510 entries fit; claim 511 (only the header is needed: the count alone is refused).
    env.guest_write(LIST, &511u16.to_le_bytes());
    assert_eq!(call(&mut env, LIST).error, param(ParamError::ListTooLong));
    // Page size 2 and 3.
    for size in [2, 3] {
        env.write_list(LIST, 0, &[PvalidateEntry(v4k(DATA).0 | size)]);
        assert_eq!(call(&mut env, LIST).error, param(ParamError::PageSize));
    }
    // A list in Warden's region, or outside RAM.
    assert_eq!(call(&mut env, WARDEN_BASE + 8).error, addr(AddressError::Warden));
    assert_eq!(call(&mut env, common::RAM_END + 8).error, addr(AddressError::NotGuestRam));
    // A list in a page that is not validated: Warden's read would fault.
    assert_eq!(call(&mut env, DATA).error, addr(AddressError::Inaccessible));
}

/// Threat model T4.
#[test]
fn the_guest_cannot_touch_wardens_memory_even_if_the_map_says_so() {
    let mut env = SimEnv::new();
    // A hostile memory map that claims all of RAM, Warden's region included.
    let mut d = dispatcher_with_ram(&[GpaRange::new(0, common::RAM_END).unwrap()]);
    for entry in [
        rescind4k(WARDEN_BASE),
        v4k(WARDEN_END - PAGE_SIZE),
        PvalidateEntry::new(WARDEN_BASE, true, false, true),
        PvalidateEntry::new(WARDEN_BASE + LARGE_PAGE_SIZE, true, true, true),
    ] {
        let before = env.sim.rmp_entry(WARDEN_BASE);
        env.write_list(LIST, 0, &[entry]);
        let reply = core_call(&mut d, &mut env, PVALIDATE, LIST, 0, 0);
        assert_eq!((reply.rax, reply.error), (ResultCode::INVALID_ADDRESS, addr(AddressError::Warden)));
        assert_eq!(env.sim.rmp_entry(WARDEN_BASE), before);
        assert!(env.sim.rmp_entry(WARDEN_END - PAGE_SIZE).0.validated);
    }
    // The 2M page just below Warden, without the calling area in it, is the guest's to validate.
    env.assign_2m(WARDEN_BASE - LARGE_PAGE_SIZE);
    env.write_list(LIST, 0, &[PvalidateEntry::new(WARDEN_BASE - LARGE_PAGE_SIZE, true, true, false)]);
    assert_eq!(core_call(&mut d, &mut env, PVALIDATE, LIST, 0, 0).rax, ResultCode::SUCCESS);
}

/// Threat model T4.
#[test]
fn calling_areas_and_the_list_page_are_protected() {
    let mut env = SimEnv::new();
    let mut d = dispatcher();
    env.guest_owned(DATA, 1);
    for entry in [
        rescind4k(BOOT_CAA),
        PvalidateEntry::new(BOOT_CAA, false, true, true),
        PvalidateEntry::new(0, true, false, true),
    ] {
        env.write_list(LIST, 0, &[entry]);
        let reply = core_call(&mut d, &mut env, PVALIDATE, LIST, 0, 0);
        assert_eq!((reply.rax, reply.error), (ResultCode::INVALID_ADDRESS, addr(AddressError::CallingArea)));
        assert!(env.sim.rmp_entry(BOOT_CAA).0.validated);
    }
    // A list outside the calling area may not rescind its own page: Warden writes `next` back there.
    env.write_list(DATA, 0, &[rescind4k(DATA)]);
    let reply = core_call(&mut d, &mut env, PVALIDATE, DATA, 0, 0);
    assert_eq!((reply.rax, reply.error), (ResultCode::INVALID_ADDRESS, addr(AddressError::ListPage)));
    assert!(env.sim.rmp_entry(DATA).0.validated);
}
