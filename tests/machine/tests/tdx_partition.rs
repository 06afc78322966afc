//! TD partitioning on the TDX machine with hand-placed code: a small L1 enters long mode, sets VM 1's
//! L2 VMCS fields (TDG.VP.WR) and page attributes (TDG.MEM.PAGE.ATTR.WR) from a table, then runs the
//! L2 with TDG.VP.ENTER in a loop, logging every exit, advancing the L2's RIP past the exiting
//! instruction and entering it again, until an exit it does not resume from (HLT, EPT violation,
//! triple fault). What the L1 saw and the L2 left in its guest-state buffer are read afterwards.
use std::collections::BTreeMap;

use warden_machine::machine::{Config, Outcome};
use warden_machine::tdx::loader::TdImage;
use warden_machine::tdx::machine::TdxMachine;
use warden_machine::tdx::mrtd::Mrtd;

const PML4: u64 = 0x1_0000;
const PDPT: u64 = 0x1_1000;
const PD0: u64 = 0x1_2000;
const PD3: u64 = 0x1_3000;
/// The L2 guest-state buffer.
const BUFFER: u64 = 0x1_4000;
/// The L1's exit log: 64 bytes per exit (RAX, RCX, R8, R11, RSI, RDX, RDI, RSP after TDG.VP.ENTER).
const LOG: u64 = 0x1_5000;
/// VM 1's virtual-APIC page: the L1's, never granted to the L2.
const VAPIC: u64 = 0x1_6000;
/// The L1's stack top.
const L1_STACK: u64 = 0x1_5F00;
/// The L2's code (VM 1: R | Xs).
const L2_CODE: u64 = 0x20_0000;
/// A page VM 1 may read and write (not execute).
const L2_RW: u64 = 0x20_1000;
/// A page VM 1 may only read; it holds 0xEE bytes.
const L2_RO: u64 = 0x20_2000;
/// The ROM page: reset vector, the L1's code, its GDT and TDCALL table.
const ROM_PAGE: u64 = 0xFFFF_F000;
const LONG_ENTRY: u64 = 0xFFFF_F100;
const TABLE: u64 = 0xFFFF_F400;
const GDT_PTR: u64 = 0xFFFF_F7F0;
const GDT: u64 = 0xFFFF_F800;

const TDCALL: [u8; 4] = [0x66, 0x0F, 0x01, 0xCC];
/// The VM 1 L2 VMCS field identifier of `encoding`.
fn vmcs(encoding: u64) -> u64 {
    (36 << 56) | (2 << 52) | (3 << 32) | encoding
}

/// mov r64, imm64.
fn mov_imm64(reg: u8, v: u64) -> Vec<u8> {
    let mut b = vec![if reg >= 8 { 0x49 } else { 0x48 }, 0xB8 + (reg & 7)];
    b.extend_from_slice(&v.to_le_bytes());
    b
}

