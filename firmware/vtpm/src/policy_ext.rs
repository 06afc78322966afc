//! Policy commands that bind a policy to outside facts (Part 3 §23): PolicyCpHash (one exact
//! command), PolicyNV (a comparison with NV contents), PolicyAuthorize (a policy approved by a
//! signing key, through a TPM2_VerifySignature ticket), PolicyAuthorizeNV (a policy held in an NV
//! index) and PolicySigned (a fresh signature over the session nonce). In a trial session the
//! checks are skipped and only the digest is extended, as ms-tpm-20-ref does.
//!
//! PolicySigned (and PolicySecret) expirations limit the session in time (TPM_RC_EXPIRED); a
//! negative one also returns a ticket for TPM2_PolicyTicket (`policy_ticket`).

use crate::Tpm;
use crate::consts::{MAX_DIGEST, handle};
use crate::crypto::{Digest, HashAlg, ct_eq};
use crate::dispatch::Cmd;
use crate::object::{attr, rcx};
use crate::rc::{At, Rc, TpmResult};
use crate::session::{Session, SessionKind};

/// Command codes (Part 2 Table 12) of the commands here.
pub mod code {
    pub const POLICY_NV: u32 = 0x149;
    pub const POLICY_SIGNED: u32 = 0x160;
    pub const POLICY_AUTHORIZE: u32 = 0x16A;
    pub const POLICY_CP_HASH: u32 = 0x16E;
    pub const POLICY_AUTHORIZE_NV: u32 = 0x192;
}

/// TPM_ST_VERIFIED (Part 2 Table 19).
const ST_VERIFIED: u16 = 0x8022;
/// TPM_RC_EXPIRED (Part 2 Table 16, format one).
pub const EXPIRED: Rc = Rc(0x0A3);

/// Largest TPM2B_NAME: a nameAlg and a SHA-384 digest.
const MAX_NAME: usize = 2 + MAX_DIGEST;

fn session_at(tpm: &mut Tpm, h: u32, n: u32) -> TpmResult<&mut Session> {
    tpm.sessions.get_mut(h).ok_or(Rc::HANDLE.handle(n))
}

/// policyDigest := H(policyDigest || commandCode || name), then H(policyDigest || policyRef) when a
/// policyRef is given (ms-tpm-20-ref PolicyContextUpdate).
fn context_update(s: &mut Session, code: u32, name: &[u8], policy_ref: Option<&[u8]>) {
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
        return Err(EXPIRED.param(param));
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
    if s.name_hash.is_some() || s.cp_hash.is_some_and(|old| !ct_eq(old.as_slice(), cp)) {
        return Err(Rc::CPHASH.param(param));
    }
    if cp.len() != s.alg.size() {
        return Err(Rc::SIZE.param(param));
    }
    s.cp_hash = Some(Digest::from_slice(cp));
    Ok(())
}

/// TPM2_PolicyCpHash (Part 3 §23.13).
pub(crate) fn cp_hash(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let cp = c.params.tpm2b(MAX_DIGEST).p(1)?;
    c.params.finish()?;
    let s = session_at(tpm, c.handles[0], 1)?;
    set_cp_hash(s, cp, 1)?;
    s.policy = s.alg.digest(&[s.policy.as_slice(), &code::POLICY_CP_HASH.to_be_bytes(), cp]);
    Ok(())
}

