//! TPM2_HierarchyControl and TPM2_SetPrimaryPolicy (Part 3 §24.2, §24.3): turning hierarchies off
//! and on, and giving them an authPolicy.

use crate::Tpm;
use crate::consts::{MAX_DIGEST, alg, handle};
use crate::crypto::HashAlg;
use crate::dispatch::Cmd;
use crate::rc::{At, Rc, TpmResult};

/// TPM2_HierarchyControl. Only the platform may turn a hierarchy (back) on; owner and endorsement
/// may turn their own off. Disabling a hierarchy hides its NV indices and persistent objects and
/// flushes its loaded objects.
pub(crate) fn hierarchy_control(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let enable = c.params.u32().p(1)?;
    let state = c.params.yes_no().p(2)?;
    c.params.finish()?;
    let auth = c.handles[0];
    let platform = auth == handle::RH_PLATFORM;
    let h = &mut tpm.hier;
    let selected = match enable {
        handle::RH_PLATFORM | handle::RH_PLATFORM_NV if !platform => return Err(Rc::AUTH_TYPE),
        handle::RH_PLATFORM => &mut h.ph_enable,
        handle::RH_PLATFORM_NV => &mut h.ph_enable_nv,
        handle::RH_OWNER | handle::RH_ENDORSEMENT if !platform && auth != enable => {
            return Err(Rc::AUTH_TYPE);
        }
        handle::RH_OWNER => &mut h.sh_enable,
        handle::RH_ENDORSEMENT => &mut h.eh_enable,
        _ => return Err(Rc::VALUE.param(1)),
    };
    if !*selected && state && !platform {
        return Err(Rc::AUTH_TYPE);
    }
    *selected = state;
    if !state {
        // ms-tpm-20-ref ObjectFlushHierarchy: loaded objects of a disabled hierarchy are flushed.
        tpm.keys.flush_hierarchy(enable);
    }
    Ok(())
}

/// TPM2_SetPrimaryPolicy: the policy must be a digest of `hashAlg` (or empty with TPM_ALG_NULL).
pub(crate) fn set_primary_policy(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let policy = c.params.tpm2b(MAX_DIGEST).p(1)?;
    let id = c.params.u16().p(2)?;
    c.params.finish()?;
    let hash = match (id, HashAlg::from_id(id)) {
        (_, Some(a)) => Some(a),
        (alg::NULL, None) => None,
        _ => return Err(Rc::HASH.param(2)),
    };
    if policy.len() != hash.map_or(0, HashAlg::size) {
        return Err(Rc::SIZE.param(1));
    }
    tpm.hier.set_policy(c.handles[0], policy, hash);
    Ok(())
}
