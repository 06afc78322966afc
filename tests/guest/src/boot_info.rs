//! The boot-information page as the guest reads it (`warden_defs::guest_launch`): which platform
//! launched it, and so how it reaches Warden and prints, and whether the rest of the page says what the
//! launch contract says for that platform. On SEV-SNP the guest runs at VMPL2 with a calling area, a
//! secrets copy and a GHCB; on TDX it runs as the L2 VM 1 of a partitioned TD, where none of the three
//! exist (Intel TDX Module TD Partitioning Architecture Specification: the TDX module carries every
//! L2 exit to the L1, so there is no shared page to call through).
use warden_defs::guest_launch::{
    GUEST_BOOT_INFO, GUEST_BOOT_MAGIC, GUEST_GHCB, GUEST_PLATFORM_SNP, GUEST_PLATFORM_TDX_L2, GUEST_SECRETS,
    GUEST_VMPL, GuestBootInfo,
};
use warden_defs::layout::{LARGE_PAGE_SIZE, PAGE_SIZE};

/// How the guest was launched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    /// AMD SEV-SNP, at [`GUEST_VMPL`]: SVSM calls through the calling area and VMGEXIT, the console
    /// through the guest's GHCB.
    Snp,
    /// Intel TDX, as L2 VM 1 with Warden its L1: SVSM calls are VMCALL exits, the console is OUT.
    TdxL2,
}

impl Platform {
    /// The platform the page's `platform` field names; `None` for any other value.
    pub fn from_field(field: u64) -> Option<Self> {
        match field {
            GUEST_PLATFORM_SNP => Some(Self::Snp),
            GUEST_PLATFORM_TDX_L2 => Some(Self::TdxL2),
            _ => None,
        }
    }

    /// The transport the guest uses before it has checked the page: TDX only when the field says so.
    /// Anything else starts as SNP, whose first act (registering the GHCB) ends a guest that is not on
    /// SNP; the boot-information step then fails on the unknown value.
    pub fn assumed(field: u64) -> Self {
        Self::from_field(field).unwrap_or(Self::Snp)
    }
}

/// What is wrong with the page (each with the line the step prints).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootInfoError {
    /// RDI did not point at [`GUEST_BOOT_INFO`].
    NotTheLaunchPage,
    /// Not [`GUEST_BOOT_MAGIC`].
    Magic,
    /// A `platform` value the contract does not define.
    UnknownPlatform,
    /// SNP: not [`GUEST_VMPL`]; TDX: not 0.
    Vmpl,
    /// SNP: the GHCB is not [`GUEST_GHCB`].
    Ghcb,
    /// SNP: no page-aligned calling area.
    CallingArea,
    /// SNP: the secrets copy is not [`GUEST_SECRETS`].
    Secrets,
    /// TDX: a calling area, secrets page, GHCB or C-bit, which TDX has none of.
    SnpPagesOnTdx,
    /// TDX: not exactly one vCPU.
    VcpuCount,
    /// The free RAM is not 2 MiB aligned or smaller than the steps need.
    FreeRam,
    /// Warden's region is empty.
    EmptyWarden,
}

impl BootInfoError {
    /// The step line's words.
    pub fn reason(self) -> &'static str {
        match self {
            Self::NotTheLaunchPage => "RDI is not the boot-information page",
            Self::Magic => "bad magic",
            Self::UnknownPlatform => "an unknown platform",
            Self::Vmpl => "not the launch contract's VMPL",
            Self::Ghcb => "the GHCB is not the launch contract's",
            Self::CallingArea => "no page-aligned calling area",
            Self::Secrets => "the secrets copy is not the launch contract's",
            Self::SnpPagesOnTdx => "SNP pages or a C-bit named on TDX",
            Self::VcpuCount => "not exactly one vCPU on TDX",
            Self::FreeRam => "the free RAM is not 2 MiB aligned or too small",
            Self::EmptyWarden => "Warden's region is empty",
        }
    }
}

