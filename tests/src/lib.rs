//! Shared helpers for the integration tests in `tests/tests/`.
//!
//! The tests run through `cargo xtask test`, which builds the images first and tells the tests where the
//! xtask binary (`WARDEN_XTASK`) and the build outputs (`WARDEN_OUT`) are.
//!
//! `unsafe`: forbidden (`#![forbid(unsafe_code)]`) here and in every test in `tests/tests/`.
#![forbid(unsafe_code)]
use std::path::PathBuf;
use std::process::Command;

mod booted;
pub use booted::{BootedFirmware, ScratchDir};

/// The xtask binary, as a command.
///
/// # Panics
/// When the tests are not run through `cargo xtask test` (the variable is then unset).
pub fn xtask() -> Command {
    let path = std::env::var_os("WARDEN_XTASK")
        .expect("WARDEN_XTASK is unset: run the integration tests through `cargo xtask test`");
    Command::new(path)
}

/// The build output directory (`target/warden`).
///
/// # Panics
/// As for [`xtask`].
pub fn out_dir() -> PathBuf {
    std::env::var_os("WARDEN_OUT")
        .expect("WARDEN_OUT is unset: run the integration tests through `cargo xtask test`")
        .into()
}
