//! The benchmark images (insecure flavours, never shipped), read by `cargo xtask bench hash|boot`.
//!
//! `insecure_bench_image`: after the ready line, hashes 64 MiB with each SHA implementation the firmware
//! has, timed with the TSC calibrated against the PIT, prints one machine-readable line per run and
//! exits. `insecure_baseline_image`: the boot benchmark's do-nothing image, a ready line on entry and exit.
use warden_platform::Termination;

/// The do-nothing image: the console, the ready line, exit. Booted exactly like Warden (same stub, same
/// ROM path), it measures what QEMU and the boot stub cost before Warden's first line. Compiled into
/// every flavour (`start` tests the feature with `cfg!`), called only in the baseline image.
pub fn baseline() -> ! {
    crate::console::init();
    crate::println!("warden: ready: baseline (do-nothing image)");
    crate::native::exit(Termination::TestsPassed)
}

#[cfg(feature = "insecure_bench_image")]
pub use hash::run;

#[cfg(feature = "insecure_bench_image")]
mod hash {
    use alloc::vec::Vec;
    use warden_platform::{Platform, Termination};
    use warden_sha::digest::Digest;
    use warden_sha::{Algorithm, Implementation, implementation, portable};

    use crate::{println, tsc};

    /// Bytes hashed per run.
    const TOTAL: usize = 64 << 20;
    /// The buffer hashed over and over (the heap is 8 MiB).
    const BUFFER: usize = 4 << 20;
    /// Runs of each implementation; the host reports the median.
    const ROUNDS: usize = 3;
    /// PIT time the TSC is calibrated over (the longest one count allows).
    const CALIBRATION_MS: u64 = 50;

    /// Hashes `TOTAL` bytes (`buffer` again and again) with `D`; returns the TSC ticks and the digest.
    fn time<D: Digest>(buffer: &[u8]) -> (u64, Vec<u8>) {
        let start = tsc::rdtsc();
        let mut hasher = D::new();
        for _ in 0..TOTAL / buffer.len() {
            hasher.update(buffer);
        }
        let digest = hasher.finalize().to_vec();
        (tsc::rdtsc().saturating_sub(start), digest)
    }

    /// One benchmark row: the algorithm, the implementation asked for, and the runs.
    fn report<Fast: Digest, Port: Digest>(name: &str, algorithm: Algorithm, buffer: &[u8], khz: u64) -> bool {
        let selected = match implementation(algorithm) {
            Implementation::Accelerated => "accelerated",
            Implementation::Portable => "portable",
        };
        let mut agree = true;
        for round in 0..ROUNDS {
            let (fast_ticks, fast_digest) = time::<Fast>(buffer);
            let (port_ticks, port_digest) = time::<Port>(buffer);
            for (which, ticks) in [("accelerated", fast_ticks), ("portable", port_ticks)] {
                let ns = u128::from(ticks) * 1_000_000 / u128::from(khz);
                println!(
                    "warden-bench: {name} {which} round={round} bytes={TOTAL} ticks={ticks} ns={ns} selected={}",
                    if which == "accelerated" { selected } else { "portable" }
                );
            }
            // The two paths hashed the same bytes: a fast wrong answer is no result.
            agree &= fast_digest == port_digest;
        }
        agree
    }

    /// Calibrates, fills the buffer, times every implementation, exits with the verdict.
    pub fn run(platform: &impl Platform) -> ! {
        let Some(khz) = tsc::calibrate(CALIBRATION_MS) else {
            println!("warden-bench: error: the PIT does not count, nothing can be timed");
            platform.terminate(Termination::Failure)
        };
        println!("warden-bench: tsc_khz={khz} source=pit calibration_ms={CALIBRATION_MS}");
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let buffer: Vec<u8> = (0..BUFFER)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let mut agree =
            report::<warden_sha::Sha256, portable::Sha256>("sha256", Algorithm::Sha256, &buffer, khz);
        agree &= report::<warden_sha::Sha384, portable::Sha384>("sha384", Algorithm::Sha384, &buffer, khz);
        if !agree {
            println!("warden-bench: error: accelerated and portable digests differ");
            platform.terminate(Termination::Failure)
        }
        println!("warden-bench: done");
        platform.terminate(Termination::TestsPassed)
    }
}
