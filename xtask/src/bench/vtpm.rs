//! `cargo xtask bench vtpm`: per-command latency of Warden's vTPM against swtpm (libtpms).
//!
//! Both servers run as separate processes on TCP loopback, and each is measured by two clients in
//! the same run, calls interleaved one for one so that drift in the machine's load hits both alike:
//!
//! - through tpm2-tss (`tss`): tpm2-pytss ESAPI calls, Warden over the mssim TCTI, swtpm over its
//!   swtpm TCTI, timed inside the Python script: what users of tpm2-tools or tpm2-pytss see;
//! - the raw engine (`raw`): this crate's own client sending prepared command bytes, Warden
//!   (`xtask tpm-server`) in mssim framing, swtpm (`swtpm socket --tpm2`) on its unframed data
//!   channel (it has no mssim mode): the TPMs' own cost with the least client in front.
//!
//! Each figure is the median of its calls on one kept-open connection, after a warm-up. The Warden server is always an optimised build: when this
//! xtask is a debug build, the bench first runs `cargo build --release -p xtask` and starts
//! `<target>/release/xtask tpm-server`.
//!
//! The client and both servers are pinned to one CPU (`taskset`, unless `--no-pin`). On a small VM a
//! wake-up across CPUs costs an inter-processor interrupt, tens of microseconds, and whether a server
//! lands beside the client or not is the scheduler's whim: unpinned runs are bimodal, and the ratio
//! then measures placement, not the TPMs. On one CPU both pay the same context switches, as a vTPM
//! called synchronously on the guest's own vCPU would.

mod firmware;
mod report;
mod sequence;
mod transport;
mod tss;
mod wire;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use self::transport::{Mssim, Raw, Server, TempDir, Transport, free_port_pair};

/// Measure vTPM command latency against swtpm.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write the rows as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Timed calls per command and server (the median is reported).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(200..))]
    pub iterations: u32,
    /// Leave the client and the servers wherever the scheduler puts them.
    #[arg(long)]
    pub no_pin: bool,
    /// Timed calls per key operation on ECC keys (CreatePrimary, Sign, Quote).
    #[arg(long, default_value_t = 200)]
    pub key_iterations: u32,
    /// Timed calls of CreatePrimary(RSA-2048) with a repeated template (raw client): after the
    /// first, a TPM that caches primaries answers from its cache.
    #[arg(long, default_value_t = 15)]
    pub rsa_iterations: u32,
    /// Timed calls of CreatePrimary(RSA-2048) with a fresh unique field (through tpm2-tss): each
    /// derives a new 2048-bit key, which takes Warden seconds.
    #[arg(long, default_value_t = 5)]
    pub fresh_rsa_iterations: u32,
    /// Measure the tpm2-tss rows through the booted firmware (release image, QEMU TCG, the bridge over
    /// the native guest channel) instead of the host tpm-server; swtpm is the baseline as before.
    #[arg(long)]
    pub firmware: bool,
}

/// What a timed call leaves behind, cleaned up (untimed) before the next call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum After {
    /// Nothing.
    Nothing,
    /// A transient object or a session, whose handle the response carries first: flushed.
    FlushCreated,
}

/// TPM_RC_RETRY: the TPM asks for the same command again.
const TPM_RC_RETRY: u32 = 0x922;

/// Calls before timing starts: connection buffers, caches and lazy initialisation settle.
const WARM_UP: u32 = 20;

/// Builds one command's bytes.
type Builder = fn() -> Vec<u8>;

/// Builds one command's bytes for the key at a handle.
type KeyedBuilder = fn(u32) -> Vec<u8>;

/// The measured commands, in order (NV_Write before NV_Read: an unwritten index cannot be read).
const COMMANDS: [(&str, Builder); 7] = [
    ("GetRandom", wire::get_random),
    ("PCR_Extend", wire::pcr_extend),
    ("PCR_Read", wire::pcr_read),
    ("Hash", wire::hash),
    ("Hash(SHA-1)", wire::hash_sha1),
    ("NV_Write", wire::nv_write),
    ("NV_Read", wire::nv_read),
];

/// One row of the raw client's result: medians in microseconds, or why the command could not be measured.
#[derive(Debug)]
struct Row {
    command: &'static str,
    outcome: Result<(f64, f64), String>,
}

