//! TPM2_PolicyNameHash (the handles a command must name), TPM2_PolicyDuplicationSelect (a nameHash
//! for TPM2_Duplicate) and TPM2_PolicyCounterTimer (a comparison with TPMS_TIME_INFO), Part 3
//! §23.12, §23.15 and §23.10, as ms-tpm-20-ref has them. TPM2_Duplicate itself is not implemented,
//! so a DuplicationSelect policy is only of use for computing digests in trial sessions.

use alloc::vec::Vec;

use crate::Tpm;
use crate::consts::MAX_DIGEST;
use crate::crypto::Digest;
use crate::dispatch::Cmd;
use crate::rc::{At, Rc, TpmResult};
use crate::session::SessionKind;

/// Command codes (Part 2 Table 12).
pub mod code {
    pub const POLICY_COUNTER_TIMER: u32 = 0x16D;
    pub const POLICY_NAME_HASH: u32 = 0x170;
    pub const POLICY_DUPLICATION_SELECT: u32 = 0x188;
    pub const DUPLICATE: u32 = 0x14B;
}

/// Largest TPM2B_NAME: a nameAlg and a SHA-384 digest.
const MAX_NAME: usize = 2 + MAX_DIGEST;

/// TPM2_PolicyNameHash: policyDigest := H(policyDigest || TPM_CC_PolicyNameHash || nameHash); the
/// command authorized must have H(Name1 || Name2 || ...) = nameHash. TPM_RC_CPHASH if the session
/// already has a cpHash or nameHash (they share one slot).
pub(crate) fn name_hash(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let hash = c.params.tpm2b(MAX_DIGEST).p(1)?;
    c.params.finish()?;
    let s = tpm.sessions.get_mut(c.handles[0]).ok_or(Rc::HANDLE.handle(1))?;
    if hash.len() != s.alg.size() {
        return Err(Rc::SIZE.param(1));
    }
    if s.cp_hash.is_some() || s.name_hash.is_some() {
        return Err(Rc::CPHASH);
    }
    s.policy = s.alg.digest(&[s.policy.as_slice(), &code::POLICY_NAME_HASH.to_be_bytes(), hash]);
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
    let s = tpm.sessions.get_mut(c.handles[0]).ok_or(Rc::HANDLE.handle(1))?;
    if s.cp_hash.is_some() || s.name_hash.is_some() {
        return Err(Rc::CPHASH);
    }
    if s.command_code != 0 && s.command_code != code::DUPLICATE {
        return Err(Rc::COMMAND_CODE);
    }
    let cc = code::POLICY_DUPLICATION_SELECT.to_be_bytes();
    let flag = [u8::from(include)];
    let object_part: &[u8] = if include { object } else { &[] };
    s.policy = s.alg.digest(&[s.policy.as_slice(), &cc, object_part, parent, &flag]);
    s.name_hash = Some(s.alg.digest(&[object, parent]));
    s.command_code = code::DUPLICATE;
    Ok(())
}

/// TPMS_TIME_INFO as TPM2_ReadClock returns it: time, clock, resetCount, restartCount, safe.
fn time_info(tpm: &mut Tpm) -> Vec<u8> {
    let now = tpm.now_ms();
    let t = &tpm.time;
    let mut v = Vec::with_capacity(25);
    v.extend_from_slice(&t.time(now).to_be_bytes());
    v.extend_from_slice(&t.clock(now).to_be_bytes());
    v.extend_from_slice(&t.reset_count.to_be_bytes());
    v.extend_from_slice(&t.restart_count.to_be_bytes());
    v.push(1);
    v
}

/// TPM2_PolicyCounterTimer: the TPMS_TIME_INFO bytes at `offset` compared with operandB;
/// policyDigest := H(policyDigest || TPM_CC_PolicyCounterTimer || H(operandB || offset || operation)).
/// The bounds are checked in trial sessions too; the comparison only in real ones.
pub(crate) fn counter_timer(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let operand = c.params.tpm2b(MAX_DIGEST).p(1)?;
    let offset = c.params.u16().p(2)?;
    let operation = c.params.u16().p(3)?;
    c.params.finish()?;
    if operation > crate::policy_nv::MAX_EO {
        return Err(Rc::VALUE.param(3));
    }
    let info = time_info(tpm);
    let start = usize::from(offset);
    if start > info.len() {
        return Err(Rc::VALUE.param(2));
    }
    let a = info.get(start..start + operand.len()).ok_or(Rc::RANGE)?;
    let s = tpm.sessions.get_mut(c.handles[0]).ok_or(Rc::HANDLE.handle(1))?;
    if s.kind != SessionKind::Trial && !crate::policy_nv::holds(operation, a, operand) {
        return Err(Rc::POLICY);
    }
    let args = s.alg.digest(&[operand, &offset.to_be_bytes(), &operation.to_be_bytes()]);
    let code = code::POLICY_COUNTER_TIMER.to_be_bytes();
    s.policy = s.alg.digest(&[s.policy.as_slice(), &code, args.as_slice()]);
    Ok(())
}
