//! Launching the guest Warden serves on SEV-SNP, as `warden_defs::guest_launch` (the contract) says:
//! what goes into the guest's launch pages (boot information, calling area, secrets copy, page
//! tables), the RMP changes that hand the launch pages and image to the guest's VMPL and share its
//! GHCB, and the guest's first VMSA. The firmware only places the VMSA, registers it with the
//! hypervisor and runs it.
//!
//! Sources: SVSM spec (AMD 58019), "SVSM secrets page fields" and the guest's view of them (Linux
//! `svsm_setup_ca` reads svsm_base, svsm_size, svsm_caa, svsm_max_version and svsm_guest_vmpl);
//! SEV-SNP ABI (AMD 56860), the secrets page layout (VMPCK0..3 at 0x20..0xA0); AMD64 APM vol. 2,
//! §5.3 (4-level paging, 2 MiB pages) and Appendix B (the VMSA); APM vol. 3, RMPADJUST and PVALIDATE.
use crate::guest::{GuestMemory, MemoryError};
use warden_defs::guest_launch::{
    GUEST_BOOT_INFO, GUEST_BOOT_MAGIC, GUEST_CAA, GUEST_FREE_BASE, GUEST_FREE_END, GUEST_GHCB,
    GUEST_LAUNCH_BASE, GUEST_LAUNCH_END, GUEST_MAPPED_END, GUEST_PAGE_TABLE_PAGES, GUEST_PAGE_TABLES,
    GUEST_PLATFORM_SNP, GUEST_SECRETS, GUEST_VMPL, GuestBootInfo, GuestPayload,
};
use warden_defs::layout::{LARGE_PAGE_SIZE, PAGE_SIZE, WARDEN_BASE, WARDEN_SIZE};
use warden_defs::psc::{PscDescriptor, PscEntry, PscOp};
use warden_defs::vmsa::{EFER_SVME, Vmsa, VmsaSegment};
use warden_platform::memory::{
    PageSize, PscError, PvalidateError, PvalidateOutcome, RmpadjustError, SnpMemory, VmplPerms,
};
use zerocopy::{FromZeros, IntoBytes};

/// The highest core-protocol version Warden serves, for the secrets page's svsm_max_version.
const SVSM_MAX_VERSION: u32 = 1;
/// Secrets page offsets (SEV-SNP ABI (AMD 56860), secrets page: VMPCK0 at 0x20, 32 bytes per key; the
/// SVSM fields from 0x140, SVSM spec (AMD 58019)).
const VMPCK0: usize = 0x20;
const VMPCK_SIZE: usize = 32;
const SVSM_BASE: usize = 0x140;
const SVSM_SIZE: usize = 0x148;
const SVSM_CAA: usize = 0x150;
const SVSM_MAX_VERSION_AT: usize = 0x158;
const SVSM_GUEST_VMPL: usize = 0x15C;

/// Page-table entry bits (APM vol. 2, §5.3.3): present, writable, page size (2 MiB leaf).
const PTE_PRESENT: u64 = 1 << 0;
const PTE_WRITABLE: u64 = 1 << 1;
const PTE_LARGE: u64 = 1 << 7;

/// What Warden knows that the launch needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchFacts {
    /// The guest image's descriptor (from the measured payload page).
    pub payload: GuestPayload,
    /// The C-bit position, from Warden's validated CPUID page.
    pub c_bit: u8,
    /// The boot vCPU's APIC ID.
    pub apic_id: u32,
    /// How many vCPUs the guest may run (the size of Warden's vCPU table).
    pub vcpu_count: u32,
    /// Warden's own SEV features, which the guest's VMSA must carry (CREATE_VCPU compares against it).
    pub sev_features: u64,
}

/// Why the launch pages could not be prepared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaunchError {
    /// Writing a launch page failed.
    Write(u64, MemoryError),
    /// PVALIDATE refused to rescind the guest's GHCB page (or found it not validated).
    RescindGhcb(Result<PvalidateOutcome, PvalidateError>),
    /// The hypervisor did not make the guest's GHCB page shared.
    ShareGhcb(Option<PscError>),
    /// RMPADJUST refused to grant a page to the guest's VMPL.
    Grant(u64, RmpadjustError),
}

/// The boot-information page Warden hands the guest.
pub fn boot_info(facts: &LaunchFacts) -> GuestBootInfo {
    GuestBootInfo {
        magic: GUEST_BOOT_MAGIC,
        c_bit: u32::from(facts.c_bit),
        vmpl: u32::from(GUEST_VMPL),
        apic_id: facts.apic_id,
        vcpu_count: facts.vcpu_count,
        caa: GUEST_CAA,
        secrets: GUEST_SECRETS,
        ghcb: GUEST_GHCB,
        free_start: GUEST_FREE_BASE,
        free_end: GUEST_FREE_END,
        svsm_base: WARDEN_BASE,
        svsm_size: WARDEN_SIZE,
        platform: GUEST_PLATFORM_SNP,
    }
}