/// Runs the benchmark.
pub fn run(args: &Args) -> crate::Result {
    if args.firmware {
        return firmware::run(args);
    }
    let server = warden_server_binary()?;
    if !args.no_pin {
        pin_to_one_cpu()?;
    }
    let warden_port = free_port_pair()?;
    let warden_args = ["tpm-server".to_owned(), "--port".to_owned(), warden_port.to_string()];
    let _warden = Server::start("the Warden tpm-server", &server, &warden_args, warden_port)?;
    let state = TempDir::new()?;
    let swtpm_port = free_port_pair()?;
    let _swtpm = start_swtpm(&state, swtpm_port)?;

    let mut warden = Mssim::connect(warden_port)?;
    let mut swtpm = Raw::connect(swtpm_port)?;
    expect_success("Warden Startup(CLEAR)", &mut warden, &wire::startup_clear())?;

    let mut rows = Vec::new();
    for (command, build) in COMMANDS {
        if command == "NV_Write" {
            // Defined once for both NV rows; a failure shows in those rows.
            let _ = expect_success("Warden NV_DefineSpace", &mut warden, &wire::nv_define());
            let _ = expect_success("swtpm NV_DefineSpace", &mut swtpm, &wire::nv_define());
        }
        let command_bytes = build();
        let outcome = measure(&mut warden, &mut swtpm, [&command_bytes; 2], args.iterations, After::Nothing);
        rows.push(Row { command, outcome });
    }
    measure_keys(&mut warden, &mut swtpm, args, &mut rows);
    rows.push(Row {
        command: sequence::ROW,
        outcome: sequence::measure_hmac_sequence(&mut warden, &mut swtpm, args.key_iterations),
    });
    // Leave both TPMs as found (swtpm's state directory is removed anyway).
    for transport in [&mut warden as &mut dyn Transport, &mut swtpm] {
        let _ = transport.call(&wire::nv_undefine());
        let _ = transport.call(&wire::pcr_reset());
    }

    // swtpm serves one client at a time: the raw connections end before tpm2-tss connects.
    drop((warden, swtpm));
    let iterations = tss::Iterations {
        commands: args.iterations,
        keys: args.key_iterations,
        fresh_rsa: args.fresh_rsa_iterations,
    };
    let through_tss = tss::measure(warden_port, swtpm_port, iterations, None)?;

    report::print_table(&through_tss, &rows, args.iterations);
    if let Some(path) = &args.json {
        std::fs::write(path, report::json(&through_tss, &rows))
            .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
        println!("wrote {}", path.display());
    }
    let failed: Vec<_> = rows.iter().filter(|row| row.outcome.is_err()).map(|row| row.command).collect();
    if failed.is_empty() { Ok(()) } else { Err(format!("not measured: {}", failed.join(", ")).into()) }
}

/// Starts swtpm on `port` (data) and `port + 1` (control), its state in `state`.
fn start_swtpm(state: &TempDir, port: u16) -> crate::Result<Server> {
    let swtpm_args = [
        "socket".to_owned(),
        "--tpm2".to_owned(),
        "--server".to_owned(),
        format!("type=tcp,port={port}"),
        "--ctrl".to_owned(),
        format!("type=tcp,port={}", port + 1),
        "--tpmstate".to_owned(),
        format!("dir={}", state.0.display()),
        "--flags".to_owned(),
        "not-need-init,startup-clear".to_owned(),
    ];
    Server::start("swtpm", Path::new("swtpm"), &swtpm_args, port)
}

/// This executable when it is optimised; otherwise a release build of it, built now.
fn warden_server_binary() -> crate::Result<PathBuf> {
    let current = std::env::current_exe()?;
    if !cfg!(debug_assertions) {
        return Ok(current);
    }
    // <target>/debug/xtask: build into the same target directory, under release/.
    let target = current.parent().and_then(Path::parent).ok_or("cannot locate the target directory")?;
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("bench vtpm: building an optimised tpm-server (cargo build --release -p xtask)");
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "-p", "xtask", "--bin", "xtask", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target)
        .status()?;
    if !status.success() {
        return Err(format!("cargo build --release -p xtask failed: {status}").into());
    }
    Ok(target.join("release").join(current.file_name().ok_or("executable has no name")?))
}

/// Pins this process (all its threads, and so the servers it starts next) to the last CPU.
fn pin_to_one_cpu() -> crate::Result {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let cpu = (cpus - 1).to_string();
    let pid = std::process::id().to_string();
    let status = Command::new("taskset")
        .args(["--all-tasks", "--cpu-list", "--pid", &cpu, &pid])
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|error| {
            format!("cannot run taskset (util-linux) to pin the bench; or pass --no-pin: {error}")
        })?;
    if !status.success() {
        return Err(format!("taskset failed ({status}); pass --no-pin to run unpinned").into());
    }
    println!("client and servers pinned to CPU {cpu}");
    Ok(())
}

/// Sends `command` and requires `TPM_RC_SUCCESS`.
fn expect_success(what: &str, transport: &mut dyn Transport, command: &[u8]) -> Result<(), String> {
    let response = transport.call(command).map_err(|error| format!("{what}: {error}"))?;
    match wire::response_code(&response) {
        Ok(0) => Ok(()),
        Ok(code) => Err(format!("{what}: response code {code:#x}")),
        Err(error) => Err(format!("{what}: {error}")),
    }
}

