//! Warden's definitions: the one memory layout, and the byte layouts that cross a trust boundary.
//!
//! Everything here is data: constants and `#[repr(C)]` zerocopy structs with compile-time size and offset
//! asserts against the specification tables they name. The firmware, the boot stub, the image builder and
//! the verifier all read these definitions, so a layout is written down exactly once.
//!
//! `unsafe` policy: forbidden; this crate is data and pure functions only.
#![no_std]
#![forbid(unsafe_code)]

pub mod attest;
pub mod boot;
pub mod boot_params;
pub mod ek_template;
pub mod ghcb;
pub mod guest_launch;
pub mod layout;
pub mod native_measurement;
pub mod psc;
pub mod snp;
pub mod snp_cpuid;
pub mod snp_guest_msg;
pub mod snp_report;
pub mod svsm;
pub mod tdx;
pub mod tdx_partition;
pub mod tdx_report;
pub mod vmsa;
