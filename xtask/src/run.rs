//! `cargo xtask run`: build, then boot Warden under QEMU with its console on the terminal and its vTPM
//! reachable by `tpm2-tools` through the bridge (`bridge.rs`).
//!
//! `--smoke` waits for the ready line, checks the vTPM answers through the SVSM vTPM protocol, and prints
//! a one-line summary with the boot time; `--event-log FILE` writes the TCG event log of Warden's
//! measured boot, fetched from the booted firmware (`event_log.rs`), before anything else talks to it; `--headless` serves the bridge without a terminal (the
//! integration tests use it); `--test-image` boots the insecure test image, which runs the firmware's own
//! tests and exits with their verdict; `--fault NAME` makes the test image trigger a deliberate fault.
//!
//! `--vtpm-state FILE` keeps the vTPM's sealed state in FILE across boots (native: a raw disk on an ISA
//! IDE channel, `qemu::vtpm_state_disk_args`; `--machine snp`: the same disk interface in the emulated
//! machine's hypervisor model, `warden-machine --vtpm-state`).
//!
//! `--machine snp` boots the emulated SEV-SNP machine (`warden-snp-guest.igvm` when built);
//! `--machine tdx` its TDX mode, on `warden-tdx-guest.igvm` when built: the test guest as the TD's L2,
//! judged by its console (`machine::tdx_guest_outcome`), smoke or not.
//!
//! `--loader igvm` (the default when an IGVM-capable QEMU is at hand, see `qemu_loader.rs`) boots
//! `warden.igvm` through QEMU's IGVM loader; `--loader rom` boots `warden.rom` with `-bios`. Everything
//! else behaves the same on both.
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::bridge::{self, Channel, FirmwareTpm};
use crate::image::GuestPlatform;
use crate::qemu::{self, Accel, Boot, Firmware, GuestChannel, Running};
use crate::qemu_loader::{self, Loader};
use crate::shared_ram::SharedRam;
use crate::tpm_server::{self, Listeners, ports::Device};

/// The line Warden prints when it is up.
pub const READY: &str = "warden: ready";

/// Boot Warden under QEMU.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Boot, wait for the ready line, check the vTPM answers, exit 0 with a one-line summary (non-zero
    /// with the reason).
    #[arg(long)]
    pub smoke: bool,
    /// No terminal: console to stdout, serve the vTPM bridge until a client sends TPM_STOP.
    #[arg(long)]
    pub headless: bool,
    /// The mssim port pair (N, N+1) the vTPM bridge listens on.
    #[arg(long, default_value_t = 2321)]
    pub vtpm_port: u16,
    /// Boot the insecure test image: run the firmware's own tests, exit with their verdict.
    #[arg(long)]
    pub test_image: bool,
    /// With the test image: trigger this fault instead (page-fault, write-to-text, invalid-opcode,
    /// stack-overflow, panic).
    #[arg(long, value_name = "NAME")]
    pub fault: Option<String>,
    /// The accelerator.
    #[arg(long, value_enum, default_value_t = Accel::Auto)]
    pub accel: Accel,
    /// Give up after this many seconds (smoke, test image and fault runs). The emulated SNP machine
    /// needs minutes: its boot derives the vTPM's RSA-2048 EK under emulation.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    /// Do not build first: boot what is in target/warden/.
    #[arg(long)]
    pub no_build: bool,
    /// How QEMU loads Warden [default: igvm when an IGVM-capable QEMU is on PATH or in the cache (`cargo
    /// xtask qemu`), rom otherwise].
    #[arg(long, value_enum)]
    pub loader: Option<Loader>,
    /// The QEMU binary [default: an IGVM-capable one for igvm, the one on PATH for rom].
    #[arg(long, value_name = "PATH")]
    pub qemu: Option<PathBuf>,
    /// Guest RAM in MiB (at least the end of Warden's region, 144).
    #[arg(long, value_name = "MIB", default_value_t = qemu_loader::DEFAULT_MEMORY_MIB)]
    pub memory: u64,
    /// Boot this IGVM file or ROM instead of the built one (for the loader's checks).
    #[arg(long, value_name = "PATH")]
    pub image: Option<PathBuf>,
    /// Write the TCG event log of Warden's measured boot (PCR 0 and 1), as the booted firmware returns
    /// it, to this file (`tpm2_eventlog FILE` reads it).
    #[arg(long, value_name = "FILE")]
    pub event_log: Option<PathBuf>,
    /// The machine: `native` is QEMU; `snp` is the emulated SEV-SNP machine (`tests/machine`), on
    /// `warden-snp-guest.igvm` when built, else `warden.igvm`; `tdx` is the same machine's TDX mode,
    /// on `warden-tdx-guest.igvm` (the guest as the TD's L2) when built, else `warden.igvm`.
    #[arg(long, value_enum, default_value_t = Machine::Native)]
    pub machine: Machine,
    /// Keep the vTPM's sealed state in FILE across boots (native: attached as Warden's state disk;
    /// created, or grown to 256 KiB, if needed).
    #[arg(long, value_name = "FILE")]
    pub vtpm_state: Option<PathBuf>,
}

