//! Launching the guest Warden serves on TDX, as the L2 VM 1 of a partitioned TD, with the same launch
//! contract (`warden_defs::guest_launch`) as on SEV-SNP: the boot-information page, the guest's page
//! tables (no encryption bit: on TDX the L2's page attributes, not its page tables, keep it out of
//! Warden's memory), which ranges the L2 is granted and at which page size, and its first state (the
//! VMCS fields Warden writes with TDG.VP.WR and the guest-state buffer of the first TDG.VP.ENTER).
//!
//! Sources: Intel TDX Module TD Partitioning Architecture Specification (TDG.MEM.PAGE.ATTR.WR,
//! TDG.VP.ENTER); Intel SDM vol. 3, Appendix B (VMCS encodings), §24.4.1 (guest segment access rights:
//! type, S, DPL, P in bits 7:0, AVL, L, D/B, G in bits 15:12, "unusable" bit 16).
use alloc::vec::Vec;
use warden_defs::guest_launch::{
    GUEST_BOOT_INFO, GUEST_BOOT_MAGIC, GUEST_FREE_BASE, GUEST_FREE_END, GUEST_PAGE_TABLE_PAGES,
    GUEST_PAGE_TABLES, GUEST_PLATFORM_TDX_L2, GuestBootInfo, GuestPayload,
};
use warden_defs::layout::{LARGE_PAGE_SIZE, PAGE_SIZE, WARDEN_BASE, WARDEN_SIZE};
use warden_defs::tdx_partition::{ATTR_R, ATTR_W, ATTR_XS, L2GuestState, gpr, vmcs};
use warden_platform::memory::GpaRange;
use zerocopy::{FromZeros, IntoBytes};

use crate::guest::{GuestMemory, MemoryError};
use crate::launch::plain_page_tables;

/// The boot-information page of the L2 guest: no C-bit, VMPL 0 (the field means nothing on TDX), one
/// vCPU, no calling area, secrets page or GHCB (the L2 reaches Warden by VMCALL), the free RAM and
/// Warden's region as on SNP.
pub fn boot_info() -> GuestBootInfo {
    GuestBootInfo {
        magic: GUEST_BOOT_MAGIC,
        c_bit: 0,
        vmpl: 0,
        apic_id: 0,
        vcpu_count: 1,
        caa: 0,
        secrets: 0,
        ghcb: 0,
        free_start: GUEST_FREE_BASE,
        free_end: GUEST_FREE_END,
        svsm_base: WARDEN_BASE,
        svsm_size: WARDEN_SIZE,
        platform: GUEST_PLATFORM_TDX_L2,
    }
}

/// One range the L2 is granted, with the VM 1 attributes it gets (TDG.MEM.PAGE.ATTR.WR's R, W, Xs;
/// VALID is added by the write).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The pages.
    pub range: GpaRange,
    /// [`ATTR_R`], [`ATTR_W`], [`ATTR_XS`] as the range needs them, nothing more.
    pub attributes: u64,
}

/// Every range the L2 is granted, in address order, each with the least it needs: the
/// boot-information page read-only (Warden writes it, the guest only reads it); the page tables
/// read-write (the L2's page walks set their accessed and dirty bits); the image read-write-execute
/// (its code, data and bss share the window; the guest runs in ring 0, so supervisor execute only);
/// the free RAM read-write, never executable. Nothing else: the other launch pages (calling area,
/// secrets, GHCB) have no use on TDX and stay Warden's.
pub fn grants(payload: &GuestPayload) -> Vec<Grant> {
    [
        (GUEST_BOOT_INFO, GUEST_BOOT_INFO + PAGE_SIZE, ATTR_R),
        (GUEST_PAGE_TABLES, GUEST_PAGE_TABLES + GUEST_PAGE_TABLE_PAGES * PAGE_SIZE, ATTR_R | ATTR_W),
        (payload.image_start, payload.image_end, ATTR_R | ATTR_W | ATTR_XS),
        (GUEST_FREE_BASE, GUEST_FREE_END, ATTR_R | ATTR_W),
    ]
    .into_iter()
    .filter_map(|(start, end, attributes)| Some(Grant { range: GpaRange::new(start, end)?, attributes }))
    .collect()
}

/// The ranges of [`grants`]: the guest RAM the dispatcher checks the L2's buffers against.
pub fn granted_ranges(payload: &GuestPayload) -> Vec<GpaRange> {
    grants(payload).into_iter().map(|grant| grant.range).collect()
}

/// The page size of one TDG.MEM.PAGE.ATTR.WR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantSize {
    /// 4 KiB (level 0).
    Size4K,
    /// 2 MiB (level 1): all 512 pages at once.
    Size2M,
}

/// The attribute writes that make `grants`: 2 MiB where a 2 MiB page lies wholly inside a range and
/// is aligned, 4 KiB elsewhere; each with its range's attributes.
pub fn grant_plan(grants: &[Grant]) -> Vec<(u64, GrantSize, u64)> {
    let mut plan = Vec::new();
    for grant in grants {
        let (end, attributes) = (grant.range.end(), grant.attributes);
        let mut gpa = grant.range.start();
        while gpa < end {
            if gpa.is_multiple_of(LARGE_PAGE_SIZE) && end - gpa >= LARGE_PAGE_SIZE {
                plan.push((gpa, GrantSize::Size2M, attributes));
                gpa += LARGE_PAGE_SIZE;
            } else {
                plan.push((gpa, GrantSize::Size4K, attributes));
                gpa += PAGE_SIZE;
            }
        }
    }
    plan
}

