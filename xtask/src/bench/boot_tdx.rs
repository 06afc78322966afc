//! `cargo xtask bench boot --machine tdx`: Warden's boot on the emulated TDX machine (`warden-machine
//! --tdx`): wall-clock time from the machine's start to the ready line (emulation, not hardware), the
//! TDCALLs, #VEs and TDG.MEM.PAGE.ACCEPTs the TDX module model served, and the accepts against the
//! minimum `bench accept` computes (`warden_sim::bounds::minimum`: one per aligned 1 GiB, then per
//! aligned 2 MiB, then per 4 KiB) for the memory Warden accepts there: its heap.
use std::path::PathBuf;

use warden_defs::layout::{HEAP_BASE, WARDEN_END};
use warden_platform::memory::GpaRange;
use warden_sim::bounds::minimum;

/// One boot's report from `warden-machine --tdx --report-json`.
#[derive(Debug)]
struct Report {
    ready_s: f64,
    ready_line: String,
    counts: serde_json::Value,
    accepts: u64,
}

fn boot_once(image: &std::path::Path, timeout: u64) -> crate::Result<Report> {
    let json = std::env::temp_dir().join(format!("warden-machine-tdx-bench-{}.json", std::process::id()));
    let seconds = timeout.to_string();
    let path = json.display().to_string();
    crate::machine::run(
        image,
        &["--tdx", "--ready", "--quiet", "--max-seconds", &seconds, "--report-json", &path],
    )?;
    let value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json)?)?;
    let _ = std::fs::remove_file(&json);
    Ok(Report {
        ready_s: value["ready_s"].as_f64().ok_or("machine report: no ready time")?,
        ready_line: value["ready_line"].as_str().unwrap_or_default().to_string(),
        accepts: value["accepts"].as_u64().ok_or("machine report: no accepts")?,
        counts: value,
    })
}

/// Runs the benchmark `runs` times on `warden.igvm`.
pub fn run(runs: usize, timeout: u64, json: Option<&PathBuf>) -> crate::Result {
    let image = crate::build::output_dir().join("warden.igvm");
    let mut reports = Vec::new();
    for _ in 0..runs.max(1) {
        reports.push(boot_once(&image, timeout)?);
    }
    reports.sort_by(|a, b| a.ready_s.total_cmp(&b.ready_s));
    let r = &reports[reports.len() / 2];
    let heap = GpaRange::new(HEAP_BASE, WARDEN_END).ok_or("the heap is not a page range")?;
    let min = minimum(&[heap]);
    println!(
        "boot on the emulated TDX machine, {} runs (median), emulation time, not hardware",
        reports.len()
    );
    println!("  machine start to ready line: {:.2} s", r.ready_s);
    let account = r.ready_line.split_once(" boot ").map_or("", |(_, rest)| rest);
    for word in account.split_whitespace() {
        println!("    {word}");
    }
    let c = &r.counts;
    println!(
        "  served: TDCALL {} (VMCALL {}), #VE {}, MapGPA {}, TDG.MEM.PAGE.ACCEPT {} (1 GiB {}, 2 MiB {}, 4 KiB {})",
        c["tdcalls"],
        c["vmcalls"],
        c["ve"],
        c["map_gpa"],
        r.accepts,
        c["accepts_1g"],
        c["accepts_2m"],
        c["accepts_4k"]
    );
    println!(
        "  heap acceptance [{HEAP_BASE:#x}, {WARDEN_END:#x}): accepts {}; minimum (bench accept): {}",
        r.accepts, min.tdx_accepts
    );
    if let Some(path) = json {
        let value = serde_json::json!({
            "machine": "tdx",
            "runs": reports.len(),
            "ready_s": r.ready_s,
            "tdx_accepts": r.accepts,
            "min_tdx_accepts": min.tdx_accepts,
            "counts": r.counts,
        });
        std::fs::write(path, serde_json::to_string_pretty(&value)? + "\n")?;
        println!("wrote {}", path.display());
    }
    if r.accepts != min.tdx_accepts {
        return Err(format!(
            "heap acceptance on the TDX machine took {} accepts, the minimum is {}",
            r.accepts, min.tdx_accepts
        )
        .into());
    }
    Ok(())
}
