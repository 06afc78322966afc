//! Hierarchy commands (Part 3 ch. 24): CreatePrimary, HierarchyControl, SetPrimaryPolicy, ChangePPS,
//! ChangeEPS, Clear, ClearControl, HierarchyChangeAuth.

use zeroize::Zeroize;

use crate::Tpm;
use crate::crypto::{HashAlg, strip_trailing_zeros};
use crate::engine::command::Cmd;
use crate::object::creation::{derive_primary, read_create_in, write_creation};
use crate::state::hierarchy::fresh;
use crate::wire::alg_id::AlgId;
use crate::wire::constants::MAX_DIGEST;
use crate::wire::handle::Handle;
use crate::wire::response_code::{At, ResponseCode, TpmResult};

/// TPM2_CreatePrimary (Part 3 §24.1). The handle is checked as TPMI_RH_HIERARCHY+ here.
pub(crate) fn create_primary(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let h = c.handles[0];
    if !matches!(h, Handle::RH_OWNER | Handle::RH_ENDORSEMENT | Handle::RH_PLATFORM | Handle::RH_NULL) {
        return Err(ResponseCode::VALUE.handle(1));
    }
    if !tpm.hier.enabled(h) {
        return Err(ResponseCode::HIERARCHY.handle(1));
    }
    let input = read_create_in(&mut c.params, true)?;
    let k = derive_primary(tpm, h, &input.public, input.auth, input.data)?;
    let handle_bytes = h.to_be_bytes();
    write_creation(tpm, &mut c.out, &k, &input, (AlgId::NULL, &handle_bytes, &handle_bytes), c.locality)?;
    c.out.tpm2b(&k.name);
    c.rhandle = tpm.objects.insert_key(k)?;
    Ok(())
}

/// TPM2_HierarchyControl. Only the platform may turn a hierarchy (back) on; owner and endorsement
/// may turn their own off. Disabling a hierarchy hides its NV indices and persistent objects and
/// flushes its loaded objects.
pub(crate) fn hierarchy_control(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let enable = c.params.handle().p(1)?;
    let state = c.params.yes_no().p(2)?;
    c.params.finish()?;
    let auth = c.handles[0];
    let platform = auth == Handle::RH_PLATFORM;
    let h = &mut tpm.hier;
    let selected = match enable {
        Handle::RH_PLATFORM | Handle::RH_PLATFORM_NV if !platform => return Err(ResponseCode::AUTH_TYPE),
        Handle::RH_PLATFORM => &mut h.ph_enable,
        Handle::RH_PLATFORM_NV => &mut h.ph_enable_nv,
        Handle::RH_OWNER | Handle::RH_ENDORSEMENT if !platform && auth != enable => {
            return Err(ResponseCode::AUTH_TYPE);
        }
        Handle::RH_OWNER => &mut h.sh_enable,
        Handle::RH_ENDORSEMENT => &mut h.eh_enable,
        _ => return Err(ResponseCode::VALUE.param(1)),
    };
    if !*selected && state && !platform {
        return Err(ResponseCode::AUTH_TYPE);
    }
    *selected = state;
    if !state {
        // ms-tpm-20-ref ObjectFlushHierarchy: loaded objects of a disabled hierarchy are flushed.
        tpm.objects.flush_keys_of(enable);
    }
    Ok(())
}

/// TPM2_SetPrimaryPolicy: the policy must be a digest of `hashAlg` (or empty with TPM_ALG_NULL).
pub(crate) fn set_primary_policy(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let policy = c.params.tpm2b(MAX_DIGEST).p(1)?;
    let id = c.params.alg().p(2)?;
    c.params.finish()?;
    let hash = match (id, HashAlg::from_id(id)) {
        (_, Some(a)) => Some(a),
        (AlgId::NULL, None) => None,
        _ => return Err(ResponseCode::HASH.param(2)),
    };
    if policy.len() != hash.map_or(0, HashAlg::size) {
        return Err(ResponseCode::SIZE.param(1));
    }
    tpm.hier.set_policy(c.handles[0], policy, hash);
    Ok(())
}

