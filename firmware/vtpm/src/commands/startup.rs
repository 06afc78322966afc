//! TPM2_Startup and TPM2_Shutdown (Part 3 ch. 9).

use crate::engine::command::Cmd;
use crate::state::saved_state::SavedState;
use crate::wire::constants::su;
use crate::wire::response_code::{At, ResponseCode, TpmResult};
use crate::{Power, Tpm};

/// TPM2_Startup (Part 3 §9.3). CLEAR after Shutdown(STATE) is a TPM Restart, CLEAR otherwise a TPM
/// Reset; STATE after Shutdown(STATE) is a TPM Resume and restores the saved PCRs.
pub(crate) fn startup(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let kind = c.params.u16().p(1)?;
    c.params.finish()?;
    let prior = tpm.shutdown.as_ref().map(|s| s.kind);
    if kind != su::CLEAR && !(kind == su::STATE && prior == Some(su::STATE)) {
        return Err(ResponseCode::VALUE.param(1));
    }
    tpm.da.startup(prior.is_some());
    match kind {
        su::CLEAR => {
            let reset = prior != Some(su::STATE);
            if reset {
                tpm.time.reset_count = tpm.time.reset_count.wrapping_add(1);
                tpm.time.restart_count = 0;
                tpm.sessions.clear();
                tpm.contexts.tpm_reset(&mut tpm.drbg, tpm.entropy.as_mut());
                tpm.keys.tpm_reset(&mut tpm.drbg, tpm.entropy.as_mut());
                tpm.commit.tpm_reset();
                tpm.objects.clear_keys();
            } else {
                tpm.time.restart_count = tpm.time.restart_count.wrapping_add(1);
            }
            tpm.hier.startup_clear(reset, &mut tpm.drbg, tpm.entropy.as_mut());
            tpm.pcrs.startup(None, c.locality);
            tpm.nv.startup_clear();
        }
        su::STATE if prior == Some(su::STATE) => {
            tpm.time.restart_count = tpm.time.restart_count.wrapping_add(1);
            let saved = tpm.shutdown.as_ref().map(|s| s.pcrs.clone());
            tpm.pcrs.startup(saved.as_ref(), c.locality);
        }
        _ => return Err(ResponseCode::VALUE.param(1)),
    }
    tpm.shutdown = None;
    tpm.drbg.reseed(tpm.entropy.as_mut(), b"Startup");
    tpm.power = Power::Operational;
    Ok(())
}

/// TPM2_Shutdown (Part 3 §9.4).
pub(crate) fn shutdown(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let kind = c.params.u16().p(1)?;
    c.params.finish()?;
    if kind != su::CLEAR && kind != su::STATE {
        return Err(ResponseCode::VALUE.param(1));
    }
    tpm.shutdown = Some(SavedState { kind, pcrs: tpm.pcrs.clone() });
    Ok(())
}
