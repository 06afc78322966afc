//! `warden-machine --tdx`: builds the TD from an IGVM file, runs it, prints the consoles and one
//! summary line (outcome, MRTD, the TDX module's counts; a second for the L2's entries and exits), optionally writes the report JSON `bench
//! boot --machine tdx` reads, and exits 0 only on success.
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use super::loader;
use super::machine::TdxMachine;
use crate::hypervisor::READY_LINE;
use crate::machine::Config;

/// Runs the TD built from `igvm`.
pub fn main(igvm: &Path, config: Config, report: Option<&Path>) -> ExitCode {
    let start = Instant::now();
    let bytes = match std::fs::read(igvm) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("machine: cannot read {}: {e} (run `cargo xtask build`)", igvm.display());
            return ExitCode::from(2);
        }
    };
    let image = match loader::load(&bytes) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("machine: {}: {e}", igvm.display());
            return ExitCode::from(2);
        }
    };
    let mrtd: String = image.mrtd.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let mut machine = match TdxMachine::launch(&image, config) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("machine: launch: {e}");
            return ExitCode::from(2);
        }
    };
    let startup = start.elapsed().as_secs_f64();
    let outcome = machine.run();
    let s = machine.uc.get_data();
    let (c, sept) = (s.module.counters, s.module.sept.counters);
    for note in &s.vmm.hv.notes {
        println!("machine: note: {note}");
    }
    println!(
        "machine: tdx: {outcome} | {:.2} s (startup {startup:.2} s) | MRTD {mrtd} | tdcalls {} accepts {} (1G {} 2M {} 4K {}, already accepted {}) vmcalls {} map-gpa {} #VE {}",
        start.elapsed().as_secs_f64(),
        c.tdcalls,
        sept.accepts,
        sept.accepts_by_level[0],
        sept.accepts_by_level[1],
        sept.accepts_by_level[2],
        sept.already_accepted,
        c.vmcalls,
        sept.map_gpa,
        c.ves,
    );
    if s.l2.entries > 0 {
        let exits: Vec<String> = s.l2.exits.iter().map(|(reason, n)| format!("{reason}: {n}")).collect();
        println!("machine: tdx: L2 VM 1: {} entries, exits by reason {{{}}}", s.l2.entries, exits.join(", "));
    }
    if let Some(path) = report {
        let ready =
            s.vmm.hv.warden.lines.iter().find(|l| l.starts_with(READY_LINE)).cloned().unwrap_or_default();
        let json = format!(
            "{{\"platform\": \"tdx\", \"outcome\": {:?}, \"success\": {}, \"startup_s\": {startup}, \"ready_s\": {}, \"ready_line\": {:?}, \"tdcalls\": {}, \"accepts\": {}, \"accepts_1g\": {}, \"accepts_2m\": {}, \"accepts_4k\": {}, \"vmcalls\": {}, \"map_gpa\": {}, \"ve\": {}}}\n",
            outcome.to_string(),
            outcome.is_success(),
            s.vmm.hv.ready_at.map_or("null".to_string(), |t| t.to_string()),
            ready,
            c.tdcalls,
            sept.accepts,
            sept.accepts_by_level[0],
            sept.accepts_by_level[1],
            sept.accepts_by_level[2],
            c.vmcalls,
            sept.map_gpa,
            c.ves,
        );
        if let Err(e) = std::fs::write(path, json) {
            eprintln!("machine: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    if outcome.is_success() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