/// The L1: long mode, the TDCALL table, then the VP.ENTER loop.
fn l1_code() -> (Vec<u8>, Vec<u8>) {
    // 32-bit, from the reset vector: GDT, PAE, CR3, paging on (EFER.LME is set in every TD), far jump.
    let mut entry32 = vec![0x0F, 0x01, 0x15];
    entry32.extend_from_slice(&(GDT_PTR as u32).to_le_bytes());
    entry32.extend_from_slice(&[0x0F, 0x20, 0xE0, 0x83, 0xC8, 0x20, 0x0F, 0x22, 0xE0]); // cr4 |= PAE
    entry32.extend_from_slice(&[0xB8, 0x00, 0x00, 0x01, 0x00, 0x0F, 0x22, 0xD8]); // cr3 = PML4
    entry32.extend_from_slice(&[0x0F, 0x20, 0xC0, 0x0D, 0, 0, 0, 0x80, 0x0F, 0x22, 0xC0]); // cr0 |= PG
    entry32.push(0xEA); // jmp far 0x08:LONG_ENTRY
    entry32.extend_from_slice(&(LONG_ENTRY as u32).to_le_bytes());
    entry32.extend_from_slice(&[0x08, 0x00]);

    let mut c = vec![0x66, 0xB8, 0x10, 0x00, 0x8E, 0xD8, 0x8E, 0xD0, 0x8E, 0xC0]; // ds = ss = es = 0x10
    c.extend(mov_imm64(4, L1_STACK)); // rsp
    c.extend(mov_imm64(5, LOG)); // rbp: the log pointer, which TDG.VP.ENTER preserves
    c.extend(mov_imm64(3, TABLE)); // rbx
    // next: rax = [rbx]; a zero leaf ends the table.
    let next = c.len();
    c.extend_from_slice(&[0x48, 0x8B, 0x03, 0x48, 0x85, 0xC0, 0x74, 0x00]);
    let end_of_table_jump = c.len() - 1;
    c.extend_from_slice(&[0x48, 0x8B, 0x4B, 0x08, 0x48, 0x8B, 0x53, 0x10]); // rcx, rdx
    c.extend_from_slice(&[0x4C, 0x8B, 0x43, 0x18, 0x4C, 0x8B, 0x4B, 0x20]); // r8, r9
    c.extend_from_slice(&TDCALL);
    c.extend_from_slice(&[0x48, 0x85, 0xC0, 0x75, 0x00]); // test rax, rax; jnz fail
    let fail_jump = c.len() - 1;
    c.extend_from_slice(&[0x48, 0x83, 0xC3, 0x28, 0xEB]); // add rbx, 40; jmp next
    c.push((next as i64 - (c.len() as i64 + 1)) as u8);
    c[end_of_table_jump] = (c.len() - end_of_table_jump - 1) as u8;
    // enter: TDG.VP.ENTER(VM 1, BUFFER), log the exit.
    let enter = c.len();
    c.extend(mov_imm64(0, 25));
    c.extend(mov_imm64(1, 1 << 52));
    c.extend(mov_imm64(2, BUFFER));
    c.extend_from_slice(&TDCALL);
    for (i, rex_modrm) in [
        [0x48, 0x45],
        [0x48, 0x4D],
        [0x4C, 0x45],
        [0x4C, 0x5D],
        [0x48, 0x75],
        [0x48, 0x55],
        [0x48, 0x7D],
        [0x48, 0x65],
    ]
    .iter()
    .enumerate()
    {
        c.extend_from_slice(&[rex_modrm[0], 0x89, rex_modrm[1], 8 * i as u8]); // mov [rbp + 8i], reg
    }
    c.extend_from_slice(&[0x48, 0x83, 0xC5, 0x40]); // add rbp, 64
    let mut done_jumps = Vec::new();
    for reason in [12u8, 48, 2] {
        c.extend_from_slice(&[0x83, 0xF8, reason, 0x74, 0x00]); // cmp eax, reason; je done
        done_jumps.push(c.len() - 1);
    }
    c.extend_from_slice(&[0x49, 0xC1, 0xEB, 0x20]); // shr r11, 32: the instruction length
    c.extend(mov_imm64(0, BUFFER + 0x88));
    c.extend_from_slice(&[0x4C, 0x01, 0x18]); // add [rax], r11: the L2's RIP past the instruction
    c.push(0xE9); // jmp enter
    c.extend_from_slice(&((enter as i64 - (c.len() as i64 + 4)) as i32).to_le_bytes());
    // done: TDG.VP.VMCALL<Instruction.HLT> (R10, R11 exposed).
    let done = c.len();
    for at in done_jumps {
        c[at] = (done - at - 1) as u8;
    }
    c.extend(mov_imm64(0, 0));
    c.extend(mov_imm64(1, 0x0C00));
    c.extend(mov_imm64(10, 0));
    c.extend(mov_imm64(11, 12));
    c.extend_from_slice(&TDCALL);
    c.push(0xF4);
    // fail: TDG.VP.VMCALL<ReportFatalError> with the failing leaf's status in R12.
    c[fail_jump] = (c.len() - fail_jump - 1) as u8;
    c.extend_from_slice(&[0x49, 0x89, 0xC4]); // mov r12, rax
    c.extend(mov_imm64(0, 0));
    c.extend(mov_imm64(1, 0x1C00));
    c.extend(mov_imm64(10, 0));
    c.extend(mov_imm64(11, 0x10003));
    c.extend_from_slice(&TDCALL);
    c.push(0xF4);
    (entry32, c)
}

