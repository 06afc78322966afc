//! TPM2_PolicySigned, TPM2_PolicySecret and TPM2_PolicyTicket (Part 3 §23.3-§23.5): authorizations
//! by another key or entity, with expirations and TPMT_TK_AUTH tickets.

use super::{MAX_NAME, ST_AUTH_SECRET, ST_AUTH_SIGNED, auth_timeout, context_update, session_at};
use super::{narrow_timeout, set_cp_hash, ticket_hmac, time_now};
use crate::Tpm;
use crate::crypto::{HashAlg, ct_eq};
use crate::engine::command::Cmd;
use crate::object::attr;
use crate::state::session::SessionKind;
use crate::wire::alg_id::AlgId;
use crate::wire::command_code::CommandCode;
use crate::wire::constants::MAX_DIGEST;
use crate::wire::handle::Handle;
use crate::wire::response_code::{At, ResponseCode, TpmResult};

/// TPM2_PolicySigned (Part 3 §23.3): a signature by authObject over
/// aHash = H_sig(nonceTPM || expiration || cpHashA || policyRef).
pub(crate) fn signed(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let nonce = c.params.tpm2b(MAX_DIGEST).p(1)?;
    let cp = c.params.tpm2b(MAX_DIGEST).p(2)?;
    let policy_ref = c.params.tpm2b(MAX_DIGEST).p(3)?;
    let expiration = c.params.u32().p(4)?;
    let mut sig = c.params.clone();
    let [key_h, sh, _] = c.handles;
    let now = time_now(tpm);
    let s = tpm.sessions.get(sh).ok_or(ResponseCode::HANDLE.handle(2))?;
    let trial = s.kind == SessionKind::Trial;
    let k = tpm.key(key_h).ok_or(ResponseCode::HANDLE.handle(1))?;
    let mut timeout = 0;
    if !trial {
        if !nonce.is_empty() && !ct_eq(nonce, s.nonce_tpm.as_slice()) {
            return Err(ResponseCode::NONCE.param(1));
        }
        timeout = auth_timeout(s, expiration as i32, !nonce.is_empty(), now, 4)?;
        if !k.public.has(attr::SIGN) {
            return Err(ResponseCode::ATTRIBUTES.handle(1));
        }
        // The signature's own hash algorithm digests the signed data.
        let mut peek = sig.clone();
        peek.u16().p(5)?;
        let alg = HashAlg::from_id(peek.alg().p(5)?).ok_or(ResponseCode::HASH.param(5))?;
        let a_hash = alg.digest(&[nonce, &expiration.to_be_bytes(), cp, policy_ref]);
        let good =
            crate::object::key_material::verify(&k.public, &k.sens, &mut sig, a_hash.as_slice()).p(5)?;
        sig.finish()?;
        if !good {
            return Err(ResponseCode::SIGNATURE.param(5));
        }
    } else {
        // A trial session still takes a well-formed TPMT_SIGNATURE.
        skip_signature(&mut sig).p(5)?;
        sig.finish()?;
    }
    let name = k.name.clone();
    let issue = (!trial && (expiration as i32) < 0).then_some((k.hierarchy, timeout));
    let s = session_at(tpm, sh, 2)?;
    if !cp.is_empty() {
        set_cp_hash(s, cp, 2)?;
    }
    context_update(s, CommandCode::POLICY_SIGNED, &name, Some(policy_ref));
    narrow_timeout(s, timeout);
    let ticket = super::ST_AUTH_SIGNED;
    super::write_ticket(tpm, &mut c.out, ticket, issue, (cp, policy_ref, &name))
}

/// Reads past a TPMT_SIGNATURE (Part 2 Table 217) without checking it.
fn skip_signature(r: &mut crate::wire::marshal::Reader<'_>) -> TpmResult<()> {
    match r.alg()? {
        AlgId::NULL => Ok(()),
        AlgId::HMAC => {
            let alg = HashAlg::from_id(r.alg()?).ok_or(ResponseCode::HASH)?;
            r.bytes(alg.size()).map(|_| ())
        }
        // RSASSA, RSAPSS: hash, TPM2B signature.
        AlgId::RSASSA | AlgId::RSAPSS => {
            HashAlg::from_id(r.alg()?).ok_or(ResponseCode::HASH)?;
            r.tpm2b(crate::object::MAX_RSA_BYTES).map(|_| ())
        }
        // ECDSA, ECDAA, SM2, ECSCHNORR: hash, r, s.
        AlgId::ECDSA | AlgId::ECDAA | AlgId::SM2 | AlgId::ECSCHNORR => {
            HashAlg::from_id(r.alg()?).ok_or(ResponseCode::HASH)?;
            r.tpm2b(crate::object::MAX_ECC_BYTES)?;
            r.tpm2b(crate::object::MAX_ECC_BYTES).map(|_| ())
        }
        _ => Err(ResponseCode::SCHEME),
    }
}

