//! `cargo xtask attest`: boot the image with the bundled test guest on the emulated SEV-SNP machine,
//! have the guest ask Warden for evidence bound to a nonce the caller chose, and write that evidence
//! into a directory for `cargo xtask verify --evidence`.
//!
//! The nonce travels as it does in real life: from the relying party through the host (the machine's
//! `--nonce HEX`, which its hypervisor model hands to the guest) into the guest, which passes it to
//! Warden's attestation protocol.
use std::path::PathBuf;
use std::time::Instant;

/// Boot, attest, write the evidence.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The directory the evidence is written to (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The machine: `snp` (the emulated SEV-SNP machine) or `tdx` (not yet available).
    #[arg(long, value_enum, default_value_t = Machine::Snp)]
    pub machine: Machine,
    /// The nonce, 64 bytes as hex [default: fresh random bytes].
    #[arg(long, value_name = "HEX")]
    pub nonce: Option<String>,
    /// Do not build first: boot what is in target/warden/.
    #[arg(long)]
    pub no_build: bool,
    /// Boot this image instead of target/warden/warden-snp-guest.igvm (e.g. a changed copy, whose
    /// evidence a verifier must refuse).
    #[arg(long, value_name = "IGVM")]
    pub image: Option<PathBuf>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
}

/// Which emulated machine produces the evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Machine {
    /// The emulated SEV-SNP machine (`tests/machine`).
    Snp,
    /// An emulated TDX machine.
    Tdx,
}

/// The nonce size the guest sends: Linux's (SVSM attestation, 64 bytes).
const NONCE_SIZE: usize = 64;

/// Attests.
pub fn run(args: &Args) -> crate::Result {
    if args.machine == Machine::Tdx {
        return Err("attest --machine tdx: there is no emulated TDX machine yet (issue #12); \
                    TDX evidence is covered by the TDX simulator's tests"
            .into());
    }
    let nonce = match &args.nonce {
        Some(hex) => crate::evidence::unhex(hex).map_err(|e| format!("attest: --nonce: {e}"))?,
        None => {
            let mut fresh = vec![0u8; NONCE_SIZE];
            getrandom::fill(&mut fresh).map_err(|e| format!("attest: no randomness for the nonce: {e}"))?;
            fresh
        }
    };
    if nonce.len() != NONCE_SIZE {
        return Err(format!("attest: the nonce must be {NONCE_SIZE} bytes, not {}", nonce.len()).into());
    }
    if !args.no_build {
        crate::build::build(&crate::build::Args::default())?;
    }
    crate::machine::build()?;
    let image =
        args.image.clone().unwrap_or_else(|| crate::build::output_dir().join(crate::build::SNP_GUEST_IGVM));
    if !image.exists() {
        return Err(format!("attest: {} is missing (no test guest in this tree?)", image.display()).into());
    }
    std::fs::create_dir_all(&args.out)?;
    // Stale files from an earlier run must not pass for this run's evidence.
    for file in
        crate::evidence::ITEMS.iter().map(|(_, f)| *f).chain(crate::evidence::PEMS.iter().map(|(f, _)| *f))
    {
        let _ = std::fs::remove_file(args.out.join(file));
    }
    let machine = crate::build::workspace_root().join("target/release/warden-machine");
    let usage = std::process::Command::new(&machine).arg("--help").output()?;
    let usage = String::from_utf8_lossy(&usage.stdout);
    if !usage.contains("--nonce") {
        return Err(
            "attest: this warden-machine takes no --nonce: the guest cannot attest a caller's nonce".into()
        );
    }
    let mut command = std::process::Command::new(&machine);
    command.arg("--igvm").arg(&image).args([
        "--max-seconds",
        &args.timeout.to_string(),
        "--nonce",
        &warden_evidence::hex(&nonce),
    ]);
    // The PSP model exports its chain itself when it can; otherwise the PEMs come from the table.
    if usage.contains("--evidence-dir") {
        command.arg("--evidence-dir").arg(&args.out);
    }
    let booted = Instant::now();
    let console = run_until_evidence(&mut command)?;
    let boot = booted.elapsed();
    let started = Instant::now();
    let items = crate::evidence::parse_console(&console)?;
    let printed_nonce = items.iter().find(|(name, _)| *name == "nonce").map(|(_, n)| n.as_slice());
    if printed_nonce != Some(nonce.as_slice()) {
        return Err("attest: the guest attested another nonce than the one handed to it".into());
    }
    crate::evidence::write_dir(&args.out, &items)?;
    println!(
        "attest: evidence in {} (boot and attestation {:.2} s, parsing and writing {:.1} ms)",
        args.out.display(),
        boot.as_secs_f64(),
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

/// Runs the machine until the guest has printed every evidence item, then stops it: the guest's later
/// steps (the EK, the attacks) are not needed for evidence and take minutes under emulation. Returns
/// the console so far; an error, with the console, when the machine ends first.
fn run_until_evidence(command: &mut std::process::Command) -> crate::Result<String> {
    use std::io::BufRead;
    let mut child = command.stdout(std::process::Stdio::piped()).spawn()?;
    let stdout = child.stdout.take().ok_or("attest: no machine stdout")?;
    let mut console = String::new();
    let mut seen = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line?;
        if let Some((_, rest)) = line.split_once(crate::evidence::LINE_PREFIX) {
            let item = rest.split(' ').next().unwrap_or_default().to_owned();
            if !seen.contains(&item) {
                seen.push(item);
            }
        }
        console.push_str(&line);
        console.push('\n');
        if crate::evidence::ITEMS.iter().all(|(name, _)| seen.iter().any(|s| s == name)) {
            // The child is ours (spawned above); stopping it is the end of its job.
            let _ = child.kill();
            let _ = child.wait();
            return Ok(console);
        }
    }
    let status = child.wait()?;
    print!("{console}");
    Err(format!("attest: the emulated SNP machine ended ({status}) before the guest printed its evidence")
        .into())
}
