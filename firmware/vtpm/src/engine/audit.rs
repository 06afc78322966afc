//! What an audited command leaves behind once it succeeded: the audit session's digest (Part 3
//! §18.3 sessionDigest) and the command audit digest (Part 1 §33). Both extend
//! H(digest || cpHash || rpHash), with rpHash = H(responseCode || commandCode || parameters) over
//! the response parameters as sent (Part 1 §18.8).

use crate::Tpm;
use crate::crypto::Digest;
use crate::engine::authorization::Authorized;
use crate::wire::command_code::CommandCode;
use crate::wire::constants::session_attr as sa;

/// Extends the audit session's digest and the command audit digest for a command that succeeded
/// with response parameters `rp`, and reports in the audit session's response attributes whether it
/// is still the exclusive audit session (ms-tpm-20-ref UpdateAuditSessionStatus, CommandAudit).
pub(crate) fn record(tpm: &mut Tpm, code: CommandCode, rp: &[u8], a: &mut Authorized) {
    let rp_parts = |alg: crate::crypto::HashAlg| alg.digest(&[&0u32.to_be_bytes(), &code.to_be_bytes(), rp]);
    let mut audited_in = None;
    if let (Some(j), Some(cp)) = (a.audit, a.audit_cp.as_ref())
        && let Some(Some(used)) = a.used.get_mut(j)
        && let Some(sess) = tpm.sessions.get_mut(used.handle)
    {
        // A session's first audited command, or auditReset, starts its digest from zeros and makes
        // it the exclusive audit session.
        let reset = used.attrs & sa::AUDIT_RESET != 0;
        let (old, starts) = match sess.audit_digest.take() {
            Some(d) if !reset => (d, false),
            _ => (Digest::zeros(sess.alg.size()), true),
        };
        let rp_hash = rp_parts(sess.alg);
        sess.audit_digest = Some(sess.alg.digest(&[old.as_slice(), cp.as_slice(), rp_hash.as_slice()]));
        audited_in = Some((used.handle, starts));
    }
    match audited_in {
        Some((h, true)) => tpm.sessions.exclusive_audit = Some(h),
        Some((h, false)) if tpm.sessions.exclusive_audit == Some(h) => {}
        // A command not audited in the exclusive session ends its exclusivity.
        _ => tpm.sessions.exclusive_audit = None,
    }
    if let Some((h, _)) = audited_in
        && let Some(Some(used)) = a.audit.and_then(|j| a.used.get_mut(j))
    {
        used.attrs &= !(sa::AUDIT_RESET | sa::AUDIT_EXCLUSIVE);
        if tpm.sessions.exclusive_audit == Some(h) {
            used.attrs |= sa::AUDIT_EXCLUSIVE;
        }
    }
    if let Some(cp) = a.command_cp.as_ref() {
        let rp_hash = rp_parts(tpm.audit.alg);
        tpm.audit.extend(cp.as_slice(), rp_hash.as_slice());
    }
}
