//! `cargo xtask test`: every test, in the order that finds a problem soonest.
//!
//! 1. the lints (`cargo xtask lint`): rustfmt, and clippy on the host crates and on the firmware;
//! 2. host unit tests of every library crate and the xtask, and the bounded fuzz run (`cargo test`);
//! 3. the firmware build and its images;
//! 4. an IGVM-capable QEMU (`cargo xtask qemu`: cached, built once; skipped, not failed, where this
//!    machine cannot build it);
//! 5. the in-firmware test suite, booted from the ROM and through QEMU's IGVM loader;
//! 6. the smoke boot under KVM (when usable) and under TCG, from the ROM and through the IGVM loader;
//! 7. the IGVM loader's checks: the first instruction is at the file's native VP context, and a file
//!    with a broken checksum is refused by QEMU;
//! 8. the integration tests in `tests/` (faults, the vTPM through standard tools, the image checks);
//! 9. the emulated SEV-SNP machine (`tests/machine`): its own tests, then the firmware booted on it
//!    (`warden-snp-guest.igvm` to the guest's verdict when built, else `warden.igvm` to the ready line),
//!    the in-firmware test suite (`warden-test.igvm`) on it, then on its TDX mode `warden.igvm` to the
//!    ready line and the suite again.
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::lint::{check, host_cargo as cargo};
use crate::qemu::{Accel, SYSTEM_QEMU, kvm_is_pvm, kvm_usable};
use crate::qemu_build::QemuBuildError;
use crate::qemu_loader::Loader;

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
        eprintln!("xtask test: 1/9 lints");
        crate::lint::run(&crate::lint::Args::default())?;
        eprintln!("xtask test: 2/9 host unit tests and bounded fuzzing");
        check("host unit tests", cargo(&["test", "--quiet"]).status()?)?;
        let guest_lib = ["test", "--quiet", "-p", crate::lint::TEST_GUEST, "--lib"];
        check("test guest unit tests", cargo(&guest_lib).status()?)?;
    }

    eprintln!("xtask test: 3/9 building the firmware and its images");
    crate::build::build(&crate::build::Args::default())?;

    eprintln!("xtask test: 4/9 an IGVM-capable QEMU");
    let igvm_qemu = igvm_qemu()?;
    let mut igvm_seconds = 0.0;
    let mut timed = |what: &dyn Fn() -> crate::Result| -> crate::Result {
        let started = Instant::now();
        let outcome = what();
        igvm_seconds += started.elapsed().as_secs_f64();
        outcome
    };
    let rom_qemu = Path::new(SYSTEM_QEMU);
    let boot = crate::run::Args::for_test;

    eprintln!("xtask test: 5/9 the in-firmware test suite");
    crate::run::run(&boot(Loader::Rom, rom_qemu, Accel::Auto, false, true))?;
    if let Some(qemu) = &igvm_qemu {
        timed(&|| crate::run::run(&boot(Loader::Igvm, qemu, Accel::Auto, false, true)))?;
    }

    eprintln!("xtask test: 6/9 smoke boots");
    let mut accels = vec![Accel::Tcg];
    if kvm_usable() && !kvm_is_pvm() {
        accels.insert(0, Accel::Kvm);
    } else if kvm_usable() {
        // KVM-PVM never enters this VM natively: it runs every instruction in KVM's emulator (see
        // `kvm_is_pvm`), so a KVM boot here tests no hardware path and takes a minute or more.
        eprintln!(
            "xtask test: /dev/kvm is KVM-PVM, which emulates every guest instruction: the KVM smoke boots are skipped"
        );
    } else {
        eprintln!("xtask test: /dev/kvm is not usable here: the KVM smoke boots are skipped");
    }
    for &accel in &accels {
        crate::run::run(&boot(Loader::Rom, rom_qemu, accel, true, false))?;
        if let Some(qemu) = &igvm_qemu {
            timed(&|| crate::run::run(&boot(Loader::Igvm, qemu, accel, true, false)))?;
        }
    }

    eprintln!("xtask test: 7/9 the IGVM loader's checks");
    if let Some(qemu) = &igvm_qemu {
        timed(&|| igvm_loader_checks(qemu))?;
        eprintln!("xtask test: the IGVM steps took {igvm_seconds:.1} s");
    } else {
        eprintln!("xtask test: SKIPPED: no IGVM-capable QEMU, so nothing was booted through the IGVM loader");
    }

    eprintln!("xtask test: 8/9 integration tests");
    // Not `current_exe()`: step 2's `cargo test` may rebuild this very binary (the workspace unifies
    // features differently from `cargo run -p xtask`), and Linux then names the running one
    // "... (deleted)". The path cargo builds to holds a current build of the same source.
    let xtask = crate::build::workspace_root().join("target/debug/xtask");
    let status = cargo(&["test", "--quiet", "--package", "warden-tests"])
        .env("WARDEN_XTASK", &xtask)
        .env("WARDEN_OUT", crate::build::output_dir())
        .status()?;
    check("integration tests", status)?;

    eprintln!("xtask test: 9/9 the emulated SEV-SNP machine");
    crate::machine::test()?;
    let image = crate::machine::default_image(crate::image::GuestPlatform::Snp);
    let until = if image.file_name().is_some_and(|n| n == "warden.igvm") { "--ready" } else { "--smoke" };
    // Minutes, not seconds: the SNP boot derives the vTPM's RSA-2048 EK under emulation.
    crate::machine::run(&image, &[until, "--max-seconds", "900"])?;
    // The in-firmware test suite: it ends with a TestsPassed termination, the machine's success.
    let suite = crate::build::output_dir().join("warden-test.igvm");
    crate::machine::run(&suite, &["--max-seconds", "600"])?;
    // The same firmware as the TD's L1 on the machine's TDX mode: to the ready line.
    let td = crate::build::output_dir().join("warden.igvm");
    crate::machine::run(&td, &["--tdx", "--ready", "--max-seconds", "600"])?;
    // And the in-firmware suite as a TD (its TDX cases run there only).
    crate::machine::run(&suite, &["--tdx", "--max-seconds", "900"])?;
    eprintln!("xtask test: all steps passed");
    Ok(())
}

/// The cached IGVM-capable QEMU, built when missing; `None` (said plainly) where it cannot be built.
fn igvm_qemu() -> crate::Result<Option<PathBuf>> {
    match crate::qemu_build::ensure() {
        Ok(qemu) => {
            eprintln!("xtask test: IGVM-capable QEMU: {}", qemu.display());
            Ok(Some(qemu))
        }
        Err(QemuBuildError::Unavailable(reason)) => {
            eprintln!(
                "xtask test: SKIPPING the IGVM-loader boots: an IGVM-capable QEMU cannot be built here \
                 ({reason})"
            );
            Ok(None)
        }
        Err(error) => Err(error.into()),
    }
}

/// The entry-state check and the checksum check on the built `warden.igvm`.
fn igvm_loader_checks(qemu: &Path) -> crate::Result {
    let igvm = crate::build::output_dir().join("warden.igvm");
    let entry = crate::qemu_igvm_checks::entry_is_the_vp_context(qemu, &igvm, Accel::Tcg)?;
    eprintln!("xtask test: IGVM entry: {entry}");
    let refusal = crate::qemu_igvm_checks::corrupted_checksum_is_refused(qemu, &igvm)?;
    eprintln!("xtask test: a one-bit change to the checksummed headers was refused: {refusal}");
    Ok(())
}
