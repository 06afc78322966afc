//! What unicorn-engine does with the two things the machine's design rests on (see the crate's top doc
//! comment): a MODE_64 engine started in 32-bit protected mode with paging off, and a page-table entry
//! with a high physical-address bit (where the machine puts the C-bit).
use unicorn_engine::unicorn_const::{Arch, Mode, Prot};
use unicorn_engine::{RegisterX86, Unicorn};
use warden_machine::cpu::{Flat32, enter_protected_mode_32};

/// A MODE_64 engine whose state says "32-bit flat protected mode, paging off" runs 32-bit code: `mov
/// eax, 0x12345678; inc eax` decodes as two 32-bit instructions (in 64-bit mode the same bytes are a
/// REX-prefixed mov, and `inc eax` (0x40) is a REX prefix).
#[test]
fn a_mode64_engine_starts_in_32_bit_protected_mode() {
    let mut uc = Unicorn::new(Arch::X86, Mode::MODE_64).unwrap();
    uc.mem_map(0x1000, 0x1000, Prot::ALL).unwrap();
    // 0x40 (inc eax) then mov ebx, eax (0x89 0xC3); in 64-bit mode 0x40 is REX and this is mov rbx, rax.
    let code = [0xB8, 0x78, 0x56, 0x34, 0x12, 0x40, 0x89, 0xC3];
    uc.mem_write(0x1000, &code).unwrap();
    let state = Flat32 { cr0: 0x31, cr4: 0x40, efer: 0x1000, cs: (8, 0xC9B), data: (0x10, 0xC93) };
    enter_protected_mode_32(&mut uc, &state, 0x1000).unwrap();
    uc.emu_start(0x1000, 0x1000 + code.len() as u64, 0, 0).unwrap();
    assert_eq!(uc.reg_read(RegisterX86::EBX).unwrap(), 0x1234_5679, "0x40 ran as `inc eax`: 32-bit mode");
}

/// Builds identity-ish 4-level tables at 0x10000 mapping virtual 0x40_0000 to `pa` (one 4 KiB page).
fn map_one_page(uc: &mut Unicorn<'_, ()>, pa: u64) {
    let pml4 = 0x10000u64;
    let pdpt = 0x11000u64;
    let pd = 0x12000u64;
    let pt = 0x13000u64;
    uc.mem_map(pml4, 0x4000, Prot::ALL).unwrap();
    uc.mem_write(pml4, &(pdpt | 3).to_le_bytes()).unwrap();
    uc.mem_write(pdpt, &(pd | 3).to_le_bytes()).unwrap();
    uc.mem_write(pd + 2 * 8, &(pt | 3).to_le_bytes()).unwrap();
    uc.mem_write(pt, &(pa | 3).to_le_bytes()).unwrap();
    // Code page, identity mapped at 0x1000 through PT entry 1 of PD entry 0.
    let pt0 = 0x20000u64;
    uc.mem_map(pt0, 0x1000, Prot::ALL).unwrap();
    uc.mem_write(pd, &(pt0 | 3).to_le_bytes()).unwrap();
    uc.mem_write(pt0 + 8, &(0x1000u64 | 3).to_le_bytes()).unwrap();
    uc.reg_write(RegisterX86::CR3, pml4).unwrap();
    // Long mode with paging: PAE, then LME|LMA, then PG|PE.
    uc.reg_write(RegisterX86::CR4, 0x20).unwrap();
    warden_machine::cpu::write_efer(uc, 0x500).unwrap();
    uc.reg_write(RegisterX86::CR0, 0x8000_0011).unwrap();
}

/// Reads virtual 0x40_0000 (mapped to `pa`) into RAX; the result of the run and RAX.
fn read_through_pte(pa: u64) -> (Result<(), unicorn_engine::unicorn_const::uc_error>, u64, Vec<u32>) {
    let mut uc = Unicorn::new(Arch::X86, Mode::MODE_64).unwrap();
    uc.mem_map(0x1000, 0x1000, Prot::ALL).unwrap();
    // mov rax, [0x400000]
    let code = [0x48, 0x8B, 0x04, 0x25, 0x00, 0x00, 0x40, 0x00];
    uc.mem_write(0x1000, &code).unwrap();
    uc.mem_map(pa, 0x1000, Prot::ALL).unwrap();
    uc.mem_write(pa, &0x1122_3344_5566_7788u64.to_le_bytes()).unwrap();
    map_one_page(&mut uc, pa);
    let faults = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let seen = faults.clone();
    uc.add_intr_hook(move |uc, vector| {
        seen.borrow_mut().push(vector);
        uc.emu_stop().unwrap();
    })
    .unwrap();
    let r = uc.emu_start(0x1000, 0x1000 + code.len() as u64, 0, 0);
    let rax = uc.reg_read(RegisterX86::RAX).unwrap();
    let v = faults.borrow().clone();
    (r, rax, v)
}

/// Unicorn is QEMU's TCG with a 40-bit physical address width: a PTE naming bit 39 reaches memory
/// mapped there; bit 40 and above are reserved bits and fault (#PF, vector 14).
#[test]
fn physical_address_bits_stop_at_40() {
    let (r, rax, faults) = read_through_pte(1 << 39);
    assert!(r.is_ok() && faults.is_empty(), "bit 39: {r:?} {faults:?}");
    assert_eq!(rax, 0x1122_3344_5566_7788, "bit 39 reached the page mapped at 1 << 39");
    for bit in [40u32, 47, 51] {
        let (_, rax, faults) = read_through_pte(1 << bit);
        assert_eq!(faults, vec![14], "bit {bit}: expected a reserved-bit #PF, RAX {rax:#x}");
    }
}