/// The TDCALL table: (leaf, RCX, RDX, R8, R9), the contract's L2 start state and VM 1's grants.
fn table() -> Vec<[u64; 5]> {
    let wr = |encoding, value| [10, 0, vmcs(encoding), value, u64::MAX];
    let grant = |gpa, attrs: u64| [24, gpa, attrs << 16, 0xFFFF << 16, 0];
    let mut t = vec![
        wr(0x6800, 0x8001_0033), // CR0
        wr(0x6804, 0x620),       // CR4
        wr(0x2806, 0x500),       // EFER
        wr(0x6802, PML4),        // CR3
        wr(0x0802, 0x08),        // CS
        wr(0x4816, 0xA09B),
        wr(0x4802, 0xFFFF_FFFF),
        wr(0x480E, 0x67),     // TR limit
        wr(0x4822, 0x8B),     // TR access rights
        wr(0x4820, 0x1_0000), // LDTR unusable
        wr(0x2012, VAPIC),
    ];
    for sel in [0x0800, 0x0804, 0x0806] {
        t.push(wr(sel, 0x10));
        t.push(wr(sel + 0x4014, 0xC093));
    }
    for page in [PML4, PDPT, PD0, PD3] {
        t.push(grant(page, 0x800F));
    }
    t.push(grant(L2_CODE, 0x8005));
    t.push(grant(L2_RW, 0x8003));
    t.push(grant(L2_RO, 0x8001));
    t.push([0; 5]);
    t
}

/// One exit as the L1 logged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Logged {
    reason: u64,
    qualification: u64,
    gpa: u64,
    length: u64,
    cs_selector: u64,
    rdx: u64,
    rdi: u64,
    rsp: u64,
}

