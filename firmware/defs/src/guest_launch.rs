//! How Warden launches the guest it serves on SEV-SNP: where the guest's image and its launch pages live,
//! and the boot-information page Warden hands it. This is Warden's own contract with a guest payload
//! carried in its IGVM image (the bundled test guest today; a guest firmware later), not a public
//! format. The guest runs at VMPL [`GUEST_VMPL`] and reaches Warden only through the SVSM calling
//! convention (SVSM spec (AMD 58019), "SVSM calling convention").
//!
//! ```text
//! GUEST_LAUNCH_BASE + 0x0000  boot information (GuestBootInfo)        written by Warden
//!                   + 0x1000  calling area of the boot vCPU (CAA)        zeroed by Warden
//!                   + 0x2000  the guest's copy of the secrets page       written by Warden
//!                   + 0x3000  the guest's GHCB (made shared by Warden)   the guest's to use
//!                   + 0x4000  the guest's initial page tables (4 pages)  written by Warden
//! GUEST_IMAGE_BASE            the guest ELF (text, rodata, data, bss), up to GUEST_IMAGE_LIMIT
//! GUEST_FREE_BASE             RAM outside the launch image: not assigned, not validated; the guest
//!                             makes it private itself (page-state change) and asks Warden to
//!                             validate it (core protocol PVALIDATE), up to GUEST_FREE_END
//! ```
//!
//! Launch pages and image are measured with Warden (zero pages where Warden writes later), so they are
//! assigned and validated at VMPL0 when Warden starts; Warden grants them to the guest's VMPL with
//! RMPADJUST before the guest's first instruction.
//!
//! The guest's first instruction runs in 64-bit mode at the ELF entry point with: CR3 = the page tables
//! at [`GUEST_PAGE_TABLES`] (identity map of `[0, GUEST_MAPPED_END)` with 2 MiB pages, the C-bit set on
//! every page but the GHCB, which a 4 KiB entry maps without it); CS a flat 64-bit code segment, the
//! data segments flat; interrupts disabled; no IDT (the guest loads its own GDT and IDT if it wants
//! them); RDI = [`GUEST_BOOT_INFO`]; RSP = 0 (the guest sets its own stack).
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::layout::PAGE_SIZE;

/// The VMPL the guest runs at (Linux's `tpm_svsm` needs a non-zero one; COCONUT-SVSM's guests run at
/// VMPL2 when VMPL1 is left free).
pub const GUEST_VMPL: u8 = 2;

/// The first launch page.
pub const GUEST_LAUNCH_BASE: u64 = 0x0030_0000;
/// The boot-information page ([`GuestBootInfo`]).
pub const GUEST_BOOT_INFO: u64 = GUEST_LAUNCH_BASE;
/// The boot vCPU's calling area.
pub const GUEST_CAA: u64 = GUEST_LAUNCH_BASE + PAGE_SIZE;
/// The guest's copy of the SNP secrets page (VMPCK0 cleared, the SVSM fields filled).
pub const GUEST_SECRETS: u64 = GUEST_LAUNCH_BASE + 2 * PAGE_SIZE;
/// The guest's GHCB page, shared with the hypervisor before the guest starts.
pub const GUEST_GHCB: u64 = GUEST_LAUNCH_BASE + 3 * PAGE_SIZE;
/// The guest's initial page tables: PML4, PDPT, PD, and the page table of the GHCB's 2 MiB region.
pub const GUEST_PAGE_TABLES: u64 = GUEST_LAUNCH_BASE + 4 * PAGE_SIZE;
/// How many page-table pages Warden writes.
pub const GUEST_PAGE_TABLE_PAGES: u64 = 4;
/// One past the last launch page.
pub const GUEST_LAUNCH_END: u64 = GUEST_PAGE_TABLES + GUEST_PAGE_TABLE_PAGES * PAGE_SIZE;

