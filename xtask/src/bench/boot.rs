//! `cargo xtask bench boot`: time from QEMU start to Warden's ready line (measured by the host), against
//! the do-nothing image (`warden-baseline.rom`: same boot stub, same ROM path, a ready line on entry)
//! booted the same way, and the time Warden spends in each boot phase (from the firmware's ready line,
//! TSC ticks over the rate it measured against the PIT).
//!
//! The two images boot alternately, `--runs` times each; the host figures are medians. Warden's share is
//! its median minus the baseline's. The phases are the firmware's own account of (most of) that share,
//! taken from the run with the median firmware total so that they add up to it; what the share holds
//! beyond that total is time outside the firmware's clock (before its first instruction, the ready
//! line's own printing).
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::qemu::{self, Accel, Boot};
use crate::run::READY;

/// Measure Warden's boot time against a do-nothing image booted the same way.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Boots of each image.
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
    /// The accelerator.
    #[arg(long, value_enum, default_value_t = Accel::Auto)]
    pub accel: Accel,
    /// Give up on a boot after this many seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Do not build first: boot what is in target/warden/.
    #[arg(long)]
    pub no_build: bool,
    /// `native` boots under QEMU; `snp` on the emulated SEV-SNP machine (`bench/boot_machine.rs`);
    /// `tdx` on its TDX mode (`bench/boot_tdx.rs`).
    #[arg(long, value_enum, default_value_t = crate::run::Machine::Native)]
    pub machine: crate::run::Machine,
}

/// One boot: QEMU start to the ready line, and the ready line.
struct Boot1 {
    ms: f64,
    ready: String,
}

/// Runs the benchmark.
pub fn run(args: &Args) -> crate::Result {
    if args.machine == crate::run::Machine::Snp {
        if !args.no_build {
            crate::build::build(&crate::build::Args::default())?;
        }
        return super::boot_machine::run(args.runs, args.timeout, args.json.as_ref());
    }
    if args.machine == crate::run::Machine::Tdx {
        if !args.no_build {
            crate::build::build(&crate::build::Args::default())?;
        }
        return super::boot_tdx::run(args.runs, args.timeout, args.json.as_ref());
    }
    crate::deps::ensure_run()?;
    if !args.no_build {
        crate::build::build(&crate::build::Args::default())?;
    }
    let accel = args.accel.resolve();
    let accel_name = match (accel, qemu::kvm_is_pvm()) {
        (Accel::Kvm, true) => "kvm-pvm",
        (Accel::Kvm, false) => "kvm",
        _ => "tcg",
    };
    if accel != Accel::Kvm {
        eprintln!("xtask: bench boot under TCG: software emulation, not the boot time on hardware");
    }
    let out = crate::build::output_dir();
    let (warden_rom, baseline_rom) = (out.join("warden.rom"), out.join("warden-baseline.rom"));
    let (mut warden, mut baseline) = (Vec::new(), Vec::new());
    let mut accounts = Vec::new();
    for _ in 0..args.runs.max(1) {
        let boot = boot_once(&warden_rom, accel, args.timeout)?;
        accounts.push(parse_phases(&boot.ready)?);
        warden.push(boot.ms);
        baseline.push(boot_once(&baseline_rom, accel, args.timeout)?.ms);
    }

    let warden_ms = median(&mut warden);
    let baseline_ms = median(&mut baseline);
    accounts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (firmware_total_ms, phases) = accounts.swap_remove(accounts.len() / 2);
    let largest = phases.iter().max_by(|a, b| a.1.total_cmp(&b.1)).map(|(name, _)| name.clone());
    let phase_sum: f64 = phases.iter().map(|(_, ms)| ms).sum();
    let share = warden_ms - baseline_ms;

    println!("boot under {accel_name}, {} runs of each image (ms)", args.runs.max(1));
    println!(
        "  QEMU start to ready line (medians): Warden {warden_ms:.1}, do-nothing image {baseline_ms:.1}"
    );
    println!("  Warden's share: {share:.1}");
    println!(
        "  the firmware's own account (the run with the median total; TSC over the PIT-calibrated rate):"
    );
    for (name, ms) in &phases {
        println!(
            "    {name:<10} {ms:>9.3}{}",
            if Some(name) == largest.as_ref() { "  (largest)" } else { "" }
        );
    }
    println!("    {:<10} {phase_sum:>9.3} (sum of the phases; firmware total {firmware_total_ms:.3})", "sum");
    println!("  outside the firmware's clock: {:.1} (share minus firmware total)", share - firmware_total_ms);

    if let Some(path) = &args.json {
        let phase_map: serde_json::Map<String, serde_json::Value> =
            phases.iter().map(|(name, ms)| (name.clone(), serde_json::json!(ms))).collect();
        let value = serde_json::json!({
            "warden_ms": warden_ms,
            "baseline_ms": baseline_ms,
            "phases": phase_map,
            "warden_share_ms": share,
            "firmware_total_ms": firmware_total_ms,
            "largest_phase": largest,
            "accel": accel_name,
            "runs": args.runs.max(1),
        });
        std::fs::write(path, serde_json::to_string_pretty(&value)? + "\n")?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Boots `rom` until its ready line, then stops it.
fn boot_once(rom: &Path, accel: Accel, timeout: u64) -> crate::Result<Boot1> {
    if !rom.exists() {
        return Err(format!("{} is missing: run without --no-build", rom.display()).into());
    }
    let boot = Boot::rom(rom, accel);
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let mut running = qemu::spawn(&boot)?;
    while let Some(line) = running.next_line(deadline) {
        if line.starts_with(READY) {
            let ms = running.started.elapsed().as_secs_f64() * 1e3;
            running.kill()?;
            return Ok(Boot1 { ms, ready: line });
        }
    }
    let code = running.wait(Instant::now())?;
    Err(format!("{}: no ready line within {timeout} s (QEMU exit code {code:?})", rom.display()).into())
}

/// The firmware's `boot total=X.XXXms name=Y.YYYms ...` account: (total, phases), in ms.
fn parse_phases(ready: &str) -> crate::Result<(f64, Vec<(String, f64)>)> {
    let account =
        ready.split_once(" boot ").map(|(_, rest)| rest).ok_or("the ready line has no boot account")?;
    let mut total = None;
    let mut phases = Vec::new();
    for word in account.split_whitespace() {
        let (name, value) = word.split_once('=').ok_or_else(|| format!("malformed boot account: {word}"))?;
        let ms: f64 = value
            .strip_suffix("ms")
            .ok_or_else(|| format!("the firmware did not know its TSC rate ({word})"))?
            .parse()
            .map_err(|_| format!("malformed boot account: {word}"))?;
        if name == "total" {
            total = Some(ms);
        } else {
            phases.push((name.to_string(), ms));
        }
    }
    Ok((total.ok_or("the boot account has no total")?, phases))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::parse_phases;

    #[test]
    fn the_ready_lines_account_parses() {
        let line = "warden: ready: platform Native, sse true, avx true, heap 8192 KiB free (0 B used), \
                    boot total=11.694ms console=0.543ms cpu=5.606ms heap=4.948ms tsc=0.068ms";
        let (total, phases) = parse_phases(line).expect("parses");
        assert_eq!(total, 11.694);
        let names: Vec<&str> = phases.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["console", "cpu", "heap", "tsc"]);
        assert_eq!(phases[1].1, 5.606);
    }

    #[test]
    fn an_account_in_cycles_is_refused() {
        assert!(parse_phases("warden: ready: boot total=31960474cyc console=8837374cyc").is_err());
        assert!(parse_phases("warden: ready: baseline (do-nothing image)").is_err());
    }
}