/// Runs `l2` (at L2_CODE): the machine's outcome, the L1's log, the buffer, the machine.
fn run(l2: &[u8]) -> (Outcome, Vec<Logged>, [u64; 18], TdxMachine<'static>) {
    let mut pages: BTreeMap<u64, Box<[u8; 4096]>> = BTreeMap::new();
    let put64 = |p: &mut [u8; 4096], at: usize, v: u64| p[at..at + 8].copy_from_slice(&v.to_le_bytes());
    // Identity map of [0, 1 GiB) and the top 2 MiB below 4 GiB, 2 MiB pages, A and D preset.
    put64(page(&mut pages, PML4), 0, PDPT | 0x23);
    put64(page(&mut pages, PDPT), 0, PD0 | 0x23);
    put64(page(&mut pages, PDPT), 24, PD3 | 0x23);
    for i in 0..512u64 {
        put64(page(&mut pages, PD0), 8 * i as usize, (i << 21) | 0xE3);
    }
    put64(page(&mut pages, PD3), 8 * 511, 0xFFE0_0000 | 0xE3);
    put64(page(&mut pages, BUFFER), 0x80, 2); // RFLAGS
    put64(page(&mut pages, BUFFER), 0x88, L2_CODE); // RIP
    page(&mut pages, LOG);
    page(&mut pages, VAPIC);
    let code = page(&mut pages, L2_CODE);
    code.fill(0xF4);
    code[..l2.len()].copy_from_slice(l2);
    page(&mut pages, L2_RW);
    page(&mut pages, L2_RO).fill(0xEE);
    let (entry32, long) = l1_code();
    let rom = page(&mut pages, ROM_PAGE);
    rom.fill(0xF4);
    rom[..entry32.len()].copy_from_slice(&entry32);
    let at = (LONG_ENTRY - ROM_PAGE) as usize;
    rom[at..at + long.len()].copy_from_slice(&long);
    for (i, entry) in table().iter().enumerate() {
        for (j, v) in entry.iter().enumerate() {
            put64(rom, (TABLE - ROM_PAGE) as usize + 40 * i + 8 * j, *v);
        }
    }
    let at = (GDT_PTR - ROM_PAGE) as usize;
    rom[at..at + 2].copy_from_slice(&0x17u16.to_le_bytes());
    rom[at + 2..at + 6].copy_from_slice(&(GDT as u32).to_le_bytes());
    put64(rom, (GDT - ROM_PAGE) as usize + 8, 0x00AF_9B00_0000_FFFF);
    put64(rom, (GDT - ROM_PAGE) as usize + 16, 0x00CF_9300_0000_FFFF);
    // Reset vector: jmp rel32 back to the start of the page.
    rom[0xFF0] = 0xE9;
    rom[0xFF1..0xFF5].copy_from_slice(&(-(0xFF5i32)).to_le_bytes());

    let image = TdImage { pages, mrtd: Mrtd::default() };
    let config = Config { max_seconds: 20.0, echo: false, ..Config::default() };
    let mut m = TdxMachine::launch(&image, config).expect("launch");
    let outcome = m.run();
    let mut log = Vec::new();
    for i in 0..64 {
        let mut b = [0u8; 64];
        m.uc.mem_read(LOG + 64 * i, &mut b).unwrap();
        let w: Vec<u64> = b.chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect();
        if w.iter().all(|&x| x == 0) {
            break;
        }
        log.push(Logged {
            reason: w[0],
            qualification: w[1],
            gpa: w[2],
            length: w[3] >> 32,
            cs_selector: w[4],
            rdx: w[5],
            rdi: w[6],
            rsp: w[7],
        });
    }
    let mut b = [0u8; 18 * 8];
    m.uc.mem_read(BUFFER, &mut b).unwrap();
    let mut buffer = [0u64; 18];
    for (v, c) in buffer.iter_mut().zip(b.chunks(8)) {
        *v = u64::from_le_bytes(c.try_into().unwrap());
    }
    (outcome, log, buffer, m)
}

fn page(pages: &mut BTreeMap<u64, Box<[u8; 4096]>>, gpa: u64) -> &mut [u8; 4096] {
    pages.entry(gpa).or_insert_with(|| Box::new([0u8; 4096]))
}

fn byte_at(m: &TdxMachine<'_>, gpa: u64) -> u8 {
    let mut b = [0u8; 1];
    m.uc.mem_read(gpa, &mut b).unwrap();
    b[0]
}

fn reasons(log: &[Logged]) -> Vec<u64> {
    log.iter().map(|l| l.reason).collect()
}

/// Buffer indexes: RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8..R15, RFLAGS, RIP.
const RBX: usize = 3;
const R9: usize = 9;
const RIP: usize = 17;

fn halted(outcome: &Outcome) {
    assert!(matches!(outcome, Outcome::Halted(_)), "expected the L1 to halt, got {outcome}");
}

