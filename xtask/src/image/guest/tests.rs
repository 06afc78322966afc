//! The guest payload: what `guest::add` puts in the image, what it refuses, and what the IGVM file and
//! its measurements make of it, for SNP and for TDX. The guest ELFs are built here, byte by byte (ELF-64 object file format:
//! the file header, then one program header per PT_LOAD segment).
use warden_defs::guest_launch::{
    GUEST_IMAGE_BASE, GUEST_IMAGE_LIMIT, GUEST_LAUNCH_BASE, GUEST_LAUNCH_END, GUEST_PAYLOAD_MAGIC,
    GuestPayload,
};
use warden_defs::layout::{self, PAGE_SIZE};

use super::add;
use crate::igvm::test_support::synthetic_image;
use crate::igvm::{SNP_MASK, SNP_POLICY, TDX_MASK, write_igvm};
use crate::image::{GuestPlatform, Image, PageKind};

const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PF_R: u32 = 4;

/// A PT_LOAD segment of the test ELF.
struct Segment {
    vaddr: u64,
    flags: u32,
    data: Vec<u8>,
    memsz: u64,
}

/// An x86-64 executable with `segments` (each placed at its own page-aligned file offset).
fn elf(entry: u64, segments: &[Segment]) -> Vec<u8> {
    let mut file = vec![0u8; 64 + 56 * segments.len()];
    file[..4].copy_from_slice(b"\x7fELF");
    file[4] = 2; // ELFCLASS64
    file[5] = 1; // ELFDATA2LSB
    file[6] = 1; // EV_CURRENT
    file[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    file[18..20].copy_from_slice(&0x3Eu16.to_le_bytes()); // EM_X86_64
    file[20..24].copy_from_slice(&1u32.to_le_bytes());
    file[24..32].copy_from_slice(&entry.to_le_bytes());
    file[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
    file[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
    file[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
    file[56..58].copy_from_slice(&(segments.len() as u16).to_le_bytes());
    for (i, segment) in segments.iter().enumerate() {
        let offset = file.len().next_multiple_of(PAGE_SIZE as usize);
        let mut header = Vec::with_capacity(56);
        header.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        header.extend_from_slice(&segment.flags.to_le_bytes());
        header.extend_from_slice(&(offset as u64).to_le_bytes());
        header.extend_from_slice(&segment.vaddr.to_le_bytes());
        header.extend_from_slice(&segment.vaddr.to_le_bytes());
        header.extend_from_slice(&(segment.data.len() as u64).to_le_bytes());
        header.extend_from_slice(&segment.memsz.to_le_bytes());
        header.extend_from_slice(&PAGE_SIZE.to_le_bytes());
        file[64 + 56 * i..64 + 56 * (i + 1)].copy_from_slice(&header);
        file.resize(offset, 0);
        file.extend_from_slice(&segment.data);
    }
    file
}

/// A guest shaped like the test guest: one text page, one data page with bss behind it.
pub fn small_guest() -> Vec<u8> {
    elf(
        GUEST_IMAGE_BASE + 0x10,
        &[
            Segment { vaddr: GUEST_IMAGE_BASE, flags: PF_R | PF_X, data: vec![0xF4; 32], memsz: 32 },
            Segment {
                vaddr: GUEST_IMAGE_BASE + PAGE_SIZE,
                flags: PF_R | PF_W,
                data: vec![7; 16],
                memsz: 3 * PAGE_SIZE,
            },
        ],
    )
}

#[test]
fn the_guest_its_bss_and_its_launch_pages_are_snp_pages_and_the_descriptor_names_it() {
    let image = add(&synthetic_image(), &small_guest(), GuestPlatform::Snp).unwrap();
    assert!(image.guest_pages(GuestPlatform::Tdx).is_empty());
    let guest = image.guest_pages(GuestPlatform::Snp);
    let gpas: Vec<u64> = guest.iter().map(|p| p.gpa).collect();
    let mut expected: Vec<u64> = (GUEST_LAUNCH_BASE..GUEST_LAUNCH_END).step_by(PAGE_SIZE as usize).collect();
    expected.extend((0..4).map(|i| GUEST_IMAGE_BASE + i * PAGE_SIZE));
    assert_eq!(gpas, expected);
    let kind = |gpa| guest.iter().find(|p| p.gpa == gpa).unwrap().kind;
    assert_eq!(kind(GUEST_IMAGE_BASE), PageKind::Normal);
    assert_eq!(kind(GUEST_IMAGE_BASE + PAGE_SIZE), PageKind::Normal);
    assert_eq!(kind(GUEST_IMAGE_BASE + 2 * PAGE_SIZE), PageKind::Zero, "bss");
    assert_eq!(kind(GUEST_LAUNCH_BASE), PageKind::Zero, "launch page");
    let text = guest.iter().find(|p| p.gpa == GUEST_IMAGE_BASE).unwrap();
    assert_eq!(&text.data[..33], &[[0xF4; 32].as_slice(), &[0]].concat()[..]);

    let descriptor = image.pages.iter().find(|p| p.gpa == layout::GUEST_PAYLOAD_PAGE).unwrap();
    assert_eq!(descriptor.kind, PageKind::Normal);
    let payload = GuestPayload::parse(descriptor.data.as_slice()).unwrap().unwrap();
    assert_eq!(
        payload,
        GuestPayload {
            magic: GUEST_PAYLOAD_MAGIC,
            entry: GUEST_IMAGE_BASE + 0x10,
            image_start: GUEST_IMAGE_BASE,
            image_end: GUEST_IMAGE_BASE + 4 * PAGE_SIZE,
        }
    );
    // The guest-less image says so.
    let plain = synthetic_image();
    let empty = plain.pages.iter().find(|p| p.gpa == layout::GUEST_PAYLOAD_PAGE).unwrap();
    assert_eq!(GuestPayload::parse(empty.data.as_slice()), Ok(None));
}

#[test]
fn a_guest_outside_its_window_writable_code_or_a_wild_entry_is_refused() {
    let text = |vaddr, flags| Segment { vaddr, flags, data: vec![0xF4; 8], memsz: 8 };
    let cases = [
        ("below the window", elf(GUEST_LAUNCH_BASE, &[text(GUEST_LAUNCH_BASE, PF_R | PF_X)])),
        ("above the window", elf(GUEST_IMAGE_LIMIT, &[text(GUEST_IMAGE_LIMIT, PF_R | PF_X)])),
        ("in Warden", elf(layout::IMAGE_BASE, &[text(layout::IMAGE_BASE, PF_R | PF_X)])),
        ("W+X", elf(GUEST_IMAGE_BASE, &[text(GUEST_IMAGE_BASE, PF_R | PF_W | PF_X)])),
        ("entry in data", elf(GUEST_IMAGE_BASE, &[text(GUEST_IMAGE_BASE, PF_R | PF_W)])),
        ("entry outside", elf(GUEST_IMAGE_BASE + PAGE_SIZE, &[text(GUEST_IMAGE_BASE, PF_R | PF_X)])),
        (
            "overlapping segments",
            elf(GUEST_IMAGE_BASE, &[text(GUEST_IMAGE_BASE, PF_R | PF_X), text(GUEST_IMAGE_BASE, PF_R)]),
        ),
        ("no segment", elf(GUEST_IMAGE_BASE, &[])),
        ("not an ELF", b"not an ELF at all".to_vec()),
    ];
    for (what, guest) in cases {
        assert!(add(&synthetic_image(), &guest, GuestPlatform::Tdx).is_err(), "{what} was accepted");
    }
    let once = add(&synthetic_image(), &small_guest(), GuestPlatform::Snp).unwrap();
    assert!(add(&once, &small_guest(), GuestPlatform::Snp).is_err(), "a second guest was accepted");
    assert!(add(&once, &small_guest(), GuestPlatform::Tdx).is_err(), "a guest for each platform");
}

#[test]
fn the_igvm_file_loads_the_guest_on_snp_only_and_its_digest_covers_it() {
    let plain = synthetic_image();
    let with_guest = add(&plain, &small_guest(), GuestPlatform::Snp).unwrap();
    let bytes = write_igvm(&with_guest, SNP_POLICY).unwrap();
    assert_eq!(bytes, write_igvm(&with_guest.clone(), SNP_POLICY).unwrap(), "reproducible");
    assert_eq!(masks_of_guest_pages(&with_guest, &bytes), SNP_MASK);
    let guest_m = crate::measure::measure(&bytes, 1).unwrap();
    let plain_m = crate::measure::measure(&write_igvm(&plain, SNP_POLICY).unwrap(), 1).unwrap();
    assert_eq!(guest_m.snp_launch_digest, crate::igvm::oracle::snp_launch_digest(&with_guest, 1));
    assert_ne!(guest_m.snp_launch_digest, plain_m.snp_launch_digest);
    // Neither the guest's pages nor its descriptor reach the TD: the same MRTD as without it.
    assert_eq!(guest_m.tdx_mrtd, plain_m.tdx_mrtd, "an SNP guest is not in the TD");
    assert_eq!(guest_m.tdx_mrtd, crate::igvm::oracle::tdx_mrtd(&with_guest));
    // A changed guest byte changes the SNP digest.
    let mut tampered = with_guest.clone();
    tampered.guest.as_mut().unwrap().pages.iter_mut().find(|p| p.gpa == GUEST_IMAGE_BASE).unwrap().data[0] ^=
        1;
    let tampered_m = crate::measure::measure(&write_igvm(&tampered, SNP_POLICY).unwrap(), 1).unwrap();
    assert_ne!(tampered_m.snp_launch_digest, guest_m.snp_launch_digest);
}

#[test]
fn the_igvm_file_loads_a_tdx_guest_on_tdx_only_and_its_mrtd_covers_it() {
    let plain = synthetic_image();
    let with_guest = add(&plain, &small_guest(), GuestPlatform::Tdx).unwrap();
    assert!(with_guest.guest_pages(GuestPlatform::Snp).is_empty());
    let bytes = write_igvm(&with_guest, SNP_POLICY).unwrap();
    assert_eq!(masks_of_guest_pages(&with_guest, &bytes), TDX_MASK);
    let guest_m = crate::measure::measure(&bytes, 1).unwrap();
    let plain_m = crate::measure::measure(&write_igvm(&plain, SNP_POLICY).unwrap(), 1).unwrap();
    assert_eq!(guest_m.tdx_mrtd, crate::igvm::oracle::tdx_mrtd(&with_guest));
    assert_ne!(guest_m.tdx_mrtd, plain_m.tdx_mrtd);
    // Neither the guest's pages nor its descriptor reach the SNP launch: the same digest as without it.
    assert_eq!(guest_m.snp_launch_digest, plain_m.snp_launch_digest, "a TDX guest is not in the SNP launch");
    let mut tampered = with_guest.clone();
    tampered.guest.as_mut().unwrap().pages.iter_mut().find(|p| p.gpa == GUEST_IMAGE_BASE).unwrap().data[0] ^=
        1;
    let tampered_m = crate::measure::measure(&write_igvm(&tampered, SNP_POLICY).unwrap(), 1).unwrap();
    assert_ne!(tampered_m.tdx_mrtd, guest_m.tdx_mrtd);
}

/// The one compatibility mask every guest page of `image` carries in the IGVM file `bytes`, whose
/// PAGE_DATA must hold the page's bytes.
fn masks_of_guest_pages(image: &Image, bytes: &[u8]) -> u32 {
    use igvm::{IgvmDirectiveHeader, IgvmFile};

    let file = IgvmFile::new_from_binary(bytes, None).unwrap();
    let guest = &image.guest.as_ref().unwrap().pages;
    let mut all = Vec::new();
    for page in guest {
        let masks: Vec<u32> = file
            .directives()
            .iter()
            .filter_map(|d| match d {
                IgvmDirectiveHeader::PageData { gpa, compatibility_mask, data, .. } if *gpa == page.gpa => {
                    assert_eq!(data.as_slice(), page.data.as_slice(), "{:#x}", page.gpa);
                    Some(*compatibility_mask)
                }
                _ => None,
            })
            .collect();
        assert_eq!(masks.len(), 1, "guest page {:#x}", page.gpa);
        all.extend(masks);
    }
    all.dedup();
    assert_eq!(all.len(), 1, "one platform for every guest page");
    all[0]
}
