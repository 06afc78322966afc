//! TPM2_PolicySecret (Part 3 §23.4): the policy is satisfied by an authorization of another entity
//! (a hierarchy, an NV index, a key), which the dispatcher has already checked for handle 1. This is
//! what the TCG EK policies (PolicyA: PolicySecret(TPM_RH_ENDORSEMENT)) and `tpm2_createak` need.
//!
//! A cpHashA restricts the session to that one command (`policy_ext::set_cp_hash`), an expiration
//! limits it in time (`policy_ext::auth_timeout`), and a negative one returns a TPMT_TK_AUTH ticket
//! (`policy_ticket`).

use crate::Tpm;
use crate::consts::MAX_DIGEST;
use crate::crypto::ct_eq;
use crate::dispatch::Cmd;
use crate::rc::{At, Rc, TpmResult};

/// TPM_CC_PolicySecret.
const CC_POLICY_SECRET: u32 = 0x151;

pub(crate) fn policy_secret(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let nonce = c.params.tpm2b(MAX_DIGEST).p(1)?;
    let cp_hash = c.params.tpm2b(MAX_DIGEST).p(2)?;
    let policy_ref = c.params.tpm2b(MAX_DIGEST).p(3)?;
    let expiration = c.params.u32().p(4)?;
    c.params.finish()?;
    let [auth, policy, _] = c.handles;
    let name = tpm.entity_name(auth);
    let now = crate::policy_ext::time_now(tpm);
    let s = tpm.sessions.get_mut(policy).ok_or(Rc::HANDLE.handle(2))?;
    if !nonce.is_empty() && !ct_eq(nonce, s.nonce_tpm.as_slice()) {
        return Err(Rc::NONCE.param(1));
    }
    let trial = s.kind == crate::session::SessionKind::Trial;
    let timeout = if trial {
        0
    } else {
        crate::policy_ext::auth_timeout(s, expiration as i32, !nonce.is_empty(), now, 4)?
    };
    if !cp_hash.is_empty() {
        crate::policy_ext::set_cp_hash(s, cp_hash, 2)?;
    }
    // policyDigest := H(H(policyDigest || TPM_CC_PolicySecret || authName) || policyRef).
    let first = s.alg.digest(&[s.policy.as_slice(), &CC_POLICY_SECRET.to_be_bytes(), &name]);
    s.policy = s.alg.digest(&[first.as_slice(), policy_ref]);
    crate::policy_ext::narrow_timeout(s, timeout);
    let hierarchy = crate::policy_ticket::entity_hierarchy(tpm, auth);
    let issue = (!trial && (expiration as i32) < 0).then_some((hierarchy, timeout));
    let tag = crate::policy_ticket::ST_AUTH_SECRET;
    crate::policy_ticket::write_ticket(tpm, &mut c.out, tag, issue, (cp_hash, policy_ref, &name))
}
