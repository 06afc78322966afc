//! `cargo xtask bench boot --machine snp`: Warden's boot on the emulated SEV-SNP machine
//! (`tests/machine`): wall-clock time from the machine's start to the ready line (emulation, not
//! hardware), the firmware's own phases (in TSC cycles: on SNP it has no calibrated rate), and the
//! PVALIDATE instructions and page-state-change exits the machine served, against the minimum that
//! `bench accept` computes (`warden_sim::bounds::minimum`) for the memory Warden accepts there: its heap.
//!
//! Page-state changes through the GHCB MSR protocol (one page each, made before the GHCB exists: the
//! GHCB page itself) are not acceptance; each comes with one PVALIDATE rescinding that page. They are
//! reported and taken out before the comparison.
use std::path::PathBuf;

use warden_defs::layout::{HEAP_BASE, WARDEN_END};
use warden_platform::memory::GpaRange;
use warden_sim::bounds::minimum;

/// One boot's report from `warden-machine --report-json`.
struct Report {
    ready_s: f64,
    ready_line: String,
    pvalidate: u64,
    pvalidate_2m: u64,
    psc_exits: u64,
    msr_psc: u64,
}

fn boot_once(image: &std::path::Path, timeout: u64) -> crate::Result<Report> {
    let json = std::env::temp_dir().join(format!("warden-machine-bench-{}.json", std::process::id()));
    let seconds = timeout.to_string();
    crate::machine::run(
        image,
        &["--ready", "--quiet", "--max-seconds", &seconds, "--report-json", &json.display().to_string()],
    )?;
    let value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json)?)?;
    let _ = std::fs::remove_file(&json);
    let num = |key: &str| value[key].as_u64().ok_or_else(|| format!("machine report: no {key}"));
    Ok(Report {
        ready_s: value["ready_s"].as_f64().ok_or("machine report: no ready time")?,
        ready_line: value["ready_line"].as_str().unwrap_or_default().to_string(),
        pvalidate: num("pvalidate")?,
        pvalidate_2m: num("pvalidate_2m")?,
        psc_exits: num("psc_exits")?,
        msr_psc: num("msr_psc")?,
    })
}

/// Runs the benchmark `runs` times on `warden.igvm` (guest-less: the boot ends at the ready line).
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
    let accepted_pvalidate = r.pvalidate - r.msr_psc;
    let accepted_exits = r.psc_exits - r.msr_psc;
    println!(
        "boot on the emulated SNP machine, {} runs (median), emulation time, not hardware",
        reports.len()
    );
    println!("  machine start to ready line: {:.2} s", r.ready_s);
    println!("  the firmware's own account (TSC cycles; no calibrated rate on SNP):");
    let account = r.ready_line.split_once(" boot ").map_or("", |(_, rest)| rest);
    for word in account.split_whitespace() {
        println!("    {word}");
    }
    println!(
        "  served: PVALIDATE {} (2 MiB {}), page-state-change exits {} (MSR protocol {})",
        r.pvalidate, r.pvalidate_2m, r.psc_exits, r.msr_psc
    );
    println!(
        "  heap acceptance [{HEAP_BASE:#x}, {WARDEN_END:#x}): PVALIDATE {accepted_pvalidate}, exits {accepted_exits}; minimum (bench accept): PVALIDATE {}, exits {}",
        min.pvalidate, min.psc_exits
    );
    if let Some(path) = json {
        let value = serde_json::json!({
            "machine": "snp",
            "runs": reports.len(),
            "ready_s": r.ready_s,
            "pvalidate": r.pvalidate,
            "pvalidate_2m": r.pvalidate_2m,
            "psc_exits": r.psc_exits,
            "msr_psc": r.msr_psc,
            "min_pvalidate": min.pvalidate,
            "min_psc_exits": min.psc_exits,
        });
        std::fs::write(path, serde_json::to_string_pretty(&value)? + "\n")?;
        println!("wrote {}", path.display());
    }
    if (accepted_pvalidate, accepted_exits) != (min.pvalidate, min.psc_exits) {
        return Err(format!(
            "heap acceptance on the machine took PVALIDATE {accepted_pvalidate} / exits {accepted_exits}, the minimum is {} / {}",
            min.pvalidate, min.psc_exits
        )
        .into());
    }
    Ok(())
}
