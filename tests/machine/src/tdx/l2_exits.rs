//! What the L2's instructions and faults become while VM 1 runs ("Intel TDX Module TD Partitioning
//! Architecture Specification", L2 exits; exit reasons from Intel SDM vol. 3 Appendix C): with
//! ENABLE_TDVMCALL clear, VMCALL (18), CPUID (10), HLT (12), IN/OUT (30, qualification SDM Table
//! 28-5), RDMSR (31), WRMSR (32) and TDCALL of any leaf (77) exit to the L1; an access to a page
//! without VM 1's permission is an EPT violation (48, qualification SDM Table 28-7, the access not
//! done); exceptions go through the L2's own IDT, and one that cannot be delivered is a triple fault
//! (2), one whose delivery touches a page VM 1 may not touch an EPT violation. The L1's #VE paths
//! ([`super::machine`]) are not taken for the L2.
use iced_x86::{OpKind, Register};
use unicorn_engine::RegisterX86;
use unicorn_engine::unicorn_const::{MemType, Prot};
use warden_defs::guest_launch::{GUEST_IMAGE_BASE, GUEST_IMAGE_LIMIT};

use super::l2_attrs::{ATTR_R, ATTR_W, ATTR_XS};
use super::l2_run::{self, EXIT_TDCALL, EXIT_TRIPLE_FAULT, EXIT_VMCALL, L2Exit};
use super::machine::{TdxMachine, io_qualification};
use super::sites::{self, TDCALL, TdSite, VMCALL};
use super::ve::{self, EPT_FETCH, EPT_READ, EPT_WRITE};
use crate::cpu;
use crate::exceptions;
use crate::intercepts;
use crate::machine::Outcome;
use crate::memory::REGIONS;

/// EPT-violation qualification: the page is readable, writable, executable for VM 1 (bits 5:3).
const EPT_PAGE_R: u64 = 1 << 3;
/// See [`EPT_PAGE_R`].
const EPT_PAGE_W: u64 = 1 << 4;
/// See [`EPT_PAGE_R`].
const EPT_PAGE_X: u64 = 1 << 5;
/// EPT-violation qualification: the guest linear address is valid (bit 7) and the access was to its
/// translation, not to a paging structure (bit 8).
const EPT_GLA_VALID: u64 = 1 << 7;
/// See [`EPT_GLA_VALID`].
const EPT_GLA_TRANSLATED: u64 = 1 << 8;

