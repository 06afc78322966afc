//! `cargo xtask test`: every test, in the order that finds a problem soonest.
//!
//! 1. host unit tests of every library crate and the xtask, and the bounded fuzz run (`cargo test`);
//! 2. the firmware build and its image;
//! 3. the in-firmware test suite, booted under QEMU;
//! 4. the smoke boot under KVM (when usable) and under TCG;
//! 5. the integration tests in `tests/` (faults, the vTPM through standard tools, the image parsed back).
use std::process::Command;

use crate::qemu::{Accel, kvm_usable};

/// Run every test.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Skip the host unit tests (step 1).
    #[arg(long)]
    pub no_unit: bool,
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
        eprintln!("xtask test: 1/5 host unit tests and bounded fuzzing");
        check("host unit tests", cargo(&["test", "--quiet"]).status()?)?;
    }

    eprintln!("xtask test: 2/5 building the firmware and its images");
    crate::build::build(&crate::build::Args::default())?;

    eprintln!("xtask test: 3/5 the in-firmware test suite");
    let boot = crate::run::Args::for_test;
    crate::run::run(&boot(Accel::Auto, false, true))?;

    eprintln!("xtask test: 4/5 smoke boots");
    if kvm_usable() {
        crate::run::run(&boot(Accel::Kvm, true, false))?;
    } else {
        eprintln!("xtask test: /dev/kvm is not usable here: the KVM smoke boot is skipped");
    }
    crate::run::run(&boot(Accel::Tcg, true, false))?;

    eprintln!("xtask test: 5/5 integration tests");
    let xtask = std::env::current_exe()?;
    let status = cargo(&["test", "--quiet", "--package", "warden-tests"])
        .env("WARDEN_XTASK", &xtask)
        .env("WARDEN_OUT", crate::build::output_dir())
        .status()?;
    check("integration tests", status)?;
    eprintln!("xtask test: all steps passed");
    Ok(())
}
