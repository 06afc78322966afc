//! The authorization area: parsing sessions, checking passwords and session HMACs (cpHash, nonces,
//! Part 1 §19.6) and dictionary-attack gating. Parameter encryption is in `param_enc`, the response
//! authorization area in `response`. The order of checks follows ms-tpm-20-ref's
//! `RetrieveSessionData`, `ParseSessionBuffer` and `CheckAuthSession`, so clients see the same codes.

use alloc::vec::Vec;

use crate::Tpm;
use crate::crypto::{Digest, HashAlg, SecretBytes, ct_eq, strip_trailing_zeros};
use crate::engine::command_table::CommandDef;
use crate::state::session::SessionKind;
use crate::wire::command_code::CommandCode;
use crate::wire::constants::{MAX_DIGEST, session_attr as sa};
use crate::wire::handle::{self, Handle};
use crate::wire::marshal::Reader;
use crate::wire::response_code::{ResponseCode, TpmResult};

/// One session from the command's authorization area (TPMS_AUTH_COMMAND, Part 2 Table 80).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionIn<'a> {
    pub handle: Handle,
    pub nonce: &'a [u8],
    pub attrs: u8,
    pub hmac: &'a [u8],
}

impl<'a> SessionIn<'a> {
    /// Parses session `n` (1-based) from the area.
    pub fn parse(r: &mut Reader<'a>, n: u32) -> TpmResult<Self> {
        let err = |e: ResponseCode| e.session(n);
        let handle = r.handle().map_err(err)?;
        if handle != Handle::RS_PW
            && !matches!(handle.ty(), handle::HT_HMAC_SESSION | handle::HT_POLICY_SESSION)
        {
            return Err(ResponseCode::VALUE.session(n));
        }
        let nonce = r.tpm2b(MAX_DIGEST).map_err(err)?;
        let attrs = r.u8().map_err(err)?;
        if attrs & sa::RESERVED != 0 {
            return Err(ResponseCode::RESERVED_BITS.session(n));
        }
        let hmac = r.tpm2b(MAX_DIGEST).map_err(err)?;
        Ok(SessionIn { handle, nonce, attrs, hmac })
    }
}

/// A session of this command, remembered until the response is built.
#[derive(Debug, Clone)]
pub(crate) struct Used {
    pub handle: Handle,
    pub attrs: u8,
    pub nonce_caller: Digest,
    /// Whether the caller sent an empty HMAC (then an empty-key response HMAC is empty too).
    pub empty_hmac: bool,
    /// The entity this session authorized; None for a session only used for encryption.
    pub entity: Option<Handle>,
    /// The entity's authValue before the command ran, for when the command removes the entity.
    pub auth_before: SecretBytes,
    /// ms-tpm-20-ref `includeAuth`: the authValue is part of the HMAC key (not for the bound
    /// entity; for policy sessions only after PolicyAuthValue/PolicyPassword).
    pub include_auth: bool,
}

/// The outcome of authorization, handed to the command and then to `respond`.
#[derive(Debug, Default)]
pub(crate) struct Authorized {
    pub by_policy: [bool; 3],
    pub used: [Option<Used>; 3],
    pub decrypt: Option<usize>,
    pub encrypt: Option<usize>,
    /// The audit session (TPMA_SESSION audit), at most one per command.
    pub audit: Option<usize>,
    /// cpHash under the audit session's algorithm, for its audit digest.
    pub audit_cp: Option<Digest>,
    /// cpHash under the command audit algorithm, when the command code is audited (Part 1 §33).
    pub command_cp: Option<Digest>,
}

/// What `check_one` needs to know about the command.
struct Ctx<'a> {
    code: CommandCode,
    handles: &'a [Handle],
    params: &'a [u8],
    /// nonceTPM of a decrypt and an encrypt session other than session 1, which session 1's HMAC
    /// covers (Part 1 §19.6.5).
    extra_nonces: Vec<u8>,
}

/// cpHash (Part 1 §18.7): H(commandCode || Name(handle)... || parameters).
fn cp_hash(tpm: &Tpm, alg: HashAlg, ctx: &Ctx<'_>) -> Digest {
    let names: Vec<Vec<u8>> = ctx.handles.iter().map(|&h| tpm.entity_name(h)).collect();
    let mut parts: Vec<&[u8]> = Vec::with_capacity(ctx.handles.len() + 2);
    let code = ctx.code.to_be_bytes();
    parts.push(&code);
    parts.extend(names.iter().map(|n| n.as_slice()));
    parts.push(ctx.params);
    alg.digest(&parts)
}

