//! The IGVM loader: takes the SEV-SNP platform's directives from an IGVM file, places their pages as
//! the PSP would receive them through SNP_LAUNCH_UPDATE, fills the parameter areas (VP count, memory
//! map), produces the CPUID page and the secrets page (the PSP model's VMPCKs), and measures every
//! page into the launch digest on the way (IGVM format: microsoft/igvm `igvm_defs`; page types:
//! SEV-SNP ABI (AMD 56860) Table 67).
use std::collections::BTreeMap;

use igvm::{IgvmDirectiveHeader, IgvmFile, IgvmInitializationHeader, IgvmPlatformHeader};
use igvm_defs::{IGVM_VHS_MEMORY_MAP_ENTRY, IgvmPageDataType, IgvmPlatformType, MemoryMapEntryType};
use zerocopy::IntoBytes;

use crate::cpuid_model::CpuidModel;
use crate::launch_digest::{LaunchDigest, PageType};

/// A 4 KiB page.
pub type Page = Box<[u8; 4096]>;

/// The machine's guest RAM as the memory map describes it: [0, 256 MiB).
pub const RAM_SIZE: u64 = 256 << 20;

/// Where the secrets page keeps VMPCK0..3 (32 bytes each; SEV-SNP ABI (AMD 56860) Table "Secrets
/// Page Format").
const VMPCK_OFFSETS: [usize; 4] = [0x20, 0x40, 0x60, 0x80];
/// The secrets page's VERSION field value (the layout above).
const SECRETS_VERSION: u32 = 2;

/// What the loader placed for the launch.
#[derive(Debug)]
pub struct LoadedImage {
    /// Every placed page by GPA, with how it was measured.
    pub pages: BTreeMap<u64, (Page, PageType)>,
    /// The boot vCPU's VMSA page and the GPA it was measured at.
    pub vmsa: (u64, Page),
    /// The SNP guest policy.
    pub policy: u64,
    /// The launch digest the PSP computed while these pages were added.
    pub digest: LaunchDigest,
    /// The GPA of the secrets page.
    pub secrets_gpa: Option<u64>,
    /// The GPA of the CPUID page.
    pub cpuid_gpa: Option<u64>,
}

/// Why an IGVM file cannot be launched on the machine.
#[derive(Debug)]
pub enum LoadError {
    /// The `igvm` crate rejected the file.
    Parse(String),
    /// The file has no SEV-SNP platform header.
    NoSnpPlatform,
    /// The file has no SNP guest policy.
    NoPolicy,
    /// A directive the loader cannot follow.
    Unsupported(String),
    /// The file has no (or more than one) boot VMSA.
    Vmsa(usize),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Parse(e) => write!(f, "not a valid IGVM file: {e}"),
            Self::NoSnpPlatform => write!(f, "the IGVM file has no SEV-SNP platform"),
            Self::NoPolicy => write!(f, "the IGVM file has no SNP guest policy"),
            Self::Unsupported(what) => write!(f, "unsupported IGVM directive: {what}"),
            Self::Vmsa(n) => write!(f, "expected one SNP VMSA for VP 0, the file has {n}"),
        }
    }
}

