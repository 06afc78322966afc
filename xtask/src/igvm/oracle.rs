//! Independent measurers for the tests: the SNP PAGE_INFO chain (SEV-SNP Firmware ABI spec (AMD 56860)
//! §8.17 SNP_LAUNCH_UPDATE, Table 67 PAGE_INFO) and the TDX MRTD (Intel TDX Module base architecture
//! spec: TDH.MEM.PAGE.ADD and TDH.MR.EXTEND extend MRTD), written from the specifications, walking the
//! input [`Image`] rather than the IGVM file, and a VMSA laid out byte by byte from its offsets (AMD64
//! APM vol. 2, Appendix B, the VMSA layout for SEV-ES).
//! They share no code with the `igvm` crate's measurer or with the writer.
use sha2::{Digest, Sha384};
use warden_defs::layout;

use crate::igvm::{SNP_MASK, TDX_MASK};
use crate::image::{GuestPlatform, Image, PageKind};

/// PAGE_INFO page types (AMD 56860 §8.17, SNP_LAUNCH_UPDATE's PAGE_TYPE).
const NORMAL: u8 = 0x01;
const VMSA: u8 = 0x02;
const UNMEASURED: u8 = 0x04;
const SECRETS: u8 = 0x05;
const CPUID: u8 = 0x06;

/// The running SNP launch digest.
pub struct LaunchDigest([u8; 48]);

impl LaunchDigest {
    pub fn new() -> Self {
        Self([0; 48])
    }

    /// `LD = SHA-384(PAGE_INFO)`, PAGE_INFO laid out as in AMD 56860 Table 67.
    pub fn update(&mut self, page_type: u8, gpa: u64, contents: [u8; 48]) {
        let mut info = Vec::with_capacity(0x70);
        info.extend_from_slice(&self.0); // 0x00 current LD
        info.extend_from_slice(&contents); // 0x30 contents
        info.extend_from_slice(&[0x70, 0x00]); // 0x60 length
        info.push(page_type); // 0x62
        info.extend_from_slice(&[0, 0, 0, 0, 0]); // 0x63 imi, vmpl3, vmpl2, vmpl1, reserved
        info.extend_from_slice(&gpa.to_le_bytes()); // 0x68
        assert_eq!(info.len(), 0x70);
        self.0 = Sha384::digest(&info).into();
    }

    pub fn page(&mut self, page_type: u8, gpa: u64, page: &[u8]) {
        self.update(page_type, gpa, Sha384::digest(page).into());
    }

    pub fn finish(self) -> [u8; 48] {
        self.0
    }
}

/// The SNP VMSA the image should carry, from the VMSA offsets (AMD64 APM vol. 2, Appendix B; RSI at
/// 0x330, RDI at 0x338).
pub fn vmsa_page(image: &Image) -> Vec<u8> {
    let mut page = vec![0u8; 4096];
    let mut put = |offset: usize, bytes: &[u8]| page[offset..offset + bytes.len()].copy_from_slice(bytes);
    let segment = |selector: u16, attrib: u16, limit: u32| {
        let mut s = Vec::new();
        s.extend_from_slice(&selector.to_le_bytes());
        s.extend_from_slice(&attrib.to_le_bytes());
        s.extend_from_slice(&limit.to_le_bytes());
        s.extend_from_slice(&0u64.to_le_bytes());
        s
    };
    // ES, CS, SS, DS, FS, GS at 0x00..0x60, then GDTR, LDTR, IDTR, TR.
    put(0x00, &segment(0x10, 0xC93, 0xFFFF_FFFF));
    put(0x10, &segment(0x08, 0xC9B, 0xFFFF_FFFF));
    put(0x20, &segment(0x10, 0xC93, 0xFFFF_FFFF));
    put(0x30, &segment(0x10, 0xC93, 0xFFFF_FFFF));
    put(0x40, &segment(0x10, 0xC93, 0xFFFF_FFFF));
    put(0x50, &segment(0, 0x93, 0xFFFF));
    put(0x60, &segment(0, 0, 0xFFFF));
    put(0x70, &segment(0, 0x82, 0xFFFF));
    put(0x80, &segment(0, 0, 0xFFFF));
    put(0x90, &segment(0, 0x8B, 0xFFFF));
    put(0xD0, &0x1000u64.to_le_bytes()); // EFER.SVME
    put(0x148, &0x40u64.to_le_bytes()); // CR4.MCE
    put(0x158, &0x31u64.to_le_bytes()); // CR0 PE|ET|NE
    put(0x160, &0x400u64.to_le_bytes());
    put(0x168, &0xFFFF_0FF0u64.to_le_bytes());
    put(0x170, &2u64.to_le_bytes());
    put(0x178, &image.stub.entry32.to_le_bytes());
    put(0x268, &0x0007_0406_0007_0406u64.to_le_bytes());
    put(0x330, &image.entry.rsi.to_le_bytes());
    put(0x338, &1u64.to_le_bytes()); // RDI: the SNP claim
    put(0x3B0, &1u64.to_le_bytes()); // sev_features: SNP active
    put(0x3E8, &1u64.to_le_bytes()); // XCR0
    put(0x408, &0x1F80u32.to_le_bytes());
    put(0x410, &0x37Fu16.to_le_bytes());
    page
}

