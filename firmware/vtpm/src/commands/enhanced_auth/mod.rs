//! Enhanced authorization (Part 3 ch. 23): the policy commands, one file per kind of assertion, and
//! what they share: finding the policy session, extending its digest, expirations and tickets.

use crate::Tpm;
use crate::crypto::{Digest, HashAlg, ct_eq};
use crate::engine::command::Cmd;
use crate::state::nv::attr as nv_attr;
use crate::state::session::Session;
use crate::wire::command_code::CommandCode;
use crate::wire::constants::MAX_DIGEST;
use crate::wire::handle::{self, Handle};
use crate::wire::marshal::Writer;
use crate::wire::response_code::{ResponseCode, TpmResult};

fn session<'t>(tpm: &'t mut Tpm, c: &Cmd<'_>) -> TpmResult<&'t mut Session> {
    tpm.sessions.get_mut(c.handles[0]).ok_or(ResponseCode::HANDLE.handle(1))
}

/// policyDigest := H(policyDigest || parts...).
fn update(s: &mut Session, parts: &[&[u8]]) {
    let old = s.policy;
    let mut all: alloc::vec::Vec<&[u8]> = alloc::vec![old.as_slice()];
    all.extend_from_slice(parts);
    s.policy = s.alg.digest(&all);
}

/// Largest TPM2B_NAME: a nameAlg and a SHA-384 digest.
const MAX_NAME: usize = 2 + MAX_DIGEST;

fn session_at(tpm: &mut Tpm, h: Handle, n: u32) -> TpmResult<&mut Session> {
    tpm.sessions.get_mut(h).ok_or(ResponseCode::HANDLE.handle(n))
}

/// policyDigest := H(policyDigest || commandCode || name), then H(policyDigest || policyRef) when a
/// policyRef is given (ms-tpm-20-ref PolicyContextUpdate).
fn context_update(s: &mut Session, code: CommandCode, name: &[u8], policy_ref: Option<&[u8]>) {
    s.policy = s.alg.digest(&[s.policy.as_slice(), &code.to_be_bytes(), name]);
    if let Some(r) = policy_ref {
        s.policy = s.alg.digest(&[s.policy.as_slice(), r]);
    }
}

/// The current Time (ms since _TPM_Init) and its epoch (resetCount, restartCount).
pub(crate) fn time_now(tpm: &mut Tpm) -> (u64, (u32, u32)) {
    let now = tpm.now_ms();
    (tpm.time.time(now), (tpm.time.reset_count, tpm.time.restart_count))
}

/// The authorization timeout of a non-zero `expiration` (ms-tpm-20-ref ComputeAuthTimeout): seconds
/// after the session start when the caller named the session's nonce, else absolute Time in seconds;
/// TPM_RC_EXPIRED on parameter `param` if that time has passed or the epoch changed (as
/// PolicyParameterChecks). 0 for no expiration.
pub(crate) fn auth_timeout(
    s: &Session,
    expiration: i32,
    has_nonce: bool,
    now: (u64, (u32, u32)),
    param: u32,
) -> TpmResult<u64> {
    if expiration == 0 {
        return Ok(0);
    }
    let ms = u64::from(expiration.unsigned_abs()) * 1000;
    let t = if has_nonce { s.start_time.saturating_add(ms) } else { ms + now.0 % 1000 };
    if t < now.0 || s.epoch != now.1 {
        return Err(ResponseCode::EXPIRED.param(param));
    }
    Ok(t)
}

/// Narrows the session's timeout to `t` (0: no change), as PolicyContextUpdate.
pub(crate) fn narrow_timeout(s: &mut Session, t: u64) {
    if t != 0 && (s.timeout == 0 || s.timeout > t) {
        s.timeout = t;
    }
}

/// Sets the session's cpHash, which may be set only once (TPM_RC_CPHASH on a different value) and
/// must be a digest of the session's algorithm (TPM_RC_SIZE).
pub(crate) fn set_cp_hash(s: &mut Session, cp: &[u8], param: u32) -> TpmResult<()> {
    // cpHash and nameHash share one slot in ms-tpm-20-ref: a session has at most one of them.
    // A templateHash (PolicyTemplate) takes the same slot too.
    if s.name_hash.is_some()
        || s.template_hash.is_some()
        || s.cp_hash.is_some_and(|old| !ct_eq(old.as_slice(), cp))
    {
        return Err(ResponseCode::CPHASH.param(param));
    }
    if cp.len() != s.alg.size() {
        return Err(ResponseCode::SIZE.param(param));
    }
    s.cp_hash = Some(Digest::from_slice(cp));
    Ok(())
}

/// TPM_ST_AUTH_SECRET and TPM_ST_AUTH_SIGNED (Part 2 Table 19).
pub const ST_AUTH_SECRET: u16 = 0x8023;

pub const ST_AUTH_SIGNED: u16 = 0x8025;

/// The hierarchy an entity belongs to (ms-tpm-20-ref EntityGetHierarchy), whose proof keys its
/// tickets.
pub(crate) fn entity_hierarchy(tpm: &Tpm, h: Handle) -> Handle {
    match h.ty() {
        handle::HT_PERMANENT
            if matches!(h, Handle::RH_PLATFORM | Handle::RH_ENDORSEMENT | Handle::RH_NULL) =>
        {
            h
        }
        handle::HT_NV_INDEX if tpm.nv.get(h).is_some_and(|i| i.has(nv_attr::PLATFORMCREATE)) => {
            Handle::RH_PLATFORM
        }
        handle::HT_TRANSIENT | handle::HT_PERSISTENT => tpm.key(h).map_or(Handle::RH_NULL, |k| k.hierarchy),
        _ => Handle::RH_OWNER,
    }
}

pub(crate) fn ticket_hmac(
    tpm: &Tpm,
    tag: u16,
    hierarchy: Handle,
    timeout: u64,
    parts: (&[u8], &[u8], &[u8]),
) -> TpmResult<Digest> {
    let proof = crate::state::tickets::ticket_proof(tpm, hierarchy)?;
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
    issue: Option<(Handle, u64)>,
    parts: (&[u8], &[u8], &[u8]),
) -> TpmResult<()> {
    if let Some((hierarchy, timeout)) = issue.filter(|&(_, t)| t != 0) {
        let digest = ticket_hmac(tpm, tag, hierarchy, timeout, parts)?;
        out.tpm2b(&timeout.to_be_bytes());
        out.u16(tag);
        out.handle(hierarchy);
        out.tpm2b(digest.as_slice());
    } else {
        out.u16(0);
        out.u16(tag);
        out.handle(Handle::RH_NULL);
        out.u16(0);
    }
    Ok(())
}

pub mod assertions;
pub mod authorize;
pub mod comparisons;
pub mod names;
pub mod signed_secret;
