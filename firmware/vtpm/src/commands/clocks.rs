//! Clocks and timers (Part 3 ch. 29): ReadClock, ClockSet, ClockRateAdjust.

use crate::Tpm;
use crate::engine::command::Cmd;
use crate::state::clock::MAX_CLOCK;
use crate::wire::response_code::{At, ResponseCode, TpmResult};

/// TPM2_ReadClock (Part 3 §29.1): TPMS_TIME_INFO.
pub(crate) fn read_clock(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    let now = tpm.now_ms();
    let t = &tpm.time;
    c.out.u64(t.time(now));
    c.out.u64(t.clock(now));
    c.out.u32(t.reset_count);
    c.out.u32(t.restart_count);
    c.out.u8(1); // safe: Clock never goes backwards here
    Ok(())
}

/// TPM2_ClockSet (Part 3 §29.2): Clock may only move forward.
pub(crate) fn clock_set(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let new = c.params.u64().p(1)?;
    c.params.finish()?;
    let now = tpm.now_ms();
    if new > MAX_CLOCK || new < tpm.time.clock(now) {
        return Err(ResponseCode::VALUE.param(1));
    }
    tpm.time.origin_ms = now;
    tpm.time.clock_base = new;
    Ok(())
}

/// TPM2_ClockRateAdjust (Part 3 §29.3). Clock follows the platform's time source, whose rate this
/// engine does not control, so a valid request changes nothing.
pub(crate) fn clock_rate_adjust(_tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let adjust = c.params.u8().p(1)? as i8;
    c.params.finish()?;
    if !(-3..=3).contains(&adjust) {
        return Err(ResponseCode::VALUE.param(1));
    }
    Ok(())
}
