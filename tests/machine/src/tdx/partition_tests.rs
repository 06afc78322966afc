//! Unit tests of the TD-partitioning leaves (TDG.VM.RD, TDG.VP.RD/WR, TDG.MEM.PAGE.ATTR.RD/WR,
//! TDG.VP.ENTER's checks) through the module's TDCALL dispatch, without booting anything.
use warden_defs::tdx::{TDG_MEM_PAGE_ACCEPT, TdxStatus};
use warden_platform::memory::GpaRange;

use super::module::{Gprs, TdMemory, Tdcall, TdxModule, reg};
use super::partition::{
    L2_VMCS_VM1, MD_TDCS_NUM_L2_VMS, MD_TDVPS_L2_CTLS_VM1, TDG_MEM_PAGE_ATTR_RD, TDG_MEM_PAGE_ATTR_WR,
    TDG_VM_RD, TDG_VP_ENTER, TDG_VP_RD, TDG_VP_WR, TDX_METADATA_FIELD_ID_INCORRECT, vmcs,
};

const MIB: u64 = 1 << 20;
const INVALID: u64 = TdxStatus::OPERAND_INVALID.0;
/// R | W | Xs | Xu | VALID in VM 1's field.
const RWX: u64 = 0x800F << 16;
const VM1_MASK: u64 = 0xFFFF << 16;
/// TDG.VP.ENTER flags: VM index 1.
const VM1: u64 = 1 << 52;

/// Memory the module never needs here (none of these leaves reads guest bytes).
struct NoMemory;

impl TdMemory for NoMemory {
    fn read(&self, _: u64, _: &mut [u8]) -> bool {
        false
    }
    fn write(&mut self, _: u64, _: &[u8]) -> bool {
        true
    }
}

/// A TD with 64 MiB of RAM, its first page added (accepted) at build.
fn td() -> TdxModule {
    TdxModule::new(&[GpaRange::new(0, 64 * MIB).unwrap()], [0], [0; 48])
}

fn call(m: &mut TdxModule, leaf: u64, rcx: u64, rdx: u64, r8: u64, r9: u64) -> (Tdcall, Gprs) {
    let mut r: Gprs = [0; 16];
    (r[reg::RAX], r[reg::RCX], r[reg::RDX], r[reg::R8], r[reg::R9]) = (leaf, rcx, rdx, r8, r9);
    (m.tdcall(&mut r, &mut NoMemory), r)
}

fn field(encoding: u32) -> u64 {
    L2_VMCS_VM1 | u64::from(encoding)
}

#[test]
fn vm_rd_says_the_td_has_one_l2_vm_and_refuses_unknown_fields() {
    let mut m = td();
    let (_, r) = call(&mut m, TDG_VM_RD, 0, MD_TDCS_NUM_L2_VMS, 0, 0);
    assert_eq!((r[reg::RAX], r[reg::R8]), (0, 1));
    let (_, r) = call(&mut m, TDG_VM_RD, 0, MD_TDCS_NUM_L2_VMS + 1, 0, 0);
    assert_eq!(r[reg::RAX], TDX_METADATA_FIELD_ID_INCORRECT);
}

#[test]
fn vp_wr_writes_under_the_mask_returns_the_old_value_and_vp_rd_reads_it() {
    let mut m = td();
    let cr3 = field(vmcs::GUEST_CR3);
    let (_, r) = call(&mut m, TDG_VP_WR, 0, cr3, 0x30_4000, u64::MAX);
    assert_eq!((r[reg::RAX], r[reg::R8]), (0, 0));
    let (_, r) = call(&mut m, TDG_VP_WR, 0, cr3, 0xFFFF_FFFF, 0xF000);
    assert_eq!((r[reg::RAX], r[reg::R8]), (0, 0x30_4000), "the old value");
    let (_, r) = call(&mut m, TDG_VP_RD, 0, cr3, 0, 0);
    assert_eq!((r[reg::RAX], r[reg::R8]), (0, 0x30_F000));
}

