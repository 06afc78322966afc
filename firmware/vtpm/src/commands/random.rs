//! TPM2_GetRandom and TPM2_StirRandom (Part 3 ch. 16).

use crate::Tpm;
use crate::engine::command::Cmd;
use crate::wire::constants::MAX_DIGEST;
use crate::wire::response_code::{At, TpmResult};

/// TPM2B_SENSITIVE_DATA's maximum (MAX_SYM_DATA).
const MAX_SYM_DATA: usize = 128;

/// TPM2_GetRandom (Part 3 §16.1): at most one digest's worth per call.
pub(crate) fn get_random(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let n = usize::from(c.params.u16().p(1)?).min(MAX_DIGEST);
    c.params.finish()?;
    let mut buf = [0u8; MAX_DIGEST];
    let out = buf.get_mut(..n).unwrap_or_default();
    tpm.random(out);
    c.out.tpm2b(out);
    Ok(())
}

/// TPM2_StirRandom (Part 3 §16.2).
pub(crate) fn stir_random(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let data = c.params.tpm2b(MAX_SYM_DATA).p(1)?;
    c.params.finish()?;
    tpm.drbg.stir(data);
    Ok(())
}