/// Where the guest ELF is linked.
pub const GUEST_IMAGE_BASE: u64 = 0x0040_0000;
/// The guest ELF must end below this.
pub const GUEST_IMAGE_LIMIT: u64 = 0x0080_0000;

/// RAM left out of the launch image for the guest's own page-state and validation tests (2 MiB
/// aligned, so that 2 MiB pages can be validated there).
pub const GUEST_FREE_BASE: u64 = 0x0100_0000;
/// One past the last byte of the free RAM.
pub const GUEST_FREE_END: u64 = 0x0200_0000;

/// What the guest's initial page tables map (identity, 2 MiB pages).
pub const GUEST_MAPPED_END: u64 = 0x4000_0000;

/// "WGSTBOOT", little-endian.
pub const GUEST_BOOT_MAGIC: u64 = u64::from_le_bytes(*b"WGSTBOOT");

/// "WGSTLOAD", little-endian: the image carries a guest.
pub const GUEST_PAYLOAD_MAGIC: u64 = u64::from_le_bytes(*b"WGSTLOAD");

/// The guest payload descriptor at `layout::GUEST_PAYLOAD_PAGE`, written by the image builder and
/// measured with Warden: whether the image carries a guest, and where it starts. All zeros (no magic)
/// in an image without one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct GuestPayload {
    /// [`GUEST_PAYLOAD_MAGIC`].
    pub magic: u64,
    /// The guest ELF's entry point.
    pub entry: u64,
    /// The first page of the guest's image ([`GUEST_IMAGE_BASE`] or above).
    pub image_start: u64,
    /// One past its last page (at most [`GUEST_IMAGE_LIMIT`]).
    pub image_end: u64,
}

/// Why a [`GuestPayload`] is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestPayloadError {
    /// The image's range is empty, unaligned or outside `[GUEST_IMAGE_BASE, GUEST_IMAGE_LIMIT)`.
    ImageRange,
    /// The entry point lies outside the image.
    Entry,
}

impl GuestPayload {
    /// The descriptor as read from its page: `Ok(None)` when the image carries no guest, the checked
    /// descriptor when it does. The page is measured, but a check costs nothing and keeps a builder bug
    /// from becoming a launch at a wild address.
    pub fn parse(page: &[u8]) -> Result<Option<Self>, GuestPayloadError> {
        let Ok((payload, _)) = Self::read_from_prefix(page) else { return Ok(None) };
        if payload.magic != GUEST_PAYLOAD_MAGIC {
            return Ok(None);
        }
        let aligned =
            payload.image_start.is_multiple_of(PAGE_SIZE) && payload.image_end.is_multiple_of(PAGE_SIZE);
        if !aligned
            || payload.image_start < GUEST_IMAGE_BASE
            || payload.image_end > GUEST_IMAGE_LIMIT
            || payload.image_start >= payload.image_end
        {
            return Err(GuestPayloadError::ImageRange);
        }
        if !(payload.image_start..payload.image_end).contains(&payload.entry) {
            return Err(GuestPayloadError::Entry);
        }
        Ok(Some(payload))
    }
}

/// The boot-information page's layout, written by Warden at [`GUEST_BOOT_INFO`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct GuestBootInfo {
    /// [`GUEST_BOOT_MAGIC`].
    pub magic: u64,
    /// The C-bit position (from Warden's validated CPUID page).
    pub c_bit: u32,
    /// The VMPL the guest runs at ([`GUEST_VMPL`]).
    pub vmpl: u32,
    /// The boot vCPU's APIC ID.
    pub apic_id: u32,
    /// How many vCPUs the guest may start (the loader's VP count).
    pub vcpu_count: u32,
    /// The boot vCPU's calling area ([`GUEST_CAA`]).
    pub caa: u64,
    /// The guest's secrets page ([`GUEST_SECRETS`]).
    pub secrets: u64,
    /// The guest's GHCB ([`GUEST_GHCB`]), already shared.
    pub ghcb: u64,
    /// The first byte of RAM not in the launch image ([`GUEST_FREE_BASE`]).
    pub free_start: u64,
    /// One past its last byte ([`GUEST_FREE_END`]).
    pub free_end: u64,
    /// Warden's region, which the guest must not be able to validate, map or name in a call.
    pub svsm_base: u64,
    /// Its size.
    pub svsm_size: u64,
    /// Which platform launched the guest, and so how it reaches Warden: [`GUEST_PLATFORM_SNP`] (at a
    /// VMPL, through the SVSM calling convention) or [`GUEST_PLATFORM_TDX_L2`] (as the L2 of a partitioned
    /// TD, through VMCALL exits to Warden, its L1).
    pub platform: u64,
}

