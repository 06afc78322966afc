//! The emulated SEV-SNP machine (`tests/machine`, package `warden-machine`, a GPL-2.0 host tool that
//! links unicorn-engine): built in release mode (emulation speed) and run on an IGVM file, for `run
//! --machine snp` and the test step. Building it needs cmake and libclang (`deps::ensure_machine`).
use std::path::PathBuf;

use crate::lint::{check, host_cargo as cargo};

/// The image the machine boots by default: Warden with the bundled test guest when it was built,
/// otherwise the guest-less `warden.igvm` (on which Warden reaches its ready line, then terminates).
pub fn default_image() -> PathBuf {
    let with_guest = crate::build::output_dir().join("warden-snp-guest.igvm");
    if with_guest.exists() { with_guest } else { crate::build::output_dir().join("warden.igvm") }
}

/// Builds the machine (release).
pub fn build() -> crate::Result {
    crate::deps::ensure_machine()?;
    check(
        "building warden-machine",
        cargo(&["build", "--quiet", "--release", "--package", "warden-machine"]).status()?,
    )
}

/// Runs the machine on `image` with `extra` arguments (`--smoke`, `--ready` ...); fails unless it exits 0.
pub fn run(image: &std::path::Path, extra: &[&str]) -> crate::Result {
    build()?;
    let binary = crate::build::workspace_root().join("target/release/warden-machine");
    let status = std::process::Command::new(binary).arg("--igvm").arg(image).args(extra).status()?;
    let which = if extra.contains(&"--tdx") { "TDX" } else { "SNP" };
    check(&format!("the emulated {which} machine on {}", image.display()), status)
}

/// The machine's own tests (hand-assembled programs, the loader digest against `measure`, probes).
pub fn test() -> crate::Result {
    build()?;
    check(
        "warden-machine tests",
        cargo(&["test", "--quiet", "--release", "--package", "warden-machine"]).status()?,
    )
}
