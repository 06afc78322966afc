//! Booting an image under QEMU: the command line, the accelerator choice, and a boot whose console the
//! caller reads line by line. Which QEMU and which loader (IGVM or `-bios` ROM) is `qemu_loader.rs`'s.
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// QEMU's exit status for each `isa-debug-exit` byte Warden writes (`(byte << 1) | 1`): see
/// `firmware/kernel/src/native.rs`.
pub const EXIT_TESTS_PASSED: i32 = (0x10 << 1) | 1;

/// Which accelerator QEMU uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Accel {
    /// KVM when /dev/kvm can be opened and is not KVM-PVM, TCG otherwise.
    Auto,
    /// Hardware virtualisation.
    Kvm,
    /// Software emulation.
    Tcg,
}

impl Accel {
    /// Resolves `Auto` on this machine.
    pub fn resolve(self) -> Accel {
        match self {
            // KVM-PVM runs the firmware far slower than TCG (see `kvm_is_pvm`): only on request.
            Accel::Auto if kvm_usable() && !kvm_is_pvm() => Accel::Kvm,
            Accel::Auto => Accel::Tcg,
            other => other,
        }
    }
}

/// Whether /dev/kvm can be opened for reading and writing.
pub fn kvm_usable() -> bool {
    std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_ok()
}

/// Whether /dev/kvm is KVM-PVM (software virtualization without VMX/SVM, as on the nested CI machines).
/// Under QEMU it never enters Warden's VM natively: every guest instruction, from the reset vector to
/// the request loop, runs in KVM's instruction emulator (about a microsecond each; `kvm_emulate_insn`
/// for every instruction and no `kvm_entry` in a trace of a whole boot), which lacks most SSE/AVX
/// instructions (the VM stops with "emulation failure"), and the guest still sees SHA-NI under
/// `-cpu host,-sha-ni` (observed; `docs/benchmarks.md`, "boot").
pub fn kvm_is_pvm() -> bool {
    std::path::Path::new("/sys/module/kvm_pvm").exists()
}

/// The file QEMU boots and how it loads it.
#[derive(Clone, Copy, Debug)]
pub enum Firmware<'a> {
    /// A boot ROM behind the reset vector (`-bios`).
    Rom(&'a Path),
    /// An IGVM file through QEMU's IGVM loader (`-object igvm-cfg`), which starts the boot CPU at the
    /// file's native VP context.
    Igvm(&'a Path),
}

/// What to boot and how.
#[derive(Debug)]
pub struct Boot<'a> {
    /// The QEMU binary.
    pub qemu: &'a Path,
    /// The image and its loader.
    pub firmware: Firmware<'a>,
    /// Guest RAM in MiB (checked by `qemu_loader::check_memory`).
    pub memory_mib: u64,
    /// The accelerator (resolved).
    pub accel: Accel,
    /// fw_cfg files: (name, contents).
    pub fw_cfg: Vec<(String, String)>,
    /// Keep QEMU's monitor on the terminal (interactive `run`).
    pub interactive: bool,
    /// The native guest channel's host ends, if the boot serves guest calls.
    pub channel: Option<GuestChannel<'a>>,
    /// Start paused (`-S`) with the human monitor on this Unix socket (the entry-state check).
    pub paused_monitor: Option<&'a Path>,
    /// The file holding the vTPM's sealed state, attached as Warden's state disk (`vtpm_state_disk`).
    pub vtpm_state: Option<&'a Path>,
}

/// The host ends of Warden's native guest channel (`bridge.rs`): guest RAM is a file both QEMU and the
/// bridge map, and COM2, the doorbell, is a Unix socket QEMU serves.
#[derive(Clone, Copy, Debug)]
pub struct GuestChannel<'a> {
    /// The Unix socket for COM2.
    pub doorbell: &'a Path,
    /// The file QEMU's guest RAM lives in (`memory-backend-file`, shared).
    pub ram: &'a Path,
}

/// Debian's QEMU, found on PATH: it boots the ROM.
pub const SYSTEM_QEMU: &str = "qemu-system-x86_64";

impl<'a> Boot<'a> {
    /// A non-interactive `-bios` boot of `rom` by the QEMU on PATH, with the default RAM (the benches).
    pub fn rom(rom: &'a Path, accel: Accel) -> Self {
        Self {
            qemu: Path::new(SYSTEM_QEMU),
            firmware: Firmware::Rom(rom),
            memory_mib: crate::qemu_loader::DEFAULT_MEMORY_MIB,
            accel,
            fw_cfg: Vec::new(),
            interactive: false,
            channel: None,
            paused_monitor: None,
            vtpm_state: None,
        }
    }
}

/// Bytes of the state disk: 512 sectors, what the firmware uses (`firmware/kernel/src/state_disk.rs`).
pub const VTPM_STATE_BYTES: u64 = 256 * 1024;

/// Creates `file` if missing, and grows it to [`VTPM_STATE_BYTES`] (zeros: no state yet) if smaller.
pub fn prepare_vtpm_state(file: &Path) -> crate::Result {
    let disk = std::fs::OpenOptions::new().create(true).truncate(false).read(true).write(true).open(file)?;
    if disk.metadata()?.len() < VTPM_STATE_BYTES {
        disk.set_len(VTPM_STATE_BYTES)?;
    }
    Ok(())
}