/// Writes the boot-information page and the page tables (identity map of `[0, GUEST_MAPPED_END)`,
/// 2 MiB pages, no encryption bit).
pub fn write_launch_pages<M: GuestMemory + ?Sized>(memory: &mut M) -> Result<(), (u64, MemoryError)> {
    let mut write = |gpa: u64, data: &[u8]| memory.write(gpa, data).map_err(|e| (gpa, e));
    write(GUEST_BOOT_INFO, &[0; PAGE_SIZE as usize])?;
    write(GUEST_BOOT_INFO, boot_info().as_bytes())?;
    for (index, table) in plain_page_tables().iter().enumerate() {
        write(GUEST_PAGE_TABLES + index as u64 * PAGE_SIZE, table)?;
    }
    Ok(())
}

/// 64-bit code: type 0xB (execute/read, accessed), S, P; L and G.
const CODE_AR: u64 = 0xA09B;
/// Data: type 0x3 (read/write, accessed), S, P; D/B and G.
const DATA_AR: u64 = 0xC093;
/// A busy 64-bit TSS (type 0xB), P.
const TR_AR: u64 = 0x8B;
/// The LDTR is unusable (bit 16).
const UNUSABLE_AR: u64 = 0x1_0000;
/// CR0: PE, MP, ET, NE, WP, PG.
pub const L2_CR0: u64 = 0x8001_0033;
/// CR4: PAE, OSFXSR, OSXMMEXCPT.
pub const L2_CR4: u64 = 0x620;
/// EFER: LME, LMA.
pub const L2_EFER: u64 = 0x500;

/// The L2's first VMCS state, as (encoding, value) pairs for TDG.VP.WR: 64-bit mode, CR3 = the launch
/// page tables, flat segments, no GDT or IDT (the guest loads its own), and the virtual-APIC page
/// `virtual_apic` (one of Warden's pages), without which TDG.VP.ENTER refuses to run the L2.
pub fn start_vmcs(virtual_apic: u64) -> Vec<(u32, u64)> {
    use vmcs::*;
    let mut fields = alloc::vec![
        (GUEST_CR0, L2_CR0),
        (GUEST_CR3, GUEST_PAGE_TABLES),
        (GUEST_CR4, L2_CR4),
        (GUEST_IA32_EFER, L2_EFER),
        (GUEST_CS_SELECTOR, 0x08),
        (GUEST_CS_AR, CODE_AR),
        (GUEST_CS_BASE, 0),
        (GUEST_CS_LIMIT, 0xFFFF_FFFF),
    ];
    let data = [
        (GUEST_DS_SELECTOR, GUEST_DS_AR, GUEST_DS_BASE, GUEST_DS_LIMIT),
        (GUEST_ES_SELECTOR, GUEST_ES_AR, GUEST_ES_BASE, GUEST_ES_LIMIT),
        (GUEST_SS_SELECTOR, GUEST_SS_AR, GUEST_SS_BASE, GUEST_SS_LIMIT),
        (GUEST_FS_SELECTOR, GUEST_FS_AR, GUEST_FS_BASE, GUEST_FS_LIMIT),
        (GUEST_GS_SELECTOR, GUEST_GS_AR, GUEST_GS_BASE, GUEST_GS_LIMIT),
    ];
    for (selector, ar, base, limit) in data {
        fields.extend([(selector, 0x10), (ar, DATA_AR), (base, 0), (limit, 0xFFFF_FFFF)]);
    }
    fields.extend([
        (GUEST_TR_SELECTOR, 0),
        (GUEST_TR_AR, TR_AR),
        (GUEST_TR_BASE, 0),
        (GUEST_TR_LIMIT, 0x67),
        (GUEST_LDTR_SELECTOR, 0),
        (GUEST_LDTR_AR, UNUSABLE_AR),
        (GUEST_LDTR_BASE, 0),
        (GUEST_LDTR_LIMIT, 0),
        (GUEST_GDTR_BASE, 0),
        (GUEST_GDTR_LIMIT, 0),
        (GUEST_IDTR_BASE, 0),
        (GUEST_IDTR_LIMIT, 0),
        (VIRTUAL_APIC_PAGE_ADDRESS, virtual_apic),
    ]);
    fields
}

/// The guest-state buffer of the first entry: RIP = the entry point, RDI = the boot information,
/// RSP = 0 (the guest sets its own stack), RFLAGS = 0x2 (interrupts off), every other register 0.
pub fn start_state(payload: &GuestPayload) -> L2GuestState {
    let mut state = L2GuestState::new_zeroed();
    state.rip = payload.entry;
    state.rflags = 0x2;
    state.gprs[gpr::RDI] = GUEST_BOOT_INFO;
    state
}
