//! The IGVM writer: Warden's platform-neutral [`Image`] as one IGVM file for SEV-SNP, TDX and native.
//!
//! The file stays inside the subset where every measurer agrees (the `igvm` crate's `measurement`
//! module, coconut-svsm's `igvmmeasure`, virtee/sev-snp-measure and td-shim's `build_igvmmrtd` differ on
//! multi-page parameter areas, shared pages and data-less TDX pages): single-page parameter areas, no shared pages, one VMSA placed last, and explicit data for every
//! measured page (so TDX's MRTD is the same whichever tool computes it). Directives come in a fixed
//! order, pages by GPA, and nothing in the file depends on the build machine: the same [`Image`] always
//! serializes to the same bytes.
//!
//! Directive order (coconut-svsm `igvmbuilder`'s, inside the IGVM format's platform, initialization,
//! directive sequence: microsoft/igvm, `igvm_defs::IgvmVariableHeaderType`): REQUIRED_MEMORY; the two parameter areas, their parameters and inserts; the
//! native VP context; every page of the image by GPA; the guest payload's pages by GPA (for its one
//! platform, SNP or TDX, when the image carries a guest); the SNP SECRETS and CPUID pages (zero pages for
//! TDX and native at the same GPAs); last the SNP VMSA, which KVM measures at launch finish.
mod vp_context;

#[cfg(test)]
mod measure_tests;
#[cfg(test)]
pub mod oracle;
#[cfg(test)]
pub mod test_support;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod vmsa_layout_tests;

use igvm::{Arch, IgvmDirectiveHeader, IgvmFile, IgvmInitializationHeader, IgvmPlatformHeader, IgvmRevision};
use igvm_defs::{
    IGVM_VHS_PARAMETER, IGVM_VHS_PARAMETER_INSERT, IGVM_VHS_SUPPORTED_PLATFORM, IgvmPageDataFlags,
    IgvmPageDataType, IgvmPlatformType, SnpPolicy,
};
use warden_defs::layout;

use crate::Result;
use crate::image::{GuestPlatform, Image, ImagePage, PageKind, ParameterKind};

pub use vp_context::{native_context, snp_vmsa};

/// The SEV-SNP platform's compatibility mask bit (coconut-svsm's assignment, `igvmbuilder`).
pub const SNP_MASK: u32 = 1 << 0;
/// The native (no isolation) platform's compatibility mask bit.
pub const NATIVE_MASK: u32 = 1 << 1;
/// The TDX platform's compatibility mask bit.
pub const TDX_MASK: u32 = 1 << 2;
/// Every platform the file supports.
pub const ALL_MASK: u32 = SNP_MASK | NATIVE_MASK | TDX_MASK;

/// Warden's SNP guest policy, `0x30000`: ABI 0.0 minimum (bits 15:0 zero: any firmware that runs SNP),
/// SMT allowed (bit 16: hosts commonly run with SMT on), bit 17 reserved and must be one, no
/// MIGRATE_MA (bit 18: no migration agent may export the guest), **no DEBUG** (bit 19: the hypervisor
/// may not decrypt guest memory) and no SINGLE_SOCKET restriction (bit 20). The report's `policy` field
/// carries it, so a verifier checks it with the measurement (SEV-SNP Firmware ABI spec (AMD 56860) §4.3
/// "Guest Policy", and the ATTESTATION_REPORT structure's POLICY field).
pub const SNP_POLICY: u64 = SnpPolicy::new().with_smt(1).into_bits();

/// The parameter area index of the boot parameter page (`BootParams`, VP_COUNT at offset 0).
pub const PARAMS_AREA_INDEX: u32 = 0;
/// The parameter area index of the memory map page.
pub const MEMORY_MAP_AREA_INDEX: u32 = 1;

