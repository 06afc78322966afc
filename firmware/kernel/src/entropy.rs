//! Entropy for the vTPM: RDRAND, retried as the vendors advise, and refused outright when the CPU has
//! none (a TPM without entropy would hand out predictable nonces and keys).
use core::arch::x86_64::__cpuid;

/// Whether the CPU has RDRAND (CPUID.1:ECX bit 30).
pub fn available() -> bool {
    __cpuid(1).ecx & (1 << 30) != 0
}

/// RDRAND as an entropy source. Only `new` creates it, after checking the CPU has RDRAND.
#[derive(Debug)]
pub struct Rdrand(());

impl Rdrand {
    /// RDRAND, if the CPU has it.
    pub fn new() -> Option<Self> {
        available().then_some(Self(()))
    }

    fn next(&self) -> u64 {
        // Intel's guidance: retry up to 10 times; a CPU that fails that often is broken.
        for _ in 0..10 {
            let value: u64;
            let ok: u8;
            // SAFETY: `new` checked CPUID for RDRAND; it writes only the named registers and flags.
            unsafe {
                core::arch::asm!("rdrand {value}", "setc {ok}", value = out(reg) value, ok = out(reg_byte) ok,
                    options(nomem, nostack));
            }
            if ok == 1 {
                return value;
            }
        }
        panic!("RDRAND failed ten times in a row: no entropy for the vTPM");
    }
}

impl warden_vtpm::EntropySource for Rdrand {
    fn fill_bytes(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}