/// TPM2_PolicyNV (Part 3 §23.9): the index data at `offset` compared with operandB.
pub(crate) fn nv(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let operand = c.params.tpm2b(MAX_DIGEST).p(1)?;
    let offset = c.params.u16().p(2)?;
    let operation = c.params.u16().p(3)?;
    c.params.finish()?;
    if operation > crate::policy_nv::MAX_EO {
        return Err(Rc::VALUE.param(3));
    }
    let [auth, h, sh] = c.handles;
    let trial = tpm.sessions.get(sh).ok_or(Rc::HANDLE.handle(3))?.kind == SessionKind::Trial;
    let index = tpm.nv.get(h).ok_or(Rc::HANDLE.handle(2))?;
    if !trial {
        crate::nv_cmds::read_access(index, auth, c.by_policy[0])?;
        let start = usize::from(offset);
        if start > index.data.len() {
            return Err(Rc::VALUE.param(2));
        }
        let a = index.data.get(start..start + operand.len()).ok_or(Rc::SIZE.param(1))?;
        if !crate::policy_nv::holds(operation, a, operand) {
            return Err(Rc::POLICY);
        }
    }
    let name = index.name();
    let s = session_at(tpm, sh, 3)?;
    let args = s.alg.digest(&[operand, &offset.to_be_bytes(), &operation.to_be_bytes()]);
    let parts: [&[u8]; 4] = [s.policy.as_slice(), &code::POLICY_NV.to_be_bytes(), args.as_slice(), &name];
    s.policy = s.alg.digest(&parts);
    Ok(())
}

/// TPM2_PolicyAuthorize (Part 3 §23.16): approvedPolicy, signed by keySign (the ticket proves a
/// TPM2_VerifySignature of H(approvedPolicy || policyRef)), replaces the current policy.
pub(crate) fn authorize(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let approved = c.params.tpm2b(MAX_DIGEST).p(1)?;
    let policy_ref = c.params.tpm2b(MAX_DIGEST).p(2)?;
    let key_sign = c.params.tpm2b(MAX_NAME).p(3)?;
    if c.params.u16().p(4)? != ST_VERIFIED {
        return Err(Rc::TAG.param(4));
    }
    let hierarchy = c.params.u32().p(4)?;
    let ticket = c.params.tpm2b(MAX_DIGEST).p(4)?;
    c.params.finish()?;
    let key_alg = match key_sign {
        [a, b, rest @ ..] => {
            let alg = HashAlg::from_id(u16::from_be_bytes([*a, *b])).ok_or(Rc::HASH.param(3))?;
            if rest.len() != alg.size() {
                return Err(Rc::SIZE.param(3));
            }
            alg
        }
        _ => return Err(Rc::SIZE.param(3)),
    };
    if !matches!(hierarchy, handle::RH_OWNER | handle::RH_ENDORSEMENT | handle::RH_PLATFORM | handle::RH_NULL)
    {
        return Err(Rc::VALUE.param(4));
    }
    let sh = c.handles[0];
    let s = tpm.sessions.get(sh).ok_or(Rc::HANDLE.handle(1))?;
    if s.kind != SessionKind::Trial {
        if !ct_eq(s.policy.as_slice(), approved) {
            return Err(Rc::VALUE.param(1));
        }
        // A NULL-hierarchy ticket has no digest and never verifies (ms-tpm-20-ref recomputes
        // an HMAC with the null proof and compares it with the empty digest).
        if hierarchy == handle::RH_NULL {
            return Err(Rc::VALUE.param(4));
        }
        let a_hash = key_alg.digest(&[approved, policy_ref]);
        let proof = crate::object_cmds::ticket_proof(tpm, hierarchy)?;
        let expect =
            HashAlg::Sha256.hmac(&proof, &[&ST_VERIFIED.to_be_bytes(), a_hash.as_slice(), key_sign])?;
        if !ct_eq(expect.as_slice(), ticket) {
            return Err(Rc::VALUE.param(4));
        }
    }
    let s = session_at(tpm, sh, 1)?;
    s.policy = Digest::zeros(s.alg.size());
    context_update(s, code::POLICY_AUTHORIZE, key_sign, Some(policy_ref));
    Ok(())
}

