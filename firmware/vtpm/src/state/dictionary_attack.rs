//! Dictionary-attack protection (Part 1 §19.8): the failure counter, lockout and recovery.

use crate::config::DaParameters;

/// Dictionary-attack protection (Part 1 §19.8), after ms-tpm-20-ref's DA.c. Times are in
/// milliseconds of the engine's clock.
#[derive(Debug, Clone)]
pub struct DictionaryAttack {
    pub failed_tries: u32,
    pub max_tries: u32,
    /// Seconds per forgiven failure (0 disables DA protection: failures are not counted).
    pub recovery_time: u32,
    /// Seconds the lockout authValue stays blocked after a failure (0: until the next Startup).
    pub lockout_recovery: u32,
    /// Whether a DA-protected authValue was used since the last Startup: a non-orderly restart
    /// then counts as a failure (Part 1 §19.8.6, ms-tpm-20-ref USE_DA_USED).
    pub used: bool,
    pub(crate) lockout_locked_at: Option<u64>,
    pub(crate) self_heal_timer: u64,
    pub(crate) now: u64,
    /// The parameters the TPM was manufactured with, which TPM2_Clear restores.
    manufactured: DaParameters,
}

impl Default for DictionaryAttack {
    /// ms-tpm-20-ref's manufacturing defaults (DAPreInstall_Init).
    fn default() -> Self {
        DictionaryAttack::manufacture(DaParameters::REFERENCE)
    }
}

impl DictionaryAttack {
    /// A fresh state with `p`, which TPM2_Clear restores.
    pub fn manufacture(p: DaParameters) -> Self {
        DictionaryAttack {
            failed_tries: 0,
            max_tries: p.max_tries,
            recovery_time: p.recovery_time,
            lockout_recovery: p.lockout_recovery,
            used: false,
            lockout_locked_at: None,
            self_heal_timer: 0,
            now: 0,
            manufactured: p,
        }
    }

    /// TPM2_Clear: the manufacturing parameters, no failures, the clock where it was.
    pub fn clear(&mut self) {
        let now = self.now;
        *self = DictionaryAttack::manufacture(self.manufactured);
        self.now = now;
    }

    /// The counters stored across reboots (`persistence`). A locked lockoutAuth stays locked for a
    /// full `lockout_recovery` from now: the time it was locked at is another boot's clock.
    pub fn restore(
        &mut self,
        failed_tries: u32,
        max_tries: u32,
        recovery_time: u32,
        lockout_recovery: u32,
        lockout_locked: bool,
    ) {
        self.failed_tries = failed_tries;
        self.max_tries = max_tries;
        self.recovery_time = recovery_time;
        self.lockout_recovery = lockout_recovery;
        self.lockout_locked_at = lockout_locked.then_some(self.now);
        self.self_heal_timer = self.now;
    }

    /// Lets time pass (DASelfHeal): forgive one failure per `recovery_time` since the last failure,
    /// and release the lockout authValue after `lockout_recovery`.
    pub fn tick(&mut self, now: u64) {
        self.now = now.max(self.now);
        if self.failed_tries != 0 {
            let period = u64::from(self.recovery_time) * 1000;
            // A recovery time of 0 disables DA protection: failures are forgotten at once.
            match self.now.saturating_sub(self.self_heal_timer).checked_div(period) {
                None => self.failed_tries = 0,
                Some(steps) => {
                    let forgiven = u32::try_from(steps).unwrap_or(u32::MAX).min(self.failed_tries);
                    self.failed_tries -= forgiven;
                    self.self_heal_timer = self.self_heal_timer.saturating_add(steps.saturating_mul(period));
                }
            }
        }
        let recovery = u64::from(self.lockout_recovery) * 1000;
        if let Some(at) = self.lockout_locked_at
            && recovery != 0
            && self.now.saturating_sub(at) >= recovery
        {
            self.lockout_locked_at = None;
        }
    }

    pub fn in_lockout(&self) -> bool {
        self.failed_tries >= self.max_tries
    }

    pub fn lockout_auth_locked(&self) -> bool {
        self.lockout_locked_at.is_some()
    }

    /// A counted failure on a DA-protected entity (IncrementLockout, DARegisterFailure).
    pub fn failed(&mut self) {
        if self.recovery_time != 0 {
            self.failed_tries = self.failed_tries.saturating_add(1);
        }
        self.self_heal_timer = self.now;
    }

    pub fn lockout_failed(&mut self) {
        self.lockout_locked_at = Some(self.now);
    }

    /// Any Startup (DAStartup): timers restart; with lockoutRecovery 0 the lockout authValue is
    /// usable again; after a non-orderly shutdown during which DA was used, one failure is counted.
    pub fn startup(&mut self, orderly: bool) {
        self.self_heal_timer = self.now;
        if let Some(at) = self.lockout_locked_at.as_mut() {
            *at = self.now;
        }
        if self.lockout_recovery == 0 {
            self.lockout_locked_at = None;
        }
        if self.recovery_time != 0 && self.failed_tries < self.max_tries && !orderly && self.used {
            self.failed_tries += 1;
        }
        self.used = false;
    }
}