#[test]
fn vp_wr_refuses_unknown_fields_other_vms_and_enable_tdvmcall() {
    let mut m = td();
    for f in [field(0x6C00), (37 << 56) | (2 << 52) | (3 << 32) | 0x6802, 0x1234] {
        let (_, r) = call(&mut m, TDG_VP_WR, 0, f, 1, u64::MAX);
        assert_eq!(r[reg::RAX], TDX_METADATA_FIELD_ID_INCORRECT, "field {f:#x}");
        let (_, r) = call(&mut m, TDG_VP_RD, 0, f, 0, 0);
        assert_eq!(r[reg::RAX], TDX_METADATA_FIELD_ID_INCORRECT, "field {f:#x}");
    }
    let (_, r) = call(&mut m, TDG_VP_WR, 0, MD_TDVPS_L2_CTLS_VM1, 0b10, u64::MAX);
    assert_eq!(r[reg::RAX], INVALID | 8, "ENABLE_TDVMCALL is not modelled");
    let (_, r) = call(&mut m, TDG_VP_WR, 0, MD_TDVPS_L2_CTLS_VM1, 0, u64::MAX);
    assert_eq!(r[reg::RAX], 0);
    let (_, r) = call(&mut m, TDG_VP_RD, 0, MD_TDVPS_L2_CTLS_VM1, 0, 0);
    assert_eq!((r[reg::RAX], r[reg::R8]), (0, 0));
}

#[test]
fn attr_wr_refuses_illegal_attributes_and_foreign_fields() {
    let mut m = td();
    let (t, r) = call(&mut m, TDG_MEM_PAGE_ATTR_WR, 0x5000, 0x8003 << 16, VM1_MASK, 0);
    assert_eq!((t, r[reg::RAX]), (Tdcall::L2AttrsChanged, 0), "R|W|VALID is legal");
    let cases = [
        (0x5000, 0x8002 << 16, VM1_MASK, INVALID | 2, "W without R"),
        (0x5000, 0x0001 << 16, VM1_MASK, INVALID | 2, "R without VALID"),
        (0x5000, 0x8001, 0xFFFF, INVALID | 2, "VM 0 (the L1) named"),
        (0x5000, 0x8001_u64 << 32, 0xFFFF << 32, INVALID | 2, "VM 2 named"),
        (0x5000, RWX, VM1_MASK | 1, INVALID | 8, "mask names VM 0"),
        (0x1000 | 1, RWX, VM1_MASK, INVALID | 1, "2 MiB level, not 2 MiB aligned"),
        (0x5000 | 2, RWX, VM1_MASK, INVALID | 1, "1 GiB level"),
        (0x5008, RWX, VM1_MASK, INVALID | 1, "reserved bits"),
        (64 * MIB, RWX, VM1_MASK, INVALID | 1, "not RAM"),
        ((1 << 47) | 0x5000, RWX, VM1_MASK, INVALID | 1, "shared GPA"),
    ];
    for (rcx, rdx, r8, want, what) in cases {
        let (t, r) = call(&mut m, TDG_MEM_PAGE_ATTR_WR, rcx, rdx, r8, 0);
        assert_eq!((t, r[reg::RAX]), (Tdcall::Done, want), "{what}");
    }
    // Only the legal write took effect.
    assert_eq!(m.l2_attrs.get(0x5000), 0x8003);
    assert_eq!(m.l2_attrs.get(0x1000), 0);
    // A mask that leaves W without R on a page is refused too, and changes nothing.
    let (_, r) = call(&mut m, TDG_MEM_PAGE_ATTR_WR, 0x5000, 0, 0x1 << 16, 0);
    assert_eq!(r[reg::RAX], INVALID | 2);
    assert_eq!(m.l2_attrs.get(0x5000), 0x8003);
}