/// The guest's copy of Warden's secrets page: the VMPCKs of every VMPL more privileged than the
/// guest's cleared (VMPCK0 is Warden's; COCONUT clears VMPCK0..guest VMPL − 1 the same way), the SVSM
/// fields filled so the guest finds Warden and its calling area.
pub fn guest_secrets(warden_secrets: &[u8; PAGE_SIZE as usize]) -> [u8; PAGE_SIZE as usize] {
    let mut page = *warden_secrets;
    let cleared = VMPCK0 + usize::from(GUEST_VMPL) * VMPCK_SIZE;
    page[VMPCK0..cleared].fill(0);
    page[SVSM_BASE..SVSM_BASE + 8].copy_from_slice(&WARDEN_BASE.to_le_bytes());
    page[SVSM_SIZE..SVSM_SIZE + 8].copy_from_slice(&WARDEN_SIZE.to_le_bytes());
    page[SVSM_CAA..SVSM_CAA + 8].copy_from_slice(&GUEST_CAA.to_le_bytes());
    page[SVSM_MAX_VERSION_AT..SVSM_MAX_VERSION_AT + 4].copy_from_slice(&SVSM_MAX_VERSION.to_le_bytes());
    page[SVSM_GUEST_VMPL] = GUEST_VMPL;
    page[SVSM_GUEST_VMPL + 1..SVSM_GUEST_VMPL + 4].fill(0);
    page
}

/// The guest's initial page tables, at [`GUEST_PAGE_TABLES`]: PML4, PDPT, PD, and the 4 KiB table of
/// the GHCB's 2 MiB region. Identity map of `[0, GUEST_MAPPED_END)` in 2 MiB pages with the C-bit, the
/// tables themselves reached with it too, except the GHCB, mapped by a 4 KiB entry without it.
pub fn page_tables(c_bit: u8) -> [[u8; PAGE_SIZE as usize]; GUEST_PAGE_TABLE_PAGES as usize] {
    identity_tables(1u64 << c_bit)
}

/// The same tables with no encryption bit in any entry: the L2 guest's on TDX, where private memory
/// needs no bit in the guest's page tables (`tdx_l2_launch`).
pub fn plain_page_tables() -> [[u8; PAGE_SIZE as usize]; GUEST_PAGE_TABLE_PAGES as usize] {
    identity_tables(0)
}

/// The identity tables with `c` (the C-bit mask, or 0) in every entry but the GHCB's.
fn identity_tables(c: u64) -> [[u8; PAGE_SIZE as usize]; GUEST_PAGE_TABLE_PAGES as usize] {
    let table = |index: u64| GUEST_PAGE_TABLES + index * PAGE_SIZE;
    let mut pages = [[0u8; PAGE_SIZE as usize]; GUEST_PAGE_TABLE_PAGES as usize];
    let mut put = |page: usize, index: u64, entry: u64| {
        let at = (index * 8) as usize;
        if let Some(slot) = pages.get_mut(page).and_then(|p| p.get_mut(at..at + 8)) {
            slot.copy_from_slice(&entry.to_le_bytes());
        }
    };
    let flags = PTE_PRESENT | PTE_WRITABLE;
    put(0, 0, table(1) | c | flags);
    put(1, 0, table(2) | c | flags);
    let ghcb_region = GUEST_GHCB & !(LARGE_PAGE_SIZE - 1);
    for index in 0..GUEST_MAPPED_END / LARGE_PAGE_SIZE {
        let base = index * LARGE_PAGE_SIZE;
        let entry = if base == ghcb_region { table(3) | c | flags } else { base | c | flags | PTE_LARGE };
        put(2, index, entry);
    }
    for index in 0..LARGE_PAGE_SIZE / PAGE_SIZE {
        let page = ghcb_region + index * PAGE_SIZE;
        let c_for_page = if page == GUEST_GHCB { 0 } else { c };
        put(3, index, page | c_for_page | flags);
    }
    pages
}

/// A flat segment: base 0, limit 4 GiB, `attrib` in the VMSA's packed form (type, S, DPL, P in bits
/// 7:0; AVL, L, D/B, G in bits 11:8).
const fn flat(selector: u16, attrib: u16) -> VmsaSegment {
    VmsaSegment { selector, attrib, limit: 0xFFFF_FFFF, base: 0 }
}

