//! The loader's pages, read once (threat model T3): the boot parameter page, the memory-map page and,
//! on SEV-SNP, the CPUID page, the secrets page and the guest payload descriptor. Each is copied whole into private memory, every byte read once, and only
//! the copy is parsed, by the host-tested validators in `warden_defs::boot_params` and
//! `warden_defs::snp_cpuid`; Warden never reads these pages again.
use warden_defs::boot_params::{BootParams, BootParamsError, MemoryMap};
#[cfg(warden_request_loop)]
use warden_defs::layout::{GUEST_PAYLOAD_PAGE, SNP_SECRETS_PAGE};
use warden_defs::layout::{MEMORY_MAP_PAGE, PAGE_SIZE, PARAMS_PAGE, SNP_CPUID_PAGE};

/// One page's bytes, privately owned.
pub type PageCopy = [u8; PAGE_SIZE as usize];

/// Copies one of the layout's parameter pages into private memory, each byte read once. Private: the
/// callers below pass only the layout's constants.
///
/// A loop of 8-byte volatile reads: a volatile read of the whole array compiles to 4096 unrolled byte
/// moves (220 KiB of code, 29 ms of the boot under TCG, measured).
fn copy_page(gpa: u64) -> PageCopy {
    let mut copy = [0u8; PAGE_SIZE as usize];
    let words = gpa as *const u64;
    for (index, chunk) in copy.chunks_exact_mut(8).enumerate() {
        // SAFETY: `gpa` is one of the layout's parameter pages (the callers below), page-aligned, which
        // the image maps readable to themselves (the boot's page-table check) and no Rust object lives
        // in; `index` < 512 keeps the read inside the page. The loader may have written anything there,
        // which is why the bytes are copied and then only validated.
        let word = unsafe { words.add(index).read_volatile() };
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    copy
}

/// The SNP CPUID page, copied (SNP only; parsed by `warden_defs::snp_cpuid`).
pub fn copy_snp_cpuid_page() -> PageCopy {
    copy_page(SNP_CPUID_PAGE)
}

#[cfg(warden_request_loop)]
/// The SNP secrets page, copied (SNP only; the guest gets a copy with Warden's keys cleared).
pub fn copy_snp_secrets_page() -> PageCopy {
    copy_page(SNP_SECRETS_PAGE)
}

#[cfg(warden_request_loop)]
/// The guest payload descriptor page, copied (parsed by `warden_defs::guest_launch::GuestPayload`).
pub fn copy_guest_payload_page() -> PageCopy {
    copy_page(GUEST_PAYLOAD_PAGE)
}

/// What the loader told Warden, validated.
#[derive(Clone, Copy, Debug)]
pub struct BootFacts {
    /// The vCPU count, when the loader gave one.
    pub vcpu_count: Option<u32>,
    /// The guest's memory, Warden's own region cut out.
    pub memory_map: MemoryMap,
    /// SHA-384 of the boot configuration as the loader placed it: the boot parameter page followed by
    /// the memory-map page, 8 KiB, hashed from the same copies that were parsed. MRTD and the SNP
    /// launch digest do not cover these pages (IGVM parameter areas are inserted unmeasured); TDX
    /// extends this digest into RTMR\[0\] (`warden_svsm::tdx_evidence::WardenEvent::BootConfig`; an 8 KiB hash, so it is
    /// taken on every platform rather than keeping the copies for the one that uses it).
    pub config_digest: [u8; 48],
}

/// Why the loader's pages were refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootFactsError {
    /// RSI named another page than the layout's parameter page.
    UnexpectedParamsAddress(u64),
    /// The boot parameter page failed its checks.
    Params(BootParamsError),
    /// The memory-map page failed its checks.
    MemoryMap(BootParamsError),
}

/// Reads and validates the parameter pages. `rsi` is the parameter page's address the boot path
/// passed; Warden reads the layout's page and only checks that the boot path agrees.
pub fn read(rsi: u64) -> Result<BootFacts, BootFactsError> {
    if rsi != PARAMS_PAGE {
        return Err(BootFactsError::UnexpectedParamsAddress(rsi));
    }
    use warden_sha::Sha384;
    use warden_sha::digest::Digest;
    let (params, map) = (copy_page(PARAMS_PAGE), copy_page(MEMORY_MAP_PAGE));
    let config_digest = Sha384::new().chain_update(params).chain_update(map).finalize().into();
    let vcpu_count = BootParams::parse(&params).map_err(BootFactsError::Params)?;
    let memory_map = MemoryMap::parse(&map).map_err(BootFactsError::MemoryMap)?;
    Ok(BootFacts { vcpu_count, memory_map, config_digest })
}