pub(crate) fn authorize(
    tpm: &mut Tpm,
    def: &CommandDef,
    handles: &[Handle; 3],
    sessions: &[Option<SessionIn<'_>>],
    params: &[u8],
) -> TpmResult<Authorized> {
    let mut out = Authorized::default();
    // RetrieveSessionData: per-session consistency.
    for (j, s) in sessions.iter().enumerate() {
        let Some(s) = s else { continue };
        let n = j as u32 + 1;
        if s.handle == Handle::RS_PW {
            if s.attrs & (sa::ENCRYPT | sa::DECRYPT | sa::AUDIT | sa::AUDIT_EXCLUSIVE | sa::AUDIT_RESET) != 0
            {
                return Err(ResponseCode::ATTRIBUTES.session(n));
            }
            if !s.nonce.is_empty() {
                return Err(ResponseCode::NONCE.session(n));
            }
            continue;
        }
        if !tpm.sessions.exists_loaded_slot(s.handle) {
            return Err(ResponseCode(ResponseCode::REFERENCE_S0.0 + j as u32));
        }
        let Some(sess) = tpm.sessions.get(s.handle) else { return Err(ResponseCode::HANDLE.session(n)) };
        if sessions.iter().take(j).flatten().any(|o| o.handle == s.handle) {
            return Err(ResponseCode::HANDLE.session(n));
        }
        // One session each may decrypt and encrypt, and only where the first parameter is a TPM2B.
        for (bit, allowed, slot) in
            [(sa::DECRYPT, def.decrypt, &mut out.decrypt), (sa::ENCRYPT, def.encrypt, &mut out.encrypt)]
        {
            if s.attrs & bit != 0 {
                if !allowed || slot.is_some() {
                    return Err(ResponseCode::ATTRIBUTES.session(n));
                }
                if sess.aes_bits == 0 {
                    return Err(ResponseCode::SYMMETRIC.session(n));
                }
                *slot = Some(j);
            }
        }
        // Audit (Part 2 Table 45): auditExclusive and auditReset only with audit, one audit session
        // per command, and auditExclusive only if the session is still the exclusive one.
        if s.attrs & sa::AUDIT == 0 {
            if s.attrs & (sa::AUDIT_EXCLUSIVE | sa::AUDIT_RESET) != 0 {
                return Err(ResponseCode::ATTRIBUTES.session(n));
            }
        } else {
            if out.audit.is_some() || sess.kind == SessionKind::Trial {
                return Err(ResponseCode::ATTRIBUTES.session(n));
            }
            if s.attrs & sa::AUDIT_EXCLUSIVE != 0 && tpm.sessions.exclusive_audit != Some(s.handle) {
                return Err(ResponseCode::EXCLUSIVE.session(n));
            }
            out.audit = Some(j);
        }
    }
    if sessions.len() < def.auth {
        return Err(ResponseCode::AUTH_MISSING);
    }

    // Session 1's HMAC also covers the nonces of separate decrypt and encrypt sessions.
    let mut extra_nonces = Vec::new();
    if def.auth > 0 {
        for k in [out.decrypt, out.encrypt.filter(|&e| Some(e) != out.decrypt)].into_iter().flatten() {
            if k != 0
                && let Some(Some(s)) = sessions.get(k)
                && let Some(sess) = tpm.sessions.get(s.handle)
            {
                extra_nonces.extend_from_slice(sess.nonce_tpm.as_slice());
            }
        }
    }
    let handles_in = handles.get(..def.handles.len()).unwrap_or_default();
    let mut ctx = Ctx { code: def.code, handles: handles_in, params, extra_nonces };
    // The audits hash the command as sent, with the Names the handles have before it runs.
    let audit_alg =
        out.audit.and_then(|j| sessions.get(j)?.as_ref()).and_then(|s| tpm.sessions.get(s.handle));
    out.audit_cp = audit_alg.map(|s| cp_hash(tpm, s.alg, &ctx));
    if tpm.audit.is_audited(def.code) {
        out.command_cp = Some(cp_hash(tpm, tpm.audit.alg, &ctx));
    }

    // ParseSessionBuffer: authorize each session's handle, or check a non-authorizing session.
    for (j, s) in sessions.iter().enumerate() {
        let Some(s) = s else { continue };
        let n = j as u32 + 1;
        let entity = handles.get(j).copied().filter(|_| j < def.auth);
        if j > 0 {
            ctx.extra_nonces.clear();
        }
        let mut include_auth = false;
        if s.handle == Handle::RS_PW && entity.is_none() {
            return Err(ResponseCode::HANDLE.session(n));
        }
        if let Some(sess) = tpm.sessions.get(s.handle) {
            if sess.kind == SessionKind::Trial {
                return Err(ResponseCode::ATTRIBUTES.session(n));
            }
            if sess.da_bound {
                tpm.check_locked_out(sess.lockout_bound)?;
            }
        }
        match entity {
            Some(entity) => {
                let (by_policy, include) = check_one(tpm, &ctx, entity, s).map_err(|e| e.session(n))?;
                include_auth = include;
                if let Some(slot) = out.by_policy.get_mut(j) {
                    *slot = by_policy;
                }
            }
            None => {
                if s.attrs & (sa::ENCRYPT | sa::DECRYPT | sa::AUDIT) == 0 {
                    return Err(ResponseCode::ATTRIBUTES.session(n));
                }
                check_hmac(tpm, &ctx, s, &[], None).map_err(|e| e.session(n))?;
            }
        }
        if let Some(slot) = out.used.get_mut(j) {
            *slot = Some(Used {
                handle: s.handle,
                attrs: s.attrs,
                nonce_caller: Digest::from_slice(s.nonce),
                empty_hmac: s.hmac.is_empty(),
                entity,
                auth_before: entity.and_then(|e| tpm.entity_auth(e)).unwrap_or_default(),
                include_auth,
            });
        }
    }
    Ok(out)
}

impl Tpm {
    /// ms-tpm-20-ref CheckLockedOut.
    fn check_locked_out(&self, lockout: bool) -> TpmResult<()> {
        let locked = if lockout { self.da.lockout_auth_locked() } else { self.da.in_lockout() };
        if locked { Err(ResponseCode::LOCKOUT) } else { Ok(()) }
    }
}

/// CheckAuthSession for session `s` authorizing `entity`. Returns (policy session, includeAuth).
fn check_one(tpm: &mut Tpm, ctx: &Ctx<'_>, entity: Handle, s: &SessionIn<'_>) -> TpmResult<(bool, bool)> {
    let sess = tpm.sessions.get(s.handle).cloned();
    let is_policy = sess.as_ref().is_some_and(|x| x.kind != SessionKind::Hmac);
    let include_auth = match &sess {
        None => true,
        Some(x) if is_policy => x.auth_value_needed || x.password_needed,
        Some(x) => {
            x.bound.as_deref() != Some(crate::engine::entity::bound_entity(tpm, x.alg, entity).as_slice())
        }
    };
    // Dictionary-attack gate, before anything is compared.
    if include_auth && !tpm.da_exempt(entity) {
        tpm.check_locked_out(entity == Handle::RH_LOCKOUT)?;
        tpm.da.used = true;
    }
    if let Some(x) = sess.as_ref().filter(|_| is_policy) {
        let (policy, alg) = tpm.auth_policy(entity, ctx.code).ok_or(ResponseCode::AUTH_UNAVAILABLE)?;
        // CheckPolicyAuthSession: PCRs unchanged since PolicyPCR, the digest, the command code.
        if x.pcr_counter.is_some_and(|c| c != tpm.pcrs.update_counter) {
            return Err(ResponseCode::PCR_CHANGED);
        }
        if !ct_eq(&policy, x.policy.as_slice()) || alg != x.alg {
            return Err(ResponseCode::POLICY_FAIL);
        }
        if x.command_code != CommandCode(0) && x.command_code != ctx.code {
            return Err(ResponseCode::POLICY_CC);
        }
        // PolicyCpHash / PolicySigned cpHashA: only this command, these handles and parameters.
        if x.cp_hash.is_some_and(|want| !ct_eq(want.as_slice(), cp_hash(tpm, x.alg, ctx).as_slice())) {
            return Err(ResponseCode::POLICY_FAIL);
        }
        // PolicySigned / PolicySecret expirations (ms-tpm-20-ref CheckPolicyAuthSession).
        if x.timeout != 0 {
            let now = tpm.now_ms();
            let epoch = (tpm.time.reset_count, tpm.time.restart_count);
            if x.timeout < tpm.time.time(now) || x.epoch != epoch {
                return Err(ResponseCode::EXPIRED);
            }
        }
        // PolicyNameHash: H(Name of every handle of the command).
        if let Some(want) = x.name_hash {
            let names: Vec<Vec<u8>> = ctx.handles.iter().map(|&h| tpm.entity_name(h)).collect();
            let parts: Vec<&[u8]> = names.iter().map(Vec::as_slice).collect();
            if !ct_eq(want.as_slice(), x.alg.digest(&parts).as_slice()) {
                return Err(ResponseCode::POLICY_FAIL);
            }
        }
        if x.template_hash.is_some_and(|want| !template_matches(ctx, x.alg, want.as_slice())) {
            return Err(ResponseCode::POLICY_FAIL);
        }
        if !crate::state::session::locality_allowed(x.locality, tpm.locality) {
            return Err(ResponseCode::LOCALITY);
        }
        if let Some(w) = x.nv_written {
            let index = tpm.nv.get(entity).ok_or(ResponseCode::POLICY_FAIL)?;
            if index.has(crate::state::nv::attr::WRITTEN) != w {
                return Err(ResponseCode::POLICY_FAIL);
            }
        }
    } else if !tpm.auth_value_available(entity, ctx.code) {
        return Err(ResponseCode::AUTH_UNAVAILABLE);
    }
    let auth = tpm.entity_auth(entity).unwrap_or_default();
    let auth = SecretBytes::new(strip_trailing_zeros(&auth).to_vec());
    let ok = match &sess {
        Some(x) if !x.password_needed || !is_policy => {
            let extra = if include_auth { auth.as_slice() } else { &[] };
            check_hmac(tpm, ctx, s, extra, Some(())).is_ok()
        }
        _ => ct_eq(strip_trailing_zeros(s.hmac), &auth),
    };
    if ok {
        return Ok((is_policy, include_auth));
    }
    // IncrementLockout: decide whether this failure counts.
    let pw = sess.is_none();
    let da_entity = match &sess {
        Some(x) if x.lockout_bound => Handle::RH_LOCKOUT,
        _ => entity,
    };
    let counts = if pw {
        !tpm.da_exempt(entity)
    } else {
        sess.as_ref().is_some_and(|x| x.da_bound) || (!tpm.da_exempt(da_entity) && include_auth)
    };
    Err(if counts { tpm.register_auth_failure(da_entity) } else { ResponseCode::BAD_AUTH })
}

/// PolicyTemplate's check (ms-tpm-20-ref CompareTemplateHash): the command is Create, CreatePrimary or
/// CreateLoaded, and the TPMT_PUBLIC inside its second parameter (TPM2B_PUBLIC / TPM2B_TEMPLATE, after
/// the TPM2B inSensitive) hashes to `want`. The parameters are as sent: the sizes and the template are
/// never encrypted.
fn template_matches(ctx: &Ctx<'_>, alg: HashAlg, want: &[u8]) -> bool {
    if !matches!(ctx.code, CommandCode::CREATE | CommandCode::CREATE_PRIMARY | CommandCode::CREATE_LOADED) {
        return false;
    }
    let mut r = Reader::new(ctx.params);
    let template = r.tpm2b(usize::from(u16::MAX)).and_then(|_| r.tpm2b(usize::from(u16::MAX)));
    template.is_ok_and(|t| ct_eq(alg.digest(&[t]).as_slice(), want))
}

/// Checks a session HMAC over cpHash || nonceCaller || nonceTPM [|| extra nonces] || attributes,
/// keyed with sessionKey || `auth`. `first` marks an authorization session (whose HMAC may cover
/// the extra nonces).
fn check_hmac(tpm: &Tpm, ctx: &Ctx<'_>, s: &SessionIn<'_>, auth: &[u8], first: Option<()>) -> TpmResult<()> {
    let sess = tpm.sessions.get(s.handle).ok_or(ResponseCode::FAILURE)?;
    let mut key = sess.key.clone();
    key.extend_from_slice(auth);
    // Part 1 §19.6.5: with an empty key, an empty HMAC is accepted.
    if key.is_empty() && s.hmac.is_empty() {
        return Ok(());
    }
    let cp = cp_hash(tpm, sess.alg, ctx);
    let extra = if first.is_some() { ctx.extra_nonces.as_slice() } else { &[] };
    let expect =
        sess.alg.hmac(&key, &[cp.as_slice(), s.nonce, sess.nonce_tpm.as_slice(), extra, &[s.attrs]])?;
    if ct_eq(expect.as_slice(), s.hmac) { Ok(()) } else { Err(ResponseCode::BAD_AUTH) }
}
