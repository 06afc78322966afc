//! `cargo xtask bench accept`: instructions and hypervisor exits the acceptance engine issues for
//! guest memory maps of 1 GiB, 64 GiB and 1 TiB (aligned, and fragmented with holes and odd starts)
//! on the simulated SNP and TDX platforms, against the theoretical minimum for each map, plus the time
//! spent on page-state bookkeeping.
//!
//! The counts come from the simulators (they count what reaches the "hardware"), the minima from
//! `warden_sim::bounds` (plain arithmetic, independent of the engine's planner). Rows with a count
//! above the minimum by more than 5% (any excess on an aligned map), or 1 TiB of bookkeeping over
//! 10 ms, fail the run. The simulators are slow in a debug build, so a debug xtask re-runs itself as a
//! release build. SNP rows issue no TDX accepts and TDX rows no PVALIDATE or page-state-change exits:
//! those counts and their minima are reported as 0.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use warden_accept::snp::SnpAcceptor;
use warden_accept::tdx::TdxAcceptor;
use warden_platform::memory::GpaRange;
use warden_sim::bounds::{Minimum, minimum};
use warden_sim::snp::SimSnp;
use warden_sim::tdx::SimTdx;

/// Measure memory acceptance against the minimum instruction and exit counts.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write the rows as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

const K4: u64 = 0x1000;
const M2: u64 = 0x20_0000;
const G1: u64 = 0x4000_0000;
/// Where the high memory of every map starts (above the 32-bit PCI hole).
const BASE: u64 = 4 * G1;
/// Bookkeeping budget for a 1 TiB map.
const TIB_BOOKKEEPING_BUDGET_NS: u64 = 10_000_000;

/// One measured scenario.
#[derive(Debug)]
struct Row {
    platform: &'static str,
    scenario: &'static str,
    gib: u64,
    pvalidate: u64,
    psc_exits: u64,
    tdx_accepts: u64,
    min: Minimum,
    bookkeeping_ns: u64,
    total_ns: u64,
}

/// Runs the benchmark.
pub fn run(args: &Args) -> crate::Result {
    if cfg!(debug_assertions) {
        return rerun_as_release(args);
    }
    let mut rows = Vec::new();
    for gib in [1, 64, 1024] {
        for (scenario, map) in [("aligned", aligned(gib)), ("fragmented", fragmented(gib))] {
            rows.push(snp(scenario, gib, &map)?);
            rows.push(tdx(scenario, gib, &map)?);
        }
    }
    print_table(&rows);
    if let Some(path) = &args.json {
        std::fs::write(path, json(&rows))?;
        println!("wrote {}", path.display());
    }
    check(&rows)
}

/// `[BASE, BASE + gib GiB)`.
fn aligned(gib: u64) -> Vec<GpaRange> {
    vec![range(BASE, BASE + gib * G1)]
}

/// Low memory below the legacy VGA hole, then each GiB with an odd start (a few pages in) and a hole
/// of a little more than 2 MiB before the next: the shape of a real map with MMIO and firmware holes.
fn fragmented(gib: u64) -> Vec<GpaRange> {
    let mut map = vec![range(0x3000, 0xA_0000)];
    for i in 0..gib {
        let start = BASE + i * G1 + (i % 5 + 1) * 3 * K4;
        let end = BASE + (i + 1) * G1 - M2 - (i % 3) * 5 * K4;
        map.push(range(start, end));
    }
    map
}

fn range(start: u64, end: u64) -> GpaRange {
    GpaRange::new(start, end).expect("bench maps are page-aligned and non-empty")
}

fn ram(map: &[GpaRange]) -> Vec<GpaRange> {
    vec![range(0, map.iter().map(|r| r.end()).max().unwrap_or(K4))]
}

fn now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

fn snp(scenario: &'static str, gib: u64, map: &[GpaRange]) -> crate::Result<Row> {
    let mut sim = SimSnp::new(&ram(map));
    let start = now_ns();
    // SAFETY: the simulator's memory holds no Rust objects, and this acceptor is its only user.
    let mut acc = unsafe { SnpAcceptor::new(map) };
    let setup_ns = now_ns() - start;
    acc.set_clock(now_ns);
    acc.accept_all(&mut sim).map_err(|e| format!("SNP {scenario} {gib} GiB: {e:?}"))?;
    let total_ns = now_ns() - start;
    let min = minimum(map);
    Ok(Row {
        platform: "snp",
        scenario,
        gib,
        pvalidate: sim.counters.pvalidate,
        psc_exits: sim.counters.psc_exits,
        tdx_accepts: 0,
        min: Minimum { tdx_accepts: 0, ..min },
        bookkeeping_ns: setup_ns + acc.stats().bookkeeping_ns,
        total_ns,
    })
}

