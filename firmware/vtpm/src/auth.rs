//! The authorization area: parsing sessions, checking passwords and session HMACs (cpHash, nonces,
//! Part 1 §19.6), dictionary-attack gating, and the response authorization area (rpHash).

use alloc::vec::Vec;

use crate::commands::CommandDef;
use crate::consts::{MAX_DIGEST, handle, session_attr};
use crate::crypto::{Digest, HashAlg, ct_eq, strip_trailing_zeros};
use crate::marshal::{Reader, Writer};
use crate::rc::{Rc, TpmResult};
use crate::session::SessionKind;
use crate::{Tpm, pcr};

/// One session from the command's authorization area (TPMS_AUTH_COMMAND, Part 2 Table 80).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionIn<'a> {
    pub handle: u32,
    pub nonce: &'a [u8],
    pub attrs: u8,
    pub hmac: &'a [u8],
}

impl<'a> SessionIn<'a> {
    /// Parses session `n` (1-based) from the area.
    pub fn parse(r: &mut Reader<'a>, n: u32) -> TpmResult<Self> {
        let err = |e: Rc| e.session(n);
        let handle = r.u32().map_err(|_| Rc::AUTHSIZE)?;
        let nonce = r.tpm2b(MAX_DIGEST).map_err(err)?;
        let attrs = r.u8().map_err(|_| Rc::AUTHSIZE)?;
        let hmac = r.tpm2b(MAX_DIGEST).map_err(err)?;
        Ok(SessionIn { handle, nonce, attrs, hmac })
    }
}

/// A session that authorized a handle, remembered until the response is built.
#[derive(Debug, Clone)]
struct Used {
    handle: u32,
    attrs: u8,
    nonce_caller: Digest,
    /// The entity's authValue before the command ran, for when the command removes the entity.
    auth_before: Vec<u8>,
}

/// The outcome of authorization, handed to the command and then to `respond`.
#[derive(Debug, Default)]
pub(crate) struct Authorized {
    pub by_policy: [bool; 3],
    used: [Option<Used>; 3],
}

/// cpHash (Part 1 §18.7): H(commandCode || Name(handle)... || parameters), for each algorithm in use.
fn cp_hash(tpm: &Tpm, alg: HashAlg, code: u32, handles: &[u32], params: &[u8]) -> Digest {
    let names: Vec<Vec<u8>> = handles.iter().map(|&h| tpm.entity_name(h)).collect();
    let mut parts: Vec<&[u8]> = Vec::with_capacity(handles.len() + 2);
    let code = code.to_be_bytes();
    parts.push(&code);
    parts.extend(names.iter().map(|n| n.as_slice()));
    parts.push(params);
    alg.digest(&parts)
}

