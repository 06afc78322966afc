//! Policies that bind a command's exact input (Part 3 §23.7, §23.8, §23.15, §23.21): PolicyCpHash,
//! PolicyNameHash, PolicyDuplicationSelect, PolicyTemplate.

use super::{MAX_NAME, session_at, set_cp_hash};
use crate::Tpm;
use crate::crypto::{Digest, ct_eq};
use crate::engine::command::Cmd;
use crate::wire::command_code::CommandCode;
use crate::wire::constants::MAX_DIGEST;
use crate::wire::response_code::{At, ResponseCode, TpmResult};

/// TPM2_PolicyCpHash (Part 3 §23.13).
pub(crate) fn cp_hash(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let cp = c.params.tpm2b(MAX_DIGEST).p(1)?;
    c.params.finish()?;
    let s = session_at(tpm, c.handles[0], 1)?;
    set_cp_hash(s, cp, 1)?;
    s.policy = s.alg.digest(&[s.policy.as_slice(), &CommandCode::POLICY_CP_HASH.to_be_bytes(), cp]);
    Ok(())
}

/// TPM2_PolicyNameHash: policyDigest := H(policyDigest || TPM_CC_PolicyNameHash || nameHash); the
/// command authorized must have H(Name1 || Name2 || ...) = nameHash. TPM_RC_CPHASH if the session
/// already has a cpHash or nameHash (they share one slot).
pub(crate) fn name_hash(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let hash = c.params.tpm2b(MAX_DIGEST).p(1)?;
    c.params.finish()?;
    let s = tpm.sessions.get_mut(c.handles[0]).ok_or(ResponseCode::HANDLE.handle(1))?;
    if hash.len() != s.alg.size() {
        return Err(ResponseCode::SIZE.param(1));
    }
    if s.cp_hash.is_some() || s.name_hash.is_some() || s.template_hash.is_some() {
        return Err(ResponseCode::CPHASH);
    }
    s.policy = s.alg.digest(&[s.policy.as_slice(), &CommandCode::POLICY_NAME_HASH.to_be_bytes(), hash]);
    s.name_hash = Some(Digest::from_slice(hash));
    Ok(())
}

/// TPM2_PolicyDuplicationSelect: policyDigest := H(policyDigest || TPM_CC_PolicyDuplicationSelect
/// || [objectName] || newParentName || includeObject), nameHash := H(objectName || newParentName),
/// and the session is for TPM2_Duplicate only.
pub(crate) fn duplication_select(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let object = c.params.tpm2b(MAX_NAME).p(1)?;
    let parent = c.params.tpm2b(MAX_NAME).p(2)?;
    let include = c.params.yes_no().p(3)?;
    c.params.finish()?;
    let s = tpm.sessions.get_mut(c.handles[0]).ok_or(ResponseCode::HANDLE.handle(1))?;
    if s.cp_hash.is_some() || s.name_hash.is_some() || s.template_hash.is_some() {
        return Err(ResponseCode::CPHASH);
    }
    if s.command_code != CommandCode(0) && s.command_code != CommandCode::DUPLICATE {
        return Err(ResponseCode::COMMAND_CODE);
    }
    let cc = CommandCode::POLICY_DUPLICATION_SELECT.to_be_bytes();
    let flag = [u8::from(include)];
    let object_part: &[u8] = if include { object } else { &[] };
    s.policy = s.alg.digest(&[s.policy.as_slice(), &cc, object_part, parent, &flag]);
    s.name_hash = Some(s.alg.digest(&[object, parent]));
    s.command_code = CommandCode::DUPLICATE;
    Ok(())
}

/// TPM2_PolicyTemplate (Part 3 §23.21): policyDigest := H(policyDigest || TPM_CC_PolicyTemplate ||
/// templateHash); the session then authorizes only a Create, CreatePrimary or CreateLoaded whose
/// TPMT_PUBLIC template hashes to templateHash. Repeating the same hash is allowed; a different one,
/// or one after PolicyCpHash / PolicyNameHash (the same slot in ms-tpm-20-ref), is TPM_RC_VALUE.
pub(crate) fn template(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let hash = c.params.tpm2b(MAX_DIGEST).p(1)?;
    c.params.finish()?;
    let s = session_at(tpm, c.handles[0], 1)?;
    match s.template_hash {
        Some(old) if !ct_eq(old.as_slice(), hash) => return Err(ResponseCode::VALUE.param(1)),
        None if s.cp_hash.is_some() || s.name_hash.is_some() => return Err(ResponseCode::VALUE.param(1)),
        _ => {}
    }
    if hash.len() != s.alg.size() {
        return Err(ResponseCode::SIZE.param(1));
    }
    s.policy = s.alg.digest(&[s.policy.as_slice(), &CommandCode::POLICY_TEMPLATE.to_be_bytes(), hash]);
    s.template_hash = Some(Digest::from_slice(hash));
    Ok(())
}
