//! The bodies of Warden's fuzz targets: one function per parser of hostile input (threat model T1–T4).
//!
//! Each function feeds arbitrary bytes to a parser and checks the properties that must hold for every
//! input (no panic, and whatever invariant the target names). `firmware/fuzz` wraps each one in a
//! libFuzzer target for `cargo +nightly fuzz run <name>`; `tests/bounded.rs` runs every one over its seed
//! corpus plus a bounded number of deterministic mutations on stable Rust, which is what CI does.
//!
//! `unsafe`: denied (`#![deny(unsafe_code)]`), except where a simulated platform implements or forwards
//! the acceptance traits' `unsafe fn`s (`psc_response.rs`, `svsm.rs`, `guest_call_env.rs`,
//! `ghcb_exits.rs`), each site argued.
// The target bodies need no `unsafe`; the simulated platforms they drive implement traits whose
// methods are `unsafe fn` (see `psc_response.rs`), which is the one place allowed to.
#![deny(unsafe_code)]

pub mod boot_pages;
pub mod ghcb_exits;
mod guest_call_env;
mod guest_call_input;
pub mod guest_request;
pub mod psc_response;
pub mod svsm;
pub mod svsm_guest_call;
pub mod vc_decode;
pub mod vtpm_buffer;
pub mod vtpm_command;
pub mod vtpm_state;

/// A fuzz target: its name (also its directory under `firmware/fuzz/corpus/`) and its body.
pub type Target = (&'static str, fn(&[u8]));

/// Every target. Add a target here, a wrapper in `firmware/fuzz/fuzz_targets/`, and seeds in the corpus.
pub const TARGETS: &[Target] = &[
    ("psc_response", psc_response::psc_response),
    ("pvalidate_request_list", svsm::pvalidate_request_list),
    ("ghcb_fields", ghcb_exits::ghcb_fields),
    ("svsm_transport_frame", svsm::svsm_transport_frame),
    ("svsm_guest_call", svsm_guest_call::svsm_guest_call),
    ("vtpm_command", vtpm_command::vtpm_command),
    ("vtpm_buffer", vtpm_buffer::vtpm_buffer),
    ("vtpm_state", vtpm_state::vtpm_state),
    ("guest_request_response", guest_request::guest_request_response),
    ("vc_decode", vc_decode::vc_decode),
    ("snp_cpuid_page", boot_pages::snp_cpuid_page),
    ("boot_parameter_pages", boot_pages::boot_parameter_pages),
];