#[test]
fn a_2m_attr_wr_sets_all_512_pages_and_attr_rd_reads_each() {
    let mut m = td();
    let (_, r) = call(&mut m, TDG_MEM_PAGE_ATTR_WR, (2 * MIB) | 1, RWX, VM1_MASK, 0);
    assert_eq!((r[reg::RAX], r[reg::RCX], r[reg::RDX]), (0, (2 * MIB) | 1, RWX));
    for page in (2 * MIB..4 * MIB).step_by(0x1000) {
        assert_eq!(m.l2_attrs.get(page), 0x800F, "page {page:#x}");
    }
    assert_eq!(m.l2_attrs.get(2 * MIB - 0x1000), 0);
    assert_eq!(m.l2_attrs.get(4 * MIB), 0);
    // Take W away from one page under a mask: the others keep it.
    let (_, r) = call(&mut m, TDG_MEM_PAGE_ATTR_WR, 3 * MIB, 0, 0x2 << 16, 0);
    assert_eq!((r[reg::RAX], r[reg::RDX]), (0, 0x800D << 16));
    let (_, r) = call(&mut m, TDG_MEM_PAGE_ATTR_RD, 3 * MIB, 0, 0, 0);
    assert_eq!((r[reg::RAX], r[reg::RCX], r[reg::RDX]), (0, 3 * MIB, 0x800D << 16));
    let (_, r) = call(&mut m, TDG_MEM_PAGE_ATTR_RD, 3 * MIB + 0x1000, 0, 0, 0);
    assert_eq!(r[reg::RDX], RWX);
    let (_, r) = call(&mut m, TDG_MEM_PAGE_ATTR_RD, 3 * MIB + 8, 0, 0, 0);
    assert_eq!(r[reg::RAX], INVALID | 1, "ATTR.RD takes a 4K-aligned GPA");
}

#[test]
fn vp_enter_is_refused_without_the_virtual_apic_page_a_vm_index_other_than_1_or_a_bad_buffer() {
    let mut m = td();
    let (_, r) = call(&mut m, TDG_MEM_PAGE_ACCEPT, 0x8000, 0, 0, 0);
    assert_eq!(r[reg::RAX], 0);
    let (_, r) = call(&mut m, TDG_VP_ENTER, VM1, 0x8000, 0, 0);
    assert_eq!(r[reg::RAX], INVALID | 0x40, "no virtual-APIC page yet");
    let vapic = field(vmcs::VIRTUAL_APIC_PAGE_ADDRESS);
    let (_, r) = call(&mut m, TDG_VP_WR, 0, vapic, 0x9008, u64::MAX);
    assert_eq!(r[reg::RAX], INVALID | 8, "a misaligned virtual-APIC page");
    let (_, r) = call(&mut m, TDG_VP_WR, 0, vapic, 0x9000, u64::MAX);
    assert_eq!(r[reg::RAX], 0);
    for (rcx, rdx, want, what) in [
        (0, 0x8000, INVALID | 1, "VM index 0"),
        (2 << 52, 0x8000, INVALID | 1, "VM index 2"),
        (VM1 | (1 << 8), 0x8000, INVALID | 1, "reserved flag"),
        (VM1, 0x8080, INVALID | 2, "buffer not 256-byte aligned"),
        (VM1, 0xA000, INVALID | 2, "buffer in a pending page"),
        (VM1, (1 << 47) | 0x8000, INVALID | 2, "shared buffer"),
    ] {
        let (t, r) = call(&mut m, TDG_VP_ENTER, rcx, rdx, 0, 0);
        assert_eq!((t, r[reg::RAX]), (Tdcall::Done, want), "{what}");
    }
    let (t, _) = call(&mut m, TDG_VP_ENTER, VM1 | 3, 0x8100, 0, 0);
    assert_eq!(t, Tdcall::EnterL2(0x8100), "INVEPT type 3, VM 1, an aligned accepted buffer");
}
