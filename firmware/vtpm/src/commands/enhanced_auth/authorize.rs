//! TPM2_PolicyAuthorize and TPM2_PolicyAuthorizeNV (Part 3 §23.16, §23.22).

use super::{MAX_NAME, context_update, session_at};
use crate::Tpm;
use crate::crypto::{Digest, HashAlg, ct_eq};
use crate::engine::command::Cmd;
use crate::state::session::SessionKind;
use crate::wire::alg_id::AlgId;
use crate::wire::command_code::CommandCode;
use crate::wire::constants::MAX_DIGEST;
use crate::wire::handle::Handle;
use crate::wire::response_code::{At, ResponseCode, TpmResult};

/// TPM_ST_VERIFIED (Part 2 Table 19).
const ST_VERIFIED: u16 = 0x8022;

/// TPM2_PolicyAuthorize (Part 3 §23.16): approvedPolicy, signed by keySign (the ticket proves a
/// TPM2_VerifySignature of H(approvedPolicy || policyRef)), replaces the current policy.
pub(crate) fn authorize(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let approved = c.params.tpm2b(MAX_DIGEST).p(1)?;
    let policy_ref = c.params.tpm2b(MAX_DIGEST).p(2)?;
    let key_sign = c.params.tpm2b(MAX_NAME).p(3)?;
    if c.params.u16().p(4)? != ST_VERIFIED {
        return Err(ResponseCode::TAG.param(4));
    }
    let hierarchy = c.params.handle().p(4)?;
    let ticket = c.params.tpm2b(MAX_DIGEST).p(4)?;
    c.params.finish()?;
    let key_alg = match key_sign {
        [a, b, rest @ ..] => {
            let alg =
                HashAlg::from_id(AlgId(u16::from_be_bytes([*a, *b]))).ok_or(ResponseCode::HASH.param(3))?;
            if rest.len() != alg.size() {
                return Err(ResponseCode::SIZE.param(3));
            }
            alg
        }
        _ => return Err(ResponseCode::SIZE.param(3)),
    };
    if !matches!(hierarchy, Handle::RH_OWNER | Handle::RH_ENDORSEMENT | Handle::RH_PLATFORM | Handle::RH_NULL)
    {
        return Err(ResponseCode::VALUE.param(4));
    }
    let sh = c.handles[0];
    let s = tpm.sessions.get(sh).ok_or(ResponseCode::HANDLE.handle(1))?;
    if s.kind != SessionKind::Trial {
        if !ct_eq(s.policy.as_slice(), approved) {
            return Err(ResponseCode::VALUE.param(1));
        }
        // A NULL-hierarchy ticket has no digest and never verifies (ms-tpm-20-ref recomputes
        // an HMAC with the null proof and compares it with the empty digest).
        if hierarchy == Handle::RH_NULL {
            return Err(ResponseCode::VALUE.param(4));
        }
        let a_hash = key_alg.digest(&[approved, policy_ref]);
        let proof = crate::state::tickets::ticket_proof(tpm, hierarchy)?;
        let expect =
            HashAlg::Sha256.hmac(&proof, &[&ST_VERIFIED.to_be_bytes(), a_hash.as_slice(), key_sign])?;
        if !ct_eq(expect.as_slice(), ticket) {
            return Err(ResponseCode::VALUE.param(4));
        }
    }
    let s = session_at(tpm, sh, 1)?;
    s.policy = Digest::zeros(s.alg.size());
    context_update(s, CommandCode::POLICY_AUTHORIZE, key_sign, Some(policy_ref));
    Ok(())
}

/// TPM2_PolicyAuthorizeNV (Part 3 §23.22): the index holds a TPMT_HA the current policy must equal;
/// the policy becomes H(0...0 || TPM_CC_PolicyAuthorizeNV || nvIndex Name).
pub(crate) fn authorize_nv(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    let [auth, h, sh] = c.handles;
    let s = tpm.sessions.get(sh).ok_or(ResponseCode::HANDLE.handle(3))?;
    let index = tpm.nv.get(h).ok_or(ResponseCode::HANDLE.handle(2))?;
    if s.kind != SessionKind::Trial {
        crate::state::nv::read_access(index, auth, c.by_policy[0])?;
        let mut r = crate::wire::marshal::Reader::new(&index.data);
        let alg = r.alg().map_err(|_| ResponseCode::INSUFFICIENT)?;
        let alg = HashAlg::from_id(alg).ok_or(ResponseCode::HASH)?;
        if alg != s.alg {
            return Err(ResponseCode::HASH);
        }
        let digest = r.bytes(alg.size()).map_err(|_| ResponseCode::INSUFFICIENT)?;
        if !ct_eq(digest, s.policy.as_slice()) {
            return Err(ResponseCode::VALUE);
        }
    }
    let name = index.name();
    let s = session_at(tpm, sh, 3)?;
    s.policy = Digest::zeros(s.alg.size());
    context_update(s, CommandCode::POLICY_AUTHORIZE_NV, &name, None);
    Ok(())
}
