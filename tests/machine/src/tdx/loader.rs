//! The TD build from an IGVM file: the TDX platform's directives (compatibility mask of the TDX
//! platform header), in file order, as the VMM issues them to the TDX module: each page placed is one
//! TDH.MEM.PAGE.ADD, each measured page also sixteen TDH.MR.EXTENDs ("Intel TDX Module v1.5 ABI
//! Specification" (348551) TDH.MEM.PAGE.ADD, TDH.MR.EXTEND). The MRTD comes from what this loader
//! placed ([`Mrtd`]), not from the `igvm` crate's measurement. Parameter pages (VP count, memory map)
//! are added unmeasured, as IGVM says for parameter inserts. A TD has no VP context: every vCPU starts
//! at the reset vector ([`super::reset`]).
use std::collections::BTreeMap;

use igvm::{IgvmDirectiveHeader, IgvmFile, IgvmPlatformHeader};
use igvm_defs::{IGVM_VHS_MEMORY_MAP_ENTRY, IgvmPageDataType, IgvmPlatformType, MemoryMapEntryType};
use zerocopy::IntoBytes;

use super::mrtd::Mrtd;
use crate::loader::{LoadError, Page, RAM_SIZE};

/// What the VMM added to the TD before TDH.MR.FINALIZE.
#[derive(Debug)]
pub struct TdImage {
    /// Every page added (TDH.MEM.PAGE.ADD), by GPA: private and accepted from the start.
    pub pages: BTreeMap<u64, Page>,
    /// The build measurement.
    pub mrtd: Mrtd,
}

/// Builds the TD from `bytes`.
pub fn load(bytes: &[u8]) -> Result<TdImage, LoadError> {
    let file = IgvmFile::new_from_binary(bytes, None).map_err(|e| LoadError::Parse(e.to_string()))?;
    let mask = file
        .platforms()
        .iter()
        .find_map(|IgvmPlatformHeader::SupportedPlatform(p)| {
            (p.platform_type == IgvmPlatformType::TDX).then_some(p.compatibility_mask)
        })
        .ok_or_else(|| LoadError::Unsupported("the IGVM file has no TDX platform".into()))?;
    let mut image = TdImage { pages: BTreeMap::new(), mrtd: Mrtd::default() };
    let mut areas: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    for d in file.directives() {
        if d.compatibility_mask().is_some_and(|m| m & mask == 0) {
            continue;
        }
        match d {
            // Memory the TD gets later with TDH.MEM.PAGE.AUG: pending, not measured.
            IgvmDirectiveHeader::RequiredMemory { .. } => {}
            IgvmDirectiveHeader::ParameterArea { number_of_bytes, parameter_area_index, initial_data } => {
                let mut area = vec![0u8; *number_of_bytes as usize];
                let n = initial_data.len().min(area.len());
                area[..n].copy_from_slice(&initial_data[..n]);
                areas.insert(*parameter_area_index, area);
            }
            IgvmDirectiveHeader::VpCount(p) => {
                param(&mut areas, p.parameter_area_index, p.byte_offset, &1u32.to_le_bytes())?;
            }
            IgvmDirectiveHeader::MemoryMap(p) => {
                let entry = IGVM_VHS_MEMORY_MAP_ENTRY {
                    starting_gpa_page_number: 0,
                    number_of_pages: RAM_SIZE / 4096,
                    entry_type: MemoryMapEntryType::MEMORY,
                    flags: 0,
                    reserved: 0,
                };
                param(&mut areas, p.parameter_area_index, p.byte_offset, entry.as_bytes())?;
            }
            IgvmDirectiveHeader::ParameterInsert(insert) => {
                let area = areas.remove(&insert.parameter_area_index).ok_or_else(|| {
                    LoadError::Unsupported(format!(
                        "parameter area {} inserted twice",
                        insert.parameter_area_index
                    ))
                })?;
                for (i, chunk) in area.chunks(4096).enumerate() {
                    let mut page: Page = Box::new([0; 4096]);
                    page[..chunk.len()].copy_from_slice(chunk);
                    image.add(insert.gpa + 4096 * i as u64, page, false)?;
                }
            }
            IgvmDirectiveHeader::PageData { gpa, flags, data_type, data, .. } => {
                if flags.shared() {
                    return Err(LoadError::Unsupported(format!("shared page {gpa:#x} in a TD build")));
                }
                if *data_type != IgvmPageDataType::NORMAL || data.len() > 4096 {
                    return Err(LoadError::Unsupported(format!("TDX page {gpa:#x} of type {data_type:?}")));
                }
                let mut page: Page = Box::new([0; 4096]);
                page[..data.len()].copy_from_slice(data);
                image.add(*gpa, page, !flags.unmeasured())?;
            }
            other => return Err(LoadError::Unsupported(format!("{other:?}").chars().take(80).collect())),
        }
    }
    Ok(image)
}

impl TdImage {
    /// TDH.MEM.PAGE.ADD, then TDH.MR.EXTEND of the whole page if `measured`. Adding a page twice is
    /// refused by the TDX module (the Secure EPT entry is no longer free).
    fn add(&mut self, gpa: u64, page: Page, measured: bool) -> Result<(), LoadError> {
        if !gpa.is_multiple_of(4096) || self.pages.contains_key(&gpa) {
            return Err(LoadError::Unsupported(format!("TDH.MEM.PAGE.ADD of {gpa:#x} twice or unaligned")));
        }
        self.mrtd.page_add(gpa);
        if measured {
            self.mrtd.extend_page(gpa, &page);
        }
        self.pages.insert(gpa, page);
        Ok(())
    }
}

fn param(areas: &mut BTreeMap<u32, Vec<u8>>, index: u32, offset: u32, bytes: &[u8]) -> Result<(), LoadError> {
    let area =
        areas.get_mut(&index).ok_or_else(|| LoadError::Unsupported(format!("parameter area {index}")))?;
    let at = offset as usize;
    area.get_mut(at..at + bytes.len())
        .ok_or_else(|| LoadError::Unsupported(format!("parameter at {at:#x} past area {index}")))?
        .copy_from_slice(bytes);
    Ok(())
}