/// TPM2_PolicyAuthorizeNV (Part 3 §23.22): the index holds a TPMT_HA the current policy must equal;
/// the policy becomes H(0...0 || TPM_CC_PolicyAuthorizeNV || nvIndex Name).
pub(crate) fn authorize_nv(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    let [auth, h, sh] = c.handles;
    let s = tpm.sessions.get(sh).ok_or(Rc::HANDLE.handle(3))?;
    let index = tpm.nv.get(h).ok_or(Rc::HANDLE.handle(2))?;
    if s.kind != SessionKind::Trial {
        crate::nv_cmds::read_access(index, auth, c.by_policy[0])?;
        let mut r = crate::marshal::Reader::new(&index.data);
        let alg = r.u16().map_err(|_| Rc::INSUFFICIENT)?;
        let alg = HashAlg::from_id(alg).ok_or(Rc::HASH)?;
        if alg != s.alg {
            return Err(Rc::HASH);
        }
        let digest = r.bytes(alg.size()).map_err(|_| Rc::INSUFFICIENT)?;
        if !ct_eq(digest, s.policy.as_slice()) {
            return Err(Rc::VALUE);
        }
    }
    let name = index.name();
    let s = session_at(tpm, sh, 3)?;
    s.policy = Digest::zeros(s.alg.size());
    context_update(s, code::POLICY_AUTHORIZE_NV, &name, None);
    Ok(())
}

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
    let s = tpm.sessions.get(sh).ok_or(Rc::HANDLE.handle(2))?;
    let trial = s.kind == SessionKind::Trial;
    let k = tpm.keys.get(key_h).ok_or(Rc::HANDLE.handle(1))?;
    let mut timeout = 0;
    if !trial {
        if !nonce.is_empty() && !ct_eq(nonce, s.nonce_tpm.as_slice()) {
            return Err(Rc::NONCE.param(1));
        }
        timeout = auth_timeout(s, expiration as i32, !nonce.is_empty(), now, 4)?;
        if !k.public.has(attr::SIGN) {
            return Err(Rc::ATTRIBUTES.handle(1));
        }
        // The signature's own hash algorithm digests the signed data.
        let mut peek = sig.clone();
        peek.u16().p(5)?;
        let alg = HashAlg::from_id(peek.u16().p(5)?).ok_or(Rc::HASH.param(5))?;
        let a_hash = alg.digest(&[nonce, &expiration.to_be_bytes(), cp, policy_ref]);
        let good = crate::keys::verify(&k.public, &k.sens, &mut sig, a_hash.as_slice()).p(5)?;
        sig.finish()?;
        if !good {
            return Err(rcx::SIGNATURE.param(5));
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
    context_update(s, code::POLICY_SIGNED, &name, Some(policy_ref));
    narrow_timeout(s, timeout);
    let ticket = crate::policy_ticket::ST_AUTH_SIGNED;
    crate::policy_ticket::write_ticket(tpm, &mut c.out, ticket, issue, (cp, policy_ref, &name))
}

/// Reads past a TPMT_SIGNATURE (Part 2 Table 217) without checking it.
fn skip_signature(r: &mut crate::marshal::Reader<'_>) -> TpmResult<()> {
    match r.u16()? {
        crate::consts::alg::NULL => Ok(()),
        crate::consts::alg::HMAC => {
            let alg = HashAlg::from_id(r.u16()?).ok_or(Rc::HASH)?;
            r.bytes(alg.size()).map(|_| ())
        }
        // RSASSA, RSAPSS: hash, TPM2B signature.
        0x0014 | 0x0016 => {
            HashAlg::from_id(r.u16()?).ok_or(Rc::HASH)?;
            r.tpm2b(crate::object::MAX_RSA_BYTES).map(|_| ())
        }
        // ECDSA, ECDAA, SM2, ECSCHNORR: hash, r, s.
        0x0018 | 0x001A | 0x001B | 0x001C => {
            HashAlg::from_id(r.u16()?).ok_or(Rc::HASH)?;
            r.tpm2b(crate::object::MAX_ECC_BYTES)?;
            r.tpm2b(crate::object::MAX_ECC_BYTES).map(|_| ())
        }
        _ => Err(rcx::SCHEME),
    }
}
