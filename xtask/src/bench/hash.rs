//! `cargo xtask bench hash`: SHA-256 and SHA-384 throughput inside the booted firmware (the bench image,
//! `warden-bench.rom`: 64 MiB per run, accelerated and portable code, timed with the TSC the firmware
//! calibrates against the PIT), against `openssl speed -evp` on the same host in the same run.
//!
//! The firmware prints one `warden-bench:` line per run; the table and the JSON use the median of its
//! rounds. For comparison the same `warden-sha` code also hashes 64 MiB in this (host) process: rows
//! with `"environment": "host-process"` say what the code does without emulation, next to the
//! firmware rows (`"environment": "firmware"`). OpenSSL's figure is its own: CPU (user) time over 16 KiB buffers, as `openssl speed` reports
//! it. KVM when usable; on KVM-PVM or without /dev/kvm the image boots under TCG, and the output and every
//! JSON row say so (TCG figures say nothing about hardware speed).
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::qemu::{self, Accel, Boot};

/// Measure in-firmware SHA-256/384 throughput against OpenSSL on the same host.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write the rows as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The accelerator (auto: KVM unless it is unusable or KVM-PVM, whose emulator cannot run SIMD).
    #[arg(long, value_enum, default_value_t = Accel::Auto)]
    pub accel: Accel,
    /// Seconds `openssl speed` runs per algorithm.
    #[arg(long, default_value_t = 2)]
    pub openssl_seconds: u32,
    /// Give up on the bench image after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// Do not build first: boot what is in target/warden/.
    #[arg(long)]
    pub no_build: bool,
}

/// One `warden-bench:` run.
#[derive(Debug, PartialEq)]
struct Run {
    algorithm: String,
    implementation: String,
    /// The code that really ran (`portable` when the CPU or the host refused the accelerated code).
    selected: String,
    bytes: u64,
    ns: u64,
}

/// One table/JSON row: the median run of an algorithm and implementation.
#[derive(Debug)]
struct Row {
    environment: &'static str,
    algorithm: &'static str,
    implementation: &'static str,
    selected: String,
    mb_per_s: f64,
    openssl_mb_per_s: f64,
    rounds: usize,
}

