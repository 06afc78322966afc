//! TPMT_TK_AUTH tickets and TPM2_PolicyTicket (Part 3 §23.5): a PolicySigned or PolicySecret with a
//! negative expiration returns its authorization as a ticket that later sessions replay until the
//! timeout. The timeout buffer and the ticket are opaque to callers (the format of TPM2B_TIMEOUT
//! is TPM-specific); here the timeout is the 8-byte big-endian Time in ms and the ticket is
//! HMAC-SHA256(proof(hierarchy), tag || timeout || resetCount || restartCount || cpHashA ||
//! policyRef || authName), so a ticket dies at the next TPM Reset or Restart, when Time restarts.

use crate::Tpm;
use crate::consts::{MAX_DIGEST, handle};
use crate::crypto::{Digest, HashAlg, ct_eq};
use crate::dispatch::Cmd;
use crate::marshal::Writer;
use crate::nv::attr as nv_attr;
use crate::object::rcx;
use crate::policy_ext::{EXPIRED, narrow_timeout, set_cp_hash, time_now};
use crate::rc::{At, Rc, TpmResult};

/// TPM_ST_AUTH_SECRET and TPM_ST_AUTH_SIGNED (Part 2 Table 19).
pub const ST_AUTH_SECRET: u16 = 0x8023;
pub const ST_AUTH_SIGNED: u16 = 0x8025;
/// TPM_CC_PolicyTicket, TPM_CC_PolicySigned, TPM_CC_PolicySecret.
pub const CC_POLICY_TICKET: u32 = 0x172;
const CC_POLICY_SIGNED: u32 = 0x160;
const CC_POLICY_SECRET: u32 = 0x151;
/// Largest TPM2B_NAME: a nameAlg and a SHA-384 digest.
const MAX_NAME: usize = 2 + MAX_DIGEST;

/// The hierarchy an entity belongs to (ms-tpm-20-ref EntityGetHierarchy), whose proof keys its
/// tickets.
pub(crate) fn entity_hierarchy(tpm: &Tpm, h: u32) -> u32 {
    match handle::ht(h) {
        handle::HT_PERMANENT
            if matches!(h, handle::RH_PLATFORM | handle::RH_ENDORSEMENT | handle::RH_NULL) =>
        {
            h
        }
        handle::HT_NV_INDEX if tpm.nv.get(h).is_some_and(|i| i.has(nv_attr::PLATFORMCREATE)) => {
            handle::RH_PLATFORM
        }
        handle::HT_TRANSIENT | handle::HT_PERSISTENT => {
            tpm.keys.get(h).map_or(handle::RH_NULL, |k| k.hierarchy)
        }
        _ => handle::RH_OWNER,
    }
}

fn ticket_hmac(
    tpm: &Tpm,
    tag: u16,
    hierarchy: u32,
    timeout: u64,
    parts: (&[u8], &[u8], &[u8]),
) -> TpmResult<Digest> {
    let proof = crate::object_cmds::ticket_proof(tpm, hierarchy)?;
    let (cp, policy_ref, name) = parts;
    let epoch = [tpm.time.reset_count.to_be_bytes(), tpm.time.restart_count.to_be_bytes()];
    HashAlg::Sha256.hmac(
        &proof,
        &[&tag.to_be_bytes(), &timeout.to_be_bytes(), &epoch[0], &epoch[1], cp, policy_ref, name],
    )
}

/// The response of PolicySigned/PolicySecret: TPM2B_TIMEOUT and TPMT_TK_AUTH with `tag`. `issue`
/// (hierarchy, timeout) for a negative expiration in a real session; otherwise (or with no timeout)
/// the empty timeout and the NULL ticket.
pub(crate) fn write_ticket(
    tpm: &Tpm,
    out: &mut Writer,
    tag: u16,
    issue: Option<(u32, u64)>,
    parts: (&[u8], &[u8], &[u8]),
) -> TpmResult<()> {
    if let Some((hierarchy, timeout)) = issue.filter(|&(_, t)| t != 0) {
        let digest = ticket_hmac(tpm, tag, hierarchy, timeout, parts)?;
        out.tpm2b(&timeout.to_be_bytes());
        out.u16(tag);
        out.u32(hierarchy);
        out.tpm2b(digest.as_slice());
    } else {
        out.u16(0);
        out.u16(tag);
        out.u32(handle::RH_NULL);
        out.u16(0);
    }
    Ok(())
}

/// TPM2_PolicyTicket: replays a ticket's PolicySigned/PolicySecret into the session.
pub(crate) fn policy_ticket(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let timeout = c.params.tpm2b(8).p(1)?;
    let cp = c.params.tpm2b(MAX_DIGEST).p(2)?;
    let policy_ref = c.params.tpm2b(MAX_DIGEST).p(3)?;
    let name = c.params.tpm2b(MAX_NAME).p(4)?;
    let tag = c.params.u16().p(5)?;
    let hierarchy = c.params.u32().p(5)?;
    let digest = c.params.tpm2b(MAX_DIGEST).p(5)?;
    c.params.finish()?;
    let timeout = match timeout {
        [a, b, c0, d, e, f, g, h] => u64::from_be_bytes([*a, *b, *c0, *d, *e, *f, *g, *h]),
        _ => return Err(Rc::SIZE.param(1)),
    };
    let code = match tag {
        ST_AUTH_SIGNED => CC_POLICY_SIGNED,
        ST_AUTH_SECRET => CC_POLICY_SECRET,
        _ => return Err(Rc::TAG.param(5)),
    };
    if !matches!(hierarchy, handle::RH_OWNER | handle::RH_ENDORSEMENT | handle::RH_PLATFORM | handle::RH_NULL)
    {
        return Err(Rc::VALUE.param(5));
    }
    let now = time_now(tpm);
    let expected = ticket_hmac(tpm, tag, hierarchy, timeout, (cp, policy_ref, name))?;
    let s = tpm.sessions.get_mut(c.handles[0]).ok_or(Rc::HANDLE.handle(1))?;
    // PolicyParameterChecks without a nonce: the timeout, then the cpHash.
    if timeout != 0 && (timeout < now.0 || s.epoch != now.1) {
        return Err(EXPIRED.param(1));
    }
    if !ct_eq(expected.as_slice(), digest) {
        return Err(rcx::TICKET.param(5));
    }
    if !cp.is_empty() {
        set_cp_hash(s, cp, 2)?;
    }
    s.policy = s.alg.digest(&[s.policy.as_slice(), &code.to_be_bytes(), name]);
    s.policy = s.alg.digest(&[s.policy.as_slice(), policy_ref]);
    narrow_timeout(s, timeout);
    Ok(())
}
