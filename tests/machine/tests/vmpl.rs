//! VMPL switching on the machine, with a Warden-like VMPL0 program and a guest at VMPL2: the VMSA is
//! made with RMPADJUST, registered with AP creation, run with RUN_VMPL; the guest's VMGEXIT returns to
//! VMPL0 with its registers in its VMSA page; the guest's RMP permissions hold; a forged VMSA is refused.
mod asm;

use asm::{RAX, RBX, RCX, RDMSR, RDX, RMPADJUST, VMGEXIT, WRMSR, mov_imm64, reg};
use unicorn_engine::RegisterX86;
use warden_defs::vmsa::Vmsa;
use warden_machine::cpu::{mmr, write_efer};
use warden_machine::intercepts::scan;
use warden_machine::machine::{Config, Machine, Outcome};
use warden_machine::memory::PRIVATE_BASE;
use zerocopy::{FromZeros, IntoBytes};

const CODE: u64 = 0x1000;
const DATA: u64 = 0x4000;
const VMSA: u64 = 0x6000;
const GUEST_CODE: u64 = 0xA000;
const PML4: u64 = 0x10000;
const GHCB: u64 = 0x18_0000;
const C: u64 = PRIVATE_BASE;

fn rmpadjust(code: &mut Vec<u8>, gpa: u64, attrs: u64) {
    code.extend(mov_imm64(RAX, gpa));
    code.extend(mov_imm64(RCX, 0));
    code.extend(mov_imm64(RDX, attrs));
    code.extend(RMPADJUST);
}

fn ghcb_msr_exit(code: &mut Vec<u8>, value: u64) {
    code.extend(mov_imm64(RCX, 0xC001_0130));
    code.extend(mov_imm64(RAX, value & 0xFFFF_FFFF));
    code.extend(mov_imm64(RDX, value >> 32));
    code.extend(WRMSR);
    code.extend(VMGEXIT);
}

/// VMPL0: make VMSA a VMSA for VMPL2 (unless `forge`), grant VMPL2 its code and the page tables,
/// register the VMSA with AP creation, RUN_VMPL(2); afterwards R8 = the GHCB MSR, R9 = the VMSA's
/// RBX, R10 = its guest_exit_code, R11 = AP creation's sw_exit_info_1 (RDX = the GHCB MSR's high half).
fn machine(guest: &[u8], forge: bool) -> Machine<'static> {
    let mut code = Vec::new();
    if !forge {
        rmpadjust(&mut code, VMSA, 0x1_0002);
    }
    rmpadjust(&mut code, GUEST_CODE, 0x0902); // VMPL2: read + execute (supervisor)
    for table in 0..4 {
        rmpadjust(&mut code, PML4 + 0x1000 * table, 0x0102); // VMPL2: read
    }
    ghcb_msr_exit(&mut code, GHCB);
    code.extend([0x48, 0x8B, 0x04, 0x25]); // mov rax, [GHCB + 0x398] (shared, C=0 alias)
    code.extend(((0x4000_0000 + GHCB + 0x398) as u32).to_le_bytes());
    code.extend([0x49, 0x89, 0xC3]); // mov r11, rax
    ghcb_msr_exit(&mut code, 0x016 | (2 << 32));
    code.extend(mov_imm64(RCX, 0xC001_0130));
    code.extend(RDMSR);
    code.extend([0x49, 0x89, 0xC0]); // mov r8, rax
    code.extend([0x48, 0x8B, 0x04, 0x25]); // mov rax, [VMSA + 0x318] (rbx)
    code.extend(((VMSA + 0x318) as u32).to_le_bytes());
    code.extend([0x49, 0x89, 0xC1]); // mov r9, rax
    code.extend([0x48, 0x8B, 0x04, 0x25]); // mov rax, [VMSA + 0x3C0] (guest_exit_code)
    code.extend(((VMSA + 0x3C0) as u32).to_le_bytes());
    code.extend([0x49, 0x89, 0xC2]); // mov r10, rax
    code.push(0xF4);

    let mut m = Machine::empty(Config { echo: false, max_seconds: 10.0, ..Config::default() }).unwrap();
    m.uc.get_data_mut().views.paging_off_phase = false;
    let mut low = vec![0u8; 0x14000];
    let mut put = |at: u64, bytes: &[u8]| low[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
    put(CODE, &code);
    put(GUEST_CODE, guest);
    put(PML4, &((PML4 + 0x1000) | C | 3).to_le_bytes());
    put(PML4 + 0x1000, &((PML4 + 0x2000) | C | 3).to_le_bytes());
    put(PML4 + 0x1000 + 8, &((PML4 + 0x3000) | C | 3).to_le_bytes());
    put(PML4 + 0x2000, &(C | 0x83).to_le_bytes());
    put(PML4 + 0x3000, &0x83u64.to_le_bytes());
    let mut vmsa = Vmsa::new_zeroed();
    vmsa.cr0 = 0x8000_0011;
    vmsa.cr3 = PML4 | C;
    vmsa.cr4 = 0x20;
    vmsa.efer = 0x1500;
    vmsa.rip = GUEST_CODE;
    vmsa.rflags = 2;
    vmsa.vmpl = 2;
    vmsa.cs.selector = 8;
    put(VMSA, vmsa.as_bytes());
    m.place(0, &low, true).unwrap();
    let mut ghcb = vec![0u8; 4096];
    ghcb[0x390..0x398].copy_from_slice(&0x8000_0013u64.to_le_bytes());
    ghcb[0x398..0x3A0].copy_from_slice(&(1u64 | (2 << 16)).to_le_bytes());
    ghcb[0x3A0..0x3A8].copy_from_slice(&VMSA.to_le_bytes());
    for off in [0x390usize, 0x398, 0x3A0] {
        ghcb[0x3F0 + off / 64] |= 1 << ((off / 8) % 8);
    }
    m.place(GHCB, &ghcb, false).unwrap();
    m.add_sites(&scan(&code, CODE, 64)).unwrap();
    m.add_sites(&scan(guest, GUEST_CODE, 64)).unwrap();
    let uc = &mut m.uc;
    uc.reg_write(RegisterX86::CR3, PML4 | C).unwrap();
    uc.reg_write(RegisterX86::CR4, 0x20).unwrap();
    write_efer(uc, 0x500).unwrap();
    uc.reg_write(RegisterX86::CR0, 0x8000_0011).unwrap();
    uc.reg_write_long(RegisterX86::IDTR, &mmr(0, 0)).unwrap();
    uc.reg_write(RegisterX86::RSP, 0x8000).unwrap();
    uc.reg_write(RegisterX86::RIP, CODE).unwrap();
    m
}