impl TdxMachine<'_> {
    /// Whether the vCPU runs the L2 VM now.
    pub fn in_l2(&self) -> bool {
        self.uc.get_data().l2.running()
    }

    /// TDG.VP.ENTER passed its checks: run VM 1. Its first entry hooks the sites of the guest image
    /// range the launch contract fixes (`warden_defs::guest_launch`), as the SNP machine does.
    pub(super) fn enter_l2(&mut self, buffer: u64) -> Result<(), Outcome> {
        let first = !self.uc.get_data().l2.started();
        l2_run::enter(&mut self.uc, buffer).map_err(Outcome::Unsupported)?;
        if first {
            let mut code = vec![0u8; (GUEST_IMAGE_LIMIT - GUEST_IMAGE_BASE) as usize];
            if self.uc.mem_read(GUEST_IMAGE_BASE, &mut code).is_ok() {
                self.add_sites(&sites::scan(&code, GUEST_IMAGE_BASE, 64)).map_err(Outcome::Unsupported)?;
            }
        }
        Ok(())
    }

    /// Ends the L2's run with `exit`, RIP at `rip` (the exiting instruction).
    fn l2_exit(&mut self, rip: u64, exit: L2Exit) -> Result<(), Outcome> {
        let _ = self.uc.reg_write(RegisterX86::RIP, rip);
        l2_run::exit(&mut self.uc, exit).map_err(Outcome::Unsupported)
    }

    /// A hooked site is about to execute in the L2.
    pub(super) fn l2_site(&mut self, address: u64, site: TdSite) -> Result<(), Outcome> {
        let exit = match site {
            TdSite::Tdcall => L2Exit::instruction(EXIT_TDCALL, 0, TDCALL.len() as u32),
            TdSite::Vmcall => L2Exit::instruction(EXIT_VMCALL, 0, VMCALL.len() as u32),
            TdSite::Cpuid => L2Exit::instruction(ve::EXIT_CPUID, 0, 2),
            TdSite::Rdmsr => L2Exit::instruction(ve::EXIT_RDMSR, 0, 2),
            TdSite::Wrmsr => L2Exit::instruction(ve::EXIT_WRMSR, 0, 2),
            TdSite::Io => {
                let Some(insn) = self.decode(address) else {
                    return Err(Outcome::Unsupported(format!("L2 I/O at RIP {address:#x} not decodable")));
                };
                let qualification = io_qualification(&insn, self.reg(RegisterX86::RDX) as u16);
                L2Exit::instruction(ve::EXIT_IO, qualification, insn.len() as u32)
            }
            TdSite::MovCr4 => {
                // The L2's CR4 is its own: nothing for the L1 there.
                self.uc.get_data_mut().skip_site = Some(address);
                return Ok(());
            }
        };
        self.l2_exit(address, exit)
    }

    /// The engine stopped at an instruction it does not run (or without saying why) in the L2.
    pub(super) fn l2_unrunnable(&mut self, rip: u64) -> Result<(), Outcome> {
        let mut bytes = [0u8; 4];
        let _ = self.uc.vmem_read(rip, Prot::EXEC, &mut bytes);
        if bytes == TDCALL {
            return self.l2_exit(rip, L2Exit::instruction(EXIT_TDCALL, 0, TDCALL.len() as u32));
        }
        if bytes[..3] == VMCALL {
            return self.l2_exit(rip, L2Exit::instruction(EXIT_VMCALL, 0, VMCALL.len() as u32));
        }
        self.raise(exceptions::UD, None, &format!("L2 #UD ({bytes:02x?}) at RIP {rip:#x}"))
    }

    /// The L2 halted (RIP after its HLT).
    pub(super) fn l2_halted(&mut self) -> Result<(), Outcome> {
        let at = self.reg(RegisterX86::RIP) - 1;
        self.l2_exit(at, L2Exit::instruction(ve::EXIT_HLT, 0, 1))
    }

    /// Delivers `vector` through the L2's IDT. The machine writes the frame as the CPU would, so it
    /// first checks VM 1's attributes on the pages the delivery touches (the gate and TSS read, the
    /// frame written): one it may not touch is an EPT violation, one it cannot take a triple fault.
    pub(super) fn l2_raise(&mut self, vector: u8, error_code: Option<u64>) -> Result<(), Outcome> {
        let rip = self.reg(RegisterX86::RIP);
        if let Some((gpa, access)) = self.l2_delivery_denied(vector) {
            let exit = L2Exit {
                reason: ve::EXIT_EPT_VIOLATION,
                qualification: access | self.l2_page_bits(gpa),
                gpa,
                ..L2Exit::default()
            };
            return self.l2_exit(rip, exit);
        }
        match exceptions::deliver(&mut self.uc, vector, error_code) {
            Ok(()) => Ok(()),
            Err(_) => self.l2_exit(rip, L2Exit::instruction(EXIT_TRIPLE_FAULT, 0, 0)),
        }
    }

    /// The first page delivering `vector` would touch without VM 1's permission, with the access
    /// (EPT_READ or EPT_WRITE); `None` when all are allowed or the delivery fails anyway.
    fn l2_delivery_denied(&mut self, vector: u8) -> Option<(u64, u64)> {
        let (idt_base, idt_limit, _) = cpu::read_table(&self.uc, RegisterX86::IDTR).ok()?;
        let gate_at = idt_base + u64::from(vector) * 16;
        if idt_base == 0 || u64::from(idt_limit) < u64::from(vector) * 16 + 15 {
            return None;
        }
        let read = [(gate_at, ATTR_R, EPT_READ), (gate_at + 15, ATTR_R, EPT_READ)];
        if let Some(d) = read.into_iter().find_map(|(va, need, access)| self.l2_denied(va, need, access)) {
            return Some(d);
        }
        let mut gate = [0u8; 16];
        self.uc.vmem_read(gate_at, Prot::READ, &mut gate).ok()?;
        let ist = u64::from(gate[4] & 7);
        let rsp = if ist == 0 {
            self.reg(RegisterX86::RSP)
        } else {
            let (tss, _, _) = cpu::read_table(&self.uc, RegisterX86::TR).ok()?;
            let slot = tss + 0x24 + 8 * (ist - 1);
            let read = [(slot, ATTR_R, EPT_READ), (slot + 7, ATTR_R, EPT_READ)];
            if let Some(d) = read.into_iter().find_map(|(va, need, access)| self.l2_denied(va, need, access))
            {
                return Some(d);
            }
            let mut b = [0u8; 8];
            self.uc.vmem_read(slot, Prot::READ, &mut b).ok()?;
            u64::from_le_bytes(b)
        };
        // The frame: up to six 8-byte slots below the 16-byte-aligned stack pointer.
        let top = rsp & !0xF;
        let write = [
            (top.wrapping_sub(1), ATTR_R | ATTR_W, EPT_WRITE),
            (top.wrapping_sub(48), ATTR_R | ATTR_W, EPT_WRITE),
        ];
        write.into_iter().find_map(|(va, need, access)| self.l2_denied(va, need, access))
    }

    /// (the GPA, `access`) if VM 1 lacks `need` on the page virtual `va` maps to.
    fn l2_denied(&mut self, va: u64, need: u16, access: u64) -> Option<(u64, u64)> {
        let pa = self.uc.vmem_translate(va, Prot::READ).ok()?;
        let module = &self.uc.get_data().module;
        let ok = module.accepted(pa) && module.l2_attrs.get(pa) & need == need;
        (!ok).then_some((pa, access))
    }

    /// VM 1's permissions on the page at `gpa` as EPT-violation qualification bits 5:3.
    fn l2_page_bits(&self, gpa: u64) -> u64 {
        let module = &self.uc.get_data().module;
        let attrs = if module.accepted(gpa) { module.l2_attrs.get(gpa) } else { 0 };
        [(ATTR_R, EPT_PAGE_R), (ATTR_W, EPT_PAGE_W), (ATTR_XS, EPT_PAGE_X)]
            .into_iter()
            .filter(|(a, _)| attrs & a != 0)
            .fold(0, |q, (_, bit)| q | bit)
    }

    /// An L2 access the protections refused, at physical `address`.
    pub(super) fn l2_memory(&mut self, address: u64, kind: MemType) -> Result<(), Outcome> {
        let rip = self.reg(RegisterX86::RIP);
        if !REGIONS.iter().any(|&(s, e)| address >= s && address < e) {
            return Err(Outcome::NestedPageFault(format!(
                "L2 access of GPA {address:#x}, outside the TD's memory, at RIP {rip:#x}"
            )));
        }
        let access = match kind {
            MemType::WRITE_PROT | MemType::WRITE_UNMAPPED => EPT_WRITE,
            MemType::FETCH_PROT | MemType::FETCH_UNMAPPED => EPT_FETCH,
            _ => EPT_READ,
        };
        let page = self.l2_page_bits(address);
        let gla = self.l2_linear_address(address, access == EPT_FETCH);
        let exit = L2Exit {
            reason: ve::EXIT_EPT_VIOLATION,
            qualification: access | page | if gla.is_some() { EPT_GLA_VALID | EPT_GLA_TRANSLATED } else { 0 },
            gla: gla.unwrap_or(0),
            gpa: address,
            ..L2Exit::default()
        };
        self.l2_exit(rip, exit)
    }

    /// The linear address of the L2 access that faulted at physical `gpa`: unicorn reports only the
    /// physical address, so the candidates are the faulting instruction's memory operands (first and
    /// last byte) or, for a fetch, its first and last possible byte, whichever maps to `gpa`'s page.
    /// `None` for accesses with no explicit operand (a stack push, a descriptor-table read).
    fn l2_linear_address(&mut self, gpa: u64, fetch: bool) -> Option<u64> {
        let rip = self.reg(RegisterX86::RIP);
        let mut candidates = Vec::new();
        if fetch {
            candidates.extend([rip, rip + 14]);
        } else if let Some(insn) = self.decode(rip) {
            let value = |r: Register, _: usize, _: usize| -> Option<u64> {
                let v = match r {
                    Register::FS => self.reg(RegisterX86::FS_BASE),
                    Register::GS => self.reg(RegisterX86::GS_BASE),
                    Register::ES | Register::CS | Register::SS | Register::DS => 0,
                    r => self.reg(intercepts::gpr(r)?),
                };
                // A 32-bit address register (address-size prefix) contributes its low half.
                let is_32 = (Register::EAX as u32..=Register::R15D as u32).contains(&(r as u32));
                Some(if is_32 { v & 0xFFFF_FFFF } else { v })
            };
            let mut value = value;
            for op in 0..insn.op_count() {
                if is_memory(insn.op_kind(op))
                    && let Some(va) = insn.virtual_address(op, 0, &mut value)
                {
                    candidates.extend([va, va.wrapping_add(63)]);
                }
            }
        }
        candidates.into_iter().find_map(|va| {
            let pa = self.uc.vmem_translate(va, Prot::READ).ok()?;
            (pa & !0xFFF == gpa & !0xFFF).then_some((va & !0xFFF) | (gpa & 0xFFF))
        })
    }
}

/// Whether an operand of `kind` is in memory.
fn is_memory(kind: OpKind) -> bool {
    use OpKind as K;
    matches!(
        kind,
        K::Memory
            | K::MemorySegSI
            | K::MemorySegESI
            | K::MemorySegRSI
            | K::MemorySegDI
            | K::MemorySegEDI
            | K::MemorySegRDI
            | K::MemoryESDI
            | K::MemoryESEDI
            | K::MemoryESRDI
    )
}
