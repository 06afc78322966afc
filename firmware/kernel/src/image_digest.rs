//! The native launch measurement: SHA-384 of Warden's own read-only image as it is loaded (text and
//! rodata, the range `warden_defs::native_measurement` names, which `cargo xtask measure` predicts from
//! the ELF), the value measured boot extends into PCR 0 on a platform without a hardware root
//! (`docs/measured-boot.md`).
//!
//! It is self-reported: the code being measured computes it, so a changed image could report the
//! value of an unchanged one. It tells builds apart and lets the event log be replayed end to end; it
//! is not evidence. On SEV-SNP and TDX the hardware's launch measurement takes its place.
use warden_defs::native_measurement::{DIGEST_LEN, END_SYMBOL, START_SYMBOL};
use warden_vtpm::crypto::HashAlg;
use warden_vtpm::measured_boot::{LaunchMeasurement, LaunchRoot};

unsafe extern "C" {
    static __text_start: u8;
    static __data_start: u8;
}

// The extern names above must be the ones the host's prediction reads from the ELF.
const _: () = assert!(matches!(START_SYMBOL.as_bytes(), b"__text_start"));
const _: () = assert!(matches!(END_SYMBOL.as_bytes(), b"__data_start"));

/// The native launch measurement (see the module comment).
pub fn native() -> LaunchMeasurement {
    let start = &raw const __text_start;
    let end = &raw const __data_start;
    let len = (end as usize).saturating_sub(start as usize);
    // SAFETY: `[__text_start, __data_start)` is Warden's text and rodata: mapped, read-only and never
    // written from the boot's page tables on (the layout check proves the rights), so a shared slice
    // over it is valid for the program's life; the linker script orders the two symbols.
    let image = unsafe { core::slice::from_raw_parts(start, len) };
    let mut digest = [0u8; DIGEST_LEN];
    digest.copy_from_slice(HashAlg::Sha384.digest(&[image]).as_slice());
    LaunchMeasurement { root: LaunchRoot::NativeImage, digest }
}