#[test]
fn run_vmpl_runs_the_guest_and_its_vmgexit_returns_to_vmpl0_with_its_registers_in_the_vmsa() {
    let mut guest = mov_imm64(RBX, 0x1234);
    ghcb_msr_exit(&mut guest, 0x016); // RUN_VMPL(0)
    guest.push(0xF4);
    let mut m = machine(&guest, false);
    let outcome = m.run();
    assert!(matches!(outcome, Outcome::Halted(_)), "{outcome}");
    assert_eq!(reg(&m, RegisterX86::R11), 0, "AP creation of a real VMSA succeeds");
    assert_eq!(reg(&m, RegisterX86::R8) & 0xFFF, 0x017, "Warden's GHCB MSR answers RUN_VMPL");
    assert_eq!(reg(&m, RegisterX86::R9), 0x1234, "the guest's RBX is in its VMSA page");
    assert_eq!(reg(&m, RegisterX86::R10), 0x403, "guest_exit_code = VMGEXIT");
    assert_eq!(m.uc.get_data().vcpus.switches, 2);
}

#[test]
fn a_guest_access_without_rmp_permission_stops_the_machine() {
    let mut guest = vec![0x48, 0x8B, 0x04, 0x25]; // mov rax, [DATA]: VMPL2 has no permission there
    guest.extend((DATA as u32).to_le_bytes());
    guest.push(0xF4);
    let mut m = machine(&guest, false);
    match m.run() {
        Outcome::RmpViolation(why) => {
            assert!(why.contains("VMPL2") && why.contains(&format!("{DATA:#x}")), "{why}")
        }
        other => panic!("expected an RMP violation naming VMPL2 and the page, got {other}"),
    }
}

#[test]
fn ap_creation_refuses_a_page_without_the_rmp_vmsa_bit() {
    let mut guest = Vec::new();
    ghcb_msr_exit(&mut guest, 0x016);
    let mut m = machine(&guest, true);
    let outcome = m.run();
    assert!(matches!(outcome, Outcome::Halted(_)), "{outcome}");
    assert_eq!(reg(&m, RegisterX86::R11), 2, "AP creation answers an error");
    let msr = reg(&m, RegisterX86::R8) | (reg(&m, RegisterX86::RDX) << 32);
    assert_eq!(msr, 0x017 | (1 << 32), "RUN_VMPL(2) fails: no VMSA registered");
    assert!(m.uc.get_data().hv.notes.iter().any(|n| n.contains("lacks the RMP VMSA bit")));
}