/// Runs the benchmark.
pub fn run(args: &Args) -> crate::Result {
    crate::deps::ensure_run()?;
    if !args.no_build {
        crate::build::build(&crate::build::Args::default())?;
    }
    let accel = args.accel.resolve();
    let why_tcg = match (args.accel, accel) {
        (_, Accel::Kvm) => None,
        (Accel::Tcg, _) => Some("TCG as requested"),
        _ if qemu::kvm_usable() => {
            Some("/dev/kvm is KVM-PVM, whose emulator cannot run the guest's SIMD code")
        }
        _ => Some("/dev/kvm is not usable"),
    };
    match why_tcg {
        Some(why) => eprintln!("xtask: bench hash under TCG ({why}): software emulation, not hardware speed"),
        None if qemu::kvm_is_pvm() => {
            eprintln!(
                "xtask: bench hash under KVM-PVM: the host refuses guest SIMD, both rows are portable code"
            )
        }
        None => eprintln!("xtask: bench hash under KVM"),
    }
    let accel_name = match (accel, qemu::kvm_is_pvm()) {
        (Accel::Kvm, true) => "kvm-pvm",
        (Accel::Kvm, false) => "kvm",
        _ => "tcg",
    };

    let runs = boot_bench_image(accel, args.timeout)?;
    let mut rows = Vec::new();
    for algorithm in ["sha256", "sha384"] {
        let openssl = openssl_speed(algorithm, args.openssl_seconds)?;
        for implementation in ["accelerated", "portable"] {
            let mine: Vec<&Run> = runs
                .iter()
                .filter(|r| r.algorithm == algorithm && r.implementation == implementation)
                .collect();
            let mut speeds: Vec<f64> = mine.iter().map(|r| mb_per_s(r.bytes, r.ns)).collect();
            let Some(median) = median(&mut speeds) else {
                return Err(format!("the bench image reported no {algorithm} {implementation} run").into());
            };
            let selected = mine.first().map_or_else(String::new, |r| r.selected.clone());
            rows.push(Row {
                environment: "firmware",
                algorithm,
                implementation,
                selected,
                mb_per_s: median,
                openssl_mb_per_s: openssl,
                rounds: mine.len(),
            });
        }
    }
    rows.extend(host_process_rows(&rows));
    print_table(&rows, accel_name);
    if let Some(path) = &args.json {
        std::fs::write(path, json(&rows, accel_name)?)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// This thread's CPU time in ns: like `openssl speed`'s user time, it leaves out time the shared
/// machine's other load takes from us.
pub(super) fn thread_cpu_ns() -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one `timespec` through the pointer, which points at a live one.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    u64::try_from(now.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(now.tv_nsec).unwrap_or(0)
}

/// The firmware rows' measurements repeated with `warden-sha` in this process (same OpenSSL figures),
/// timed in thread CPU time.
fn host_process_rows(firmware: &[Row]) -> Vec<Row> {
    use warden_sha::digest::Digest;
    use warden_sha::{Algorithm, Implementation, implementation, portable};

    const TOTAL: usize = 64 << 20;
    fn time<D: Digest>(buffer: &[u8]) -> f64 {
        let mut speeds: Vec<f64> = (0..3)
            .map(|_| {
                let start = thread_cpu_ns();
                let mut hasher = D::new();
                for _ in 0..TOTAL / buffer.len() {
                    hasher.update(buffer);
                }
                std::hint::black_box(hasher.finalize());
                mb_per_s(TOTAL as u64, thread_cpu_ns().saturating_sub(start).max(1))
            })
            .collect();
        median(&mut speeds).unwrap_or(0.0)
    }
    let buffer: Vec<u8> = (0..4u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let selected = |algorithm| match implementation(algorithm) {
        Implementation::Accelerated => "accelerated",
        Implementation::Portable => "portable",
    };
    let measured = [
        ("sha256", "accelerated", selected(Algorithm::Sha256), time::<warden_sha::Sha256>(&buffer)),
        ("sha256", "portable", "portable", time::<portable::Sha256>(&buffer)),
        ("sha384", "accelerated", selected(Algorithm::Sha384), time::<warden_sha::Sha384>(&buffer)),
        ("sha384", "portable", "portable", time::<portable::Sha384>(&buffer)),
    ];
    measured
        .into_iter()
        .map(|(algorithm, implementation, selected, mb_per_s)| Row {
            environment: "host-process",
            algorithm,
            implementation,
            selected: selected.to_string(),
            mb_per_s,
            openssl_mb_per_s: firmware
                .iter()
                .find(|row| row.algorithm == algorithm)
                .map_or(f64::NAN, |row| row.openssl_mb_per_s),
            rounds: 3,
        })
        .collect()
}

/// Boots `warden-bench.rom` and collects its runs; the image must exit with "tests passed" (it checks
/// that both paths computed the same digests).
fn boot_bench_image(accel: Accel, timeout: u64) -> crate::Result<Vec<Run>> {
    let rom = crate::build::output_dir().join("warden-bench.rom");
    if !rom.exists() {
        return Err(format!("{} is missing: run without --no-build", rom.display()).into());
    }
    let boot = Boot::rom(&rom, accel);
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let mut running = qemu::spawn(&boot)?;
    let mut runs = Vec::new();
    while let Some(line) = running.next_line(deadline) {
        println!("{line}");
        if let Some(run) = parse_run(&line) {
            runs.push(run);
        }
    }
    match running.wait(deadline)? {
        Some(qemu::EXIT_TESTS_PASSED) => Ok(runs),
        Some(code) => Err(format!("the bench image failed (QEMU exit code {code})").into()),
        None => Err(format!("the bench image did not finish within {timeout} s").into()),
    }
}

/// Parses `warden-bench: ALG IMPL round=R bytes=B ticks=T ns=N selected=S`.
fn parse_run(line: &str) -> Option<Run> {
    let mut words = line.strip_prefix("warden-bench: ")?.split_whitespace();
    let (algorithm, implementation) = (words.next()?, words.next()?);
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|word| word.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_string)
    };
    Some(Run {
        algorithm: algorithm.to_string(),
        implementation: implementation.to_string(),
        selected: field("selected")?,
        bytes: field("bytes")?.parse().ok()?,
        ns: field("ns")?.parse().ok().filter(|&ns| ns > 0)?,
    })
}

/// MB/s (10^6 bytes per second, as OpenSSL's figures).
fn mb_per_s(bytes: u64, ns: u64) -> f64 {
    bytes as f64 * 1e3 / ns as f64
}

fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

/// `openssl speed -evp ALG -bytes 16384 -seconds S` in machine-readable form; MB/s.
fn openssl_speed(algorithm: &str, seconds: u32) -> crate::Result<f64> {
    let output = Command::new("openssl")
        .args(["speed", "-mr", "-evp", algorithm, "-bytes", "16384", "-seconds", &seconds.to_string()])
        .output()
        .map_err(|error| format!("cannot run openssl: {error}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    parse_openssl(&stdout, algorithm)
        .ok_or_else(|| format!("no {algorithm} figure in `openssl speed` output:\n{stdout}").into())
}

/// The `+F:<n>:<alg>:<bytes per second>` line of `openssl speed -mr` (one column: 16384-byte buffers).
fn parse_openssl(output: &str, algorithm: &str) -> Option<f64> {
    output.lines().find_map(|line| {
        let mut parts = line.strip_prefix("+F:")?.split(':');
        let (_, name, rate) = (parts.next()?, parts.next()?, parts.next()?);
        (name.eq_ignore_ascii_case(algorithm)).then(|| rate.trim().parse::<f64>().ok().map(|r| r / 1e6))?
    })
}

fn print_table(rows: &[Row], accel: &str) {
    println!("hashing 64 MiB per run (median of 3): in the firmware under {accel} (TSC time), and the same");
    println!(
        "code in this host process (CPU time); OpenSSL on this host (CPU time), 16 KiB buffers, same run"
    );
    println!(
        "{:<13} {:<8} {:<12} {:<12} {:>10} {:>12} {:>7}",
        "where", "alg", "impl", "code ran", "MB/s", "openssl MB/s", "ratio"
    );
    for r in rows {
        println!(
            "{:<13} {:<8} {:<12} {:<12} {:>10.1} {:>12.1} {:>7.3}",
            if r.environment == "firmware" { accel } else { r.environment },
            r.algorithm,
            r.implementation,
            r.selected,
            r.mb_per_s,
            r.openssl_mb_per_s,
            r.mb_per_s / r.openssl_mb_per_s
        );
    }
}

fn json(rows: &[Row], accel: &str) -> crate::Result<String> {
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "algorithm": r.algorithm,
                "implementation": r.implementation,
                "mb_per_s": r.mb_per_s,
                "openssl_mb_per_s": r.openssl_mb_per_s,
                "ratio": r.mb_per_s / r.openssl_mb_per_s,
                "code_ran": r.selected,
                "environment": r.environment,
                "accel": if r.environment == "firmware" { accel } else { "none" },
                "rounds": r.rounds,
            })
        })
        .collect();
    Ok(serde_json::to_string_pretty(&rows)? + "\n")
}

