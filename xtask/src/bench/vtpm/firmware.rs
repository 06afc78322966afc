//! `cargo xtask bench vtpm --firmware`: the tpm2-tss rows (`tss.rs`, `tests/pytss/latency.py`) through
//! the booted release image under QEMU TCG: tpm2-tss -> mssim -> bridge -> guest RAM and doorbell ->
//! Warden's SVSM dispatcher -> vTPM; swtpm through its own TCTI in the same run as the baseline.
//!
//! The firmware is `cargo xtask run --headless` in a child process (the bridge listens once Warden is
//! ready), stopped with TPM_STOP at the end so it removes what it made. Nothing is pinned: QEMU's vCPU
//! thread polls the doorbell and would take the client's CPU from it.
use std::io::Write;
use std::net::{Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use warden_mssim::Signal;

use super::transport::{Server, TempDir, free_port_pair};
use super::{Args, report, start_swtpm, tss};

/// The rows through the firmware: every tpm2-tss row but the fresh RSA-2048 primary, whose key search
/// under TCG runs longer than the bridge waits for one call.
const ROWS: [&str; 10] = [
    "GetRandom",
    "PCR_Extend",
    "PCR_Read",
    "Hash",
    "NV_Write",
    "NV_Read",
    "CreatePrimary(ECC P-256)",
    "CreatePrimary(ECC P-384)",
    "Sign(ECDSA P-256)",
    "Quote(ECDSA P-256)",
];

/// The bar through the firmware under TCG: (row, median at most, in µs).
const BARS: [(&str, f64); 2] = [("GetRandom", 2_000.0), ("Sign(ECDSA P-256)", 20_000.0)];

/// How long the firmware may take from `xtask run` to a listening bridge (TCG, a loaded machine).
const BOOT_WAIT: Duration = Duration::from_secs(120);

/// Builds the images, boots the firmware, measures, reports.
pub fn run(args: &Args) -> crate::Result {
    crate::build::build(&crate::build::Args::default())?;
    let state = TempDir::new()?;
    let swtpm_port = free_port_pair()?;
    let _swtpm = start_swtpm(&state, swtpm_port)?;
    let warden_port = free_port_pair()?;
    let xtask = std::env::current_exe()?;
    let run_args: Vec<String> =
        ["run", "--headless", "--no-build", "--accel", "tcg", "--timeout", "120", "--vtpm-port"]
            .into_iter()
            .map(str::to_owned)
            .chain([warden_port.to_string()])
            .collect();
    let firmware = Server::start_within("the booted firmware", &xtask, &run_args, warden_port, BOOT_WAIT)?;

    let iterations = tss::Iterations {
        commands: args.iterations,
        keys: args.key_iterations,
        fresh_rsa: args.fresh_rsa_iterations,
    };
    let measured = tss::measure(warden_port, swtpm_port, iterations, Some(&ROWS));
    stop(warden_port, firmware);
    let through_firmware = measured?;

    println!("Warden = the firmware's vTPM in the booted release image (QEMU TCG) through its bridge");
    report::print_table(&through_firmware, &[], args.iterations);
    if let Some(path) = &args.json {
        std::fs::write(path, report::json(&through_firmware, &[]))
            .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
        println!("wrote {}", path.display());
    }
    check_bars(&through_firmware)
}

/// TPM_STOP on the platform port ends the bridge, and `xtask run` stops QEMU and cleans up; killed
/// (by the `Server`'s drop) if it has not ended in ten seconds.
fn stop(port: u16, mut firmware: Server) {
    if let Ok(mut platform) = TcpStream::connect((Ipv4Addr::LOCALHOST, port + 1)) {
        let _ = platform.write_all(&Signal::STOP.to_wire());
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !firmware.exited() {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Prints each bar with its figure; an error names the rows above their bar.
fn check_bars(figures: &[tss::Figure]) -> crate::Result {
    let mut missed = Vec::new();
    for (row, bar) in BARS {
        match figures.iter().find(|figure| figure.command == row) {
            Some(figure) => {
                let met = figure.warden_us <= bar;
                println!("bar: {row} median {:.1} µs <= {bar:.0} µs: {}", figure.warden_us, met);
                if !met {
                    missed.push(row);
                }
            }
            None => missed.push(row),
        }
    }
    if missed.is_empty() { Ok(()) } else { Err(format!("above the bar: {}", missed.join(", ")).into()) }
}

#[cfg(test)]
mod tests {
    use super::{BARS, ROWS};

    /// The row names in latency.py's `ROWS` table.
    fn script_rows() -> Vec<String> {
        let text = std::fs::read_to_string(super::super::tss::script()).unwrap();
        let table = text.split("ROWS = {").nth(1).unwrap().split("\n}").next().unwrap();
        table
            .lines()
            .filter_map(|line| line.trim().strip_prefix('"')?.split('"').next().map(str::to_owned))
            .collect()
    }

    /// latency.py refuses unknown row names: the firmware's rows and bars must be the script's.
    #[test]
    fn rows_and_bars_name_rows_of_the_script() {
        let known = script_rows();
        assert!(known.len() > ROWS.len(), "the fresh RSA row is left out: {known:?}");
        for row in ROWS.iter().chain(BARS.iter().map(|(row, _)| row)) {
            assert!(known.iter().any(|known| known == row), "{row} is not a latency.py row: {known:?}");
        }
    }
}