/// Median latency in microseconds of `commands[0]` on Warden and `commands[1]` on swtpm, calls
/// interleaved.
fn measure(
    warden: &mut Mssim,
    swtpm: &mut Raw,
    commands: [&[u8]; 2],
    iterations: u32,
    after: After,
) -> Result<(f64, f64), String> {
    let mut times = [Vec::new(), Vec::new()];
    for round in 0..WARM_UP.min(iterations) + iterations {
        let mut sides = [("Warden", &mut *warden as &mut dyn Transport), ("swtpm", &mut *swtpm)];
        // Each server goes first in half of the rounds: neither always follows the other.
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for side in order {
            let (name, transport) = &mut sides[side];
            // TPM_RC_RETRY (libtpms answers it now and then, e.g. to a Sign) is re-sent; only the
            // attempt that succeeds is timed, which if anything flatters the server that retries.
            let (response, elapsed) = loop {
                let start = Instant::now();
                let response = transport.call(commands[side]).map_err(|error| format!("{name}: {error}"));
                let elapsed = start.elapsed();
                let response = response?;
                if wire::response_code(&response) != Ok(TPM_RC_RETRY) {
                    break (response, elapsed);
                }
            };
            // Every response is checked (outside the timed span): a fast error is not a result.
            match wire::response_code(&response) {
                Ok(0) => {}
                Ok(code) => return Err(format!("{name}: response code {code:#x}")),
                Err(error) => return Err(format!("{name}: {error}")),
            }
            if after == After::FlushCreated {
                let handle = wire::created_handle(&response)?;
                expect_success(&format!("{name} FlushContext"), *transport, &wire::flush(handle))?;
            }
            if round >= WARM_UP.min(iterations) {
                times[side].push(elapsed);
            }
        }
    }
    let [warden_times, swtpm_times] = times;
    Ok((median_us(warden_times), median_us(swtpm_times)))
}

/// CreatePrimary per key type, then Sign and Quote with one ECC P-256 key on each server.
fn measure_keys(warden: &mut Mssim, swtpm: &mut Raw, args: &Args, rows: &mut Vec<Row>) {
    use wire::KeyType;
    let primaries = [
        ("CreatePrimary(ECC P-256)", KeyType::EccP256, args.key_iterations),
        ("CreatePrimary(ECC P-384)", KeyType::EccP384, args.key_iterations),
        ("CreatePrimary(RSA-2048 repeated)", KeyType::Rsa2048, args.rsa_iterations),
    ];
    for (command, key, iterations) in primaries {
        let bytes = wire::create_primary(key);
        rows.push(Row {
            command,
            outcome: measure(warden, swtpm, [&bytes; 2], iterations, After::FlushCreated),
        });
    }
    let create = |name: &str, transport: &mut dyn Transport| -> Result<u32, String> {
        let response =
            transport.call(&wire::create_primary(KeyType::EccP256)).map_err(|e| format!("{name}: {e}"))?;
        match wire::response_code(&response)? {
            0 => wire::created_handle(&response),
            code => Err(format!("{name}: CreatePrimary answered {code:#x}")),
        }
    };
    // Create (a child signing key) and a salted StartAuthSession, under one storage parent per server.
    let storage = |name: &str, transport: &mut dyn Transport| -> Result<u32, String> {
        let response = transport.call(&wire::create_storage_primary()).map_err(|e| format!("{name}: {e}"))?;
        match wire::response_code(&response)? {
            0 => wire::created_handle(&response),
            code => Err(format!("{name}: CreatePrimary(storage) answered {code:#x}")),
        }
    };
    let parents = storage("Warden", warden).and_then(|w| Ok((w, storage("swtpm", swtpm)?)));
    let under_parent: [(&'static str, KeyedBuilder, After); 2] = [
        ("Create(ECC P-256 child)", wire::create_child, After::Nothing),
        ("StartAuthSession(ECDH salt)", wire::start_salted_session, After::FlushCreated),
    ];
    for (command, build, after) in under_parent {
        let outcome = parents
            .clone()
            .and_then(|(w, s)| measure(warden, swtpm, [&build(w), &build(s)], args.key_iterations, after));
        rows.push(Row { command, outcome });
    }
    if let Ok((w, s)) = parents {
        let _ = warden.call(&wire::flush(w));
        let _ = swtpm.call(&wire::flush(s));
    }

    let keys = create("Warden", warden).and_then(|w| Ok((w, create("swtpm", swtpm)?)));
    let signed: [(&'static str, KeyedBuilder); 2] =
        [("Sign(ECDSA P-256)", wire::sign), ("Quote(ECDSA P-256)", wire::quote)];
    for (command, build) in signed {
        let outcome = keys.clone().and_then(|(w, s)| {
            measure(warden, swtpm, [&build(w), &build(s)], args.key_iterations, After::Nothing)
        });
        rows.push(Row { command, outcome });
    }
    if let Ok((w, s)) = keys {
        let _ = warden.call(&wire::flush(w));
        let _ = swtpm.call(&wire::flush(s));
    }
}

fn median_us(mut times: Vec<Duration>) -> f64 {
    times.sort_unstable();
    times.get(times.len() / 2).map_or(f64::NAN, |median| median.as_secs_f64() * 1e6)
}
