//! Exception delivery through the firmware's own IDT, as the CPU does it in 64-bit mode (AMD64 APM
//! vol. 2 §8.9 "Long-Mode Interrupt Control Transfers"): read the gate, pick the stack (the IST entry
//! the gate names, from the TSS, or the current stack), align it to 16 bytes, push SS, RSP, RFLAGS,
//! CS, RIP and the error code, clear IF for an interrupt gate, and jump. Unicorn itself never consults
//! the IDT, so every exception the machine raises (#VC for intercepts) or the emulator reports (#PF,
//! #GP, #UD ...) comes through here. A missing IDT or a non-present gate is a triple fault.
use unicorn_engine::unicorn_const::Prot;
use unicorn_engine::{RegisterX86, Unicorn};

/// #VC, the SEV-ES VMM communication exception.
pub const VC: u8 = 29;
/// #PF.
pub const PF: u8 = 14;
/// #GP.
pub const GP: u8 = 13;
/// #UD.
pub const UD: u8 = 6;

/// Whether the architecture pushes an error code for `vector` (AMD64 APM vol. 2 Table 8-1).
pub fn has_error_code(vector: u8) -> bool {
    matches!(vector, 8 | 10 | 11 | 12 | 13 | 14 | 17 | 21 | 29 | 30)
}

/// Why an exception could not be delivered: the CPU would shut down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TripleFault(pub String);

/// Reads a descriptor-table register (GDTR/IDTR/TR) as (base, limit).
fn table<D>(uc: &Unicorn<'_, D>, reg: RegisterX86) -> Result<(u64, u32), TripleFault> {
    let (base, limit, _) =
        crate::cpu::read_table(uc, reg).map_err(|e| TripleFault(format!("cannot read {reg:?}: {e:?}")))?;
    Ok((base, limit))
}

/// Writes `bytes` at virtual `va` through the current page tables (the machine acts as the CPU).
fn write_virtual<D>(uc: &mut Unicorn<'_, D>, va: u64, bytes: &[u8]) -> Result<(), String> {
    let pa = uc.vmem_translate(va, Prot::WRITE).map_err(|e| format!("{va:#x} unmapped ({e:?})"))?;
    uc.mem_write(pa, bytes).map_err(|e| format!("{va:#x} -> {pa:#x} not writable ({e:?})"))
}

/// Delivers `vector` (with `error_code` if it has one) at the current RIP, which must be the address
/// to return to (the faulting instruction for faults).
pub fn deliver<D>(uc: &mut Unicorn<'_, D>, vector: u8, error_code: Option<u64>) -> Result<(), TripleFault> {
    let rip = uc.reg_read(RegisterX86::RIP).unwrap_or(0);
    let fault = |why: String| TripleFault(format!("{why} (vector {vector}, RIP {rip:#x})"));
    let (idt_base, idt_limit) = table(uc, RegisterX86::IDTR)?;
    let at = u64::from(vector) * 16;
    if idt_base == 0 || u64::from(idt_limit) < at + 15 {
        return Err(fault(format!("before an IDT was loaded (IDTR {idt_base:#x}/{idt_limit:#x})")));
    }
    let mut gate = [0u8; 16];
    uc.vmem_read(idt_base + at, Prot::READ, &mut gate)
        .map_err(|e| fault(format!("IDT unreadable: {e:?}")))?;
    if gate[5] & 0x80 == 0 {
        return Err(fault("with no present IDT gate".into()));
    }
    let offset = u64::from(u16::from_le_bytes([gate[0], gate[1]]))
        | (u64::from(u16::from_le_bytes([gate[6], gate[7]])) << 16)
        | (u64::from(u32::from_le_bytes([gate[8], gate[9], gate[10], gate[11]])) << 32);
    let selector = u16::from_le_bytes([gate[2], gate[3]]);
    let ist = gate[4] & 7;
    let interrupt_gate = gate[5] & 0xF == 0xE;
    let r = |reg| uc.reg_read(reg).unwrap_or(0);
    let (ss, rsp, rflags, cs) =
        (r(RegisterX86::SS), r(RegisterX86::RSP), r(RegisterX86::RFLAGS), r(RegisterX86::CS));
    let mut new_rsp = if ist != 0 {
        let (tss, _) = table(uc, RegisterX86::TR)?;
        let mut slot = [0u8; 8];
        // 64-bit TSS: IST1 at 0x24, 8 bytes each.
        uc.vmem_read(tss + 0x24 + 8 * u64::from(ist - 1), Prot::READ, &mut slot)
            .map_err(|e| fault(format!("with an unreadable TSS at {tss:#x}: {e:?}")))?;
        u64::from_le_bytes(slot)
    } else {
        rsp
    };
    new_rsp &= !0xF;
    let mut frame = vec![ss, rsp, rflags, cs, rip];
    if has_error_code(vector) {
        frame.push(error_code.unwrap_or(0));
    }
    for value in frame {
        new_rsp -= 8;
        write_virtual(uc, new_rsp, &value.to_le_bytes())
            .map_err(|e| fault(format!("on an unwritable stack: {e}")))?;
    }
    // TF, NT, RF and VM cleared; IF too for an interrupt gate.
    let mut flags = rflags & !((1 << 8) | (1 << 14) | (1 << 16) | (1 << 17));
    if interrupt_gate {
        flags &= !(1 << 9);
    }
    let w = |uc: &mut Unicorn<'_, D>, reg, v| uc.reg_write(reg, v).map_err(|e| fault(format!("{e:?}")));
    w(uc, RegisterX86::RSP, new_rsp)?;
    w(uc, RegisterX86::RFLAGS, flags)?;
    w(uc, RegisterX86::CS, u64::from(selector))?;
    w(uc, RegisterX86::RIP, offset)
}