/// The IGVM file for `image`, with `policy` as the SNP guest policy (normally [`SNP_POLICY`]).
///
/// Fails if the image breaks the layout the file relies on: pages unsorted or unaligned, a parameter,
/// secrets or CPUID page missing, doubled or away from its `layout` address.
pub fn write_igvm(image: &Image, policy: u64) -> Result<Vec<u8>> {
    let special = check_image(image)?;
    let mut directives = vec![IgvmDirectiveHeader::RequiredMemory {
        gpa: layout::WARDEN_BASE,
        compatibility_mask: ALL_MASK,
        number_of_bytes: u32::try_from(layout::WARDEN_SIZE)?,
        vtl2_protectable: false,
    }];
    parameter_directives(&special, &mut directives);
    directives.push(IgvmDirectiveHeader::X64NativeVpContext {
        compatibility_mask: NATIVE_MASK,
        vp_index: 0,
        context: Box::new(native_context(&image.entry)),
    });
    for page in &image.pages {
        if let PageKind::Normal | PageKind::Zero = page.kind {
            match &image.guest {
                // The guest payload descriptor, filled for the guest's platform only (zeros elsewhere).
                Some(guest) if page.gpa == layout::GUEST_PAYLOAD_PAGE => {
                    for mask in [guest.platform.mask(), ALL_MASK & !guest.platform.mask()] {
                        let data = image.page_data_on(page, mask).to_vec();
                        directives.push(page_data(page.gpa, mask, IgvmPageDataType::NORMAL, data));
                    }
                }
                _ => directives.push(page_data(page.gpa, ALL_MASK, IgvmPageDataType::NORMAL, explicit(page))),
            }
        }
    }
    // The guest payload: loaded and measured on the one platform Warden launches it on.
    if let Some(guest) = &image.guest {
        let mask = match guest.platform {
            GuestPlatform::Snp => SNP_MASK,
            GuestPlatform::Tdx => TDX_MASK,
        };
        for page in &guest.pages {
            directives.push(page_data(page.gpa, mask, IgvmPageDataType::NORMAL, explicit(page)));
        }
    }
    for (page, data_type) in
        [(special.secrets, IgvmPageDataType::SECRETS), (special.cpuid, IgvmPageDataType::CPUID_DATA)]
    {
        // SNP: the PSP fills the page (secrets) or checks what the hypervisor put there (CPUID).
        directives.push(page_data(page.gpa, SNP_MASK, data_type, Vec::new()));
        // TDX and native: a measured zero page at the same GPA, with explicit data (safe subset).
        let zeros = vec![0; layout::PAGE_SIZE as usize];
        directives.push(page_data(page.gpa, TDX_MASK | NATIVE_MASK, IgvmPageDataType::NORMAL, zeros));
    }
    directives.push(IgvmDirectiveHeader::SnpVpContext {
        gpa: layout::SNP_VMSA_GPA,
        compatibility_mask: SNP_MASK,
        vp_index: 0,
        vmsa: snp_vmsa(&image.entry, image.stub.entry32),
    });

    let file = IgvmFile::new(
        IgvmRevision::V2 { arch: Arch::X64, page_size: layout::PAGE_SIZE as u32 },
        platforms(),
        vec![IgvmInitializationHeader::GuestPolicy { policy, compatibility_mask: SNP_MASK }],
        directives,
    )
    .map_err(|e| format!("igvm: invalid file: {e}"))?;
    let mut out = Vec::new();
    file.serialize(&mut out).map_err(|e| format!("igvm: cannot serialize: {e}"))?;
    Ok(out)
}

/// The three supported-platform headers, SNP first (the order is part of the file's bytes).
fn platforms() -> Vec<IgvmPlatformHeader> {
    [
        (SNP_MASK, IgvmPlatformType::SEV_SNP),
        (NATIVE_MASK, IgvmPlatformType::NATIVE),
        (TDX_MASK, IgvmPlatformType::TDX),
    ]
    .into_iter()
    .map(|(compatibility_mask, platform_type)| {
        IgvmPlatformHeader::SupportedPlatform(IGVM_VHS_SUPPORTED_PLATFORM {
            compatibility_mask,
            highest_vtl: 0,
            platform_type,
            platform_version: 1,
            shared_gpa_boundary: 0,
        })
    })
    .collect()
}

/// The image's pages that are not plain measured data.
struct SpecialPages<'a> {
    params: &'a ImagePage,
    memory_map: &'a ImagePage,
    secrets: &'a ImagePage,
    cpuid: &'a ImagePage,
}

