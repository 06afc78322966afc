//! Hierarchies and the dictionary-attack logic: authValues, enables, proofs, TPM2_Clear, ClearControl,
//! HierarchyChangeAuth, DictionaryAttackParameters and DictionaryAttackLockReset.

use alloc::vec::Vec;

use crate::consts::{MAX_DIGEST, handle};
use crate::crypto::{HashAlg, strip_trailing_zeros};
use crate::dispatch::Cmd;
use crate::drbg::Drbg;
use crate::rc::{At, Rc, TpmResult};
use crate::{EntropySource, Tpm};

/// The permanent hierarchies' state (Part 1 §13-14).
#[derive(Debug, Clone)]
pub struct Hierarchies {
    owner_auth: Vec<u8>,
    endorsement_auth: Vec<u8>,
    platform_auth: Vec<u8>,
    lockout_auth: Vec<u8>,
    pub sh_enable: bool,
    pub eh_enable: bool,
    pub ph_enable: bool,
    pub ph_enable_nv: bool,
    pub disable_clear: bool,
    /// Secret values tickets are made with: owner, endorsement, platform, null.
    proofs: [[u8; 32]; 4],
    /// authPolicy and its hash (TPM2_SetPrimaryPolicy): owner, endorsement, platform, lockout.
    policies: [(Vec<u8>, Option<HashAlg>); 4],
}

fn fresh(drbg: &mut Drbg, e: &mut dyn EntropySource) -> [u8; 32] {
    let mut v = [0u8; 32];
    drbg.generate(e, &mut v);
    v
}

impl Hierarchies {
    pub fn manufacture(drbg: &mut Drbg, e: &mut dyn EntropySource) -> Self {
        Hierarchies {
            owner_auth: Vec::new(),
            endorsement_auth: Vec::new(),
            platform_auth: Vec::new(),
            lockout_auth: Vec::new(),
            sh_enable: true,
            eh_enable: true,
            ph_enable: true,
            ph_enable_nv: true,
            disable_clear: false,
            proofs: [fresh(drbg, e), fresh(drbg, e), fresh(drbg, e), fresh(drbg, e)],
            policies: Default::default(),
        }
    }

    /// Startup(CLEAR): every hierarchy enabled, platform auth back to empty (the platform firmware
    /// would set it), and on a TPM Reset a new null proof.
    pub fn startup_clear(&mut self, tpm_reset: bool, drbg: &mut Drbg, e: &mut dyn EntropySource) {
        self.sh_enable = true;
        self.eh_enable = true;
        self.ph_enable = true;
        self.ph_enable_nv = true;
        self.platform_auth.clear();
        if let Some(p) = self.policies.get_mut(2) {
            *p = (Vec::new(), None);
        }
        if tpm_reset {
            self.proofs[3] = fresh(drbg, e);
        }
    }

    pub fn auth(&self, h: u32) -> Option<&[u8]> {
        match h {
            handle::RH_OWNER => Some(&self.owner_auth),
            handle::RH_ENDORSEMENT => Some(&self.endorsement_auth),
            handle::RH_PLATFORM => Some(&self.platform_auth),
            handle::RH_LOCKOUT => Some(&self.lockout_auth),
            handle::RH_NULL => Some(&[]),
            _ => None,
        }
    }

    fn policy_slot(h: u32) -> Option<usize> {
        match h {
            handle::RH_OWNER => Some(0),
            handle::RH_ENDORSEMENT => Some(1),
            handle::RH_PLATFORM => Some(2),
            handle::RH_LOCKOUT => Some(3),
            _ => None,
        }
    }

    /// The authPolicy of a hierarchy, if one was set.
    pub fn policy(&self, h: u32) -> Option<(Vec<u8>, HashAlg)> {
        let (p, alg) = self.policies.get(Self::policy_slot(h)?)?;
        alg.filter(|_| !p.is_empty()).map(|a| (p.clone(), a))
    }

    /// TPM2_SetPrimaryPolicy.
    pub fn set_policy(&mut self, h: u32, policy: &[u8], alg: Option<HashAlg>) {
        if let Some(p) = Self::policy_slot(h).and_then(|i| self.policies.get_mut(i)) {
            *p = (policy.to_vec(), alg);
        }
    }

    pub fn enabled(&self, h: u32) -> bool {
        match h {
            handle::RH_OWNER => self.sh_enable,
            handle::RH_ENDORSEMENT => self.eh_enable,
            handle::RH_PLATFORM => self.ph_enable,
            _ => true,
        }
    }

