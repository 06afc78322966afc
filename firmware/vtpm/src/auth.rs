//! The authorization area: parsing sessions, checking passwords and session HMACs (cpHash, nonces,
//! Part 1 §19.6), dictionary-attack gating, parameter encryption (Part 1 §21, AES-CFB), and the
//! response authorization area (rpHash).

use alloc::vec::Vec;

use crate::Tpm;
use crate::commands::CommandDef;
use crate::consts::{MAX_DIGEST, handle, session_attr as sa};
use crate::crypto::{Digest, HashAlg, aes_cfb, ct_eq, strip_trailing_zeros};
use crate::marshal::{Reader, Writer};
use crate::rc::{Rc, TpmResult};
use crate::session::SessionKind;

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

/// A session of this command, remembered until the response is built.
#[derive(Debug, Clone)]
struct Used {
    handle: u32,
    attrs: u8,
    nonce_caller: Digest,
    /// The entity this session authorized; None for a session only used for encryption.
    entity: Option<u32>,
    /// The entity's authValue before the command ran, for when the command removes the entity.
    auth_before: Vec<u8>,
    /// Whether the authValue is part of the HMAC and encryption keys (not for the bound entity,
    /// and for policy sessions only after PolicyAuthValue).
    include_auth: bool,
}

/// The outcome of authorization, handed to the command and then to `respond`.
#[derive(Debug, Default)]
pub(crate) struct Authorized {
    pub by_policy: [bool; 3],
    used: [Option<Used>; 3],
    decrypt: Option<usize>,
    encrypt: Option<usize>,
}

/// cpHash (Part 1 §18.7): H(commandCode || Name(handle)... || parameters).
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
    let mut out = Authorized::default();
    // Structure checks on every session first (Part 3 §5.6.4).
    for (j, s) in sessions.iter().enumerate() {
        let Some(s) = s else { continue };
        let n = j as u32 + 1;
        if s.attrs & sa::RESERVED != 0 {
            return Err(Rc::RESERVED_BITS.session(n));
        }
        let aes_bits = if s.handle == handle::RS_PW {
            if j >= def.auth {
                return Err(Rc::HANDLE.session(n));
            }
            if !s.nonce.is_empty() {
                return Err(Rc::NONCE.session(n));
            }
            0
        } else if matches!(handle::ht(s.handle), handle::HT_HMAC_SESSION | handle::HT_POLICY_SESSION) {
            let Some(sess) = tpm.sessions.get(s.handle) else {
                return Err(Rc(Rc::REFERENCE_S0.0 + j as u32));
            };
            if sessions.iter().take(j).flatten().any(|o| o.handle == s.handle) {
                return Err(Rc::HANDLE.session(n));
            }
            sess.aes_bits
        } else {
            return Err(Rc::HANDLE.session(n));
        };
        let crypt = s.attrs & (sa::DECRYPT | sa::ENCRYPT);
        if crypt != 0 && aes_bits == 0 {
            return Err(Rc::SYMMETRIC.session(n));
        }
        // One session each may decrypt and encrypt, and only where the first parameter is a TPM2B.
        for (bit, allowed, slot) in
            [(sa::DECRYPT, def.decrypt, &mut out.decrypt), (sa::ENCRYPT, def.encrypt, &mut out.encrypt)]
        {
            if s.attrs & bit != 0 {
                if !allowed || slot.is_some() {
                    return Err(Rc::ATTRIBUTES.session(n));
                }
                *slot = Some(j);
            }
        }
        // Audit sessions are not implemented; a session beyond the authorizations must encrypt.
        let audit = sa::AUDIT | sa::AUDIT_EXCLUSIVE | sa::AUDIT_RESET;
        if s.attrs & audit != 0 || (j >= def.auth && crypt == 0) {
            return Err(Rc::ATTRIBUTES.session(n));
        }
    }

    for (j, s) in sessions.iter().enumerate() {
        let Some(s) = s else { continue };
        let entity = handles.get(j).copied().filter(|_| j < def.auth);
        let mut include_auth = false;
        if let Some(entity) = entity {
            let (by_policy, include) = check_one(tpm, def.code, handles_in, entity, s, j as u32 + 1, params)?;
            include_auth = include;
            if let Some(slot) = out.by_policy.get_mut(j) {
                *slot = by_policy;
            }
        }
        if let Some(slot) = out.used.get_mut(j) {
            *slot = Some(Used {
                handle: s.handle,
                attrs: s.attrs,
                nonce_caller: Digest::from_slice(s.nonce),
                entity,
                auth_before: entity.and_then(|e| tpm.entity_auth(e)).unwrap_or_default(),
                include_auth,
            });
        }
    }
    Ok(out)
}

