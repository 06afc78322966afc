//! Launching the guest on warden-sim's strict RMP: what the guest finds at its VMPL after
//! `launch::prepare`, its page tables and first VMSA, the VMSA Warden registers for it, and a
//! hypervisor that will not share the guest's GHCB.
mod common;

use common::{APIC_IDS, BOOT, GUEST_VMPL, SEV_FEATURES, SimEnv, core_call};
use warden_defs::guest_launch::{
    GUEST_BOOT_INFO, GUEST_BOOT_MAGIC, GUEST_CAA, GUEST_GHCB, GUEST_IMAGE_BASE, GUEST_LAUNCH_BASE,
    GUEST_LAUNCH_END, GUEST_MAPPED_END, GUEST_PAGE_TABLES, GUEST_PAYLOAD_MAGIC, GUEST_SECRETS, GuestBootInfo,
    GuestPayload,
};
use warden_defs::layout::{HEAP_BASE, LARGE_PAGE_SIZE, PAGE_SIZE, WARDEN_BASE, WARDEN_SIZE};
use warden_defs::svsm::{ResultCode, core_call as call};
use warden_defs::vmsa::EFER_SVME;
use warden_platform::memory::GpaRange;
use warden_sim::snp::PscBehavior;
use warden_svsm::launch::{LaunchError, LaunchFacts, guest_vmsa, page_tables, prepare};
use warden_svsm::{ConfigError, CoreConfig, CoreProtocol, Dispatcher};
use zerocopy::FromBytes;

const C_BIT: u8 = 51;
const IMAGE_PAGES: u64 = 3;

fn facts() -> LaunchFacts {
    LaunchFacts {
        payload: GuestPayload {
            magic: GUEST_PAYLOAD_MAGIC,
            entry: GUEST_IMAGE_BASE + 0x20,
            image_start: GUEST_IMAGE_BASE,
            image_end: GUEST_IMAGE_BASE + IMAGE_PAGES * PAGE_SIZE,
        },
        c_bit: C_BIT,
        apic_id: 0,
        vcpu_count: 2,
        sev_features: SEV_FEATURES,
    }
}

/// The simulated machine right after the launch: the launch pages and the image validated at VMPL0
/// (measured with Warden), nothing granted to the guest yet.
fn launched() -> SimEnv {
    let mut env = SimEnv::new();
    env.sim.prevalidate(GpaRange::new(GUEST_LAUNCH_BASE, GUEST_LAUNCH_END).unwrap());
    env.sim.prevalidate(GpaRange::from_len(GUEST_IMAGE_BASE, IMAGE_PAGES * PAGE_SIZE).unwrap());
    env
}

/// Warden's secrets page: every byte non-zero, so a key that survives shows.
fn warden_secrets() -> [u8; 4096] {
    core::array::from_fn(|i| (i % 251) as u8 + 1)
}

#[test]
fn the_guest_finds_its_boot_information_secrets_and_calling_area_at_its_vmpl() {
    let mut env = launched();
    prepare(&mut env, &facts(), &warden_secrets()).unwrap();

    let info = env.guest_read(GUEST_BOOT_INFO, size_of::<GuestBootInfo>()).unwrap();
    let info = GuestBootInfo::read_from_bytes(&info).unwrap();
    assert_eq!(info.magic, GUEST_BOOT_MAGIC);
    assert_eq!((info.c_bit, info.vmpl, info.vcpu_count), (u32::from(C_BIT), 2, 2));
    assert_eq!((info.caa, info.secrets, info.ghcb), (GUEST_CAA, GUEST_SECRETS, GUEST_GHCB));
    assert_eq!((info.svsm_base, info.svsm_size), (WARDEN_BASE, WARDEN_SIZE));
    assert_eq!(env.guest_read(GUEST_CAA, 4096).unwrap(), vec![0; 4096]);

    let secrets = env.guest_read(GUEST_SECRETS, 4096).unwrap();
    let original = warden_secrets();
    assert_eq!(&secrets[0x20..0x60], &[0; 0x40], "VMPCK0 and VMPCK1 cleared");
    assert_eq!(&secrets[0x60..0xA0], &original[0x60..0xA0], "VMPCK2 and VMPCK3 kept");
    assert_eq!(&secrets[..0x20], &original[..0x20]);
    let u64_at = |at: usize| u64::from_le_bytes(secrets[at..at + 8].try_into().unwrap());
    assert_eq!((u64_at(0x140), u64_at(0x148), u64_at(0x150)), (WARDEN_BASE, WARDEN_SIZE, GUEST_CAA));
    assert_eq!(u32::from_le_bytes(secrets[0x158..0x15C].try_into().unwrap()), 1);
    assert_eq!(&secrets[0x15C..0x160], &[GUEST_VMPL, 0, 0, 0]);

    // The image is the guest's (read, write, execute), Warden's region is not.
    env.guest_write(GUEST_IMAGE_BASE + (IMAGE_PAGES - 1) * PAGE_SIZE, &[1; 16]);
    assert!(env.guest_read(WARDEN_BASE, 8).is_err());
    assert!(env.guest_read(GUEST_IMAGE_BASE + IMAGE_PAGES * PAGE_SIZE, 8).is_err(), "past the image");
    let (ghcb, _) = env.sim.rmp_entry(GUEST_GHCB);
    assert!(!ghcb.assigned && !ghcb.validated, "the GHCB is shared: {ghcb:?}");
}

