//! The L2 VM's Secure-EPT attributes and the two TDCALL leaves that read and write them ("Intel TDX
//! Module TD Partitioning Architecture Specification", TDG.MEM.PAGE.ATTR.RD (leaf 23) and
//! TDG.MEM.PAGE.ATTR.WR (leaf 24); "Intel TDX Module v1.5 ABI Specification" (348551), the GPA
//! attributes format: four 16-bit fields, one per VM, VM 0 being the L1). The TD here has one L2
//! VM, VM 1; every page starts with VM 1 attributes 0, so an L2 can touch nothing until its L1
//! grants it. The model keeps VM 1's attributes per 4 KiB page (a 2 MiB write sets its 512 pages).
use std::collections::BTreeMap;

use unicorn_engine::unicorn_const::Prot;
use warden_defs::tdx::TdxStatus;

/// Attribute bit: readable.
pub const ATTR_R: u16 = 0x1;
/// Attribute bit: writable.
pub const ATTR_W: u16 = 0x2;
/// Attribute bit: executable in supervisor mode.
pub const ATTR_XS: u16 = 0x4;
/// Attribute bit: executable in user mode.
pub const ATTR_XU: u16 = 0x8;
/// Attribute bit: the attributes are valid (must be set whenever another bit is).
pub const ATTR_VALID: u16 = 0x8000;
/// Every bit the model knows.
const ATTR_KNOWN: u16 = ATTR_R | ATTR_W | ATTR_XS | ATTR_XU | ATTR_VALID;
/// Where VM 1's field sits in RDX/R8 (bits 31:16).
const VM1_SHIFT: u32 = 16;

const PAGE: u64 = 0x1000;
const PAGE_2M: u64 = 0x20_0000;

/// TDX_OPERAND_INVALID for operand `id` (RCX 1, RDX 2, R8 8).
pub fn operand_invalid(id: u64) -> u64 {
    TdxStatus::OPERAND_INVALID.0 | id
}

/// Whether `attrs` is a legal VM 1 attribute value: only known bits, VALID with any other bit, no W
/// without R.
fn legal(attrs: u16) -> bool {
    attrs & !ATTR_KNOWN == 0
        && (attrs & !ATTR_VALID == 0 || attrs & ATTR_VALID != 0)
        && (attrs & ATTR_W == 0 || attrs & ATTR_R != 0)
}

/// What the emulated MMU may do for VM 1 on a page with `attrs` (Xu is kept but not enforced: the
/// model's L2 executes in supervisor mode, where Xs applies).
pub fn prot(attrs: u16) -> Prot {
    let mut p = Prot::NONE.0;
    if attrs & ATTR_R != 0 {
        p |= Prot::READ.0;
    }
    if attrs & ATTR_W != 0 {
        p |= Prot::WRITE.0;
    }
    if attrs & ATTR_XS != 0 {
        p |= Prot::EXEC.0;
    }
    Prot(p)
}

/// VM 1's attributes of every page (pages not in the map have 0).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct L2Attrs {
    pages: BTreeMap<u64, u16>,
}

/// The answer of ATTR.RD or ATTR.WR: the output registers, or the failure status.
pub type AttrResult = Result<(u64, u64), u64>;

impl L2Attrs {
    /// VM 1's attributes of the page holding `gpa`.
    pub fn get(&self, gpa: u64) -> u16 {
        self.pages.get(&(gpa & !(PAGE - 1))).copied().unwrap_or(0)
    }

    /// TDG.MEM.PAGE.ATTR.RD of `rcx` (a 4 KiB-aligned GPA): (RCX = GPA | level 0, RDX = the
    /// attributes with VM 1's in bits 31:16). `private` says whether a GPA is the TD's private RAM.
    pub fn read(&self, rcx: u64, private: impl Fn(u64) -> bool) -> AttrResult {
        if !rcx.is_multiple_of(PAGE) || !private(rcx) {
            return Err(operand_invalid(1));
        }
        Ok((rcx, u64::from(self.get(rcx)) << VM1_SHIFT))
    }

    /// TDG.MEM.PAGE.ATTR.WR: RCX = GPA | level (0 = 4 KiB, 1 = 2 MiB, aligned to it), RDX = the new
    /// attributes, R8 = the mask (VM 1's field only). Out: (RCX unchanged, RDX = the resulting
    /// attributes). All or nothing: a refused write changes no page.
    pub fn write(&mut self, rcx: u64, rdx: u64, r8: u64, private: impl Fn(u64) -> bool) -> AttrResult {
        let (gpa, size) = match rcx & 0xFFF {
            0 => (rcx, PAGE),
            1 => (rcx & !0xFFF, PAGE_2M),
            _ => return Err(operand_invalid(1)),
        };
        if !gpa.is_multiple_of(size) || !(gpa..gpa + size).step_by(PAGE as usize).all(&private) {
            return Err(operand_invalid(1));
        }
        // Only VM 1's field may be named: VM 0 is the L1 itself, VMs 2 and 3 do not exist here.
        let vm1 = |v: u64| (v >> VM1_SHIFT) as u16;
        if rdx & !(0xFFFF << VM1_SHIFT) != 0 || !legal(vm1(rdx)) {
            return Err(operand_invalid(2));
        }
        if r8 & !(0xFFFF << VM1_SHIFT) != 0 {
            return Err(operand_invalid(8));
        }
        let (value, mask) = (vm1(rdx), vm1(r8));
        let merged = |old: u16| (old & !mask) | (value & mask);
        let pages = (gpa..gpa + size).step_by(PAGE as usize);
        if !pages.clone().all(|p| legal(merged(self.get(p)))) {
            return Err(operand_invalid(2));
        }
        for p in pages {
            match merged(self.get(p)) {
                0 => self.pages.remove(&p),
                a => self.pages.insert(p, a),
            };
        }
        Ok((rcx, u64::from(self.get(gpa)) << VM1_SHIFT))
    }
}
