//! The vCPU's architectural state on unicorn: entering the 32-bit protected-mode start state an SNP
//! VMSA describes from an engine created in 64-bit mode.
use unicorn_engine::unicorn_const::{Prot, uc_error};
use unicorn_engine::{RegisterX86, Unicorn};

/// A page outside guest RAM (which ends at 256 MiB) and below 2 GiB (the trampoline's 64-bit far jump
/// takes a sign-extended 32-bit absolute address) that holds
/// the scratch GDT and trampoline while the start state is loaded; unmapped afterwards.
const SCRATCH: u64 = 0x7000_0000;
/// Offset of the trampoline in the scratch page.
const TRAMPOLINE: u64 = 0x100;
/// Offset of the far-jump operand (m16:32) in the scratch page.
const FAR_POINTER: u64 = 0x80;

/// The flat 32-bit segments of a protected-mode start state, in VMSA attribute format (bits 7:0 =
/// descriptor bits 47:40, bits 11:8 = descriptor bits 55:52; SEV-SNP ABI (AMD 56860) VMSA layout).
#[derive(Clone, Copy, Debug)]
pub struct Flat32 {
    /// CR0 (PE set, PG clear).
    pub cr0: u64,
    /// CR4.
    pub cr4: u64,
    /// EFER (LME/LMA clear).
    pub efer: u64,
    /// CS selector and attributes.
    pub cs: (u16, u16),
    /// The data segments' (DS, ES, SS, FS) selector and attributes.
    pub data: (u16, u16),
}

/// A GDT descriptor for a flat (base 0, limit 4 GiB) segment with `attrib` in VMSA format.
fn flat_descriptor(attrib: u16) -> u64 {
    let attrib = u64::from(attrib);
    0xFFFF | ((attrib & 0xFF) << 40) | (0xF << 48) | (((attrib >> 8) & 0xF) << 52)
}

/// The 24-byte `uc_x86_mmr` (selector u16, pad, base u64, limit u32, flags u32) for GDTR/IDTR writes.
pub fn mmr(base: u64, limit: u32) -> [u8; 24] {
    let mut b = [0u8; 24];
    b[8..16].copy_from_slice(&base.to_le_bytes());
    b[16..20].copy_from_slice(&limit.to_le_bytes());
    b
}

/// Puts a MODE_64 engine into 32-bit protected mode with paging off and flat segments as `state`
/// says, ready to run at `rip`. GDTR is left at the scratch value: the caller sets the real one.
pub fn enter_protected_mode_32<D>(uc: &mut Unicorn<'_, D>, state: &Flat32, rip: u64) -> Result<(), uc_error> {
    let (cs, cs_attrib) = state.cs;
    let (ds, ds_attrib) = state.data;
    let mut page = vec![0u8; 0x1000];
    let mut put = |at: u64, bytes: &[u8]| page[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
    put(u64::from(cs & !7), &flat_descriptor(cs_attrib).to_le_bytes());
    put(u64::from(ds & !7), &flat_descriptor(ds_attrib).to_le_bytes());
    let after_jump = SCRATCH + TRAMPOLINE + 7;
    let mut far = (after_jump as u32).to_le_bytes().to_vec();
    far.extend_from_slice(&cs.to_le_bytes());
    put(FAR_POINTER, &far);
    let mut code = vec![0xFF, 0x2C, 0x25]; // jmp far [disp32] (m16:32), decoded in 64-bit mode
    code.extend_from_slice(&((SCRATCH + FAR_POINTER) as u32).to_le_bytes());
    code.extend_from_slice(&[0x66, 0xB8]); // mov ax, ds selector (32-bit code from here)
    code.extend_from_slice(&ds.to_le_bytes());
    code.extend_from_slice(&[0x8E, 0xD8, 0x8E, 0xC0, 0x8E, 0xD0, 0x8E, 0xE0]); // mov ds/es/ss/fs, ax
    put(TRAMPOLINE, &code);
    let end = SCRATCH + TRAMPOLINE + code.len() as u64;

    uc.mem_map(SCRATCH, 0x1000, Prot::ALL)?;
    uc.mem_write(SCRATCH, &page)?;
    uc.reg_write_long(RegisterX86::GDTR, &mmr(SCRATCH, 0xFFF))?;
    uc.reg_write(RegisterX86::CR4, state.cr4)?;
    uc.reg_write(RegisterX86::CR0, state.cr0)?;
    write_efer(uc, state.efer)?;
    let ran = uc.emu_start(SCRATCH + TRAMPOLINE, end, 0, 0);
    uc.mem_unmap(SCRATCH, 0x1000)?;
    ran?;
    uc.reg_write(RegisterX86::RIP, rip)
}

/// EFER (MSR 0xC000_0080) through the engine's MSR interface, which updates its long-mode flags.
pub fn write_efer<D>(uc: &mut Unicorn<'_, D>, efer: u64) -> Result<(), uc_error> {
    write_msr(uc, 0xC000_0080, efer)
}

/// Writes an MSR the emulated CPU implements (`uc_x86_msr`: index u32, pad, value u64).
pub fn write_msr<D>(uc: &mut Unicorn<'_, D>, index: u32, value: u64) -> Result<(), uc_error> {
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&index.to_le_bytes());
    b[8..].copy_from_slice(&value.to_le_bytes());
    uc.reg_write_long(RegisterX86::MSR, &b)
}

/// A descriptor-table register (GDTR, IDTR, LDTR, TR) as (base, limit, selector).
pub fn read_table<D>(uc: &Unicorn<'_, D>, reg: RegisterX86) -> Result<(u64, u32, u16), uc_error> {
    let mut mmr = unicorn_engine_sys::uc_x86_mmr { selector: 0, base: 0, limit: 0, flags: 0 };
    // SAFETY: the handle is the live engine `uc` owns; for these four registers unicorn writes exactly
    // one `uc_x86_mmr` through the pointer, which points at one.
    let err = unsafe { unicorn_engine_sys::uc_reg_read(uc.get_handle(), reg as i32, (&raw mut mmr).cast()) };
    if err == uc_error::OK { Ok((mmr.base, mmr.limit, mmr.selector)) } else { Err(err) }
}