fn tdx(scenario: &'static str, gib: u64, map: &[GpaRange]) -> crate::Result<Row> {
    let mut sim = SimTdx::new(&ram(map));
    let start = now_ns();
    // SAFETY: as for SNP.
    let mut acc = unsafe { TdxAcceptor::new(map) };
    let setup_ns = now_ns() - start;
    acc.set_clock(now_ns);
    acc.accept_all(&mut sim).map_err(|e| format!("TDX {scenario} {gib} GiB: {e:?}"))?;
    let total_ns = now_ns() - start;
    let min = minimum(map);
    Ok(Row {
        platform: "tdx",
        scenario,
        gib,
        pvalidate: 0,
        psc_exits: 0,
        tdx_accepts: sim.counters.accepts,
        min: Minimum { tdx_accepts: min.tdx_accepts, pvalidate: 0, psc_exits: 0 },
        bookkeeping_ns: setup_ns + acc.stats().bookkeeping_ns,
        total_ns,
    })
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<4} {:<10} {:>5} {:>18} {:>14} {:>14} {:>12} {:>10}",
        "plat", "map", "GiB", "pvalidate (min)", "psc exits", "tdx accepts", "bookkeep ms", "total ms"
    );
    for r in rows {
        println!(
            "{:<4} {:<10} {:>5} {:>18} {:>14} {:>14} {:>12.3} {:>10.1}",
            r.platform,
            r.scenario,
            r.gib,
            format!("{} ({})", r.pvalidate, r.min.pvalidate),
            format!("{} ({})", r.psc_exits, r.min.psc_exits),
            format!("{} ({})", r.tdx_accepts, r.min.tdx_accepts),
            r.bookkeeping_ns as f64 / 1e6,
            r.total_ns as f64 / 1e6,
        );
    }
}

fn json(rows: &[Row]) -> String {
    let mut out = String::from("[\n");
    for (i, r) in rows.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {{\"platform\": \"{}\", \"scenario\": \"{}\", \"gib\": {}, \"pvalidate\": {}, \"psc_exits\": {}, \
             \"tdx_accepts\": {}, \"min_pvalidate\": {}, \"min_psc_exits\": {}, \"min_tdx_accepts\": {}, \
             \"bookkeeping_ns\": {}}}{}",
            r.platform,
            r.scenario,
            r.gib,
            r.pvalidate,
            r.psc_exits,
            r.tdx_accepts,
            r.min.pvalidate,
            r.min.psc_exits,
            r.min.tdx_accepts,
            r.bookkeeping_ns,
            if i + 1 < rows.len() { "," } else { "" }
        );
    }
    out.push_str("]\n");
    out
}

/// Aligned maps must cost exactly the minimum, fragmented ones at most 5% more; 1 TiB of bookkeeping
/// must fit its budget.
fn check(rows: &[Row]) -> crate::Result {
    for r in rows {
        let pairs = [
            (r.pvalidate, r.min.pvalidate),
            (r.psc_exits, r.min.psc_exits),
            (r.tdx_accepts, r.min.tdx_accepts),
        ];
        let over = pairs
            .iter()
            .any(|(got, min)| if r.scenario == "aligned" { got != min } else { got * 100 > min * 105 });
        if over {
            return Err(
                format!("{} {} {} GiB: above the minimum: {r:?}", r.platform, r.scenario, r.gib).into()
            );
        }
        if r.gib == 1024 && r.bookkeeping_ns > TIB_BOOKKEEPING_BUDGET_NS {
            let ms = r.bookkeeping_ns as f64 / 1e6;
            return Err(format!(
                "{} {} 1 TiB: bookkeeping took {ms:.1} ms (budget 10 ms)",
                r.platform, r.scenario
            )
            .into());
        }
    }
    Ok(())
}

/// A debug build re-runs the bench from a release build of itself in the same target directory.
fn rerun_as_release(args: &Args) -> crate::Result {
    let current = std::env::current_exe()?;
    let target = current.parent().and_then(Path::parent).ok_or("cannot locate the target directory")?;
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("bench accept: the simulators need an optimised build (cargo build --release -p xtask)");
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "-p", "xtask", "--bin", "xtask", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target)
        .status()?;
    if !status.success() {
        return Err(format!("cargo build --release -p xtask failed: {status}").into());
    }
    let release = target.join("release").join(current.file_name().ok_or("executable has no name")?);
    let mut cmd = Command::new(release);
    cmd.args(["bench", "accept"]);
    if let Some(json) = &args.json {
        cmd.arg("--json").arg(json);
    }
    let status = cmd.status()?;
    if status.success() { Ok(()) } else { Err(format!("bench accept (release) failed: {status}").into()) }
}