/// Loads `bytes` for the SNP platform with the machine's CPUID model.
pub fn load(bytes: &[u8], cpuid: &CpuidModel) -> Result<LoadedImage, LoadError> {
    let file = IgvmFile::new_from_binary(bytes, None).map_err(|e| LoadError::Parse(e.to_string()))?;
    let mask = file
        .platforms()
        .iter()
        .find_map(|IgvmPlatformHeader::SupportedPlatform(p)| {
            (p.platform_type == IgvmPlatformType::SEV_SNP).then_some(p.compatibility_mask)
        })
        .ok_or(LoadError::NoSnpPlatform)?;
    let policy = file
        .initializations()
        .iter()
        .find_map(|h| match h {
            IgvmInitializationHeader::GuestPolicy { policy, compatibility_mask }
                if compatibility_mask & mask != 0 =>
            {
                Some(*policy)
            }
            _ => None,
        })
        .ok_or(LoadError::NoPolicy)?;
    let mut out = LoadedImage {
        pages: BTreeMap::new(),
        vmsa: (0, zero_page()),
        policy,
        digest: LaunchDigest::default(),
        secrets_gpa: None,
        cpuid_gpa: None,
    };
    let mut areas: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    let mut vmsas = 0;
    for d in file.directives() {
        if d.compatibility_mask().is_some_and(|m| m & mask == 0) {
            continue;
        }
        match d {
            IgvmDirectiveHeader::RequiredMemory { .. } => {}
            IgvmDirectiveHeader::ParameterArea { number_of_bytes, parameter_area_index, initial_data } => {
                let mut area = vec![0u8; *number_of_bytes as usize];
                let n = initial_data.len().min(area.len());
                area[..n].copy_from_slice(&initial_data[..n]);
                areas.insert(*parameter_area_index, area);
            }
            IgvmDirectiveHeader::VpCount(p) => {
                // One vCPU at launch; the guest may create a second one later.
                write_param(&mut areas, p.parameter_area_index, p.byte_offset, &1u32.to_le_bytes())?;
            }
            IgvmDirectiveHeader::MemoryMap(p) => {
                let entry = IGVM_VHS_MEMORY_MAP_ENTRY {
                    starting_gpa_page_number: 0,
                    number_of_pages: RAM_SIZE / 4096,
                    entry_type: MemoryMapEntryType::MEMORY,
                    flags: 0,
                    reserved: 0,
                };
                write_param(&mut areas, p.parameter_area_index, p.byte_offset, entry.as_bytes())?;
            }
            IgvmDirectiveHeader::ParameterInsert(insert) => {
                let area = areas.remove(&insert.parameter_area_index).ok_or_else(|| {
                    LoadError::Unsupported(format!(
                        "parameter area {} inserted twice",
                        insert.parameter_area_index
                    ))
                })?;
                for (i, chunk) in area.chunks(4096).enumerate() {
                    let gpa = insert.gpa + 4096 * i as u64;
                    let mut page = zero_page();
                    page[..chunk.len()].copy_from_slice(chunk);
                    out.place(gpa, page, PageType::Unmeasured);
                }
            }
            IgvmDirectiveHeader::PageData { gpa, flags, data_type, data, .. } => {
                if flags.shared() {
                    return Err(LoadError::Unsupported(format!("shared page {gpa:#x}")));
                }
                let (page, page_type) = match *data_type {
                    IgvmPageDataType::SECRETS => {
                        out.secrets_gpa = Some(*gpa);
                        (secrets_page(), PageType::Secrets)
                    }
                    IgvmPageDataType::CPUID_DATA => {
                        out.cpuid_gpa = Some(*gpa);
                        (cpuid_page(cpuid), PageType::Cpuid)
                    }
                    IgvmPageDataType::NORMAL => {
                        if data.len() > 4096 {
                            return Err(LoadError::Unsupported(format!("page {gpa:#x} larger than 4 KiB")));
                        }
                        let mut page = zero_page();
                        page[..data.len()].copy_from_slice(data);
                        let t = if flags.unmeasured() { PageType::Unmeasured } else { PageType::Normal };
                        (page, t)
                    }
                    other => return Err(LoadError::Unsupported(format!("page data type {other:?}"))),
                };
                out.place(*gpa, page, page_type);
            }
            IgvmDirectiveHeader::SnpVpContext { gpa, vp_index, vmsa, .. } => {
                if *vp_index != 0 {
                    return Err(LoadError::Unsupported(format!("VMSA for VP {vp_index}")));
                }
                let mut page = zero_page();
                page.copy_from_slice(vmsa.as_bytes());
                out.digest.update(PageType::Vmsa, *gpa, &page);
                out.vmsa = (*gpa, page);
                vmsas += 1;
            }
            other => return Err(LoadError::Unsupported(format!("{other:?}").chars().take(80).collect())),
        }
    }
    if vmsas != 1 {
        return Err(LoadError::Vmsa(vmsas));
    }
    Ok(out)
}

impl LoadedImage {
    /// Places one page and measures it, as SNP_LAUNCH_UPDATE does.
    fn place(&mut self, gpa: u64, page: Page, page_type: PageType) {
        self.digest.update(page_type, gpa, &page);
        self.pages.insert(gpa, (page, page_type));
    }
}

fn zero_page() -> Page {
    Box::new([0; 4096])
}

fn write_param(
    areas: &mut BTreeMap<u32, Vec<u8>>,
    index: u32,
    offset: u32,
    bytes: &[u8],
) -> Result<(), LoadError> {
    let area =
        areas.get_mut(&index).ok_or_else(|| LoadError::Unsupported(format!("parameter area {index}")))?;
    let at = offset as usize;
    let slot = area
        .get_mut(at..at + bytes.len())
        .ok_or_else(|| LoadError::Unsupported(format!("parameter at {at:#x} past area {index}")))?;
    slot.copy_from_slice(bytes);
    Ok(())
}

/// The secrets page as the PSP model fills it: VERSION and four random VMPCKs.
fn secrets_page() -> Page {
    let mut page = zero_page();
    page[..4].copy_from_slice(&SECRETS_VERSION.to_le_bytes());
    for at in VMPCK_OFFSETS {
        // A host without entropy leaves the key zero; the launch still works, attestation would not.
        let _ = getrandom::fill(&mut page[at..at + 32]);
    }
    page
}

/// The CPUID page (SNP CPUID table: count, then 0x30-byte functions; SEV-SNP ABI (AMD 56860) "CPUID
/// Reporting").
fn cpuid_page(cpuid: &CpuidModel) -> Page {
    let mut page = zero_page();
    let entries = cpuid.entries();
    page[..4].copy_from_slice(&(entries.len() as u32).to_le_bytes());
    for (i, e) in entries.iter().enumerate() {
        let at = 0x10 + i * 0x30;
        page[at..at + 0x30].copy_from_slice(e.as_bytes());
    }
    page
}
