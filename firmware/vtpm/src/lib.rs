//! Warden's vTPM engine: a pure-Rust TPM 2.0 (skeleton; commands arrive in later commits).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::vec::Vec;

/// Largest command the engine accepts (fits one SVSM vTPM page, which allows at most 4087).
pub const MAX_COMMAND_SIZE: usize = 3968;
/// Largest response the engine produces (fits one SVSM vTPM page, which allows at most 4092).
pub const MAX_RESPONSE_SIZE: usize = 3968;

/// Randomness for the TPM (RDRAND in the firmware, the OS on the host).
pub trait EntropySource {
    /// Fills `out` with fresh random bytes.
    fn fill_bytes(&mut self, out: &mut [u8]);
}

/// A TPM 2.0 instance: all state lives in memory.
pub struct Tpm {
    entropy: Box<dyn EntropySource + Send>,
    powered: bool,
    started: bool,
}

impl core::fmt::Debug for Tpm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tpm").field("powered", &self.powered).field("started", &self.started).finish()
    }
}

impl Tpm {
    /// A freshly manufactured TPM (seeds from `entropy`), powered off.
    pub fn new(entropy: Box<dyn EntropySource + Send>) -> Tpm {
        Tpm { entropy, powered: false, started: false }
    }

    /// _TPM_Init: power on / reset; the next command must be TPM2_Startup. Repeating it is harmless.
    pub fn power_on(&mut self) {
        self.powered = true;
        self.started = false;
    }

    /// One command in, one response out. Never panics; malformed input gets the right TPM_RC response.
    pub fn execute(&mut self, command: &[u8]) -> Vec<u8> {
        let _ = (command, &mut self.entropy);
        // TPM_RC_INITIALIZE until the engine lands.
        let mut r = Vec::with_capacity(10);
        r.extend_from_slice(&0x8001u16.to_be_bytes());
        r.extend_from_slice(&10u32.to_be_bytes());
        r.extend_from_slice(&0x100u32.to_be_bytes());
        r
    }
}

/// Deterministic entropy for host tests only. INSECURE: every TPM built from it has the same seeds.
pub mod insecure_test_entropy {
    /// An xorshift stream from a fixed seed. Never use it outside tests.
    #[derive(Debug, Clone)]
    pub struct InsecureTestEntropy(u64);

    impl InsecureTestEntropy {
        /// A stream starting at `seed` (0 is replaced by a fixed non-zero constant).
        pub fn new(seed: u64) -> Self {
            Self(if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed })
        }
    }

    impl super::EntropySource for InsecureTestEntropy {
        fn fill_bytes(&mut self, out: &mut [u8]) {
            for b in out {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                *b = (self.0 >> 24) as u8;
            }
        }
    }
}
