//! Measured boot: the firmware starts its vTPM as an H-CRTM would and records its own launch in PCR 0
//! and its configuration in PCR 1, with the crypto-agile event log that lets a verifier replay both,
//! before any guest command reaches the TPM.
//!
//! The sequence (TCG PC Client PFP 1.05 §10.4.5.3 and TPM 2.0 Library Part 1 §34.3, "H-CRTM"):
//! 1. TPM2_Startup(CLEAR), then PCR 0 of every bank takes the H-CRTM reset value 0…04, as after
//!    _TPM_Hash_Start at locality 4; the log records an EV_NO_ACTION "StartupLocality" event with
//!    locality 4, which tells a verifier where PCR 0 started and extends nothing.
//! 2. PCR 0: EV_S_CRTM_VERSION, whose event data names the launch measurement (the SNP launch digest,
//!    the TDX MRTD, or on native the image digest Warden computes itself). PFP gives this type the
//!    identity of the CRTM, and its digest is the hash of the event data, so a verifier recomputes it
//!    from the log; EV_POST_CODE and EV_EFI_PLATFORM_FIRMWARE_BLOB2 would need digests of code the
//!    guest cannot read, and the launch digest is not such a hash.
//! 3. PCR 1: EV_PLATFORM_CONFIG_FLAGS with a [`PlatformConfig`] (platform, vCPUs, guest RAM).
//!
//! The guest's TPM2_Startup afterwards answers TPM_RC_INITIALIZE, as with any firmware that starts
//! its TPM; the guest cannot reset PCR 0 or 1 (no _TPM_Init reaches the vTPM from a guest).
use alloc::vec::Vec;
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::crypto::{Digest, HASH_ALGS, HashAlg};
use crate::event_log::EventLog;
use crate::event_log::wire::{EV_PLATFORM_CONFIG_FLAGS, EV_S_CRTM_VERSION};
use crate::state::pcr::PCR_COUNT;
use crate::wire::response_code::ResponseCode;
use crate::{Power, Tpm};

/// The startup locality of an H-CRTM: PCR 0's reset value ends in 4.
pub const H_CRTM_LOCALITY: u8 = 4;
/// The PCR the launch measurement goes into.
pub const LAUNCH_PCR: u32 = 0;
/// The PCR the configuration goes into.
pub const CONFIG_PCR: u32 = 1;

/// Where a launch measurement comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaunchRoot {
    /// The SNP ATTESTATION_REPORT's MEASUREMENT (SEV-SNP ABI, AMD 56860, Table 23): the PSP's launch
    /// digest.
    SnpLaunchDigest,
    /// The TDREPORT's MRTD (Intel TDX module ABI, TDREPORT_STRUCT): the TDX module's build-time
    /// measurement.
    TdxMrtd,
    /// Native (no hardware root): SHA-384 of Warden's own read-only image (text and rodata, as loaded),
    /// computed by that image. It tells builds apart; it proves nothing, since a changed image could
    /// report any value.
    NativeImage,
}

impl LaunchRoot {
    fn label(self) -> &'static str {
        match self {
            LaunchRoot::SnpLaunchDigest => "SNP launch digest",
            LaunchRoot::TdxMrtd => "TDX MRTD",
            LaunchRoot::NativeImage => "native image SHA-384 (self-reported, no hardware root)",
        }
    }
}

/// The launch measurement Warden extends into PCR 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchMeasurement {
    /// Its source.
    pub root: LaunchRoot,
    /// The 48-byte measurement.
    pub digest: [u8; 48],
}

impl LaunchMeasurement {
    /// The EV_S_CRTM_VERSION event data: a NUL-terminated UTF-16LE string (the PFP's CRTM version is a
    /// string), `Warden H-CRTM: <source> <96 hex digits>`.
    pub fn event_data(&self) -> Vec<u8> {
        let mut text = alloc::string::String::from("Warden H-CRTM: ");
        text.push_str(self.root.label());
        text.push(' ');
        for b in self.digest {
            let _ = core::fmt::Write::write_fmt(&mut text, format_args!("{b:02x}"));
        }
        text.encode_utf16().chain([0]).flat_map(u16::to_le_bytes).collect()
    }
}

/// The platform Warden runs on, as [`PlatformConfig::platform`] records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum PlatformKind {
    /// Native (QEMU without confidential computing).
    Native = 0,
    /// AMD SEV-SNP.
    Snp = 1,
    /// Intel TDX.
    Tdx = 2,
}

