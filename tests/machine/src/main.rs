//! `warden-machine [--tdx] [--igvm PATH] [--smoke | --ready] [--psc-behavior B] [--lie-ghcb-echo]
//! [--max-seconds N] [--nonce HEX] [--evidence-dir DIR] [--vtpm-state FILE]`: boots an IGVM file on the emulated SEV-SNP
//! machine, prints the consoles, and exits 0 only on success (`--smoke`: Warden's ready line and the
//! guest's PASS verdict; `--ready`: Warden's ready line; otherwise a TestsPassed termination), printing
//! one summary line either way. `--nonce` hands the relying party's 64-byte nonce to the guest
//! (`host_nonce`). `--evidence-dir` first writes the PSP's INSECURE TEST chain there as `ark.pem`,
//! `ask.pem` and `vcek.pem` (what a relying party fetches from AMD in real life). `--vtpm-state` gives
//! Warden a state disk backed by FILE (`state_disk`; created, or grown to 256 KiB), where it keeps the
//! vTPM's sealed state across boots.
//! `--tdx` (or `--platform tdx`) boots the file's TDX platform on the emulated TDX machine instead
//! (`tdx::cli`).
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use warden_machine::cpuid_model::CpuidModel;
use warden_machine::hypervisor::READY_LINE;
use warden_machine::machine::{Config, Machine};
use warden_machine::psp::cert_chain::CertChain;
use warden_machine::{host_nonce, loader};
use warden_sim::snp::PscBehavior;

const USAGE: &str = "usage: warden-machine [--tdx | --platform snp|tdx] [--igvm PATH] [--smoke | --ready] [--psc-behavior honest|partial:N|over-report:N:M|stall|cur-entry:N|end-entry:N|corrupt:N|fail:CODE] [--lie-ghcb-echo] [--max-seconds N] [--nonce HEX] [--quiet] [--report-json PATH] [--evidence-dir DIR] [--vtpm-state FILE]";

fn parse_psc(s: &str) -> Option<PscBehavior> {
    let mut it = s.split(':');
    let kind = it.next()?;
    let mut num = || it.next().and_then(|n| n.parse::<u64>().ok());
    Some(match kind {
        "honest" => PscBehavior::Honest,
        "partial" => PscBehavior::Partial { per_exit: num()? as u16 },
        "over-report" => PscBehavior::OverReport { per_exit: num()? as u16, claimed: num()? as u16 },
        "stall" => PscBehavior::Stall,
        "cur-entry" => PscBehavior::SetCurEntry(num()? as u16),
        "end-entry" => PscBehavior::SetEndEntry(num()? as u16),
        "corrupt" => PscBehavior::CorruptEntries { per_exit: num()? as u16 },
        "fail" => PscBehavior::Fail(num()?),
        _ => return None,
    })
}

fn main() -> ExitCode {
    let mut igvm = PathBuf::from("target/warden/warden-snp-guest.igvm");
    let mut config = Config::default();
    let mut report: Option<PathBuf> = None;
    let mut evidence_dir: Option<PathBuf> = None;
    let mut tdx = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().unwrap_or_else(|| panic!("{name} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--igvm" => igvm = PathBuf::from(value("--igvm")),
            "--tdx" => tdx = true,
            "--platform" => match value("--platform").as_str() {
                "tdx" => tdx = true,
                "snp" => tdx = false,
                other => {
                    eprintln!("unknown platform {other}\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--smoke" => config.smoke = true,
            "--ready" => config.until_ready = true,
            "--quiet" => config.echo = false,
            "--report-json" => report = Some(PathBuf::from(value("--report-json"))),
            "--evidence-dir" => evidence_dir = Some(PathBuf::from(value("--evidence-dir"))),
            "--vtpm-state" => config.vtpm_state = Some(PathBuf::from(value("--vtpm-state"))),
            "--lie-ghcb-echo" => config.lie_ghcb_echo = true,
            "--max-seconds" => config.max_seconds = value("--max-seconds").parse().expect("--max-seconds N"),
            "--nonce" => {
                let v = value("--nonce");
                config.nonce = Some(
                    host_nonce::parse_hex(&v)
                        .unwrap_or_else(|| panic!("--nonce needs 128 hex digits\n{USAGE}")),
                );
            }
            "--psc-behavior" => {
                let v = value("--psc-behavior");
                config.psc_behavior =
                    parse_psc(&v).unwrap_or_else(|| panic!("bad --psc-behavior {v}\n{USAGE}"));
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("unknown argument {other}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(dir) = &evidence_dir {
        let written = std::fs::create_dir_all(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))
            .and_then(|()| CertChain::stored().write_pems(dir));
        if let Err(e) = written {
            eprintln!("machine: --evidence-dir: {e}");
            return ExitCode::from(2);
        }
    }
    if tdx {
        return warden_machine::tdx::cli::main(&igvm, config, report.as_deref());
    }
    let start = Instant::now();
    let bytes = match std::fs::read(&igvm) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("machine: cannot read {}: {e} (run `cargo xtask build`)", igvm.display());
            return ExitCode::from(2);
        }
    };
    let image = match loader::load(&bytes, &CpuidModel::probe()) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("machine: {}: {e}", igvm.display());
            return ExitCode::from(2);
        }
    };
    let digest: String = image.digest.value().iter().map(|b| format!("{b:02x}")).collect();
    let mut machine = match Machine::launch(&image, config) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("machine: launch: {e}");
            return ExitCode::from(2);
        }
    };
    let startup = start.elapsed().as_secs_f64();
    let outcome = machine.run();
    let s = machine.uc.get_data();
    let c = s.snp.counters;
    for note in &s.hv.notes {
        println!("machine: note: {note}");
    }
    println!(
        "machine: {outcome} | {:.2} s (startup {startup:.2} s) | launch digest {digest} | pvalidate {} (2M {}) rmpadjust {} psc exits {} entries {} | vmpl switches {}",
        start.elapsed().as_secs_f64(),
        c.pvalidate,
        c.pvalidate_2m,
        c.rmpadjust,
        c.psc_exits,
        c.psc_entries_done,
        s.vcpus.switches,
    );
    if let Some(path) = report {
        let ready = s.hv.warden.lines.iter().find(|l| l.starts_with(READY_LINE)).cloned().unwrap_or_default();
        let json = format!(
            "{{\"outcome\": {:?}, \"success\": {}, \"startup_s\": {startup}, \"ready_s\": {}, \"ready_line\": {:?}, \"pvalidate\": {}, \"pvalidate_2m\": {}, \"rmpadjust\": {}, \"psc_exits\": {}, \"psc_entries\": {}, \"msr_psc\": {}}}\n",
            outcome.to_string(),
            outcome.is_success(),
            s.hv.ready_at.map_or("null".to_string(), |t| t.to_string()),
            ready,
            c.pvalidate,
            c.pvalidate_2m,
            c.rmpadjust,
            c.psc_exits,
            c.psc_entries_done,
            s.hv.msr_psc,
        );
        if let Err(e) = std::fs::write(&path, json) {
            eprintln!("machine: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    if outcome.is_success() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