/// The guest boot vCPU's first VMSA: 64-bit mode at the payload's entry with RDI = the boot
/// information, CR3 = its page tables (C-bit set), interrupts off, no IDT, at [`GUEST_VMPL`] with
/// Warden's own SEV features; the reset values the APM gives for the rest (DR6, DR7, PAT, XCR0,
/// MXCSR, FCW).
pub fn guest_vmsa(facts: &LaunchFacts) -> Vmsa {
    let mut vmsa = Vmsa::new_zeroed();
    // 64-bit code: type 0xB (execute/read, accessed), S, P; L and G.
    vmsa.cs = flat(0x08, 0xA9B);
    // Data: type 0x3 (read/write, accessed), S, P; D/B and G.
    let data = flat(0x10, 0xC93);
    (vmsa.ds, vmsa.es, vmsa.ss, vmsa.fs, vmsa.gs) = (data, data, data, data, data);
    vmsa.gdtr = VmsaSegment { selector: 0, attrib: 0, limit: 0xFFFF, base: 0 };
    vmsa.idtr = VmsaSegment { selector: 0, attrib: 0, limit: 0, base: 0 };
    vmsa.ldtr = VmsaSegment { selector: 0, attrib: 0x82, limit: 0xFFFF, base: 0 };
    vmsa.tr = VmsaSegment { selector: 0, attrib: 0x8B, limit: 0xFFFF, base: 0 };
    vmsa.vmpl = GUEST_VMPL;
    vmsa.cpl = 0;
    // EFER: SCE off; LME, LMA, NXE, and SVME, which the CPU requires of every VMSA it runs.
    vmsa.efer = (1 << 8) | (1 << 10) | (1 << 11) | EFER_SVME;
    // CR4: PAE, MCE, OSFXSR, OSXMMEXCPT. CR0: PE, MP, ET, NE, WP, PG.
    vmsa.cr4 = (1 << 5) | (1 << 6) | (1 << 9) | (1 << 10);
    vmsa.cr0 = 0x8001_0033;
    vmsa.cr3 = GUEST_PAGE_TABLES | (1u64 << facts.c_bit);
    vmsa.dr7 = 0x400;
    vmsa.dr6 = 0xFFFF_0FF0;
    vmsa.rflags = 0x2;
    vmsa.rip = facts.payload.entry;
    vmsa.rsp = 0;
    vmsa.rdi = GUEST_BOOT_INFO;
    vmsa.g_pat = 0x0007_0406_0007_0406;
    vmsa.sev_features = facts.sev_features;
    vmsa.xcr0 = 1;
    vmsa.mxcsr = 0x1F80;
    vmsa.x87_fcw = 0x37F;
    vmsa
}

/// Every page the guest gets at its VMPL: the launch pages but the GHCB (which becomes shared), and
/// the image.
pub fn granted_pages(payload: &GuestPayload) -> impl Iterator<Item = u64> {
    let launch =
        (GUEST_LAUNCH_BASE..GUEST_LAUNCH_END).step_by(PAGE_SIZE as usize).filter(|&p| p != GUEST_GHCB);
    launch.chain((payload.image_start..payload.image_end).step_by(PAGE_SIZE as usize))
}

/// Fills the launch pages, shares the guest's GHCB and grants the rest to the guest's VMPL.
/// `warden_secrets` is Warden's own secrets page, copied once.
///
/// Run once, before the guest's first instruction, on the measured launch pages and image (validated
/// at VMPL0 by the launch, never handed out yet; Warden holds no reference into them).
#[allow(unsafe_code, reason = "the RMP primitives on the guest's launch pages; see the SAFETY comments")]
pub fn prepare<E: SnpMemory + GuestMemory>(
    env: &mut E,
    facts: &LaunchFacts,
    warden_secrets: &[u8; PAGE_SIZE as usize],
) -> Result<(), LaunchError> {
    let mut write = |gpa: u64, data: &[u8]| env.write(gpa, data).map_err(|e| LaunchError::Write(gpa, e));
    write(GUEST_BOOT_INFO, &[0; PAGE_SIZE as usize])?;
    write(GUEST_BOOT_INFO, boot_info(facts).as_bytes())?;
    write(GUEST_CAA, &[0; PAGE_SIZE as usize])?;
    write(GUEST_SECRETS, &guest_secrets(warden_secrets))?;
    for (index, table) in page_tables(facts.c_bit).iter().enumerate() {
        write(GUEST_PAGE_TABLES + index as u64 * PAGE_SIZE, table)?;
    }

    // The GHCB: rescinded first, so that a hypervisor that does not make it shared cannot leave the
    // guest writing to a validated page it believes shared.
    // SAFETY: the guest's GHCB launch page; Warden never reads or writes it and nothing refers to it.
    let rescinded = unsafe { env.pvalidate(GUEST_GHCB, PageSize::Size4K, false) };
    if rescinded != Ok(PvalidateOutcome::Changed) {
        return Err(LaunchError::RescindGhcb(rescinded));
    }
    let mut desc = PscDescriptor::zeroed();
    desc.entries[0] = PscEntry::new(GUEST_GHCB >> 12, PscOp::SHARED, false);
    // SAFETY: the page is rescinded and unreferenced; handing it to the hypervisor is the point.
    match unsafe { env.page_state_change(&mut desc) } {
        Ok(()) if desc.header.cur_entry == 1 => {}
        Ok(()) => return Err(LaunchError::ShareGhcb(None)),
        Err(error) => return Err(LaunchError::ShareGhcb(Some(error))),
    }

    for gpa in granted_pages(&facts.payload) {
        // SAFETY: a launch or image page of the guest, validated at VMPL0 by the launch; granting the
        // guest's VMPL access changes nothing for VMPL0 (Warden), which holds no reference into it.
        unsafe { env.rmpadjust(gpa, PageSize::Size4K, GUEST_VMPL, VmplPerms::ALL, false) }
            .map_err(|e| LaunchError::Grant(gpa, e))?;
    }
    Ok(())
}