/// Which machine `run` boots on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Machine {
    /// QEMU (KVM or TCG), no confidential computing.
    Native,
    /// The emulated SEV-SNP machine.
    Snp,
    /// The emulated TDX machine (`warden-machine --tdx`).
    Tdx,
}

impl Args {
    /// A non-interactive boot of the built images by `qemu` through `loader`, for `xtask test`.
    pub fn for_test(loader: Loader, qemu: &Path, accel: Accel, smoke: bool, test_image: bool) -> Self {
        Self {
            smoke,
            headless: false,
            vtpm_port: 2321,
            test_image,
            fault: None,
            accel,
            timeout: 300,
            no_build: true,
            loader: Some(loader),
            qemu: Some(qemu.to_path_buf()),
            memory: qemu_loader::DEFAULT_MEMORY_MIB,
            image: None,
            event_log: None,
            machine: Machine::Native,
            vtpm_state: None,
        }
    }
}

/// Boots as asked.
pub fn run(args: &Args) -> crate::Result {
    if args.machine != Machine::Native {
        return run_emulated(args);
    }
    crate::deps::ensure_run()?;
    qemu_loader::check_memory(args.memory)?;
    let choice = qemu_loader::choose(args.loader, args.qemu.as_deref())?;
    if !args.no_build {
        crate::build::build(&crate::build::Args::default())?;
    }
    let test_image = args.test_image || args.fault.is_some();
    let name = if test_image { "warden-test" } else { "warden" };
    let extension = if choice.loader == Loader::Igvm { "igvm" } else { "rom" };
    let file =
        args.image.clone().unwrap_or_else(|| crate::build::output_dir().join(format!("{name}.{extension}")));
    let firmware = match choice.loader {
        Loader::Igvm => Firmware::Igvm(&file),
        Loader::Rom => Firmware::Rom(&file),
    };
    let accel = args.accel.resolve();
    let mut fw_cfg = vec![("opt/warden/probe".to_string(), "warden-probe".to_string())];
    if let Some(fault) = &args.fault {
        fw_cfg.push(("opt/warden/test".into(), format!("fault:{fault}")));
    }
    // The native guest channel: COM2's socket and guest RAM shared with the bridge (not for the test
    // image, which serves no calls).
    let socket = (!test_image).then(doorbell_socket).transpose()?;
    let ram_path = shared_ram_path();
    let ram = (!test_image).then(|| SharedRam::create(&ram_path, args.memory << 20)).transpose()?;
    let interactive = !(args.smoke || args.headless || test_image);
    let boot = Boot {
        qemu: &choice.qemu,
        firmware,
        memory_mib: args.memory,
        accel,
        fw_cfg,
        interactive,
        channel: socket.as_deref().map(|doorbell| GuestChannel { doorbell, ram: &ram_path }),
        paused_monitor: None,
        vtpm_state: args.vtpm_state.as_deref(),
    };
    if let Some(file) = &args.vtpm_state {
        qemu::prepare_vtpm_state(file)?;
    }
    eprintln!(
        "xtask: booting {} through the {:?} loader of {} ({accel:?})",
        file.display(),
        choice.loader,
        choice.qemu.display()
    );
    let deadline = Instant::now() + Duration::from_secs(args.timeout);

    if interactive {
        let socket = socket.clone().ok_or("no doorbell socket")?;
        let ram = ram.ok_or("no shared guest RAM")?;
        let port = args.vtpm_port;
        let event_log = args.event_log.clone();
        std::thread::spawn(move || {
            if let Err(error) = serve_bridge(&socket, ram, port, event_log.as_deref()) {
                eprintln!("bridge: {error}");
            }
        });
        eprintln!(
            "xtask: the vTPM inside Warden is on mssim port {port}: try\n  \
             TPM2TOOLS_TCTI=mssim:host=127.0.0.1,port={port} tpm2_startup -c && \
             TPM2TOOLS_TCTI=mssim:host=127.0.0.1,port={port} tpm2_getrandom --hex 16\n\
             xtask: the console follows; quit with Ctrl-A X"
        );
        let status = qemu::command(&boot).status();
        let _ = std::fs::remove_file(&ram_path);
        let status = status?;
        return if status.success() { Ok(()) } else { Err(format!("QEMU exited with {status}").into()) };
    }

    let mut running = qemu::spawn(&boot)?;
    if test_image {
        while let Some(line) = running.next_line(deadline) {
            println!("{line}");
        }
        let messages = running.messages();
        return match running.wait(deadline)? {
            Some(qemu::EXIT_TESTS_PASSED) if args.fault.is_none() => Ok(()),
            Some(code) => {
                Err(format!("the test image ended with QEMU exit code {code}{}", said(&messages)).into())
            }
            None => Err(format!("the test image did not finish within {} s", args.timeout).into()),
        };
    }

    let booted = wait_ready(&mut running, deadline, args.timeout);
    // QEMU opened the RAM file before the machine ran: the mapping outlives the name.
    let _ = std::fs::remove_file(&ram_path);
    let booted = booted?;
    let socket = socket.ok_or("no doorbell socket")?;
    let ram = ram.ok_or("no shared guest RAM")?;
    let outcome = if args.smoke {
        smoke(&socket, ram, booted, accel, choice.loader, args.event_log.as_deref())
    } else {
        // Headless: keep printing the console, serve the bridge until TPM_STOP.
        let console = running.take_lines();
        std::thread::spawn(move || {
            for line in console {
                println!("{line}");
            }
        });
        serve_bridge(&socket, ram, args.vtpm_port, args.event_log.as_deref())
    };
    running.kill()?;
    let _ = std::fs::remove_file(&socket);
    outcome
}