#[cfg(test)]
mod tests {
    use super::{Run, median, parse_openssl, parse_run};

    #[test]
    fn bench_lines_parse() {
        let line =
            "warden-bench: sha384 portable round=2 bytes=67108864 ticks=99 ns=123456 selected=portable";
        assert_eq!(
            parse_run(line),
            Some(Run {
                algorithm: "sha384".into(),
                implementation: "portable".into(),
                selected: "portable".into(),
                bytes: 67_108_864,
                ns: 123_456,
            })
        );
        assert_eq!(parse_run("warden-bench: tsc_khz=2000000 source=pit calibration_ms=50"), None);
        assert_eq!(parse_run("warden: ready: ..."), None);
        // A run the firmware could not time (no TSC rate) is no figure.
        assert_eq!(
            parse_run("warden-bench: sha256 accelerated round=0 bytes=1 ticks=1 ns=0 selected=a"),
            None
        );
    }

    #[test]
    fn openssl_machine_readable_output_parses() {
        let output = "+DT:sha384:1:16384\n+R:26510:sha384:0.370000\n+H:16384\n+F:25:sha384:1173891459.46\n";
        let mb = parse_openssl(output, "sha384").expect("the sha384 figure");
        assert!((mb - 1_173.891_459_46).abs() < 1e-6, "{mb}");
        assert_eq!(parse_openssl(output, "sha256"), None);
    }

    #[test]
    fn median_is_the_middle_run() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut []), None);
    }
}
