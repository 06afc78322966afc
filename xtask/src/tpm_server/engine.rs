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

/// A fresh Warden engine seeded from the OS and clocked by the host, powered off until a client sends
/// POWER_ON.
pub fn warden() -> Box<dyn CommandEngine + Send> {
    let mut tpm = warden_vtpm::Tpm::new(Box::new(OsEntropy));
    tpm.set_clock(Box::new(HostClock(std::time::Instant::now())));
    Box::new(tpm)
}