/// TPM2_ChangePPS (Part 3 §24.4): a new platform primary seed and phProof; the platform policy is
/// reset, and the platform's loaded and persistent objects are flushed. Platform auth only.
pub(crate) fn change_pps(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    tpm.keys.change_seed(Handle::RH_PLATFORM, &mut tpm.drbg, tpm.entropy.as_mut());
    let h = &mut tpm.hier;
    h.proofs[2].zeroize();
    h.proofs[2] = fresh(&mut tpm.drbg, tpm.entropy.as_mut());
    h.set_policy(Handle::RH_PLATFORM, &[], None);
    tpm.objects.flush_keys_of(Handle::RH_PLATFORM);
    Ok(())
}

/// TPM2_ChangeEPS (Part 3 §24.5): a new endorsement primary seed and ehProof (so the EK changes);
/// the endorsement hierarchy is enabled, its authValue and authPolicy emptied, and its loaded and
/// persistent objects flushed. Platform auth only.
pub(crate) fn change_eps(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    tpm.keys.change_seed(Handle::RH_ENDORSEMENT, &mut tpm.drbg, tpm.entropy.as_mut());
    let h = &mut tpm.hier;
    h.proofs[1].zeroize();
    h.proofs[1] = fresh(&mut tpm.drbg, tpm.entropy.as_mut());
    h.eh_enable = true;
    h.endorsement_auth.zeroize();
    h.endorsement_auth.clear();
    h.set_policy(Handle::RH_ENDORSEMENT, &[], None);
    tpm.objects.flush_keys_of(Handle::RH_ENDORSEMENT);
    Ok(())
}

/// TPM2_Clear (Part 3 §24.6).
pub(crate) fn clear(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    if c.handles[0] == Handle::RH_LOCKOUT && tpm.hier.disable_clear {
        return Err(ResponseCode::DISABLED);
    }
    let h = &mut tpm.hier;
    h.owner_auth.zeroize();
    h.endorsement_auth.zeroize();
    h.lockout_auth.zeroize();
    h.sh_enable = true;
    h.eh_enable = true;
    for owner_side in [Handle::RH_OWNER, Handle::RH_ENDORSEMENT, Handle::RH_LOCKOUT] {
        h.set_policy(owner_side, &[], None);
    }
    h.proofs[0] = fresh(&mut tpm.drbg, tpm.entropy.as_mut());
    h.proofs[1] = fresh(&mut tpm.drbg, tpm.entropy.as_mut());
    tpm.nv.clear_owner();
    tpm.keys.clear_owner(&mut tpm.drbg, tpm.entropy.as_mut());
    tpm.objects.flush_keys_of(Handle::RH_OWNER);
    tpm.da.clear();
    let now = tpm.now_ms();
    tpm.time.clear(now);
    Ok(())
}

/// TPM2_ClearControl (Part 3 §24.7): lockout may only set disableClear; platform may set or clear it.
pub(crate) fn clear_control(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let disable = c.params.yes_no().p(1)?;
    c.params.finish()?;
    if c.handles[0] == Handle::RH_LOCKOUT && !disable {
        return Err(ResponseCode::AUTH_FAIL);
    }
    tpm.hier.disable_clear = disable;
    Ok(())
}

/// TPM2_HierarchyChangeAuth (Part 3 §24.8).
pub(crate) fn change_auth(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let new = strip_trailing_zeros(c.params.tpm2b(MAX_DIGEST).p(1)?).to_vec();
    c.params.finish()?;
    let h = &mut tpm.hier;
    let slot = match c.handles[0] {
        Handle::RH_OWNER => &mut h.owner_auth,
        Handle::RH_ENDORSEMENT => &mut h.endorsement_auth,
        Handle::RH_PLATFORM => &mut h.platform_auth,
        Handle::RH_LOCKOUT => &mut h.lockout_auth,
        _ => return Err(ResponseCode::VALUE.handle(1)),
    };
    // The old authValue is wiped, not just freed (threat model T5).
    slot.zeroize();
    *slot = new;
    Ok(())
}
