//! The fixed-size parts of the TCG crypto-agile event log, as zerocopy structs (all integers little-endian).
//!
//! Source: TCG PC Client Platform Firmware Profile (PFP) 1.05, §10.2.1 "TCG_PCClientPCREvent" (the SHA-1
//! format of the log's first event), §10.4.5.1 "Specification ID Version Event" (TCG_EfiSpecIDEvent),
//! §10.4.5.3 "Startup Locality Event" (TCG_EfiStartupLocalityEvent) and §10.2.2 "TCG_PCR_EVENT2" (every
//! later event). The variable parts (digest lists, event data) are written by `EventLog` around these.
use zerocopy::little_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// EV_NO_ACTION (PFP §10.4.1): recorded in the log, never extended into a PCR.
pub const EV_NO_ACTION: u32 = 0x0000_0003;
/// EV_S_CRTM_VERSION (PFP §10.4.1): the version of the (H-)CRTM, measured into PCR 0; its digest is the
/// hash of its event data, so a verifier can recompute it from the log.
pub const EV_S_CRTM_VERSION: u32 = 0x0000_0008;
/// EV_PLATFORM_CONFIG_FLAGS (PFP §10.4.1): platform configuration, measured into PCR 1.
pub const EV_PLATFORM_CONFIG_FLAGS: u32 = 0x0000_000A;

/// The Spec ID event's signature: "Spec ID Event03" and a NUL (the crypto-agile format).
pub const SPEC_ID_SIGNATURE: [u8; 16] = *b"Spec ID Event03\0";
/// The Startup Locality event's signature: "StartupLocality" and a NUL.
pub const STARTUP_LOCALITY_SIGNATURE: [u8; 16] = *b"StartupLocality\0";
/// TCG_EfiSpecIDEvent.platformClass for a client platform.
pub const PLATFORM_CLASS_CLIENT: u32 = 0;
/// specVersionMajor.specVersionMinor = 2.0: the TPM 2.0 family.
pub const SPEC_VERSION: (u8, u8) = (2, 0);
/// specErrata for PFP revision 1.05.
pub const SPEC_ERRATA_PFP_105: u8 = 2;
/// uintnSize: 2 means UINTN is 64 bits wide.
pub const UINTN_SIZE_64: u8 = 2;

/// TCG_PCClientPCREvent (PFP §10.2.1) without its event data: the header of the log's first event, the
/// Spec ID event, which keeps the SHA-1 layout so that old parsers can skip it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct PcClientPcrEventHeader {
    /// 0x00: the PCR (0 for the Spec ID event).
    pub pcr_index: U32,
    /// 0x04: the event type (EV_NO_ACTION).
    pub event_type: U32,
    /// 0x08: a SHA-1 digest (zero for the Spec ID event).
    pub digest: [u8; 20],
    /// 0x1C: how many bytes of event data follow.
    pub event_data_size: U32,
}

/// TCG_EfiSpecIDEvent (PFP §10.4.5.1) up to its algorithm list: what the log's digests are.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct SpecIdEventHeader {
    /// 0x00: [`SPEC_ID_SIGNATURE`].
    pub signature: [u8; 16],
    /// 0x10: [`PLATFORM_CLASS_CLIENT`].
    pub platform_class: U32,
    /// 0x14: the minor version of the PFP family.
    pub spec_version_minor: u8,
    /// 0x15: the major version (2).
    pub spec_version_major: u8,
    /// 0x16: the PFP errata level.
    pub spec_errata: u8,
    /// 0x17: the size of UINTN (2: 64 bits).
    pub uintn_size: u8,
    /// 0x18: how many [`AlgorithmSize`] entries follow; a vendorInfoSize byte and the vendor info after
    /// them close the event.
    pub number_of_algorithms: U32,
}

/// TCG_EfiSpecIdEventAlgorithmSize (PFP §10.4.5.1): one digest algorithm of the log and its size.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct AlgorithmSize {
    /// 0x0: the TPM_ALG_ID.
    pub algorithm_id: U16,
    /// 0x2: its digest size in bytes.
    pub digest_size: U16,
}

/// TCG_EfiStartupLocalityEvent (PFP §10.4.5.3): the event data of the EV_NO_ACTION event that tells a
/// verifier which value PCR 0 started from (its last byte is the startup locality; 4 after an H-CRTM).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct StartupLocalityEvent {
    /// 0x00: [`STARTUP_LOCALITY_SIGNATURE`].
    pub signature: [u8; 16],
    /// 0x10: the locality PCR 0's reset value names.
    pub startup_locality: u8,
}

/// TCG_PCR_EVENT2 (PFP §10.2.2) up to its digest list: the PCR, the type and TPML_DIGEST_VALUES.count;
/// `count` TPMT_HA (a u16 algorithm, then the digest) follow, then a u32 event size and the event data.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct PcrEvent2Header {
    /// 0x0: the PCR the event extends.
    pub pcr_index: U32,
    /// 0x4: the event type.
    pub event_type: U32,
    /// 0x8: how many digests follow.
    pub digest_count: U32,
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<PcClientPcrEventHeader>() == 32);
    assert!(offset_of!(PcClientPcrEventHeader, digest) == 8);
    assert!(offset_of!(PcClientPcrEventHeader, event_data_size) == 28);
    assert!(size_of::<SpecIdEventHeader>() == 28);
    assert!(offset_of!(SpecIdEventHeader, platform_class) == 16);
    assert!(offset_of!(SpecIdEventHeader, uintn_size) == 23);
    assert!(offset_of!(SpecIdEventHeader, number_of_algorithms) == 24);
    assert!(size_of::<AlgorithmSize>() == 4);
    assert!(size_of::<StartupLocalityEvent>() == 17);
    assert!(offset_of!(StartupLocalityEvent, startup_locality) == 16);
    assert!(size_of::<PcrEvent2Header>() == 12);
    assert!(offset_of!(PcrEvent2Header, digest_count) == 8);
};