pub(crate) fn policy_secret(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let nonce = c.params.tpm2b(MAX_DIGEST).p(1)?;
    let cp_hash = c.params.tpm2b(MAX_DIGEST).p(2)?;
    let policy_ref = c.params.tpm2b(MAX_DIGEST).p(3)?;
    let expiration = c.params.u32().p(4)?;
    c.params.finish()?;
    let [auth, policy, _] = c.handles;
    let name = tpm.entity_name(auth);
    let now = super::time_now(tpm);
    let s = tpm.sessions.get_mut(policy).ok_or(ResponseCode::HANDLE.handle(2))?;
    if !nonce.is_empty() && !ct_eq(nonce, s.nonce_tpm.as_slice()) {
        return Err(ResponseCode::NONCE.param(1));
    }
    let trial = s.kind == crate::state::session::SessionKind::Trial;
    let timeout =
        if trial { 0 } else { super::auth_timeout(s, expiration as i32, !nonce.is_empty(), now, 4)? };
    if !cp_hash.is_empty() {
        super::set_cp_hash(s, cp_hash, 2)?;
    }
    // policyDigest := H(H(policyDigest || TPM_CC_PolicySecret || authName) || policyRef).
    let first = s.alg.digest(&[s.policy.as_slice(), &CommandCode::POLICY_SECRET.to_be_bytes(), &name]);
    s.policy = s.alg.digest(&[first.as_slice(), policy_ref]);
    super::narrow_timeout(s, timeout);
    let hierarchy = super::entity_hierarchy(tpm, auth);
    let issue = (!trial && (expiration as i32) < 0).then_some((hierarchy, timeout));
    let tag = super::ST_AUTH_SECRET;
    super::write_ticket(tpm, &mut c.out, tag, issue, (cp_hash, policy_ref, &name))
}

/// TPM2_PolicyTicket: replays a ticket's PolicySigned/PolicySecret into the session.
pub(crate) fn policy_ticket(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let timeout = c.params.tpm2b(8).p(1)?;
    let cp = c.params.tpm2b(MAX_DIGEST).p(2)?;
    let policy_ref = c.params.tpm2b(MAX_DIGEST).p(3)?;
    let name = c.params.tpm2b(MAX_NAME).p(4)?;
    let tag = c.params.u16().p(5)?;
    let hierarchy = c.params.handle().p(5)?;
    let digest = c.params.tpm2b(MAX_DIGEST).p(5)?;
    c.params.finish()?;
    let timeout = match timeout {
        [a, b, c0, d, e, f, g, h] => u64::from_be_bytes([*a, *b, *c0, *d, *e, *f, *g, *h]),
        _ => return Err(ResponseCode::SIZE.param(1)),
    };
    let code = match tag {
        ST_AUTH_SIGNED => CommandCode::POLICY_SIGNED,
        ST_AUTH_SECRET => CommandCode::POLICY_SECRET,
        _ => return Err(ResponseCode::TAG.param(5)),
    };
    if !matches!(hierarchy, Handle::RH_OWNER | Handle::RH_ENDORSEMENT | Handle::RH_PLATFORM | Handle::RH_NULL)
    {
        return Err(ResponseCode::VALUE.param(5));
    }
    let now = time_now(tpm);
    let expected = ticket_hmac(tpm, tag, hierarchy, timeout, (cp, policy_ref, name))?;
    let s = tpm.sessions.get_mut(c.handles[0]).ok_or(ResponseCode::HANDLE.handle(1))?;
    // PolicyParameterChecks without a nonce: the timeout, then the cpHash.
    if timeout != 0 && (timeout < now.0 || s.epoch != now.1) {
        return Err(ResponseCode::EXPIRED.param(1));
    }
    if !ct_eq(expected.as_slice(), digest) {
        return Err(ResponseCode::TICKET.param(5));
    }
    if !cp.is_empty() {
        set_cp_hash(s, cp, 2)?;
    }
    s.policy = s.alg.digest(&[s.policy.as_slice(), &code.to_be_bytes(), name]);
    s.policy = s.alg.digest(&[s.policy.as_slice(), policy_ref]);
    narrow_timeout(s, timeout);
    Ok(())
}