/// The EV_PLATFORM_CONFIG_FLAGS event data Warden measures into PCR 1 (PFP 1.05 §10.4.1 leaves the
/// data's format to the platform; this is Warden's, version 1). Little-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct PlatformConfig {
    /// 0x00: "WardenConfig" and NULs.
    pub signature: [u8; 16],
    /// 0x10: this layout's version (1).
    pub version: U32,
    /// 0x14: a [`PlatformKind`].
    pub platform: U32,
    /// 0x18: how many vCPUs the guest may run.
    pub vcpus: U32,
    /// 0x1C: the VMPL the guest runs at (0 where there are none).
    pub guest_vmpl: U32,
    /// 0x20: how many guest RAM ranges the memory map has.
    pub ram_ranges: U32,
    /// 0x24: zero.
    pub reserved: U32,
    /// 0x28: the guest RAM's total size in bytes.
    pub ram_bytes: U64,
    /// 0x30: SHA-384 of the guest RAM ranges, each as start and end (u64 little-endian, end exclusive).
    pub memory_map_sha384: [u8; 48],
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<PlatformConfig>() == 96);
    assert!(offset_of!(PlatformConfig, ram_bytes) == 0x28);
    assert!(offset_of!(PlatformConfig, memory_map_sha384) == 0x30);
};

/// [`PlatformConfig::signature`].
pub const PLATFORM_CONFIG_SIGNATURE: [u8; 16] = *b"WardenConfig\0\0\0\0";

impl PlatformConfig {
    /// The configuration of a guest with `vcpus` vCPUs at `guest_vmpl` over the RAM `ranges` (start, end).
    pub fn new(platform: PlatformKind, vcpus: u32, guest_vmpl: u32, ranges: &[(u64, u64)]) -> PlatformConfig {
        let map: Vec<u8> =
            ranges.iter().flat_map(|&(s, e)| [s.to_le_bytes(), e.to_le_bytes()]).flatten().collect();
        let mut memory_map_sha384 = [0u8; 48];
        memory_map_sha384.copy_from_slice(HashAlg::Sha384.digest(&[&map]).as_slice());
        PlatformConfig {
            signature: PLATFORM_CONFIG_SIGNATURE,
            version: 1.into(),
            platform: (platform as u32).into(),
            vcpus: vcpus.into(),
            guest_vmpl: guest_vmpl.into(),
            ram_ranges: (ranges.len() as u32).into(),
            reserved: 0.into(),
            ram_bytes: ranges.iter().map(|&(s, e)| e.saturating_sub(s)).sum::<u64>().into(),
            memory_map_sha384,
        }
    }
}

/// Why measured boot could not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeasureError {
    /// The TPM was not freshly powered on: TPM2_Startup answered this code.
    Startup(ResponseCode),
}

impl Tpm {
    /// Starts the TPM as an H-CRTM and measures `launch` (none: the platform could not say; the log then
    /// has no PCR 0 event, which a verifier must refuse) and `config`. Returns the event log. The TPM must
    /// be freshly powered on ([`Tpm::firmware`]).
    pub fn measured_startup(
        &mut self,
        launch: Option<&LaunchMeasurement>,
        config: &PlatformConfig,
    ) -> Result<EventLog, MeasureError> {
        if self.power != Power::NeedStartup {
            return Err(MeasureError::Startup(ResponseCode::INITIALIZE));
        }
        // TPM2_Startup(TPM_SU_CLEAR) through the engine, as the guest would send it (Part 3 §9.3).
        let response = self.execute(&[0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0x00, 0x00]);
        let code = response.get(6..10).map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        if code != 0 {
            return Err(MeasureError::Startup(ResponseCode(code)));
        }
        self.pcrs.h_crtm_reset();
        let banks: Vec<HashAlg> = HASH_ALGS
            .into_iter()
            .filter(|&alg| (0..PCR_COUNT).any(|i| self.pcrs.is_allocated(i, alg)))
            .collect();
        let mut log = EventLog::new(&banks);
        log.startup_locality(H_CRTM_LOCALITY);
        if let Some(launch) = launch {
            let data = launch.event_data();
            let digests = self.measure(&banks, LAUNCH_PCR, &data);
            log.record(LAUNCH_PCR, EV_S_CRTM_VERSION, &digests, &data);
        }
        let digests = self.measure(&banks, CONFIG_PCR, config.as_bytes());
        log.record(CONFIG_PCR, EV_PLATFORM_CONFIG_FLAGS, &digests, config.as_bytes());
        Ok(log)
    }

    /// Extends PCR `pcr` in every bank with that bank's hash of `data` (what TPM2_PCR_Event does) and
    /// returns the digests for the log.
    fn measure(&mut self, banks: &[HashAlg], pcr: u32, data: &[u8]) -> Vec<(HashAlg, Digest)> {
        let digests: Vec<(HashAlg, Digest)> = banks.iter().map(|&alg| (alg, alg.digest(&[data]))).collect();
        for (alg, digest) in &digests {
            self.pcrs.extend(pcr as usize, *alg, digest.as_slice());
        }
        self.pcrs.update_counter = self.pcrs.update_counter.wrapping_add(1);
        digests
    }
}