#[test]
fn vmcall_io_and_cpuid_exit_to_the_l1_which_resumes_the_l2_until_a_write_to_a_read_only_page() {
    let mut l2 = mov_imm64(3, 0x2222);
    l2.extend(mov_imm64(9, 0x9999));
    l2.extend_from_slice(&[0x0F, 0x01, 0xC1]); // vmcall
    l2.extend_from_slice(&[0x66, 0xBA, 0xF8, 0x03, 0xB0, 0x41, 0xEE]); // mov dx, 0x3f8; mov al, 'A'; out dx, al
    l2.extend_from_slice(&[0xE6, 0x80]); // out 0x80, al
    l2.extend_from_slice(&[0xEC]); // in al, dx
    l2.extend_from_slice(&[0x0F, 0xA2]); // cpuid
    l2.extend_from_slice(&[0xC6, 0x04, 0x25, 0x00, 0x10, 0x20, 0x00, 0x5A]); // mov byte [L2_RW], 0x5a
    let denied_at = L2_CODE + l2.len() as u64;
    l2.extend_from_slice(&[0xC6, 0x04, 0x25, 0x00, 0x20, 0x20, 0x00, 0x77]); // mov byte [L2_RO], 0x77
    let (outcome, log, buffer, m) = run(&l2);
    halted(&outcome);
    assert_eq!(reasons(&log), [18, 30, 30, 30, 10, 48], "{log:#x?}");
    let exits: Vec<(u64, u64)> = log.iter().map(|l| (l.qualification, l.length)).collect();
    assert_eq!(
        exits,
        [(0, 3), (0x03F8_0000, 1), (0x0080_0040, 2), (0x03F8_0008, 1), (0, 2), (0x18A, 0)],
        "qualifications (SDM Table 28-5; Table 28-7: a write, to a page VM 1 may only read, through a valid \
         linear address) and lengths"
    );
    assert_eq!(log.iter().map(|l| l.rdx).collect::<Vec<_>>(), [0, 0, 0, 0, 0, L2_RO], "the linear address");
    for l in &log {
        assert_eq!((l.cs_selector, l.rdi, l.rsp), (0x08, 0, L1_STACK), "CS, CS base, the L1's RSP kept");
    }
    assert_eq!(log.iter().map(|l| l.gpa).collect::<Vec<_>>(), [0, 0, 0, 0, 0, L2_RO]);
    assert_eq!(byte_at(&m, L2_RW), 0x5A, "the granted write happened");
    assert_eq!(byte_at(&m, L2_RO), 0xEE, "the denied write did not");
    assert_eq!((buffer[RBX], buffer[R9]), (0x2222, 0x9999), "the L2's registers in the buffer");
    assert_eq!(buffer[RIP], denied_at, "the RIP of the denied instruction");
    let l2_state = &m.uc.get_data().l2;
    assert_eq!((l2_state.entries, l2_state.exits.get(&30)), (6, Some(&3)));
    // Accepted pages VM 1 may use less than fully: the buffer, log and virtual-APIC pages (one run,
    // none), the code (R X), the RW and RO pages, and the L1's ROM page.
    assert_eq!(l2_state.protection_runs(), Some(5), "runs of equal protection, not pages");
}

#[test]
fn tdcall_msrs_and_hlt_of_the_l2_exit_with_their_lengths() {
    let mut l2 = TDCALL.to_vec();
    l2.extend_from_slice(&[0x0F, 0x32, 0x0F, 0x30, 0xF4]); // rdmsr; wrmsr; hlt
    let (outcome, log, buffer, _) = run(&l2);
    halted(&outcome);
    let exits: Vec<(u64, u64)> = log.iter().map(|l| (l.reason, l.length)).collect();
    assert_eq!(exits, [(77, 4), (31, 2), (32, 2), (12, 1)], "{log:#x?}");
    assert_eq!(buffer[RIP], L2_CODE + 8, "RIP of the HLT");
}

#[test]
fn a_write_to_a_page_never_granted_is_an_ept_violation_and_the_byte_is_unchanged() {
    let mut l2 = vec![0xC6, 0x04, 0x25];
    l2.extend_from_slice(&(VAPIC as u32).to_le_bytes());
    l2.push(0x01); // mov byte [VAPIC], 1
    let (outcome, log, buffer, m) = run(&l2);
    halted(&outcome);
    assert_eq!(log.len(), 1, "{log:#x?}");
    assert_eq!((log[0].reason, log[0].qualification, log[0].gpa, log[0].rdx), (48, 0x182, VAPIC, VAPIC));
    assert_eq!(byte_at(&m, VAPIC), 0);
    assert_eq!(buffer[RIP], L2_CODE);
}