/// Checks the image's invariants and finds its special pages.
fn check_image(image: &Image) -> Result<SpecialPages<'_>> {
    let mut previous: Option<u64> = None;
    for page in &image.pages {
        if page.gpa % layout::PAGE_SIZE != 0 {
            return Err(format!("igvm: page {:#x} is not page aligned", page.gpa).into());
        }
        if previous.is_some_and(|p| p >= page.gpa) {
            return Err(format!("igvm: page {:#x} is out of order or doubled", page.gpa).into());
        }
        previous = Some(page.gpa);
    }
    let guest: &[ImagePage] = image.guest.as_ref().map_or(&[], |guest| &guest.pages);
    let descriptor = image.pages.iter().find(|p| p.gpa == layout::GUEST_PAYLOAD_PAGE);
    if image.guest.is_some()
        && !descriptor.is_some_and(|p| matches!(p.kind, PageKind::Normal | PageKind::Zero))
    {
        return Err("igvm: a guest payload without its descriptor page".into());
    }
    let mut previous: Option<u64> = None;
    for page in guest {
        if page.gpa % layout::PAGE_SIZE != 0 || previous.is_some_and(|p| p >= page.gpa) {
            return Err(
                format!("igvm: guest page {:#x} is unaligned, out of order or doubled", page.gpa).into()
            );
        }
        previous = Some(page.gpa);
        if !matches!(page.kind, PageKind::Normal | PageKind::Zero) {
            return Err(format!("igvm: guest page {:#x} is a {:?} page", page.gpa, page.kind).into());
        }
        if image.pages.binary_search_by_key(&page.gpa, |p| p.gpa).is_ok() {
            return Err(format!("igvm: guest page {:#x} is also one of Warden's", page.gpa).into());
        }
    }
    let find = |kind: PageKind, gpa: u64| -> Result<&ImagePage> {
        let mut found = image.pages.iter().filter(|p| p.kind == kind);
        match (found.next(), found.next()) {
            (Some(page), None) if page.gpa == gpa => Ok(page),
            (Some(page), None) => {
                Err(format!("igvm: {kind:?} page at {:#x}, the layout says {gpa:#x}", page.gpa).into())
            }
            (None, _) => Err(format!("igvm: the image has no {kind:?} page").into()),
            (Some(_), Some(_)) => Err(format!("igvm: the image has more than one {kind:?} page").into()),
        }
    };
    for page in image.pages.iter().chain(guest) {
        let must_be_zero = matches!(page.kind, PageKind::Zero | PageKind::SnpSecrets | PageKind::SnpCpuid);
        if must_be_zero && page.data.iter().any(|&b| b != 0) {
            return Err(format!("igvm: {:?} page {:#x} is not all zeros", page.kind, page.gpa).into());
        }
    }
    Ok(SpecialPages {
        params: find(PageKind::Parameter(ParameterKind::BootParams), layout::PARAMS_PAGE)?,
        memory_map: find(PageKind::Parameter(ParameterKind::MemoryMap), layout::MEMORY_MAP_PAGE)?,
        secrets: find(PageKind::SnpSecrets, layout::SNP_SECRETS_PAGE)?,
        cpuid: find(PageKind::SnpCpuid, layout::SNP_CPUID_PAGE)?,
    })
}

/// The parameter areas (one page each), what the loader writes into them, and their inserts.
fn parameter_directives(special: &SpecialPages<'_>, out: &mut Vec<IgvmDirectiveHeader>) {
    for (page, index) in [(special.params, PARAMS_AREA_INDEX), (special.memory_map, MEMORY_MAP_AREA_INDEX)] {
        out.push(IgvmDirectiveHeader::ParameterArea {
            number_of_bytes: layout::PAGE_SIZE,
            parameter_area_index: index,
            initial_data: nonzero(page),
        });
    }
    // `BootParams::vcpu_count` is at offset 0 of the parameter page; the memory map fills its page.
    let param = |index| IGVM_VHS_PARAMETER { parameter_area_index: index, byte_offset: 0 };
    out.push(IgvmDirectiveHeader::VpCount(param(PARAMS_AREA_INDEX)));
    out.push(IgvmDirectiveHeader::MemoryMap(param(MEMORY_MAP_AREA_INDEX)));
    for (page, index) in [(special.params, PARAMS_AREA_INDEX), (special.memory_map, MEMORY_MAP_AREA_INDEX)] {
        out.push(IgvmDirectiveHeader::ParameterInsert(IGVM_VHS_PARAMETER_INSERT {
            gpa: page.gpa,
            compatibility_mask: ALL_MASK,
            parameter_area_index: index,
        }));
    }
}

/// A 4 KiB PAGE_DATA directive, measured, private.
fn page_data(gpa: u64, mask: u32, data_type: IgvmPageDataType, data: Vec<u8>) -> IgvmDirectiveHeader {
    IgvmDirectiveHeader::PageData {
        gpa,
        compatibility_mask: mask,
        flags: IgvmPageDataFlags::new(),
        data_type,
        data,
    }
}

/// The page's bytes, always present, zeros included: the safe subset for TDX.
fn explicit(page: &ImagePage) -> Vec<u8> {
    page.data.to_vec()
}

/// A parameter page's initial bytes, or none when they are all zero (the loader writes the rest).
fn nonzero(page: &ImagePage) -> Vec<u8> {
    if page.data.iter().all(|&b| b == 0) { Vec::new() } else { page.data.to_vec() }
}
