//! A Warden `tpm-server` child process per test, tpm2-tools run against it, and a raw mssim client
//! for what the tools refuse to send.

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use warden_mssim::Client;

/// Ports handed out in this process: tests run in parallel, and a port freed by the OS check
/// must not go to two of them.
static TAKEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
static DIRS: AtomicU32 = AtomicU32::new(0);

/// A port N with N and N+1 free now and not handed to another test of this process.
fn free_port_pair() -> u16 {
    let mut taken = TAKEN.lock().unwrap();
    let taken = taken.get_or_insert_with(HashSet::new);
    for _ in 0..200 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        if port == u16::MAX || taken.contains(&port) || taken.contains(&(port + 1)) {
            continue;
        }
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port + 1)).is_ok() {
            taken.extend([port, port + 1]);
            return port;
        }
    }
    panic!("no free pair of adjacent loopback ports");
}

/// The xtask binary, from `WARDEN_XTASK` (set by `cargo xtask test`).
fn xtask() -> PathBuf {
    let Some(path) = std::env::var_os("WARDEN_XTASK") else {
        panic!(
            "WARDEN_XTASK is not set: run through `cargo xtask test` (or build the xtask and set \
             WARDEN_XTASK to its path)"
        );
    };
    PathBuf::from(path)
}

/// A Warden vTPM server on its own ports, with a scratch directory; killed when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Server {
    /// Starts `$WARDEN_XTASK tpm-server --port N` and waits until both ports accept connections.
    pub fn start() -> Self {
        let port = free_port_pair();
        let dir = std::env::temp_dir().join(format!(
            "warden-vtpm-tools-{}-{}",
            std::process::id(),
            DIRS.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        // The server's diagnostics go to a log that failing assertions quote.
        let log = std::fs::File::create(dir.join("server.log")).unwrap();
        let child = Command::new(xtask())
            .args(["tpm-server", "--port", &port.to_string()])
            .stdin(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("cannot start the xtask tpm-server");
        let mut server = Self { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        let up = |p| TcpStream::connect((Ipv4Addr::LOCALHOST, p)).is_ok();
        while !(up(port) && up(port + 1)) {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("tpm-server exited before listening on {port}: {status}");
            }
            assert!(Instant::now() < deadline, "tpm-server did not listen on {port} within 20 s");
            thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// The server process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// A path in this test's scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Runs a tpm2-tools program against this server, in the scratch directory.
    pub fn tool(&self, program: &str, args: &[&str]) -> Output {
        Command::new(program)
            .args(args)
            .current_dir(&self.dir)
            .env("TPM2TOOLS_TCTI", format!("mssim:host=127.0.0.1,port={}", self.port))
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|error| panic!("cannot run {program} (is tpm2-tools installed?): {error}"))
    }

    /// Runs a tool that must succeed; returns its standard output.
    pub fn ok(&self, program: &str, args: &[&str]) -> String {
        let output = self.tool(program, args);
        assert!(
            output.status.success(),
            "{program} {args:?} failed ({}):\n{}\nserver log:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// What the server wrote to its standard error so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("server.log")).unwrap_or_default()
    }

    /// Runs a tool that must fail; returns its standard error.
    pub fn fails(&self, program: &str, args: &[&str]) -> String {
        let output = self.tool(program, args);
        assert!(!output.status.success(), "{program} {args:?} succeeded but must fail");
        String::from_utf8(output.stderr).unwrap()
    }

    /// A raw mssim session: power on, then commands as bytes.
    pub fn raw(&self) -> Raw {
        Raw(Client::connect(self.port, Duration::from_secs(20)).expect("an mssim session"))
    }
}

/// A raw mssim client (`warden_mssim`'s), whose sockets a test may also write by hand.
pub struct Raw(pub Client);

impl Raw {
    /// Sends one TPM command; returns the response's code and the whole response.
    pub fn call(&mut self, command: &[u8]) -> (u32, Vec<u8>) {
        let response = self.0.call(command, 4096).expect("an mssim response");
        let length = response.len();
        assert!(length >= 10, "response {response:02x?} has no header");
        assert_eq!(u32::from_be_bytes(response[2..6].try_into().unwrap()) as usize, length);
        (u32::from_be_bytes(response[6..10].try_into().unwrap()), response)
    }
}

/// `sha256sum`/`sha384sum` of a file, from coreutils: an oracle independent of the TPM.
pub fn coreutils_digest(algorithm: &str, file: &Path) -> String {
    let output = Command::new(format!("{algorithm}sum")).arg(file).output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap().split_whitespace().next().unwrap().to_owned()
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `tpm2_pcrread` YAML: (bank, index) -> lowercase hex value.
pub fn parse_pcrread(yaml: &str) -> Vec<(String, u32, String)> {
    let mut bank = String::new();
    let mut out = Vec::new();
    for line in yaml.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_suffix(':') {
            bank = name.to_owned();
        } else if let Some((index, value)) = line.split_once(": 0x") {
            out.push((bank.clone(), index.trim().parse().unwrap(), value.to_ascii_lowercase()));
        }
    }
    out
}
