//! Small hand-assembled programs on the machine (no IGVM): each checks one rule of SEV-SNP the
//! machine enforces, and fails with the rule's name when the machine gets it wrong.
mod asm;

use asm::{HLT, PVALIDATE, RAX, RCX, RDX, RMPADJUST, VMGEXIT, mov_imm64, reg};
use unicorn_engine::RegisterX86;
use warden_defs::psc::{PscDescriptor, PscEntry, PscOp};
use warden_machine::cpu::{mmr, write_efer};
use warden_machine::hypervisor::page_state_change;
use warden_machine::intercepts::scan;
use warden_machine::machine::{Config, Machine, Outcome};
use warden_machine::memory::PRIVATE_BASE;
use warden_sim::snp::PscBehavior;

const CODE: u64 = 0x1000;
const IDT: u64 = 0x2000;
const TSS: u64 = 0x3000;
const HANDLER: u64 = 0x5000;
const STACK_TOP: u64 = 0x8000;
const IST_TOP: u64 = 0x9000;
const PML4: u64 = 0x10000;
/// Virtual alias of GPA 0..2 MiB without the C-bit (the shared view).
const SHARED_ALIAS: u64 = 0x4000_0000;
/// A page the tests give the hypervisor / the guest.
const TEST_PAGE: u64 = 0x10_0000;
const C: u64 = PRIVATE_BASE;

/// mov r(8 + n), rax
fn save_rax(n: u8) -> [u8; 3] {
    [0x49, 0x89, 0xC0 + n]
}
/// pushfq; pop r(8 + n)
fn save_flags(n: u8) -> [u8; 3] {
    [0x9C, 0x41, 0x58 + n]
}

/// A 64-bit machine: GPA 0..2 MiB identity mapped with the C-bit, and again at SHARED_ALIAS without
/// it; pages 0..0x1_4000 private and validated; optionally an IDT whose #VC gate (IST1) halts.
fn machine(code: &[u8], idt: bool, config: Config) -> Machine<'static> {
    let mut m = Machine::empty(Config { echo: false, max_seconds: 10.0, ..config }).unwrap();
    m.uc.get_data_mut().views.paging_off_phase = false;
    let mut low = vec![0u8; 0x14000];
    let mut put = |at: u64, bytes: &[u8]| low[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
    put(CODE, code);
    put(HANDLER, &[HLT]);
    // PML4[0] -> PDPT; PDPT[0] -> PD (C=1, 2 MiB page 0); PDPT[1] -> PD2 (C=0 alias).
    put(PML4, &((PML4 + 0x1000) | C | 3).to_le_bytes());
    put(PML4 + 0x1000, &((PML4 + 0x2000) | C | 3).to_le_bytes());
    put(PML4 + 0x1000 + 8, &((PML4 + 0x3000) | C | 3).to_le_bytes());
    put(PML4 + 0x2000, &(C | 0x83).to_le_bytes());
    put(PML4 + 0x3000, &0x83u64.to_le_bytes());
    if idt {
        let gate = |offset: u64| -> [u8; 16] {
            let mut g = [0u8; 16];
            g[0..2].copy_from_slice(&(offset as u16).to_le_bytes());
            g[2..4].copy_from_slice(&8u16.to_le_bytes());
            g[4] = 1; // IST1
            g[5] = 0x8E; // present, interrupt gate
            g[6..8].copy_from_slice(&((offset >> 16) as u16).to_le_bytes());
            g[8..12].copy_from_slice(&((offset >> 32) as u32).to_le_bytes());
            g
        };
        for v in 0..32u64 {
            put(IDT + 16 * v, &gate(HANDLER));
        }
        put(TSS + 0x24, &IST_TOP.to_le_bytes());
    }
    m.place(0, &low, true).unwrap();
    m.add_sites(&scan(code, CODE, 64)).unwrap();
    let uc = &mut m.uc;
    uc.reg_write(RegisterX86::CR3, PML4 | C).unwrap();
    uc.reg_write(RegisterX86::CR4, 0x20).unwrap();
    write_efer(uc, 0x500).unwrap();
    uc.reg_write(RegisterX86::CR0, 0x8000_0011).unwrap();
    if idt {
        uc.reg_write_long(RegisterX86::IDTR, &mmr(IDT, 0xFFF)).unwrap();
        let mut tr = mmr(TSS, 0x67);
        tr[0..2].copy_from_slice(&0x28u16.to_le_bytes());
        uc.reg_write_long(RegisterX86::TR, &tr).unwrap();
    }
    uc.reg_write(RegisterX86::RSP, STACK_TOP).unwrap();
    uc.reg_write(RegisterX86::RIP, CODE).unwrap();
    m
}

