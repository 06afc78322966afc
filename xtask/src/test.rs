//! `cargo xtask test`: every test, in the order that finds a problem soonest.
//!
//! 1. lints: rustfmt, and clippy with warnings as errors (the workspace lints require a `// SAFETY:`
//!    comment on every `unsafe` block), on the host crates and on the firmware for its target;
//! 2. host unit tests of every library crate and the xtask, and the bounded fuzz run (`cargo test`);
//! 3. the firmware build and its images;
//! 4. the in-firmware test suite, booted under QEMU;
//! 5. the smoke boot under KVM (when usable) and under TCG;
//! 6. the integration tests in `tests/` (faults, the vTPM through standard tools, the image checks).
use std::process::Command;

use crate::qemu::{Accel, kvm_usable};

/// Run every test.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Skip the lints and the host unit tests (steps 1 and 2).
    #[arg(long)]
    pub no_unit: bool,
}

/// The firmware's feature sets that `build` compiles, each linted.
const FIRMWARE_FLAVOURS: &[&str] =
    &["", "insecure_test_image", "insecure_bench_image", "insecure_baseline_image"];

fn lint() -> crate::Result {
    check("rustfmt", cargo(&["fmt", "--all", "--check"]).status()?)?;
    check(
        "clippy (host crates)",
        cargo(&["clippy", "--quiet", "--all-targets", "--", "-D", "warnings"]).status()?,
    )?;
    for features in FIRMWARE_FLAVOURS {
        let mut command = cargo(&[
            "clippy",
            "--quiet",
            "--target",
            "x86_64-unknown-none",
            "-p",
            "warden-kernel",
            "-p",
            "warden-boot",
        ]);
        if !features.is_empty() {
            command.args(["--features", features]);
        }
        check(&format!("clippy (firmware {features})"), command.args(["--", "-D", "warnings"]).status()?)?;
    }
    Ok(())
}

fn cargo(args: &[&str]) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(crate::build::workspace_root()).args(args);
    command
}

fn check(step: &str, status: std::process::ExitStatus) -> crate::Result {
    if status.success() { Ok(()) } else { Err(format!("{step} failed ({status})").into()) }
}

/// Runs the steps; stops at the first that fails.
pub fn run(args: &Args) -> crate::Result {
    crate::deps::ensure_test()?;
    if !args.no_unit {
        eprintln!("xtask test: 1/6 lints");
        lint()?;
        eprintln!("xtask test: 2/6 host unit tests and bounded fuzzing");
        check("host unit tests", cargo(&["test", "--quiet"]).status()?)?;
    }

    eprintln!("xtask test: 3/6 building the firmware and its images");
    crate::build::build(&crate::build::Args::default())?;

    eprintln!("xtask test: 4/6 the in-firmware test suite");
    let boot = crate::run::Args::for_test;
    crate::run::run(&boot(Accel::Auto, false, true))?;

    eprintln!("xtask test: 5/6 smoke boots");
    if kvm_usable() {
        crate::run::run(&boot(Accel::Kvm, true, false))?;
    } else {
        eprintln!("xtask test: /dev/kvm is not usable here: the KVM smoke boot is skipped");
    }
    crate::run::run(&boot(Accel::Tcg, true, false))?;

    eprintln!("xtask test: 6/6 integration tests");
    let xtask = std::env::current_exe()?;
    let status = cargo(&["test", "--quiet", "--package", "warden-tests"])
        .env("WARDEN_XTASK", &xtask)
        .env("WARDEN_OUT", crate::build::output_dir())
        .status()?;
    check("integration tests", status)?;
    eprintln!("xtask test: all steps passed");
    Ok(())
}
