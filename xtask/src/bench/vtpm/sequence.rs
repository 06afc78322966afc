//! The HMAC-sequence row of `bench vtpm`: TPM2_HMAC_Start, one SequenceUpdate and a SequenceComplete
//! (1 KiB each, Part 3 §17.2, §17.4, §17.5) with an HMAC-SHA256 primary, the three calls timed as one
//! unit on each server, the servers interleaved as in `measure`. Checking each response's header is
//! inside the timed span here (the next call needs the sequence handle); it costs the same on both.

use std::time::{Duration, Instant};

use super::transport::{Mssim, Raw, Transport};
use super::{TPM_RC_RETRY, WARM_UP, median_us, wire};

/// The row's name in the report.
pub const ROW: &str = "HMAC sequence (Start+Update+Complete, 2 KiB)";

/// Sends `command` until it is not TPM_RC_RETRY; the response must be TPM_RC_SUCCESS.
fn call_ok(name: &str, transport: &mut dyn Transport, command: &[u8]) -> Result<Vec<u8>, String> {
    loop {
        let response = transport.call(command).map_err(|error| format!("{name}: {error}"))?;
        match wire::response_code(&response)? {
            0 => return Ok(response),
            TPM_RC_RETRY => continue,
            code => return Err(format!("{name}: response code {code:#x}")),
        }
    }
}

/// One HMAC sequence with the key at `key`, timed.
fn one_sequence(name: &str, transport: &mut dyn Transport, key: u32) -> Result<Duration, String> {
    let start = Instant::now();
    let sequence = wire::created_handle(&call_ok(name, transport, &wire::hmac_start(key))?)?;
    call_ok(name, transport, &wire::sequence_update(sequence))?;
    call_ok(name, transport, &wire::sequence_complete(sequence))?;
    Ok(start.elapsed())
}

/// Median microseconds of one HMAC sequence on Warden and on swtpm.
pub fn measure_hmac_sequence(
    warden: &mut Mssim,
    swtpm: &mut Raw,
    iterations: u32,
) -> Result<(f64, f64), String> {
    let mut sides = [("Warden", warden as &mut dyn Transport), ("swtpm", swtpm)];
    let mut keys = [0u32; 2];
    for ((name, transport), key) in sides.iter_mut().zip(keys.iter_mut()) {
        *key = wire::created_handle(&call_ok(name, *transport, &wire::create_hmac_primary())?)?;
    }
    let mut times = [Vec::new(), Vec::new()];
    let mut outcome = Ok(());
    'rounds: for round in 0..WARM_UP.min(iterations) + iterations {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for side in order {
            let (name, transport) = &mut sides[side];
            match one_sequence(name, *transport, keys[side]) {
                Ok(elapsed) if round >= WARM_UP.min(iterations) => times[side].push(elapsed),
                Ok(_) => {}
                Err(error) => {
                    outcome = Err(error);
                    break 'rounds;
                }
            }
        }
    }
    for ((_, transport), key) in sides.iter_mut().zip(keys) {
        let _ = transport.call(&wire::flush(key));
    }
    outcome?;
    let [warden_times, swtpm_times] = times;
    Ok((median_us(warden_times), median_us(swtpm_times)))
}