/// The exception frame on the IST stack: (error code, pushed RIP).
fn vc_frame(m: &Machine<'_>) -> (u64, u64) {
    let rsp = reg(m, RegisterX86::RSP);
    assert_eq!(
        rsp,
        IST_TOP - 48,
        "the #VC frame (SS, RSP, RFLAGS, CS, RIP, error) must be on the gate's IST1 stack"
    );
    let mut frame = [0u8; 16];
    m.uc.mem_read(C + rsp, &mut frame).unwrap();
    (u64::from_le_bytes(frame[..8].try_into().unwrap()), u64::from_le_bytes(frame[8..].try_into().unwrap()))
}

/// Makes `gpa` (4 KiB) private through the hypervisor, not validated.
fn assign(m: &mut Machine<'_>, gpa: u64) {
    let mut desc = PscDescriptor::zeroed();
    desc.entries[0] = PscEntry::new(gpa >> 12, PscOp::PRIVATE, false);
    page_state_change(&mut m.uc, &mut desc).unwrap();
}

#[test]
fn cpuid_before_an_idt_is_a_triple_fault() {
    let mut m = machine(&[0x0F, 0xA2, HLT], false, Config::default());
    match m.run() {
        Outcome::TripleFault(why) => assert!(
            why.contains("CPUID at RIP 0x1000 raised #VC before an IDT was loaded"),
            "unexpected message: {why}"
        ),
        other => panic!("a CPUID with no IDT must triple-fault, got {other}"),
    }
}

#[test]
fn cpuid_raises_vc_0x72_on_the_ist_stack() {
    let mut m = machine(&[0x0F, 0xA2, HLT], true, Config::default());
    let outcome = m.run();
    assert_eq!(reg(&m, RegisterX86::RIP), HANDLER + 1, "the #VC handler ran ({outcome})");
    assert_eq!(vc_frame(&m), (0x72, CODE), "#VC error code 0x72 and the CPUID's RIP");
}

#[test]
fn pvalidate_return_codes_and_cf() {
    let mut code = Vec::new();
    code.extend(mov_imm64(RAX, TEST_PAGE));
    code.extend(mov_imm64(RCX, 0));
    code.extend(mov_imm64(RDX, 1));
    code.extend(PVALIDATE);
    code.extend(save_rax(0));
    code.extend(save_flags(1)); // r9
    code.extend(mov_imm64(RAX, TEST_PAGE));
    code.extend(PVALIDATE);
    code.extend(save_rax(2)); // r10
    code.extend(save_flags(3)); // r11
    code.extend(mov_imm64(RAX, TEST_PAGE + 8));
    code.extend(PVALIDATE);
    code.extend(save_rax(4)); // r12
    code.extend(mov_imm64(RAX, 0x20_0000 - 0x20_0000)); // 2 MiB at 0: its RMP entries are 4 KiB
    code.extend(mov_imm64(RCX, 1));
    code.extend(PVALIDATE);
    code.extend(save_rax(5)); // r13
    code.push(HLT);
    let mut m = machine(&code, true, Config::default());
    assign(&mut m, TEST_PAGE);
    let outcome = m.run();
    assert!(matches!(outcome, Outcome::Halted(_)), "{outcome}");
    assert_eq!(reg(&m, RegisterX86::R8), 0, "first PVALIDATE: success");
    assert_eq!(reg(&m, RegisterX86::R9) & 1, 0, "first PVALIDATE: CF clear (changed)");
    assert_eq!(reg(&m, RegisterX86::R10), 0, "second PVALIDATE: success...");
    assert_eq!(reg(&m, RegisterX86::R11) & 1, 1, "...with CF set (unchanged)");
    assert_eq!(reg(&m, RegisterX86::R12), 1, "unaligned address: FAIL_INPUT");
    assert_eq!(reg(&m, RegisterX86::R13), 6, "2 MiB over 4 KiB RMP entries: FAIL_SIZEMISMATCH");
    assert!(m.uc.get_data().snp.rmp_entry(TEST_PAGE).0.validated);
    assert_eq!(m.uc.get_data().snp.counters.pvalidate, 4);
}