#[test]
fn a_fetch_from_a_page_without_execute_is_an_ept_violation() {
    let mut l2 = mov_imm64(0, L2_RW);
    l2.extend_from_slice(&[0xFF, 0xE0]); // jmp rax
    let (outcome, log, _, _) = run(&l2);
    halted(&outcome);
    assert_eq!(reasons(&log), [48], "{log:#x?}");
    assert_eq!(
        (log[0].qualification, log[0].gpa, log[0].rdx),
        (0x4 | 0x8 | 0x10 | 0x180, L2_RW, L2_RW),
        "a fetch from a page VM 1 may read and write, at a valid linear address"
    );
}

#[test]
fn an_exception_the_l2_cannot_deliver_is_a_triple_fault_exit() {
    let (outcome, log, buffer, _) = run(&[0x0F, 0x0B]); // ud2, with no IDT loaded
    halted(&outcome);
    assert_eq!(reasons(&log), [2], "{log:#x?}");
    assert_eq!(buffer[RIP], L2_CODE);
}

/// An L2 that loads an IDT (in its code page, which it may read) whose #UD gate runs a HLT at
/// L2_CODE + 0x100, sets RSP to `stack` and executes UD2.
fn ud2_with_idt(stack: u64) -> Vec<u8> {
    let idtr = L2_CODE + 0x7F0;
    let idt = L2_CODE + 0x800;
    let handler = L2_CODE + 0x100;
    let mut l2 = vec![0x0F, 0x01, 0x1C, 0x25]; // lidt [idtr]
    l2.extend_from_slice(&(idtr as u32).to_le_bytes());
    l2.extend(mov_imm64(4, stack));
    l2.extend_from_slice(&[0x0F, 0x0B]); // ud2
    l2.resize(0x1000, 0xF4);
    l2[0x7F0..0x7F2].copy_from_slice(&(16 * 7 - 1u16).to_le_bytes());
    l2[0x7F2..0x7FA].copy_from_slice(&idt.to_le_bytes());
    let gate = 0x800 + 6 * 16;
    l2[gate..gate + 2].copy_from_slice(&(handler as u16).to_le_bytes());
    l2[gate + 2..gate + 4].copy_from_slice(&0x08u16.to_le_bytes());
    l2[gate + 4] = 0;
    l2[gate + 5] = 0x8E; // present 64-bit interrupt gate
    l2[gate + 6..gate + 8].copy_from_slice(&((handler >> 16) as u16).to_le_bytes());
    l2[gate + 8..gate + 12].copy_from_slice(&((handler >> 32) as u32).to_le_bytes());
    l2
}

#[test]
fn an_l2_exception_goes_through_the_l2s_idt_onto_its_stack() {
    let (outcome, log, buffer, m) = run(&ud2_with_idt(L2_RW + 0x1000));
    halted(&outcome);
    assert_eq!(reasons(&log), [12], "the handler's HLT, no exit for the #UD: {log:#x?}");
    assert_eq!(buffer[RIP], L2_CODE + 0x100);
    let mut rip = [0u8; 8];
    m.uc.mem_read(L2_RW + 0x1000 - 40, &mut rip).unwrap();
    assert_eq!(u64::from_le_bytes(rip), L2_CODE + 18, "the frame's RIP is the UD2");
}

#[test]
fn an_l2_exception_whose_frame_would_land_in_memory_not_granted_is_an_ept_violation() {
    let (outcome, log, _, m) = run(&ud2_with_idt(VAPIC + 0x1000));
    halted(&outcome);
    assert_eq!(reasons(&log), [48], "{log:#x?}");
    assert_eq!((log[0].qualification, log[0].gpa & !0xFFF), (0x2, VAPIC), "a write, no linear address known");
    let mut page = [0u8; 4096];
    m.uc.mem_read(VAPIC, &mut page).unwrap();
    assert!(page.iter().all(|&b| b == 0), "no frame was written");
}