/// The SNP launch digest of `image` as the IGVM file should load it: the parameter pages unmeasured,
/// the data and zero pages by GPA, the guest payload's pages by GPA, the secrets and CPUID pages, then
/// one VMSA per vCPU.
pub fn snp_launch_digest(image: &Image, vcpus: u32) -> [u8; 48] {
    let mut ld = LaunchDigest::new();
    ld.update(UNMEASURED, layout::PARAMS_PAGE, [0; 48]);
    ld.update(UNMEASURED, layout::MEMORY_MAP_PAGE, [0; 48]);
    for page in image.pages.iter().filter(|p| matches!(p.kind, PageKind::Normal | PageKind::Zero)) {
        ld.page(NORMAL, page.gpa, image.page_data_on(page, SNP_MASK));
    }
    for page in image.guest_pages(GuestPlatform::Snp) {
        ld.page(NORMAL, page.gpa, page.data.as_slice());
    }
    ld.update(SECRETS, layout::SNP_SECRETS_PAGE, [0; 48]);
    ld.update(CPUID, layout::SNP_CPUID_PAGE, [0; 48]);
    let vmsa = vmsa_page(image);
    for _ in 0..vcpus {
        ld.page(VMSA, 0xFFFF_FFFF_F000, &vmsa);
    }
    ld.finish()
}

/// The 128-byte block TDH.MEM.PAGE.ADD and TDH.MR.EXTEND hash: the operation name, NUL padded to 16
/// bytes, the GPA at 16..24, zeros to 128.
fn tdx_block(name: &[u8], gpa: u64) -> [u8; 128] {
    let mut block = [0u8; 128];
    block[..name.len()].copy_from_slice(name);
    block[16..24].copy_from_slice(&gpa.to_le_bytes());
    block
}

/// The TDX MRTD of `image`: ADD only for the parameter pages (the loader fills them), ADD plus 16
/// EXTENDs of 256 bytes for every other page (a TDX guest payload's after Warden's), in the file's
/// order.
pub fn tdx_mrtd(image: &Image) -> [u8; 48] {
    let mut mrtd = Sha384::new();
    let mut add = |gpa: u64, data: Option<&[u8]>| {
        mrtd.update(tdx_block(b"MEM.PAGE.ADD", gpa));
        if let Some(data) = data {
            for (i, chunk) in data.chunks(256).enumerate() {
                mrtd.update(tdx_block(b"MR.EXTEND", gpa + 256 * i as u64));
                mrtd.update(chunk);
            }
        }
    };
    add(layout::PARAMS_PAGE, None);
    add(layout::MEMORY_MAP_PAGE, None);
    for page in image.pages.iter().filter(|p| matches!(p.kind, PageKind::Normal | PageKind::Zero)) {
        add(page.gpa, Some(image.page_data_on(page, TDX_MASK)));
    }
    for page in image.guest_pages(GuestPlatform::Tdx) {
        add(page.gpa, Some(page.data.as_slice()));
    }
    add(layout::SNP_SECRETS_PAGE, Some(&[0; 4096]));
    add(layout::SNP_CPUID_PAGE, Some(&[0; 4096]));
    mrtd.finalize().into()
}
