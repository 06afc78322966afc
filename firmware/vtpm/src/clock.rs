//! Time: Clock (milliseconds the TPM has run, set back only by TPM2_Clear, moved forward by
//! TPM2_ClockSet), Time (since the last _TPM_Init), the reset and restart counters (TPMS_CLOCK_INFO,
//! Part 2 Table 120), and ReadClock, ClockSet, ClockRateAdjust (Part 3 §29).

use crate::Tpm;
use crate::dispatch::Cmd;
use crate::rc::{At, Rc, TpmResult};

/// ClockSet may not move Clock past this (Part 3 §29.2: the top 16 bits are reserved for rollover).
const MAX_CLOCK: u64 = 0xFFFF_0000_0000_0000;

/// Clock and Time, derived from the platform's monotonic milliseconds.
#[derive(Debug, Default, Clone)]
pub struct TimeState {
    /// Platform time at which Clock had the value `clock_base`.
    origin_ms: u64,
    clock_base: u64,
    /// Platform time of the last _TPM_Init.
    boot_ms: u64,
    pub reset_count: u32,
    pub restart_count: u32,
}

impl TimeState {
    pub fn set_origin(&mut self, now: u64) {
        self.origin_ms = now;
        self.boot_ms = now;
    }

    pub fn power_on(&mut self, now: u64) {
        self.boot_ms = now;
    }

    pub fn clock(&self, now: u64) -> u64 {
        self.clock_base.saturating_add(now.saturating_sub(self.origin_ms))
    }

    pub fn time(&self, now: u64) -> u64 {
        now.saturating_sub(self.boot_ms)
    }

    /// TPM2_Clear: Clock starts again from zero and both counters are reset (Part 2 §10.11.1).
    pub fn clear(&mut self, now: u64) {
        self.origin_ms = now;
        self.clock_base = 0;
        self.reset_count = 0;
        self.restart_count = 0;
    }
}

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
        return Err(Rc::VALUE.param(1));
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
        return Err(Rc::VALUE.param(1));
    }
    Ok(())
}
