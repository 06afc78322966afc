//! `cargo xtask run`: build, then boot Warden under QEMU with its console on the terminal.
//!
//! `--smoke` waits for the ready line and prints a one-line summary with the boot time; `--test-image`
//! boots the insecure test image, which runs the firmware's own tests and exits with their verdict;
//! `--fault NAME` makes the test image trigger a deliberate fault (the integration tests use it).
use std::time::{Duration, Instant};

use crate::qemu::{self, Accel, Boot};

/// The line Warden prints when it is up.
pub const READY: &str = "warden: ready";

/// Boot Warden under QEMU.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Boot, wait for the ready line, exit 0 with a one-line summary (non-zero with the reason).
    #[arg(long)]
    pub smoke: bool,
    /// Boot the insecure test image: run the firmware's own tests, exit with their verdict.
    #[arg(long)]
    pub test_image: bool,
    /// With the test image: trigger this fault instead (page-fault, write-to-text, invalid-opcode,
    /// stack-overflow, panic).
    #[arg(long, value_name = "NAME")]
    pub fault: Option<String>,
    /// The accelerator.
    #[arg(long, value_enum, default_value_t = Accel::Auto)]
    pub accel: Accel,
    /// Give up after this many seconds (smoke, test image and fault runs).
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Do not build first: boot what is in target/warden/.
    #[arg(long)]
    pub no_build: bool,
}

/// Boots and, for the test image, returns whether it passed.
pub fn run(args: &Args) -> crate::Result {
    crate::deps::ensure_run()?;
    if !args.no_build {
        crate::build::build(&crate::build::Args::default())?;
    }
    let test_image = args.test_image || args.fault.is_some();
    let rom = crate::build::output_dir().join(if test_image { "warden-test.rom" } else { "warden.rom" });
    let accel = args.accel.resolve();
    let mut fw_cfg = vec![("opt/warden/probe".to_string(), "warden-probe".to_string())];
    if let Some(fault) = &args.fault {
        fw_cfg.push(("opt/warden/test".into(), format!("fault:{fault}")));
    }
    let boot = Boot { rom: &rom, accel, fw_cfg, interactive: !(args.smoke || test_image) };
    eprintln!("xtask: booting {} under QEMU ({accel:?})", rom.display());
    if boot.interactive {
        eprintln!("xtask: the console follows; quit with Ctrl-A X");
        let status = qemu::command(&boot).status()?;
        return if status.success() { Ok(()) } else { Err(format!("QEMU exited with {status}").into()) };
    }
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let mut running = qemu::spawn(&boot)?;
    if args.smoke {
        while let Some(line) = running.next_line(deadline) {
            println!("{line}");
            if line.starts_with(READY) {
                let elapsed = running.started.elapsed();
                running.kill()?;
                println!(
                    "smoke: Warden ready after {:.1} ms under {accel:?} (QEMU start to ready line)",
                    elapsed.as_secs_f64() * 1e3
                );
                return Ok(());
            }
        }
        let code = running.wait(Instant::now())?;
        return Err(format!("no ready line within {} s (QEMU exit code {code:?})", args.timeout).into());
    }
    while let Some(line) = running.next_line(deadline) {
        println!("{line}");
    }
    match running.wait(deadline)? {
        Some(qemu::EXIT_TESTS_PASSED) if args.fault.is_none() => Ok(()),
        Some(code) => Err(format!("the test image ended with QEMU exit code {code}").into()),
        None => Err(format!("the test image did not finish within {} s", args.timeout).into()),
    }
}
