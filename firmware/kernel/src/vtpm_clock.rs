//! The vTPM's clock: milliseconds of the time-stamp counter, at the rate measured at boot. Without it
//! the engine's time stands still: policy expirations and tickets never expire, dictionary-attack
//! lockout never heals, and one wrong lockoutAuth blocks lockoutAuth until the next boot.
//!
//! The rate, best first: the boot's PIT calibration (`tsc`, native), the (hyper)visor's CPUID leaves
//! (`boot_clock::tsc_khz`), else [`FALLBACK_KHZ`]. The fallback is deliberately fast: if it is wrong the
//! clock runs slow, never fast, so a lockout lasts at least as long as configured (expirations then come
//! late by the same factor).
//!
//! Threat model: on native the host controls the TSC (scaling, offsets, the PIT the calibration uses)
//! and can speed the clock up to heal a lockout early or slow it down to stretch a ticket; time-based
//! TPM protections are only as good as the host's TSC there. On SEV-SNP with Secure TSC and on TDX the
//! TSC rate is fixed by the platform and the hypervisor cannot change it.
use warden_vtpm::Clock;

use crate::tsc::rdtsc;

/// The rate assumed when none is known: 5 GHz, above any x86 TSC Warden runs on, so the clock errs slow.
pub const FALLBACK_KHZ: u64 = 5_000_000;

/// Milliseconds since the clock was made, from the TSC.
#[derive(Debug)]
pub struct TscClock {
    origin: u64,
    khz: u64,
    last_ms: u64,
}

/// The TSC rate the clock runs at, in kHz (see the module docs); never zero.
pub fn rate_khz() -> u64 {
    crate::tsc::khz().or_else(crate::boot_clock::tsc_khz).filter(|&k| k != 0).unwrap_or(FALLBACK_KHZ)
}

impl TscClock {
    /// A clock starting now, at [`rate_khz`].
    pub fn start() -> TscClock {
        TscClock { origin: rdtsc(), khz: rate_khz(), last_ms: 0 }
    }
}

impl Clock for TscClock {
    fn now_ms(&mut self) -> u64 {
        // `khz` is never zero (`start`); the TSC is per-CPU and may step back after a migration, so the
        // clock holds its last value rather than run backwards (`Clock` promises it never decreases).
        let ms = rdtsc().saturating_sub(self.origin) / self.khz.max(1);
        self.last_ms = self.last_ms.max(ms);
        self.last_ms
    }
}
