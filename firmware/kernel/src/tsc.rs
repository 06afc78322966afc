//! The TSC rate, measured against the legacy PIT (8254 channel 2, gated through port 0x61), for the boot
//! clock and the hash benchmark. Native only: on SNP/TDX the PIT is the hypervisor's word and port I/O
//! needs the #VC/#VE path, so nothing here runs there.
//!
//! Under nested KVM the (hyper)visor's TSC-rate CPUID leaves are often absent, hence a measurement. Two
//! ways: [`calibrate`] programs a one-shot count and waits for it (the benchmark, before timing
//! anything), and the boot window ([`start_window`], [`finish_window`]) lets channel 2 count down
//! while Warden boots and reads the counter at the end, so the calibration costs the boot (almost)
//! nothing.
use core::sync::atomic::{AtomicU64, Ordering};

use crate::port::{inb, outb};

/// The PIT's input clock (Hz).
const PIT_HZ: u64 = 1_193_182;
/// Channel 2's data port and the mode/command port.
const PIT_CHANNEL2: u16 = 0x42;
const PIT_COMMAND: u16 = 0x43;
/// NMI status and control ("port B"): bit 0 gates channel 2, bit 1 drives the speaker, bit 5 reads OUT2.
const PORT_B: u16 = 0x61;
const GATE2: u8 = 1 << 0;
const SPEAKER: u8 = 1 << 1;
const OUT2: u8 = 1 << 5;
/// Command: channel 2, low then high byte, mode 0 (OUT goes high at terminal count), binary.
const CH2_MODE0: u8 = 0b1011_0000;
/// Command: latch channel 2's count.
const CH2_LATCH: u8 = 0b1000_0000;
/// The boot window's initial count (~54.9 ms).
const WINDOW_COUNT: u16 = 0xFFFF;
/// The shortest boot window worth trusting: 5 ms of PIT ticks. Each port access is a VM exit of a few
/// microseconds (tens under nested KVM), so a shorter window would be off by more than a percent.
const MIN_WINDOW_TICKS: u64 = PIT_HZ * 5 / 1000;
/// Give up when the PIT has not moved after this many TSC ticks (no PIT, or a hypervisor without it).
const GIVE_UP_TICKS: u64 = 1 << 36;

/// The measured rate in kHz; 0 until measured.
static KHZ: AtomicU64 = AtomicU64::new(0);
/// The TSC when the boot window opened; 0 when none is open.
static WINDOW_START: AtomicU64 = AtomicU64::new(0);
/// The PIT count read back when the boot window opened.
static WINDOW_FIRST: AtomicU64 = AtomicU64::new(0);

/// The time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC only reads the time-stamp counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The measured TSC rate in kHz, if a calibration has succeeded.
pub fn khz() -> Option<u64> {
    match KHZ.load(Ordering::Relaxed) {
        0 => None,
        khz => Some(khz),
    }
}

/// Gates channel 2 on (speaker off) and starts a mode-0 count of `count`; then reads it back (count and
/// TSC at the latch, see [`read_count`]). `None` if OUT2 is not low afterwards (mode 0 drives it low
/// when programmed), i.e. no working PIT.
///
/// Both ends of a measurement are latches followed at once by RDTSC, so the cost of a port access (a VM
/// exit, or an emulated instruction under KVM-PVM) falls on both ends alike instead of adding a polling
/// interval to one of them.
fn start_count(count: u16) -> Option<(u16, u64)> {
    let [low, high] = count.to_le_bytes();
    // SAFETY: ports 0x42/0x43/0x61 are the legacy PIT and port B on the native (QEMU q35) platform, which
    // nothing else in Warden drives; channel 2 only feeds the speaker, which stays off.
    let out2 = unsafe {
        outb(PORT_B, (inb(PORT_B) & !SPEAKER) | GATE2);
        outb(PIT_COMMAND, CH2_MODE0);
        outb(PIT_CHANNEL2, low);
        outb(PIT_CHANNEL2, high);
        inb(PORT_B) & OUT2
    };
    let (first, _, now) = read_count();
    (out2 == 0).then_some((first, now))
}

/// Channel 2's current count and whether it has reached terminal count, with the TSC at the latch.
fn read_count() -> (u16, bool, u64) {
    // SAFETY: as in `start_count`; latching and reading the count has no effect beyond the PIT.
    let (now, low, high, out2) = unsafe {
        outb(PIT_COMMAND, CH2_LATCH);
        let now = rdtsc();
        (now, inb(PIT_CHANNEL2), inb(PIT_CHANNEL2), inb(PORT_B) & OUT2)
    };
    (u16::from_le_bytes([low, high]), out2 != 0, now)
}

/// Stores and returns the rate from `tsc_ticks` over `pit_ticks`.
fn record(tsc_ticks: u64, pit_ticks: u64) -> Option<u64> {
    let khz = u64::try_from(u128::from(tsc_ticks) * u128::from(PIT_HZ) / (u128::from(pit_ticks) * 1000))
        .ok()
        .filter(|&khz| khz != 0)?;
    KHZ.store(khz, Ordering::Relaxed);
    Some(khz)
}

/// Measures the TSC over at least `ms` milliseconds of PIT time (capped at 50), waiting for it; stores
/// and returns the rate in kHz, `None` if the PIT does not count.
pub fn calibrate(ms: u64) -> Option<u64> {
    let target = PIT_HZ * ms.clamp(1, 50) / 1000;
    let (first, start) = start_count(WINDOW_COUNT)?;
    loop {
        let (count, expired, now) = read_count();
        let elapsed = u64::from(first.saturating_sub(count));
        // Expired: over 54 ms between two reads, the count wrapped; no measurement.
        if expired || now.saturating_sub(start) > GIVE_UP_TICKS {
            return None;
        }
        if elapsed >= target {
            return record(now.saturating_sub(start), elapsed);
        }
    }
}

/// Opens the boot window: channel 2 starts counting down from its maximum.
pub fn start_window() {
    if let Some((first, start)) = start_count(WINDOW_COUNT) {
        WINDOW_FIRST.store(u64::from(first), Ordering::Relaxed);
        WINDOW_START.store(start, Ordering::Relaxed);
    }
}

/// Closes the boot window: waits until it is at least 5 ms long, then stores and returns the rate. If the
/// window ran out (the boot took over 54 ms, as under KVM-PVM) it calibrates afresh over 10 ms. `None` when no
/// window was opened or the PIT does not count.
pub fn finish_window() -> Option<u64> {
    let start = WINDOW_START.swap(0, Ordering::Relaxed);
    if start == 0 {
        return None;
    }
    loop {
        let (count, expired, now) = read_count();
        if expired {
            return calibrate(10);
        }
        let elapsed = WINDOW_FIRST.load(Ordering::Relaxed).saturating_sub(u64::from(count));
        if elapsed >= MIN_WINDOW_TICKS {
            return record(now.saturating_sub(start), elapsed);
        }
        if now.saturating_sub(start) > GIVE_UP_TICKS {
            return None;
        }
    }
}
