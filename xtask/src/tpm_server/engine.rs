//! The one-method-pair interface the server drives, its implementation for the Warden engine, and
//! the host's entropy source.

/// What the mssim front end needs from a TPM: a power-on (`_TPM_Init`) and one command at a time.
///
/// The server owns the engine behind a lock and calls these one at a time, whatever the number of
/// clients; a test double implements it to check the framing without a real TPM.
pub trait CommandEngine {
    /// `_TPM_Init`: the TPM then expects `TPM2_Startup`.
    fn power_on(&mut self);
    /// Runs one complete command (header included) and returns the complete response.
    fn execute(&mut self, command: &[u8]) -> Vec<u8>;
}

impl CommandEngine for warden_vtpm::Tpm {
    fn power_on(&mut self) {
        warden_vtpm::Tpm::power_on(self);
    }

    fn execute(&mut self, command: &[u8]) -> Vec<u8> {
        warden_vtpm::Tpm::execute(self, command)
    }
}

/// The host's entropy: the operating system's generator (`getrandom(2)` on Linux).
#[derive(Debug, Default)]
pub struct OsEntropy;

impl warden_vtpm::EntropySource for OsEntropy {
    fn fill_bytes(&mut self, out: &mut [u8]) {
        // There is no honest fallback for a TPM without entropy: a failing OS generator must stop
        // the server rather than let it hand out predictable nonces or keys.
        if let Err(error) = getrandom::fill(out) {
            eprintln!("tpm-server: the OS random generator failed ({error}); stopping");
            std::process::abort();
        }
    }
}

/// The host's monotonic clock, in milliseconds since the server started.
#[derive(Debug)]
pub struct HostClock(std::time::Instant);

impl warden_vtpm::Clock for HostClock {
    fn now_ms(&mut self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// The environment variable naming a directory where every command is written (see [`Recording`]).
pub const RECORD_ENV: &str = "WARDEN_TPM_RECORD";

/// The seed of the fuzz harness's TPM (`warden-fuzz`'s `vtpm_command`), which recording mode copies.
const FUZZ_ENTROPY_SEED: u64 = 1;

/// A fresh Warden engine seeded from the OS and clocked by the host, powered off until a client sends
/// POWER_ON.
///
/// With `WARDEN_TPM_RECORD=DIR` set, every command is also written to `DIR`, and the engine is
/// manufactured INSECURELY, exactly as the fuzz harness manufactures its TPM (fixed test entropy, no
/// clock): then the recorded primaries, wrapped children and context blobs are the ones the harness's
/// TPM accepts, so a replayed flow reaches deep states instead of failing its first integrity check.
/// Recording mode is for capturing fuzz seeds only, and says so when it starts.
pub fn warden() -> Box<dyn CommandEngine + Send> {
    if let Some(dir) = std::env::var_os(RECORD_ENV) {
        eprintln!(
            "tpm-server: INSECURE recording mode ({RECORD_ENV}): fixed test seeds, commands written to {}",
            std::path::Path::new(&dir).display()
        );
        let entropy = warden_vtpm::insecure_test_entropy::InsecureTestEntropy::new(FUZZ_ENTROPY_SEED);
        return Box::new(Recording::new(warden_vtpm::Tpm::new(Box::new(entropy)), dir.into()));
    }
    let mut tpm = warden_vtpm::Tpm::new(Box::new(OsEntropy));
    tpm.set_clock(Box::new(HostClock(std::time::Instant::now())));
    Box::new(tpm)
}

/// An engine that writes each command it runs to `DIR/NNNNNN-CCCC.bin` (sequence number, command code
/// in hex) before running it: real client traffic (tpm2-tools, tpm2-tss) to turn into fuzz seeds for the
/// `vtpm_command` target. A file that cannot be written is reported once and recording continues.
pub struct Recording<E> {
    engine: E,
    dir: std::path::PathBuf,
    next: u64,
    warned: bool,
}

impl<E> Recording<E> {
    /// Records into `dir` (created if missing).
    pub fn new(engine: E, dir: std::path::PathBuf) -> Self {
        if let Err(error) = std::fs::create_dir_all(&dir) {
            eprintln!("tpm-server: cannot create {}: {error}", dir.display());
        }
        Recording { engine, dir, next: 0, warned: false }
    }
}

impl<E: CommandEngine> CommandEngine for Recording<E> {
    fn power_on(&mut self) {
        self.engine.power_on();
    }

    fn execute(&mut self, command: &[u8]) -> Vec<u8> {
        let code = command.get(6..10).map_or(0, |c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        let path = self.dir.join(format!("{:06}-{code:04x}.bin", self.next));
        self.next += 1;
        if let Err(error) = std::fs::write(&path, command)
            && !self.warned
        {
            eprintln!("tpm-server: cannot record to {}: {error}", path.display());
            self.warned = true;
        }
        self.engine.execute(command)
    }
}