    pub fn proof(&self, h: u32) -> Option<&[u8; 32]> {
        match h {
            handle::RH_OWNER => self.proofs.first(),
            handle::RH_ENDORSEMENT => self.proofs.get(1),
            handle::RH_PLATFORM => self.proofs.get(2),
            _ => None,
        }
    }

    /// TPMA_PERMANENT ownerAuthSet, endorsementAuthSet, lockoutAuthSet (Part 2 Table 38).
    pub fn auth_set_bits(&self) -> u32 {
        u32::from(!self.owner_auth.is_empty())
            | u32::from(!self.endorsement_auth.is_empty()) << 1
            | u32::from(!self.lockout_auth.is_empty()) << 2
    }
}

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
    lockout_locked_at: Option<u64>,
    self_heal_timer: u64,
    now: u64,
}

impl Default for DictionaryAttack {
    /// ms-tpm-20-ref's manufacturing defaults (DAPreInstall_Init): 3 tries, 1000 s recovery, 1000 s
    /// lockout recovery. TPM2_Clear restores them.
    fn default() -> Self {
        DictionaryAttack {
            failed_tries: 0,
            max_tries: 3,
            recovery_time: 1000,
            lockout_recovery: 1000,
            used: false,
            lockout_locked_at: None,
            self_heal_timer: 0,
            now: 0,
        }
    }
}

impl DictionaryAttack {
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

/// TPM2_Clear (Part 3 §24.6).
pub(crate) fn clear(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    if c.handles[0] == handle::RH_LOCKOUT && tpm.hier.disable_clear {
        return Err(Rc::DISABLED);
    }
    let h = &mut tpm.hier;
    h.owner_auth.clear();
    h.endorsement_auth.clear();
    h.lockout_auth.clear();
    h.sh_enable = true;
    h.eh_enable = true;
    for owner_side in [handle::RH_OWNER, handle::RH_ENDORSEMENT, handle::RH_LOCKOUT] {
        h.set_policy(owner_side, &[], None);
    }
    h.proofs[0] = fresh(&mut tpm.drbg, tpm.entropy.as_mut());
    h.proofs[1] = fresh(&mut tpm.drbg, tpm.entropy.as_mut());
    tpm.nv.clear_owner();
    tpm.keys.clear_owner(&mut tpm.drbg, tpm.entropy.as_mut());
    tpm.da = DictionaryAttack { now: tpm.da.now, ..DictionaryAttack::default() };
    let now = tpm.now_ms();
    tpm.time.clear(now);
    Ok(())
}

/// TPM2_ClearControl (Part 3 §24.7): lockout may only set disableClear; platform may set or clear it.
pub(crate) fn clear_control(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let disable = c.params.yes_no().p(1)?;
    c.params.finish()?;
    if c.handles[0] == handle::RH_LOCKOUT && !disable {
        return Err(Rc::AUTH_FAIL);
    }
    tpm.hier.disable_clear = disable;
    Ok(())
}

/// TPM2_HierarchyChangeAuth (Part 3 §24.8).
pub(crate) fn change_auth(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let new = strip_trailing_zeros(c.params.tpm2b(MAX_DIGEST).p(1)?).to_vec();
    c.params.finish()?;
    let h = &mut tpm.hier;
    match c.handles[0] {
        handle::RH_OWNER => h.owner_auth = new,
        handle::RH_ENDORSEMENT => h.endorsement_auth = new,
        handle::RH_PLATFORM => h.platform_auth = new,
        handle::RH_LOCKOUT => h.lockout_auth = new,
        _ => return Err(Rc::VALUE.handle(1)),
    }
    Ok(())
}

/// TPM2_DictionaryAttackLockReset (Part 3 §25.2).
pub(crate) fn da_lock_reset(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    tpm.da.failed_tries = 0;
    Ok(())
}

/// TPM2_DictionaryAttackParameters (Part 3 §25.3).
pub(crate) fn da_parameters(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let max_tries = c.params.u32().p(1)?;
    let recovery_time = c.params.u32().p(2)?;
    let lockout_recovery = c.params.u32().p(3)?;
    c.params.finish()?;
    let da = &mut tpm.da;
    da.max_tries = max_tries;
    da.recovery_time = recovery_time;
    da.lockout_recovery = lockout_recovery;
    da.failed_tries = da.failed_tries.min(max_tries);
    da.self_heal_timer = da.now;
    Ok(())
}