#[test]
fn a_hypervisor_that_does_not_share_the_ghcb_stops_the_launch() {
    for behaviour in [PscBehavior::Stall, PscBehavior::SetCurEntry(0)] {
        let mut env = launched();
        env.sim.psc_behavior = behaviour;
        let result = prepare(&mut env, &facts(), &warden_secrets());
        assert!(matches!(result, Err(LaunchError::ShareGhcb(_))), "{behaviour:?}: {result:?}");
        assert!(env.guest_read(GUEST_IMAGE_BASE, 8).is_err(), "{behaviour:?}: nothing granted");
    }
}

#[test]
fn a_launch_over_pages_the_launch_did_not_validate_is_refused() {
    let mut env = SimEnv::new();
    assert!(matches!(prepare(&mut env, &facts(), &warden_secrets()), Err(LaunchError::Write(..))));
}

/// Walks the guest's tables as the CPU would (4-level, C-bit stripped from table addresses).
fn walk(tables: &[[u8; 4096]; 4], va: u64) -> (u64, bool) {
    let c = 1u64 << C_BIT;
    let entry = |page: &[u8; 4096], index: u64| {
        u64::from_le_bytes(page[(index * 8) as usize..(index * 8 + 8) as usize].try_into().unwrap())
    };
    let table = |entry: u64| {
        let address = entry & 0x000F_FFFF_FFFF_F000 & !c;
        &tables[((address - GUEST_PAGE_TABLES) / PAGE_SIZE) as usize]
    };
    let pml4e = entry(&tables[0], (va >> 39) & 0x1FF);
    let pdpte = entry(table(pml4e), (va >> 30) & 0x1FF);
    let pde = entry(table(pdpte), (va >> 21) & 0x1FF);
    assert!(pml4e & c != 0 && pdpte & c != 0, "tables are reached with the C-bit");
    let leaf = if pde & 0x80 != 0 { pde } else { entry(table(pde), (va >> 12) & 0x1FF) };
    assert_eq!(leaf & 3, 3, "present, writable");
    let frame_mask = if pde & 0x80 != 0 { !(LARGE_PAGE_SIZE - 1) } else { !(PAGE_SIZE - 1) };
    (leaf & 0x000F_FFFF_FFFF_F000 & !c & frame_mask, leaf & c != 0)
}

#[test]
fn the_page_tables_identity_map_the_guest_privately_but_its_ghcb() {
    let tables = page_tables(C_BIT);
    for va in [
        0,
        GUEST_BOOT_INFO,
        GUEST_IMAGE_BASE,
        GUEST_GHCB - PAGE_SIZE,
        GUEST_GHCB + PAGE_SIZE,
        GUEST_MAPPED_END - 1,
    ] {
        let (frame, private) = walk(&tables, va);
        assert_eq!(frame, expected_frame(va), "{va:#x}");
        assert!(private, "{va:#x} is private");
    }
    assert_eq!(walk(&tables, GUEST_GHCB), (GUEST_GHCB, false), "the GHCB is mapped shared");
}

/// The frame that maps `va`: its 2 MiB page, or its 4 KiB page in the GHCB's 2 MiB region.
fn expected_frame(va: u64) -> u64 {
    let region = va & !(LARGE_PAGE_SIZE - 1);
    if region == GUEST_GHCB & !(LARGE_PAGE_SIZE - 1) { va & !(PAGE_SIZE - 1) } else { region }
}

#[test]
fn the_first_vmsa_starts_the_guest_in_long_mode_at_its_entry_and_vmpl() {
    let vmsa = guest_vmsa(&facts());
    assert_eq!(vmsa.rip, GUEST_IMAGE_BASE + 0x20);
    assert_eq!(vmsa.rdi, GUEST_BOOT_INFO);
    assert_eq!(vmsa.cr3, GUEST_PAGE_TABLES | 1 << C_BIT);
    assert_eq!(vmsa.vmpl, GUEST_VMPL);
    assert_eq!(vmsa.sev_features, SEV_FEATURES);
    assert_eq!(vmsa.efer & 0x1D00, 0x1D00, "LME, LMA, NXE, SVME");
    assert_ne!(vmsa.efer & EFER_SVME, 0);
    assert_eq!(vmsa.cr0 & 0x8000_0001, 0x8000_0001, "PE and PG");
    assert_ne!(vmsa.cr4 & (1 << 5), 0, "PAE");
    assert_eq!(vmsa.cs.attrib & 0x200, 0x200, "CS.L: 64-bit code");
    assert_eq!(vmsa.rflags & (1 << 9), 0, "interrupts off");
}

#[test]
fn warden_registers_its_own_vmsa_and_the_guest_cannot_delete_it() {
    let ram = common::guest_ram();
    let config = CoreConfig {
        guest_vmpl: GUEST_VMPL,
        apic_ids: &APIC_IDS,
        boot_apic_id: 0,
        boot_caa: GUEST_CAA,
        ram: &ram,
    };
    let mut core = CoreProtocol::new(config).unwrap();
    assert_eq!(core.register_warden_vmsa(0, GUEST_IMAGE_BASE), Err(ConfigError::VmsaOutsideWarden));
    assert!(matches!(core.register_warden_vmsa(0, HEAP_BASE + 1), Err(ConfigError::Vmsa(_))));
    core.register_warden_vmsa(0, HEAP_BASE).unwrap();
    assert_eq!(core.vcpu(0).unwrap().vmsa, Some(HEAP_BASE));

    let mut env = launched();
    prepare(&mut env, &facts(), &warden_secrets()).unwrap();
    let mut dispatcher = Dispatcher::new(core);
    let reply = core_call(&mut dispatcher, &mut env, call::DELETE_VCPU, HEAP_BASE, 0, 0);
    assert_ne!(reply.rax, ResultCode::SUCCESS);
    assert_eq!(dispatcher.core().vcpu(BOOT.apic_id).unwrap().vmsa, Some(HEAP_BASE));
}