pub(crate) fn authorize(
    tpm: &mut Tpm,
    def: &CommandDef,
    handles: &[u32; 3],
    sessions: &[Option<SessionIn<'_>>],
    params: &[u8],
) -> TpmResult<Authorized> {
    let handles_in = handles.get(..def.handles.len()).unwrap_or_default();
    // Structure checks on every session first (Part 3 §5.6.4).
    for (j, s) in sessions.iter().enumerate() {
        let Some(s) = s else { continue };
        let n = j as u32 + 1;
        if s.attrs & session_attr::RESERVED != 0 {
            return Err(Rc::RESERVED_BITS.session(n));
        }
        if s.handle == handle::RS_PW {
            if j >= def.auth {
                return Err(Rc::HANDLE.session(n));
            }
            if !s.nonce.is_empty() {
                return Err(Rc::NONCE.session(n));
            }
        } else if matches!(handle::ht(s.handle), handle::HT_HMAC_SESSION | handle::HT_POLICY_SESSION) {
            if tpm.sessions.get(s.handle).is_none() {
                return Err(Rc(Rc::REFERENCE_S0.0 + j as u32));
            }
            let dup = sessions.iter().take(j).flatten().any(|o| o.handle == s.handle);
            if dup {
                return Err(Rc::HANDLE.session(n));
            }
        } else {
            return Err(Rc::HANDLE.session(n));
        }
        // Parameter encryption needs a session symmetric algorithm; every session here has TPM_ALG_NULL.
        if s.attrs & (session_attr::DECRYPT | session_attr::ENCRYPT) != 0 {
            return Err(Rc::SYMMETRIC.session(n));
        }
        // Audit sessions are not implemented, and a non-authorizing session has no other use here.
        let audit = session_attr::AUDIT | session_attr::AUDIT_EXCLUSIVE | session_attr::AUDIT_RESET;
        if s.attrs & audit != 0 || j >= def.auth {
            return Err(Rc::ATTRIBUTES.session(n));
        }
    }

    let mut out = Authorized::default();
    for (j, (&entity, s)) in handles.iter().zip(sessions).take(def.auth).enumerate() {
        let Some(s) = s else { return Err(Rc::AUTH_MISSING) };
        let n = j as u32 + 1;
        let by_policy = check_one(tpm, def.code, handles_in, entity, s, n, params)?;
        if let Some(slot) = out.by_policy.get_mut(j) {
            *slot = by_policy;
        }
        if let Some(slot) = out.used.get_mut(j) {
            *slot = Some(Used {
                handle: s.handle,
                attrs: s.attrs,
                nonce_caller: Digest::from_slice(s.nonce),
                auth_before: tpm.entity_auth(entity).unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

/// Checks one authorization; returns whether it was a policy session.
fn check_one(
    tpm: &mut Tpm,
    code: u32,
    handles: &[u32],
    entity: u32,
    s: &SessionIn<'_>,
    n: u32,
    params: &[u8],
) -> TpmResult<bool> {
    // Dictionary-attack gates come before any comparison (Part 1 §19.8.3).
    if entity == handle::RH_LOCKOUT && tpm.da.lockout_auth_locked() {
        return Err(Rc::LOCKOUT);
    }
    if tpm.is_da_protected(entity) && tpm.da.in_lockout() {
        return Err(Rc::LOCKOUT);
    }
    let auth = tpm.entity_auth(entity).ok_or(Rc::AUTH_UNAVAILABLE)?;
    let auth = strip_trailing_zeros(&auth).to_vec();
    if s.handle == handle::RS_PW {
        return if ct_eq(strip_trailing_zeros(s.hmac), &auth) {
            Ok(false)
        } else {
            Err(tpm.auth_failure(entity).session(n))
        };
    }
    let sess = tpm.sessions.get(s.handle).ok_or(Rc(Rc::REFERENCE_S0.0 + n - 1))?;
    let is_policy = sess.kind != SessionKind::Hmac;
    let include_auth = if is_policy {
        let policy = tpm.entity_policy(entity).unwrap_or_default();
        if sess.kind == SessionKind::Trial
            || policy.len() != sess.alg.size()
            || !ct_eq(&policy, sess.policy.as_slice())
        {
            return Err(Rc::POLICY_FAIL.session(n));
        }
        if sess.password_needed {
            return if ct_eq(strip_trailing_zeros(s.hmac), &auth) {
                Ok(true)
            } else {
                Err(tpm.auth_failure(entity).session(n))
            };
        }
        sess.auth_value_needed
    } else {
        sess.bound.as_deref() != Some(tpm.entity_name(entity).as_slice())
    };
    let mut key = sess.key.clone();
    if include_auth {
        key.extend_from_slice(&auth);
    }
    // Part 1 §19.6.5: with an empty key, an empty HMAC is accepted.
    if key.is_empty() && s.hmac.is_empty() {
        return Ok(is_policy);
    }
    let (alg, nonce_tpm) = (sess.alg, sess.nonce_tpm);
    let cp = cp_hash(tpm, alg, code, handles, params);
    let expect = alg.hmac(&key, &[cp.as_slice(), s.nonce, nonce_tpm.as_slice(), &[s.attrs]])?;
    if ct_eq(expect.as_slice(), s.hmac) { Ok(is_policy) } else { Err(tpm.auth_failure(entity).session(n)) }
}

/// Builds the response authorization area (TPMS_AUTH_RESPONSE per session, Part 2 Table 82) and
/// retires sessions without continueSession.
pub(crate) fn respond(
    tpm: &mut Tpm,
    code: u32,
    rp_params: &[u8],
    handles: &[u32; 3],
    authorized: Authorized,
    w: &mut Writer,
) -> TpmResult<()> {
    for (j, used) in authorized.used.into_iter().enumerate() {
        let Some(used) = used else { continue };
        let entity = handles.get(j).copied().unwrap_or(handle::RH_NULL);
        if used.handle == handle::RS_PW {
            w.u16(0);
            w.u8(session_attr::CONTINUE_SESSION);
            w.u16(0);
            continue;
        }
        let mut nonce = [0u8; MAX_DIGEST];
        let Some(alg) = tpm.sessions.get(used.handle).map(|s| s.alg) else { continue };
        tpm.random(nonce.get_mut(..alg.size()).unwrap_or_default());
        // The response HMAC uses the entity's authValue as it is after the command (a changed
        // hierarchy auth already applies), or the old one if the entity is gone.
        let auth = tpm.entity_auth(entity).unwrap_or(used.auth_before);
        let auth = strip_trailing_zeros(&auth);
        let name = tpm.entity_name(entity);
        let Some(sess) = tpm.sessions.get_mut(used.handle) else { continue };
        sess.nonce_tpm = Digest::from_slice(nonce.get(..alg.size()).unwrap_or_default());
        let include_auth = match sess.kind {
            SessionKind::Hmac => sess.bound.as_deref() != Some(name.as_slice()),
            _ => sess.auth_value_needed,
        };
        let mut key = sess.key.clone();
        if include_auth {
            key.extend_from_slice(auth);
        }
        let hmac = if sess.kind != SessionKind::Hmac && sess.password_needed {
            Digest::EMPTY
        } else {
            let rp = alg.digest(&[&0u32.to_be_bytes(), &code.to_be_bytes(), rp_params]);
            alg.hmac(
                &key,
                &[rp.as_slice(), sess.nonce_tpm.as_slice(), used.nonce_caller.as_slice(), &[used.attrs]],
            )?
        };
        w.tpm2b(sess.nonce_tpm.as_slice());
        w.u8(used.attrs);
        w.tpm2b(hmac.as_slice());
        // A policy session is good for one authorization, then starts over (Part 1 §19.7.1).
        if sess.kind != SessionKind::Hmac {
            sess.reset_policy();
        }
        if used.attrs & session_attr::CONTINUE_SESSION == 0 {
            tpm.sessions.flush(used.handle);
        }
    }
    Ok(())
}

impl Tpm {
    /// The authValue of an entity that has one.
    pub(crate) fn entity_auth(&self, h: u32) -> Option<Vec<u8>> {
        match handle::ht(h) {
            handle::HT_PERMANENT => self.hier.auth(h).map(<[u8]>::to_vec),
            handle::HT_PCR if (h as usize) < pcr::PCR_COUNT => Some(Vec::new()),
            handle::HT_NV_INDEX => self.nv.get(h).map(|i| i.auth.clone()),
            handle::HT_TRANSIENT => self.objects.get(h).map(|o| o.auth.clone()),
            _ => None,
        }
    }

    /// The authPolicy of an entity.
    fn entity_policy(&self, h: u32) -> Option<Vec<u8>> {
        match handle::ht(h) {
            handle::HT_PERMANENT => self.hier.policy(h).map(<[u8]>::to_vec),
            handle::HT_NV_INDEX => self.nv.get(h).map(|i| i.auth_policy.clone()),
            _ => None,
        }
    }

    /// The Name of an entity (Part 1 §16): an NV index's is nameAlg || H(public); others are the handle.
    pub(crate) fn entity_name(&self, h: u32) -> Vec<u8> {
        match self.nv.get(h) {
            Some(index) => index.name(),
            None => h.to_be_bytes().to_vec(),
        }
    }

    /// Whether failed authorizations of `h` count towards lockout. Permanent handles, PCRs and
    /// sequence objects are exempt; NV indices are protected unless TPMA_NV_NO_DA.
    pub(crate) fn is_da_protected(&self, h: u32) -> bool {
        self.nv.get(h).is_some_and(|i| !i.no_da())
    }

    /// Records a failed authorization and picks its code: TPM_RC_AUTH_FAIL where the dictionary-attack
    /// logic took note, TPM_RC_BAD_AUTH for exempt entities (Part 1 §19.8).
    fn auth_failure(&mut self, h: u32) -> Rc {
        if h == handle::RH_LOCKOUT {
            self.da.lockout_failed();
            Rc::AUTH_FAIL
        } else if self.is_da_protected(h) {
            self.da.failed();
            Rc::AUTH_FAIL
        } else {
            Rc::BAD_AUTH
        }
    }
}