/// Checks the page found at `gpa`, whose free RAM must hold `free_needed` bytes; answers the platform.
pub fn check(gpa: u64, info: &GuestBootInfo, free_needed: u64) -> Result<Platform, BootInfoError> {
    if gpa != GUEST_BOOT_INFO {
        return Err(BootInfoError::NotTheLaunchPage);
    }
    if info.magic != GUEST_BOOT_MAGIC {
        return Err(BootInfoError::Magic);
    }
    let platform = Platform::from_field(info.platform).ok_or(BootInfoError::UnknownPlatform)?;
    match platform {
        Platform::Snp => {
            if info.vmpl != u32::from(GUEST_VMPL) {
                return Err(BootInfoError::Vmpl);
            }
            if info.ghcb != GUEST_GHCB {
                return Err(BootInfoError::Ghcb);
            }
            if !info.caa.is_multiple_of(PAGE_SIZE) || info.caa == 0 {
                return Err(BootInfoError::CallingArea);
            }
        }
        Platform::TdxL2 => {
            if info.vmpl != 0 {
                return Err(BootInfoError::Vmpl);
            }
            if info.caa != 0 || info.secrets != 0 || info.ghcb != 0 || info.c_bit != 0 {
                return Err(BootInfoError::SnpPagesOnTdx);
            }
            if info.vcpu_count != 1 {
                return Err(BootInfoError::VcpuCount);
            }
        }
    }
    let free = info.free_end.saturating_sub(info.free_start);
    if !info.free_start.is_multiple_of(LARGE_PAGE_SIZE) || free < free_needed {
        return Err(BootInfoError::FreeRam);
    }
    if platform == Platform::Snp && info.secrets != GUEST_SECRETS {
        return Err(BootInfoError::Secrets);
    }
    if info.svsm_size == 0 {
        return Err(BootInfoError::EmptyWarden);
    }
    Ok(platform)
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_defs::guest_launch::{GUEST_CAA, GUEST_FREE_BASE, GUEST_FREE_END};

    const NEEDED: u64 = 2 * LARGE_PAGE_SIZE;

    fn snp() -> GuestBootInfo {
        GuestBootInfo {
            magic: GUEST_BOOT_MAGIC,
            c_bit: 51,
            vmpl: u32::from(GUEST_VMPL),
            apic_id: 0,
            vcpu_count: 2,
            caa: GUEST_CAA,
            secrets: GUEST_SECRETS,
            ghcb: GUEST_GHCB,
            free_start: GUEST_FREE_BASE,
            free_end: GUEST_FREE_END,
            svsm_base: 0x0800_0000,
            svsm_size: 0x0100_0000,
            platform: GUEST_PLATFORM_SNP,
        }
    }

    fn tdx() -> GuestBootInfo {
        GuestBootInfo {
            c_bit: 0,
            vmpl: 0,
            vcpu_count: 1,
            caa: 0,
            secrets: 0,
            ghcb: 0,
            platform: GUEST_PLATFORM_TDX_L2,
            ..snp()
        }
    }

    #[test]
    fn the_platform_field_decodes_and_anything_else_starts_as_snp() {
        assert_eq!(Platform::from_field(1), Some(Platform::Snp));
        assert_eq!(Platform::from_field(2), Some(Platform::TdxL2));
        assert_eq!(Platform::from_field(0), None);
        assert_eq!(Platform::from_field(3), None);
        assert_eq!(Platform::assumed(2), Platform::TdxL2);
        assert_eq!(Platform::assumed(0), Platform::Snp);
        assert_eq!(Platform::assumed(u64::MAX), Platform::Snp);
    }

    #[test]
    fn each_platform_s_page_as_launched_passes() {
        assert_eq!(check(GUEST_BOOT_INFO, &snp(), NEEDED), Ok(Platform::Snp));
        assert_eq!(check(GUEST_BOOT_INFO, &tdx(), NEEDED), Ok(Platform::TdxL2));
    }

    #[test]
    fn a_page_that_breaks_the_contract_is_refused() {
        let cases = [
            (GUEST_BOOT_INFO + PAGE_SIZE, snp(), BootInfoError::NotTheLaunchPage),
            (GUEST_BOOT_INFO, GuestBootInfo { magic: 0, ..snp() }, BootInfoError::Magic),
            (GUEST_BOOT_INFO, GuestBootInfo { platform: 0, ..snp() }, BootInfoError::UnknownPlatform),
            (GUEST_BOOT_INFO, GuestBootInfo { vmpl: 1, ..snp() }, BootInfoError::Vmpl),
            (GUEST_BOOT_INFO, GuestBootInfo { caa: GUEST_CAA + 8, ..snp() }, BootInfoError::CallingArea),
            (GUEST_BOOT_INFO, GuestBootInfo { secrets: 0, ..snp() }, BootInfoError::Secrets),
            (GUEST_BOOT_INFO, GuestBootInfo { vmpl: 2, ..tdx() }, BootInfoError::Vmpl),
            (GUEST_BOOT_INFO, GuestBootInfo { ghcb: GUEST_GHCB, ..tdx() }, BootInfoError::SnpPagesOnTdx),
            (GUEST_BOOT_INFO, GuestBootInfo { caa: GUEST_CAA, ..tdx() }, BootInfoError::SnpPagesOnTdx),
            (GUEST_BOOT_INFO, GuestBootInfo { c_bit: 51, ..tdx() }, BootInfoError::SnpPagesOnTdx),
            (GUEST_BOOT_INFO, GuestBootInfo { vcpu_count: 2, ..tdx() }, BootInfoError::VcpuCount),
            (
                GUEST_BOOT_INFO,
                GuestBootInfo { free_end: GUEST_FREE_BASE + LARGE_PAGE_SIZE, ..tdx() },
                BootInfoError::FreeRam,
            ),
            (
                GUEST_BOOT_INFO,
                GuestBootInfo { free_start: GUEST_FREE_BASE + PAGE_SIZE, ..snp() },
                BootInfoError::FreeRam,
            ),
            (GUEST_BOOT_INFO, GuestBootInfo { svsm_size: 0, ..tdx() }, BootInfoError::EmptyWarden),
        ];
        for (gpa, info, error) in cases {
            assert_eq!(check(gpa, &info, NEEDED), Err(error), "{info:?}");
        }
    }
}