/// Checks one authorization; returns (whether it was a policy session, whether the authValue is
/// part of the session's keys).
fn check_one(
    tpm: &mut Tpm,
    code: u32,
    handles: &[u32],
    entity: u32,
    s: &SessionIn<'_>,
    n: u32,
    params: &[u8],
) -> TpmResult<(bool, bool)> {
    // Dictionary-attack gates come before any comparison (Part 1 §19.8.3).
    if entity == handle::RH_LOCKOUT && tpm.da.lockout_auth_locked() {
        return Err(Rc::LOCKOUT);
    }
    if tpm.is_da_protected(entity) && tpm.da.in_lockout() {
        return Err(Rc::LOCKOUT);
    }
    let auth = tpm.entity_auth(entity).ok_or(Rc::AUTH_UNAVAILABLE)?;
    let auth = strip_trailing_zeros(&auth).to_vec();
    let password_ok = |hmac: &[u8]| ct_eq(strip_trailing_zeros(hmac), &auth);
    if s.handle == handle::RS_PW {
        return if password_ok(s.hmac) {
            Ok((false, false))
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
            return if password_ok(s.hmac) {
                Ok((true, false))
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
        return Ok((is_policy, include_auth));
    }
    let (alg, nonce_tpm) = (sess.alg, sess.nonce_tpm);
    let cp = cp_hash(tpm, alg, code, handles, params);
    let expect = alg.hmac(&key, &[cp.as_slice(), s.nonce, nonce_tpm.as_slice(), &[s.attrs]])?;
    if ct_eq(expect.as_slice(), s.hmac) {
        Ok((is_policy, include_auth))
    } else {
        Err(tpm.auth_failure(entity).session(n))
    }
}

/// The HMAC/encryption key of a session: sessionKey || authValue where it applies.
fn session_key(tpm: &Tpm, used: &Used, after: bool) -> Vec<u8> {
    let mut key = tpm.sessions.get(used.handle).map(|s| s.key.clone()).unwrap_or_default();
    if used.include_auth {
        // After the command, a changed authValue (HierarchyChangeAuth) already applies; an entity the
        // command removed keeps its old one.
        let now = used.entity.filter(|_| after).and_then(|e| tpm.entity_auth(e));
        key.extend_from_slice(strip_trailing_zeros(now.as_deref().unwrap_or(&used.auth_before)));
    }
    key
}

/// AES-CFB over the data of the TPM2B at the start of `params`, keyed as Part 1 §21.3 says:
/// KDFa(sessionAlg, key, "CFB", nonceNewer, nonceOlder, keyBits + 128) = AES key || IV.
fn cfb_first_tpm2b(
    alg: HashAlg,
    bits: u16,
    key: &[u8],
    newer: &[u8],
    older: &[u8],
    params: &mut [u8],
    encrypt: bool,
) -> TpmResult<()> {
    let size = match params.get(..2) {
        Some(&[a, b]) => usize::from(u16::from_be_bytes([a, b])),
        _ => return Err(Rc::SIZE.param(1)),
    };
    let data = params.get_mut(2..2 + size).ok_or(Rc::SIZE.param(1))?;
    let kb = usize::from(bits / 8);
    let m = alg.kdfa(key, b"CFB", newer, older, u32::from(bits) + 128)?;
    let (k, iv) = m.split_at(kb.min(m.len()));
    aes_cfb(k, iv, data, encrypt)
}

/// Decrypts the first command parameter if a session asked for it (after cpHash was computed over
/// the ciphertext).
pub(crate) fn decrypt_params(tpm: &Tpm, a: &Authorized, params: &mut [u8]) -> TpmResult<()> {
    let Some(used) = a.decrypt.and_then(|j| a.used.get(j)).and_then(Option::as_ref) else { return Ok(()) };
    let sess = tpm.sessions.get(used.handle).ok_or(Rc::FAILURE)?;
    let key = session_key(tpm, used, false);
    cfb_first_tpm2b(
        sess.alg,
        sess.aes_bits,
        &key,
        used.nonce_caller.as_slice(),
        sess.nonce_tpm.as_slice(),
        params,
        false,
    )
}

/// Builds the response authorization area (TPMS_AUTH_RESPONSE per session, Part 2 Table 82):
/// new nonces, the encrypted first response parameter if asked, then the HMACs over rpHash (which
/// covers the ciphertext). Retires sessions without continueSession.
pub(crate) fn respond(tpm: &mut Tpm, code: u32, rp: &mut [u8], a: Authorized) -> TpmResult<Vec<u8>> {
    let mut keys: [Vec<u8>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for (used, key) in a.used.iter().zip(keys.iter_mut()) {
        let Some(used) = used.as_ref().filter(|u| u.handle != handle::RS_PW) else { continue };
        *key = session_key(tpm, used, true);
        let Some(alg) = tpm.sessions.get(used.handle).map(|s| s.alg) else { continue };
        let mut nonce = [0u8; MAX_DIGEST];
        let nonce = nonce.get_mut(..alg.size()).unwrap_or_default();
        tpm.random(nonce);
        if let Some(s) = tpm.sessions.get_mut(used.handle) {
            s.nonce_tpm = Digest::from_slice(nonce);
        }
    }
    if let Some(j) = a.encrypt
        && let (Some(Some(used)), Some(key)) = (a.used.get(j), keys.get(j))
        && let Some(s) = tpm.sessions.get(used.handle)
    {
        let newer = s.nonce_tpm;
        cfb_first_tpm2b(s.alg, s.aes_bits, key, newer.as_slice(), used.nonce_caller.as_slice(), rp, true)?;
    }
    let mut w = Writer::new();
    for (used, key) in a.used.into_iter().zip(keys) {
        let Some(used) = used else { continue };
        if used.handle == handle::RS_PW {
            w.u16(0);
            w.u8(sa::CONTINUE_SESSION);
            w.u16(0);
            continue;
        }
        let Some(sess) = tpm.sessions.get_mut(used.handle) else { continue };
        let alg = sess.alg;
        let hmac = if sess.kind != SessionKind::Hmac && sess.password_needed {
            Digest::EMPTY
        } else {
            let rp_hash = alg.digest(&[&0u32.to_be_bytes(), &code.to_be_bytes(), rp]);
            let parts: [&[u8]; 4] =
                [rp_hash.as_slice(), sess.nonce_tpm.as_slice(), used.nonce_caller.as_slice(), &[used.attrs]];
            alg.hmac(&key, &parts)?
        };
        w.tpm2b(sess.nonce_tpm.as_slice());
        w.u8(used.attrs);
        w.tpm2b(hmac.as_slice());
        // A policy session is good for one authorization, then starts over (Part 1 §19.7.1).
        if sess.kind != SessionKind::Hmac && used.entity.is_some() {
            sess.reset_policy();
        }
        if used.attrs & sa::CONTINUE_SESSION == 0 {
            tpm.sessions.flush(used.handle);
        }
    }
    Ok(w.buf)
}
