//! `cargo xtask lint`: rustfmt, and clippy with warnings as errors (the workspace lints require a
//! `// SAFETY:` comment on every `unsafe` block), on the host crates and on every firmware flavour for
//! its target. `cargo xtask test` runs it first.
use std::process::{Command, ExitStatus};

/// Run the lints.
#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// Only clippy on the firmware flavours (the lints that compile for the firmware target).
    #[arg(long)]
    pub firmware_only: bool,
}

/// The firmware's feature sets that `build` compiles, each linted.
const FIRMWARE_FLAVOURS: &[&str] =
    &["", "insecure_test_image", "insecure_bench_image", "insecure_baseline_image"];

/// The bundled test guest (`tests/guest`): a firmware-target binary over a host-tested library, so
/// outside the workspace's default members.
pub const TEST_GUEST: &str = "warden-test-guest";

/// Runs the lints; stops at the first that fails.
pub fn run(args: &Args) -> crate::Result {
    if !args.firmware_only {
        check("rustfmt", host_cargo(&["fmt", "--all", "--check"]).status()?)?;
        check(
            "clippy (host crates)",
            host_cargo(&["clippy", "--quiet", "--all-targets", "--", "-D", "warnings"]).status()?,
        )?;
        // The test guest's library is host code; its binary is linted with the firmware below.
        check(
            "clippy (test guest library)",
            host_cargo(&["clippy", "--quiet", "-p", TEST_GUEST, "--lib", "--tests", "--", "-D", "warnings"])
                .status()?,
        )?;
        // The emulated SNP machine is outside the default members too (it builds unicorn-engine).
        crate::deps::ensure_machine()?;
        check(
            "clippy (emulated SNP machine)",
            host_cargo(&[
                "clippy",
                "--quiet",
                "--release",
                "-p",
                "warden-machine",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ])
            .status()?,
        )?;
    }
    for features in FIRMWARE_FLAVOURS {
        let mut command = crate::firmware_target::cargo("clippy")?;
        command.args(["--quiet", "-p", "warden-kernel", "-p", "warden-boot"]);
        if !features.is_empty() {
            command.args(["--features", features]);
        }
        check(&format!("clippy (firmware {features})"), command.args(["--", "-D", "warnings"]).status()?)?;
    }
    let mut guest = crate::firmware_target::cargo("clippy")?;
    guest.args(["--quiet", "-p", TEST_GUEST, "--", "-D", "warnings"]);
    check("clippy (test guest)", guest.status()?)?;
    Ok(())
}

/// `cargo <args>` for the host, run in the workspace root.
pub fn host_cargo(args: &[&str]) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(crate::build::workspace_root()).args(args);
    command
}

/// An error naming `step` unless it succeeded.
pub fn check(step: &str, status: ExitStatus) -> crate::Result {
    if status.success() { Ok(()) } else { Err(format!("{step} failed ({status})").into()) }
}