#[test]
fn rmpadjust_from_vmpl0_grants_a_higher_vmpl_only() {
    let mut code = Vec::new();
    code.extend(mov_imm64(RAX, 0x4000));
    code.extend(mov_imm64(RCX, 0));
    code.extend(mov_imm64(RDX, 0x0302)); // VMPL2: read + write
    code.extend(RMPADJUST);
    code.extend(save_rax(0));
    code.extend(mov_imm64(RAX, 0x4000));
    code.extend(mov_imm64(RDX, 0x0F00)); // VMPL0: not numerically higher than the caller
    code.extend(RMPADJUST);
    code.extend(save_rax(1));
    code.push(HLT);
    let mut m = machine(&code, true, Config::default());
    let outcome = m.run();
    assert!(matches!(outcome, Outcome::Halted(_)), "{outcome}");
    assert_eq!(reg(&m, RegisterX86::R8), 0, "RMPADJUST for VMPL2: success");
    assert_eq!(reg(&m, RegisterX86::R9), 2, "RMPADJUST for VMPL0 from VMPL0: FAIL_PERMISSION");
    let e = m.uc.get_data().snp.rmp_entry(0x4000).0;
    assert_eq!(e.perms[1].bits(), 0x3, "VMPL2 got read + write");
}

#[test]
fn a_c0_read_of_a_private_page_is_ciphertext_and_a_c0_write_corrupts_it() {
    let plain = 0x1122_3344_5566_7788u64;
    let mut code = Vec::new();
    code.extend([0x48, 0x8B, 0x04, 0x25]); // mov rax, [SHARED_ALIAS + 0x4000]
    code.extend(((SHARED_ALIAS + 0x4000) as u32).to_le_bytes());
    code.extend(save_rax(0));
    code.extend([0x48, 0x8B, 0x04, 0x25, 0x00, 0x40, 0x00, 0x00]); // mov rax, [0x4000] (C=1)
    code.extend(save_rax(1));
    code.extend([0x48, 0x89, 0x04, 0x25]); // mov [SHARED_ALIAS + 0x4000], rax
    code.extend(((SHARED_ALIAS + 0x4000) as u32).to_le_bytes());
    code.extend([0x48, 0x8B, 0x04, 0x25, 0x00, 0x40, 0x00, 0x00]); // mov rax, [0x4000] (C=1)
    code.extend(save_rax(2));
    code.push(HLT);
    let mut m = machine(&code, true, Config::default());
    m.place(0x4000, &plain.to_le_bytes(), true).unwrap();
    let outcome = m.run();
    assert!(matches!(outcome, Outcome::Halted(_)), "{outcome}");
    assert_ne!(reg(&m, RegisterX86::R8), plain, "a C=0 read of a private page must not return the plaintext");
    assert_eq!(reg(&m, RegisterX86::R9), plain, "a C=1 read returns the plaintext");
    assert_ne!(reg(&m, RegisterX86::R10), plain, "a C=0 write must corrupt the private page");
}

#[test]
fn touching_an_unvalidated_private_page_raises_vc_0x404() {
    let mut code = Vec::new();
    code.extend([0x48, 0x8B, 0x04, 0x25]); // mov rax, [TEST_PAGE]
    code.extend((TEST_PAGE as u32).to_le_bytes());
    code.push(HLT);
    let mut m = machine(&code, true, Config::default());
    assign(&mut m, TEST_PAGE);
    let outcome = m.run();
    assert_eq!(reg(&m, RegisterX86::RIP), HANDLER + 1, "the #VC handler ran ({outcome})");
    assert_eq!(vc_frame(&m), (0x404, CODE), "#VC 0x404 (page not validated) at the load");
}