/// [`GuestBootInfo::platform`]: AMD SEV-SNP, the guest at [`GUEST_VMPL`].
pub const GUEST_PLATFORM_SNP: u64 = 1;
/// [`GuestBootInfo::platform`]: Intel TDX with TD partitioning, the guest as L2 VM 1, Warden its L1.
pub const GUEST_PLATFORM_TDX_L2: u64 = 2;

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<GuestBootInfo>() == 88);
    assert!(offset_of!(GuestBootInfo, platform) == 80);
    assert!(size_of::<GuestPayload>() == 32);
    assert!(offset_of!(GuestBootInfo, caa) == 24);
    assert!(offset_of!(GuestBootInfo, free_start) == 48);
    assert!(GUEST_LAUNCH_END <= GUEST_IMAGE_BASE);
    assert!(GUEST_FREE_BASE >= GUEST_IMAGE_LIMIT);
    assert!(GUEST_FREE_END <= crate::layout::WARDEN_BASE);
    assert!(GUEST_FREE_BASE.is_multiple_of(crate::layout::LARGE_PAGE_SIZE));
};

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::IntoBytes;

    fn page_of(payload: GuestPayload) -> [u8; PAGE_SIZE as usize] {
        let mut page = [0u8; PAGE_SIZE as usize];
        page[..32].copy_from_slice(payload.as_bytes());
        page
    }

    const GOOD: GuestPayload = GuestPayload {
        magic: GUEST_PAYLOAD_MAGIC,
        entry: GUEST_IMAGE_BASE + 0x10,
        image_start: GUEST_IMAGE_BASE,
        image_end: GUEST_IMAGE_BASE + 3 * PAGE_SIZE,
    };

    #[test]
    fn a_zero_page_means_no_guest_and_a_good_descriptor_parses() {
        assert_eq!(GuestPayload::parse(&[0u8; PAGE_SIZE as usize]), Ok(None));
        assert_eq!(GuestPayload::parse(&page_of(GOOD)), Ok(Some(GOOD)));
        assert_eq!(GuestPayload::parse(&[0u8; 8]), Ok(None));
    }

    #[test]
    fn a_descriptor_outside_the_window_or_with_a_wild_entry_is_refused() {
        let bad = [
            (GuestPayload { image_start: GUEST_LAUNCH_BASE, ..GOOD }, GuestPayloadError::ImageRange),
            (
                GuestPayload { image_end: GUEST_IMAGE_LIMIT + PAGE_SIZE, ..GOOD },
                GuestPayloadError::ImageRange,
            ),
            (GuestPayload { image_end: GUEST_IMAGE_BASE, ..GOOD }, GuestPayloadError::ImageRange),
            (GuestPayload { image_start: GUEST_IMAGE_BASE + 1, ..GOOD }, GuestPayloadError::ImageRange),
            (GuestPayload { entry: GOOD.image_end, ..GOOD }, GuestPayloadError::Entry),
            (GuestPayload { entry: 0, ..GOOD }, GuestPayloadError::Entry),
        ];
        for (payload, error) in bad {
            assert_eq!(GuestPayload::parse(&page_of(payload)), Err(error), "{payload:?}");
        }
    }
}
