//! Dictionary-attack commands (Part 3 ch. 25): DictionaryAttackLockReset, DictionaryAttackParameters.

use crate::Tpm;
use crate::engine::command::Cmd;
use crate::wire::response_code::{At, TpmResult};

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