#[test]
fn touching_a_page_not_assigned_to_the_guest_stops_the_machine() {
    let mut code = Vec::new();
    code.extend([0x48, 0x8B, 0x04, 0x25]); // mov rax, [TEST_PAGE] (C=1, hypervisor-owned)
    code.extend((TEST_PAGE as u32).to_le_bytes());
    code.push(HLT);
    let mut m = machine(&code, true, Config::default());
    match m.run() {
        Outcome::NestedPageFault(why) => assert!(why.contains("not assigned"), "{why}"),
        other => panic!("expected a nested page fault, got {other}"),
    }
}

/// A GHCB page-state change of two pages (wrmsr GHCB MSR = GHCB GPA; vmgexit), answered by the
/// hypervisor `behavior`; returns (cur_entry, end_entry, sw_exit_info_2, assigned pages).
fn psc_through_ghcb(behavior: PscBehavior) -> (u16, u16, u64, usize) {
    let ghcb = 0x18_0000u64;
    let mut code = Vec::new();
    code.extend(mov_imm64(RCX, 0xC001_0130));
    code.extend(mov_imm64(RAX, ghcb));
    code.extend(mov_imm64(RDX, 0));
    code.extend([0x0F, 0x30]); // wrmsr
    code.extend(VMGEXIT);
    code.push(HLT);
    let mut m = machine(&code, true, Config { psc_behavior: behavior, ..Config::default() });
    let mut page = vec![0u8; 4096];
    page[0x390..0x398].copy_from_slice(&0x8000_0010u64.to_le_bytes());
    page[0x3A8..0x3B0].copy_from_slice(&(ghcb + 0x800).to_le_bytes());
    // Valid bitmap: sw_exit_code (0x390), info_1, info_2, scratch (bits 0x72..0x75).
    for off in [0x390usize, 0x398, 0x3A0, 0x3A8] {
        page[0x3F0 + off / 64] |= 1 << ((off / 8) % 8);
    }
    page[0x800..0x802].copy_from_slice(&0u16.to_le_bytes());
    page[0x802..0x804].copy_from_slice(&1u16.to_le_bytes());
    for (i, gpa) in [TEST_PAGE, TEST_PAGE + 0x1000].into_iter().enumerate() {
        let e = PscEntry::new(gpa >> 12, PscOp::PRIVATE, false);
        page[0x808 + 8 * i..0x810 + 8 * i].copy_from_slice(&e.0.to_le_bytes());
    }
    m.place(ghcb, &page, false).unwrap();
    let outcome = m.run();
    assert!(matches!(outcome, Outcome::Halted(_)), "{outcome}");
    m.uc.mem_read(ghcb, &mut page).unwrap();
    let u16_at = |o: usize| u16::from_le_bytes([page[o], page[o + 1]]);
    let info2 = u64::from_le_bytes(page[0x3A0..0x3A8].try_into().unwrap());
    let assigned = [TEST_PAGE, TEST_PAGE + 0x1000]
        .iter()
        .filter(|&&g| m.uc.get_data().snp.rmp_entry(g).0.assigned)
        .count();
    (u16_at(0x800), u16_at(0x802), info2, assigned)
}

#[test]
fn an_honest_page_state_change_does_every_entry() {
    assert_eq!(psc_through_ghcb(PscBehavior::Honest), (2, 1, 0, 2));
}

#[test]
fn a_lying_hypervisor_answers_a_page_state_change_partially() {
    assert_eq!(
        psc_through_ghcb(PscBehavior::Partial { per_exit: 1 }),
        (1, 1, 0, 1),
        "one entry per exit: cur_entry 1 and only the first page assigned"
    );
    assert_eq!(
        psc_through_ghcb(PscBehavior::OverReport { per_exit: 1, claimed: 2 }),
        (2, 1, 0, 1),
        "claims two, did one"
    );
    assert_eq!(psc_through_ghcb(PscBehavior::Fail(0x100 << 32)).2, 0x100 << 32, "refused with its error");
}
