//! Time state: Clock (milliseconds the TPM has run), Time since _TPM_Init, resetCount and restartCount
//! (Part 1 §36).

/// ClockSet may not move Clock past this (Part 3 §29.2: the top 16 bits are reserved for rollover).
pub(crate) const MAX_CLOCK: u64 = 0xFFFF_0000_0000_0000;

/// Clock and Time, derived from the platform's monotonic milliseconds.
#[derive(Debug, Default, Clone)]
pub struct TimeState {
    /// Platform time at which Clock had the value `clock_base`.
    pub(crate) origin_ms: u64,
    pub(crate) clock_base: u64,
    /// Platform time of the last _TPM_Init.
    pub(crate) boot_ms: u64,
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

    /// The values stored across reboots (`persistence`): Clock resumes from `clock` at platform time
    /// `now` (Part 1 §36.2: Clock only advances, though it may lose the time the TPM was off).
    pub fn restore(&mut self, now: u64, clock: u64, reset_count: u32, restart_count: u32) {
        self.origin_ms = now;
        self.clock_base = clock.min(MAX_CLOCK);
        self.reset_count = reset_count;
        self.restart_count = restart_count;
    }

    /// TPM2_Clear: Clock starts again from zero and both counters are reset (Part 2 §10.11.1).
    pub fn clear(&mut self, now: u64) {
        self.origin_ms = now;
        self.clock_base = 0;
        self.reset_count = 0;
        self.restart_count = 0;
    }
}