/// The QEMU arguments that attach `file` as the vTPM state disk: an ATA disk on a legacy ISA IDE
/// channel at ports 0x1F0/0x3F6, which the firmware drives with port I/O (no MMIO or DMA to set up, the
/// same under TCG and KVM, whichever loader placed the image), written straight through to the file.
pub fn vtpm_state_disk_args(file: &Path) -> Vec<String> {
    vec![
        "-device".into(),
        "isa-ide,id=warden-state,iobase=0x1f0,iobase2=0x3f6,irq=14".into(),
        "-drive".into(),
        format!("if=none,id=vtpm-state,format=raw,cache=writethrough,file={}", file.display()),
        "-device".into(),
        "ide-hd,drive=vtpm-state,bus=warden-state.0".into(),
    ]
}

/// The QEMU command line.
pub fn command(boot: &Boot) -> Command {
    let mut command = Command::new(boot.qemu);
    // With a guest channel, guest RAM is a shared file the bridge maps too (QEMU loads the ROM or the
    // IGVM file into it as into anonymous memory).
    let ram_backend = if boot.channel.is_some() { ",memory-backend=ram" } else { "" };
    match boot.firmware {
        Firmware::Rom(rom) => {
            command.arg("-machine").arg(format!("q35{ram_backend}")).arg("-bios").arg(rom);
        }
        Firmware::Igvm(file) => {
            command.arg("-machine").arg(format!("q35,igvm-cfg=igvm0{ram_backend}")).arg("-object");
            command.arg(format!("igvm-cfg,id=igvm0,file={}", file.display()));
            // The cached QEMU comes from Debian's `+ds` source, which has no prebuilt option ROMs: the
            // APIC's kvmvapic ROM (a TPR-patching aid for old Windows guests) is one, and unused here.
            command.args(["-global", "apic-common.vapic=false"]);
        }
    }
    command.arg("-m").arg(format!("{}M", boot.memory_mib));
    command.args(["-smp", "1", "-nodefaults", "-display", "none", "-no-reboot"]);
    if let Some(monitor) = boot.paused_monitor {
        command.arg("-S").arg("-monitor").arg(format!("unix:{},server=on,wait=off", monitor.display()));
    }
    command.args(["-serial", if boot.interactive { "mon:stdio" } else { "stdio" }]);
    command.args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]);
    match boot.accel {
        // IA32_ARCH_CAPABILITIES is off: nested KVM hosts (such as CI's) refuse QEMU's write of it.
        Accel::Kvm => command.args(["-accel", "kvm", "-cpu", "host,-arch-capabilities"]),
        _ => command.args(["-accel", "tcg", "-cpu", "max"]),
    };
    if boot.accel == Accel::Kvm && kvm_is_pvm() {
        // KVM-PVM emulates the guest's SIMD instructions and stops the VM on SHA-NI/AVX code: Warden's
        // hashes must use portable code (firmware `native::SIMD_HINT_FILE`).
        command.args(["-fw_cfg", "name=opt/warden/simd,string=off"]);
    }
    if let Some(channel) = boot.channel {
        command.arg("-object").arg(format!(
            "memory-backend-file,id=ram,size={}M,mem-path={},share=on",
            boot.memory_mib,
            channel.ram.display()
        ));
        command
            .arg("-chardev")
            .arg(format!("socket,id=doorbell,path={},server=on,wait=off", channel.doorbell.display()));
        command.args(["-serial", "chardev:doorbell"]);
    }
    if let Some(file) = boot.vtpm_state {
        command.args(vtpm_state_disk_args(file));
    }
    for (name, contents) in &boot.fw_cfg {
        command.args(["-fw_cfg", &format!("name={name},string={contents}")]);
    }
    // QEMU must not outlive the xtask that started it (a killed test, an interrupted run).
    // SAFETY: the closure runs in the child between fork and exec and only calls prctl, which is
    // async-signal-safe.
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    command
}

/// A running QEMU whose console arrives line by line.
#[derive(Debug)]
pub struct Running {
    child: Child,
    lines: Receiver<String>,
    /// QEMU's own messages (stderr), also copied to ours as they come.
    messages: Arc<Mutex<Vec<String>>>,
    /// When QEMU was started.
    pub started: Instant,
}

/// Starts QEMU with its console piped back.
pub fn spawn(boot: &Boot) -> crate::Result<Running> {
    let started = Instant::now();
    let mut child =
        command(boot).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let stdout: ChildStdout = child.stdout.take().ok_or("QEMU's console is not piped")?;
    let stderr: ChildStderr = child.stderr.take().ok_or("QEMU's messages are not piped")?;
    let messages = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&messages);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = writeln!(std::io::stderr(), "{line}");
            if let Ok(mut kept) = kept.lock() {
                kept.push(line);
            }
        }
    });
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    Ok(Running { child, lines, messages, started })
}

impl Running {
    /// The next console line, or `None` when QEMU has exited or `deadline` passed.
    pub fn next_line(&mut self, deadline: Instant) -> Option<String> {
        let left = deadline.checked_duration_since(Instant::now())?;
        self.lines.recv_timeout(left).ok()
    }

    /// Hands over the console lines still to come (for a thread that keeps printing them).
    pub fn take_lines(&mut self) -> impl Iterator<Item = String> + Send + use<> {
        let (_, empty) = mpsc::channel();
        let lines = std::mem::replace(&mut self.lines, empty);
        lines.into_iter()
    }

    /// What QEMU said on stderr so far, one line each.
    pub fn messages(&self) -> String {
        self.messages.lock().map(|lines| lines.join("\n")).unwrap_or_default()
    }

    /// QEMU's exit status if it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits for QEMU to exit (killing it at `deadline`); returns its exit code.
    pub fn wait(mut self, deadline: Instant) -> crate::Result<Option<i32>> {
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.code());
            }
            if Instant::now() >= deadline {
                self.child.kill()?;
                self.child.wait()?;
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops QEMU.
    pub fn kill(mut self) -> crate::Result {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}
