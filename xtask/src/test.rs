//! `cargo xtask test`: every test, in the order that finds a problem soonest.
//!
//! 1. the lints (`cargo xtask lint`): rustfmt, and clippy on the host crates and on the firmware;
//! 2. host unit tests of every library crate and the xtask, and the bounded fuzz run (`cargo test`);
//! 3. the firmware build and its images;
//! 4. the in-firmware test suite, booted under QEMU;
//! 5. the smoke boot under KVM (when usable) and under TCG;
//! 6. the integration tests in `tests/` (faults, the vTPM through standard tools, the image checks).
use crate::lint::{check, host_cargo as cargo};
use crate::qemu::{Accel, kvm_usable};

/// Run every test.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Skip the lints and the host unit tests (steps 1 and 2).
    #[arg(long)]
    pub no_unit: bool,
}

/// Runs the steps; stops at the first that fails.
pub fn run(args: &Args) -> crate::Result {
    crate::deps::ensure_test()?;
    if !args.no_unit {
        eprintln!("xtask test: 1/6 lints");
        crate::lint::run(&crate::lint::Args::default())?;
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
