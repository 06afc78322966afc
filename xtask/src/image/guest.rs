//! The guest payload: a guest ELF carried in Warden's image for one platform (SEV-SNP, or TDX where the
//! guest runs as the TD's L2), with the launch pages Warden fills before the guest's first instruction
//! and the descriptor that tells Warden a guest is there.
//!
//! The contract is `warden_defs::guest_launch`: the ELF's loadable segments go to
//! `[GUEST_IMAGE_BASE, GUEST_IMAGE_LIMIT)` as measured pages (bss as measured zero pages), the launch
//! pages `[GUEST_LAUNCH_BASE, GUEST_LAUNCH_END)` as measured zero pages, and the descriptor
//! (`GuestPayload`) into `layout::GUEST_PAYLOAD_PAGE`. All of it is measured with Warden, so the launch
//! digest (SNP) or MRTD (TDX) covers the guest; on SNP all of it is assigned and validated at VMPL0
//! when Warden starts, on TDX added as private, accepted pages of the TD.
use warden_defs::guest_launch::{
    GUEST_IMAGE_BASE, GUEST_IMAGE_LIMIT, GUEST_LAUNCH_BASE, GUEST_LAUNCH_END, GUEST_PAYLOAD_MAGIC,
    GuestPayload,
};
use warden_defs::layout::{self, PAGE_SIZE};
use zerocopy::IntoBytes;

use super::{GuestPages, GuestPlatform, Image, ImagePage, PageKind, elf};

/// `image` with the guest ELF `guest_elf` added for `platform`.
///
/// Refuses a guest already present, an ELF with a page outside `[GUEST_IMAGE_BASE, GUEST_IMAGE_LIMIT)`,
/// two segments sharing a page, a writable and executable segment, or an entry point outside every
/// executable page.
pub fn add(image: &Image, guest_elf: &[u8], platform: GuestPlatform) -> crate::Result<Image> {
    if image.guest.is_some() {
        return Err("the image already carries a guest".into());
    }
    let guest = elf::read(guest_elf).map_err(|e| format!("guest ELF: {e}"))?;
    let entry_page = guest.entry & !(PAGE_SIZE - 1);
    let entry_executable = guest.pages.iter().any(|page| page.address == entry_page && page.executable);
    let mut pages: Vec<ImagePage> = Vec::new();
    for page in guest.pages {
        if !(GUEST_IMAGE_BASE..GUEST_IMAGE_LIMIT).contains(&page.address) {
            return Err(format!(
                "guest page {:#x} lies outside GUEST_IMAGE_BASE..GUEST_IMAGE_LIMIT ({GUEST_IMAGE_BASE:#x}..{GUEST_IMAGE_LIMIT:#x})",
                page.address
            )
            .into());
        }
        if page.writable && page.executable {
            return Err(format!("guest page {:#x} is writable and executable", page.address).into());
        }
        let kind = if page.data.iter().all(|&b| b == 0) { PageKind::Zero } else { PageKind::Normal };
        pages.push(ImagePage { gpa: page.address, kind, data: page.data });
    }
    let (Some(first), Some(last)) = (pages.first(), pages.last()) else {
        return Err("the guest ELF has no loadable segment".into());
    };
    let (image_start, image_end) = (first.gpa, last.gpa + PAGE_SIZE);
    if !entry_executable {
        return Err(format!("the guest's entry point {:#x} is not in an executable page", guest.entry).into());
    }
    for gpa in (GUEST_LAUNCH_BASE..GUEST_LAUNCH_END).step_by(PAGE_SIZE as usize) {
        pages.push(ImagePage { gpa, kind: PageKind::Zero, data: Box::new([0; PAGE_SIZE as usize]) });
    }
    pages.sort_by_key(|page| page.gpa);

    let descriptor = GuestPayload { magic: GUEST_PAYLOAD_MAGIC, entry: guest.entry, image_start, image_end };
    let mut with_guest = image.clone();
    let slot = with_guest
        .pages
        .iter_mut()
        .find(|page| page.gpa == layout::GUEST_PAYLOAD_PAGE && page.kind == PageKind::Zero)
        .ok_or("the image has no empty guest payload descriptor page")?;
    slot.data[..size_of::<GuestPayload>()].copy_from_slice(descriptor.as_bytes());
    slot.kind = PageKind::Normal;
    if let Some(clash) = pages.iter().find(|g| with_guest.pages.iter().any(|p| p.gpa == g.gpa)) {
        return Err(format!("the guest's page {:#x} is also one of Warden's", clash.gpa).into());
    }
    with_guest.guest = Some(GuestPages { platform, pages });
    Ok(with_guest)
}

#[cfg(test)]
pub mod tests;