/// A fresh Unix socket path for COM2 (the doorbell) under target/warden.
fn doorbell_socket() -> crate::Result<PathBuf> {
    let dir = crate::build::output_dir();
    std::fs::create_dir_all(&dir)?;
    let socket = dir.join(format!("doorbell-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&socket);
    Ok(socket)
}

/// Where guest RAM's file goes: tmpfs (`/dev/shm`) when there is one, so the guest's memory never
/// reaches a disk; removed as soon as QEMU has it open.
fn shared_ram_path() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
    dir.join(format!("warden-guest-ram-{}", std::process::id()))
}

/// Prints the console up to the ready line; returns the time from QEMU's start to it.
fn wait_ready(running: &mut Running, deadline: Instant, timeout: u64) -> crate::Result<Duration> {
    while let Some(line) = running.next_line(deadline) {
        println!("{line}");
        if line.starts_with(READY) {
            return Ok(running.started.elapsed());
        }
    }
    // The console closes as QEMU exits: give its exit status a moment to arrive.
    let grace = Instant::now() + Duration::from_secs(2);
    while Instant::now() < grace {
        if let Some(status) = running.exited() {
            return Err(
                format!("QEMU exited ({status}) before the ready line{}", said(&running.messages())).into()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("no ready line within {timeout} s{}", said(&running.messages())).into())
}

/// QEMU's own messages, for an error: `: QEMU said: ...`, or nothing when it said nothing.
fn said(messages: &str) -> String {
    if messages.is_empty() { String::new() } else { format!("; QEMU said:\n{messages}") }
}

/// The smoke check: the vTPM answers through the SVSM vTPM protocol.
fn smoke(
    socket: &Path,
    ram: SharedRam,
    booted: Duration,
    accel: Accel,
    loader: Loader,
    event_log: Option<&Path>,
) -> crate::Result {
    let mut channel = Channel::connect(socket, ram, Duration::from_secs(10))?;
    if let Some(path) = event_log {
        crate::event_log::write(&mut channel, path)?;
    }
    let random = bridge::self_check(&mut channel)?;
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    println!(
        "smoke: Warden ready after {:.1} ms under {accel:?}, {loader:?} loader (QEMU start to ready line); \
         vTPM GetRandom(16) through SVSM_VTPM_CMD = {hex}",
        booted.as_secs_f64() * 1e3
    );
    Ok(())
}

/// Serves mssim on `port`/`port + 1`, forwarding every command to the firmware, until TPM_STOP; first
/// writes the event log to `event_log`, when asked.
fn serve_bridge(
    socket: &std::path::Path,
    ram: SharedRam,
    port: u16,
    event_log: Option<&Path>,
) -> crate::Result {
    let mut channel = Channel::connect(socket, ram, Duration::from_secs(60))?;
    if let Some(path) = event_log {
        crate::event_log::write(&mut channel, path)?;
    }
    let bind = |port| {
        std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port))
            .map_err(|error| format!("bridge: cannot listen on 127.0.0.1:{port}: {error}"))
    };
    let listeners = Listeners { tpm: bind(port)?, platform: bind(port + 1)? };
    let device = Device::new(Box::new(FirmwareTpm(channel)), warden_svsm::vtpm_protocol::MAX_COMMAND);
    eprintln!("bridge: serving the firmware's vTPM on 127.0.0.1:{port} (platform {})", port + 1);
    tpm_server::serve(listeners, device)?;
    Ok(())
}

/// `run --machine snp|tdx`: the firmware on the emulated SEV-SNP (or TDX) machine, its console (and the
/// guest's, prefixed) on the terminal; `--smoke` exits 0 after Warden's ready line and the guest's PASS
/// verdict (after the ready line alone on the guest-less `warden.igvm`). On TDX with the test guest the
/// run always goes on to the guest's final attack, which ends it (`machine::run_tdx_guest`), and
/// succeeds only with the guest's PASS verdict and the attack stopped, smoke or not.
fn run_emulated(args: &Args) -> crate::Result {
    if args.event_log.is_some() {
        // On the emulated machine only the bundled guest calls Warden: there is no host channel.
        return Err(
            "--event-log reads the log through the native guest channel: not with --machine snp".into()
        );
    }
    if !args.no_build {
        crate::build::build(&crate::build::Args::default())?;
    }
    let tdx = args.machine == Machine::Tdx;
    if tdx && args.vtpm_state.is_some() {
        return Err(
            "--vtpm-state: the emulated TDX machine has no state disk (on TDX Warden keeps the vTPM's \
                    state in memory only)"
                .into(),
        );
    }
    let platform = if tdx { GuestPlatform::Tdx } else { GuestPlatform::Snp };
    let image = args.image.clone().unwrap_or_else(|| crate::machine::default_image(platform));
    let guestless = image.file_name().is_some_and(|n| n == "warden.igvm");
    let seconds = args.timeout.to_string();
    let mut extra = vec!["--max-seconds", seconds.as_str()];
    if tdx && !guestless {
        return crate::machine::run_tdx_guest(&image, &extra);
    }
    // The machine's hypervisor model serves the file as Warden's state disk (it creates and sizes it).
    let state = args.vtpm_state.as_ref().map(|file| file.display().to_string());
    if let Some(file) = &state {
        extra.extend(["--vtpm-state", file.as_str()]);
    }
    if tdx {
        extra.push("--tdx");
    }
    if args.smoke {
        extra.push(if guestless { "--ready" } else { "--smoke" });
    }
    crate::machine::run(&image, &extra)
}
