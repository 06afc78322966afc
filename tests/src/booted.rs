//! The booted release firmware for the tests that drive its vTPM with `tpm2-tools`: `cargo xtask run
//! --headless` under TCG with the mssim bridge on a port the test picks, stopped with TPM_STOP on the
//! bridge's platform port when dropped (killed if that does not end it).
use std::ffi::OsStr;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

use warden_mssim::Signal;

/// One boot of `target/warden/warden.igvm` with its bridge on `port`.
#[derive(Debug)]
pub struct BootedFirmware {
    child: Child,
    port: u16,
}

impl BootedFirmware {
    /// Starts the boot with `extra` arguments to `cargo xtask run`, its console going to `stdout`.
    /// Call [`BootedFirmware::wait_for_bridge`] before the first tool.
    ///
    /// # Panics
    /// When the xtask binary does not start.
    pub fn spawn(port: u16, extra: &[&OsStr], stdout: Stdio) -> Self {
        let child = crate::xtask()
            .args(["run", "--no-build", "--headless", "--accel", "tcg", "--timeout", "60"])
            .args(["--vtpm-port", &port.to_string()])
            .args(extra)
            .stdout(stdout)
            .spawn()
            .expect("the xtask binary runs");
        Self { child, port }
    }

    /// The console, when [`BootedFirmware::spawn`] was given `Stdio::piped()` (once).
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// Waits until the bridge listens.
    ///
    /// # Panics
    /// When it does not within `timeout`.
    pub fn wait_for_bridge(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "the bridge never listened on {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The bridge's TPM command port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs one `tpm2-tools` command (`args[0]` the tool) against the bridge, in the temporary directory.
    ///
    /// # Panics
    /// When the tool cannot be started.
    pub fn tpm2(&self, args: &[&str]) -> Output {
        Command::new(args[0])
            .args(&args[1..])
            .current_dir(std::env::temp_dir())
            .env("TPM2TOOLS_TCTI", format!("mssim:host=127.0.0.1,port={}", self.port))
            .output()
            .expect("tpm2-tools are installed")
    }

    /// [`BootedFirmware::tpm2`], which must succeed; its standard output.
    ///
    /// # Panics
    /// When the tool fails.
    pub fn tpm2_ok(&self, args: &[&str]) -> String {
        let output = self.tpm2(args);
        assert!(output.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for BootedFirmware {
    fn drop(&mut self) {
        // TPM_STOP on the platform port ends the bridge, and xtask stops QEMU.
        if let Ok(mut platform) = TcpStream::connect(("127.0.0.1", self.port + 1)) {
            let _ = platform.write_all(&Signal::STOP.to_wire());
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scratch directory for a test's files, removed when dropped.
#[derive(Debug)]
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// `warden-<label>-<pid>` in the temporary directory.
    ///
    /// # Panics
    /// When it cannot be created.
    pub fn new(label: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("warden-{label}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.0
    }

    /// The file `name` in it.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// [`ScratchDir::path`] as a command-line argument.
    pub fn arg(&self, name: &str) -> String {
        self.path(name).to_string_lossy().into_owned()
    }

    /// The file `name`'s bytes.
    ///
    /// # Panics
    /// When it cannot be read.
    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    /// Runs one space-separated tool line through `firmware` (which must succeed), each `@name` an
    /// argument naming the file `name` here.
    pub fn tool(&self, firmware: &BootedFirmware, line: &str) -> String {
        let words: Vec<String> = line
            .split(' ')
            .map(|w| {
                w.split_once('@').map_or(w.to_owned(), |(prefix, name)| format!("{prefix}{}", self.arg(name)))
            })
            .collect();
        firmware.tpm2_ok(&words.iter().map(String::as_str).collect::<Vec<_>>())
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
