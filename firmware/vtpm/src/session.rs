//! Authorization sessions: the session table and TPM2_StartAuthSession (unsalted HMAC, policy and
//! trial sessions, bound or unbound, with or without AES-CFB parameter encryption).

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::Tpm;
use crate::consts::{MAX_DIGEST, alg, handle, se};
use crate::crypto::{Digest, HashAlg, strip_trailing_zeros};
use crate::dispatch::Cmd;
use crate::marshal::{Reader, Writer};
use crate::rc::{At, Rc, TpmResult};

/// Sessions that may be loaded at once (TPM_PT_HR_LOADED_MIN).
pub const MAX_LOADED: usize = 8;
/// Sessions that may exist, loaded or context-saved (TPM_PT_ACTIVE_SESSIONS_MAX).
pub const MAX_ACTIVE: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    Hmac,
    Policy,
    Trial,
}

/// One session's state (Part 1 §19.6 and §19.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub kind: SessionKind,
    pub alg: HashAlg,
    pub nonce_tpm: Digest,
    /// sessionKey (empty for an unbound, unsalted session).
    pub key: Vec<u8>,
    /// Name of the entity the session is bound to, if any.
    pub bound: Option<Vec<u8>>,
    pub policy: Digest,
    pub auth_value_needed: bool,
    pub password_needed: bool,
    /// AES key size for parameter encryption (TPMT_SYM_DEF AES/CFB); 0 when the session's
    /// symmetric algorithm is TPM_ALG_NULL.
    pub aes_bits: u16,
    /// Bound to a dictionary-attack-protected entity: failures count, and lockout blocks the session.
    pub da_bound: bool,
    /// Bound to TPM_RH_LOCKOUT.
    pub lockout_bound: bool,
    /// PolicyCommandCode: the only command this policy session may authorize (0: any).
    pub command_code: u32,
    /// PolicyPCR: the PCR update counter the policy saw; authorization fails if PCRs changed since.
    pub pcr_counter: Option<u32>,
}

impl Session {
    /// PolicyRestart, and what follows each use of a policy session.
    pub fn reset_policy(&mut self) {
        self.policy = Digest::zeros(self.alg.size());
        self.auth_value_needed = false;
        self.password_needed = false;
        self.command_code = 0;
        self.pcr_counter = None;
    }

    pub fn save(&self, w: &mut Writer) {
        w.u8(match self.kind {
            SessionKind::Hmac => se::HMAC,
            SessionKind::Policy => se::POLICY,
            SessionKind::Trial => se::TRIAL,
        });
        w.u16(self.alg.id());
        w.tpm2b(self.nonce_tpm.as_slice());
        w.tpm2b(&self.key);
        w.u8(u8::from(self.bound.is_some()));
        w.tpm2b(self.bound.as_deref().unwrap_or_default());
        w.tpm2b(self.policy.as_slice());
        w.u8(u8::from(self.auth_value_needed)
            | u8::from(self.password_needed) << 1
            | u8::from(self.da_bound) << 2
            | u8::from(self.lockout_bound) << 3);
        w.u16(self.aes_bits);
        w.u32(self.command_code);
        w.u8(u8::from(self.pcr_counter.is_some()));
        w.u32(self.pcr_counter.unwrap_or(0));
    }

    pub fn load(r: &mut Reader<'_>) -> TpmResult<Session> {
        let kind = match r.u8()? {
            se::HMAC => SessionKind::Hmac,
            se::POLICY => SessionKind::Policy,
            se::TRIAL => SessionKind::Trial,
            _ => return Err(Rc::INTEGRITY),
        };
        let alg = HashAlg::from_id(r.u16()?).ok_or(Rc::INTEGRITY)?;
        let nonce_tpm = Digest::from_slice(r.tpm2b(MAX_DIGEST)?);
        let key = r.tpm2b(MAX_DIGEST)?.to_vec();
        let has_bound = r.u8()? != 0;
        let bound = r.tpm2b(2 + MAX_DIGEST)?.to_vec();
        let policy = Digest::from_slice(r.tpm2b(MAX_DIGEST)?);
        let flags = r.u8()?;
        let aes_bits = r.u16()?;
        if !matches!(aes_bits, 0 | 128 | 192 | 256) {
            return Err(Rc::INTEGRITY);
        }
        let command_code = r.u32()?;
        let has_pcr = r.u8()? != 0;
        let pcr_counter = r.u32()?;
        Ok(Session {
            kind,
            alg,
            nonce_tpm,
            key,
            bound: has_bound.then_some(bound),
            policy,
            auth_value_needed: flags & 1 != 0,
            password_needed: flags & 2 != 0,
            aes_bits,
            da_bound: flags & 4 != 0,
            lockout_bound: flags & 8 != 0,
            command_code,
            pcr_counter: has_pcr.then_some(pcr_counter),
        })
    }
}

#[derive(Debug, Clone)]
enum Slot {
    Free,
    Loaded(Box<Session>),
    /// Context-saved: only the context sequence number stays, so a stale context cannot be replayed.
    Saved {
        sequence: u64,
        policy: bool,
    },
}

/// The session table. A handle's low 24 bits are its slot.
#[derive(Debug, Clone)]
pub struct Sessions {
    slots: Vec<Slot>,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions { slots: (0..MAX_ACTIVE).map(|_| Slot::Free).collect() }
    }
}

fn handle_for(slot: usize, policy: bool) -> u32 {
    let base = if policy { handle::POLICY_SESSION_FIRST } else { handle::HMAC_SESSION_FIRST };
    base + slot as u32
}

/// The slot of a session handle, and whether it is a policy-session handle.
fn slot_of(h: u32) -> Option<(usize, bool)> {
    match handle::ht(h) {
        handle::HT_HMAC_SESSION => Some(((h & 0xFF_FFFF) as usize, false)),
        handle::HT_POLICY_SESSION => Some(((h & 0xFF_FFFF) as usize, true)),
        _ => None,
    }
}

impl Sessions {
    /// A loaded session.
    pub fn get(&self, h: u32) -> Option<&Session> {
        let (i, policy) = slot_of(h)?;
        match self.slots.get(i)? {
            Slot::Loaded(s) if (s.kind != SessionKind::Hmac) == policy => Some(s),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, h: u32) -> Option<&mut Session> {
        let (i, policy) = slot_of(h)?;
        match self.slots.get_mut(i)? {
            Slot::Loaded(s) if (s.kind != SessionKind::Hmac) == policy => Some(s),
            _ => None,
        }
    }

    /// Whether the slot of session handle `h` holds a loaded session (of either type).
    pub fn exists_loaded_slot(&self, h: u32) -> bool {
        slot_of(h).and_then(|(i, _)| self.slots.get(i)).is_some_and(|s| matches!(s, Slot::Loaded(_)))
    }

    /// Whether `h` names a session that is loaded or saved.
    pub fn exists(&self, h: u32) -> bool {
        let Some((i, policy)) = slot_of(h) else { return false };
        match self.slots.get(i) {
            Some(Slot::Loaded(s)) => (s.kind != SessionKind::Hmac) == policy,
            Some(Slot::Saved { policy: p, .. }) => *p == policy,
            _ => false,
        }
    }

    pub fn loaded(&self) -> usize {
        self.slots.iter().filter(|s| matches!(s, Slot::Loaded(_))).count()
    }

    pub fn active(&self) -> usize {
        self.slots.iter().filter(|s| !matches!(s, Slot::Free)).count()
    }

    fn insert(&mut self, s: Session) -> TpmResult<u32> {
        if self.loaded() >= MAX_LOADED {
            return Err(Rc::SESSION_MEMORY);
        }
        let i = self.slots.iter().position(|s| matches!(s, Slot::Free)).ok_or(Rc::SESSION_HANDLES)?;
        let h = handle_for(i, s.kind != SessionKind::Hmac);
        if let Some(slot) = self.slots.get_mut(i) {
            *slot = Slot::Loaded(Box::new(s));
        }
        Ok(h)
    }

    /// Forgets a session, loaded or saved. Returns whether there was one.
    pub fn flush(&mut self, h: u32) -> bool {
        if !self.exists(h) {
            return false;
        }
        if let Some(slot) = slot_of(h).and_then(|(i, _)| self.slots.get_mut(i)) {
            *slot = Slot::Free;
        }
        true
    }

    /// ContextSave: the session leaves memory; only `sequence` stays to match the context on load.
    pub fn save(&mut self, h: u32, sequence: u64) -> Option<Box<Session>> {
        let (i, policy) = slot_of(h)?;
        self.get(h)?;
        let slot = self.slots.get_mut(i)?;
        match core::mem::replace(slot, Slot::Saved { sequence, policy }) {
            Slot::Loaded(s) => Some(s),
            other => {
                *slot = other;
                None
            }
        }
    }

    /// ContextLoad: puts a saved session back if `sequence` is the one its slot expects.
    pub fn restore(&mut self, h: u32, sequence: u64, s: Session) -> TpmResult<()> {
        let (i, policy) = slot_of(h).ok_or(Rc::HANDLE)?;
        let loaded = self.loaded();
        let slot = self.slots.get_mut(i).ok_or(Rc::HANDLE)?;
        match slot {
            Slot::Saved { sequence: q, policy: p }
                if *q == sequence && *p == policy && (s.kind != SessionKind::Hmac) == policy =>
            {
                if loaded >= MAX_LOADED {
                    return Err(Rc::SESSION_MEMORY);
                }
                *slot = Slot::Loaded(Box::new(s));
                Ok(())
            }
            // A stale or replayed context: the slot was reloaded, re-saved, flushed or reused.
            _ => Err(Rc::HANDLE),
        }
    }

    /// _TPM_Init: loaded sessions are lost; saved contexts stay valid until a TPM Reset.
    pub fn drop_loaded(&mut self) {
        for s in self.slots.iter_mut() {
            if matches!(s, Slot::Loaded(_)) {
                *s = Slot::Free;
            }
        }
    }

    /// TPM Reset: every session is gone.
    pub fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = Slot::Free);
    }

    /// Handles for GetCapability(TPM_CAP_HANDLES): loaded sessions for HT 0x02, saved for HT 0x03.
    pub fn handles(&self, saved: bool) -> impl Iterator<Item = u32> + '_ {
        self.slots.iter().enumerate().filter_map(move |(i, s)| match s {
            Slot::Loaded(s) if !saved => Some(handle_for(i, s.kind != SessionKind::Hmac)),
            Slot::Saved { policy, .. } if saved => Some(handle_for(i, *policy)),
            _ => None,
        })
    }
}

/// TPM2_StartAuthSession (Part 3 §11.1).
pub(crate) fn start(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let [tpm_key, bind, _] = c.handles;
    let nonce_caller = c.params.tpm2b(MAX_DIGEST).p(1)?;
    let salt = c.params.tpm2b(512).p(2)?;
    let kind = match c.params.u8().p(3)? {
        se::HMAC => SessionKind::Hmac,
        se::POLICY => SessionKind::Policy,
        se::TRIAL => SessionKind::Trial,
        _ => return Err(Rc::VALUE.param(3)),
    };
    let aes_bits = match c.params.u16().p(4)? {
        alg::NULL => 0,
        alg::AES => {
            let bits = c.params.u16().p(4)?;
            if !matches!(bits, 128 | 192 | 256) {
                return Err(Rc::VALUE.param(4));
            }
            // Part 3 §11.1: session parameter encryption is CFB only.
            if c.params.u16().p(4)? != alg::CFB {
                return Err(Rc::MODE.param(4));
            }
            bits
        }
        // XOR obfuscation and other ciphers are not implemented.
        _ => return Err(Rc::SYMMETRIC.param(4)),
    };
    let hash = HashAlg::from_id(c.params.u16().p(5)?).ok_or(Rc::HASH.param(5))?;
    c.params.finish()?;
    if nonce_caller.len() < 16 {
        return Err(Rc::SIZE.param(1));
    }
    if tpm_key != handle::RH_NULL {
        // The only transient objects here are sequence objects, which cannot decrypt a salt.
        return Err(Rc::KEY.handle(1));
    }
    if !salt.is_empty() {
        return Err(Rc::VALUE.param(2));
    }

    let mut nonce = [0u8; MAX_DIGEST];
    let nonce = nonce.get_mut(..hash.size()).unwrap_or_default();
    tpm.random(nonce);
    let (key, bound) = if bind == handle::RH_NULL {
        (Vec::new(), None)
    } else {
        // Part 1 §19.6.8: sessionKey = KDFa(authHash, bind.authValue || salt, "ATH", nonceTPM,
        // nonceCaller, digest bits).
        let auth = tpm.entity_auth(bind).ok_or(Rc::HANDLE.handle(2))?;
        let key =
            hash.kdfa(strip_trailing_zeros(&auth), b"ATH", nonce, nonce_caller, hash.size() as u32 * 8)?;
        (key, Some(tpm.entity_name(bind)))
    };
    let session = Session {
        kind,
        alg: hash,
        nonce_tpm: Digest::from_slice(nonce),
        key,
        bound,
        policy: Digest::zeros(hash.size()),
        auth_value_needed: false,
        password_needed: false,
        aes_bits,
        da_bound: bind != handle::RH_NULL && !tpm.da_exempt(bind),
        lockout_bound: bind == handle::RH_LOCKOUT,
        command_code: 0,
        pcr_counter: None,
    };
    c.rhandle = tpm.sessions.insert(session)?;
    c.out.tpm2b(nonce);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Session, SessionKind};
    use crate::crypto::{Digest, HashAlg};
    use crate::marshal::{Reader, Writer};

    #[test]
    fn every_field_survives_a_context_round_trip() {
        let s = Session {
            kind: SessionKind::Policy,
            alg: HashAlg::Sha384,
            nonce_tpm: Digest::from_slice(&[1; 48]),
            key: alloc::vec![2; 48],
            bound: Some(alloc::vec![3; 34]),
            policy: Digest::from_slice(&[4; 48]),
            auth_value_needed: true,
            password_needed: true,
            aes_bits: 192,
            da_bound: true,
            lockout_bound: true,
            command_code: 0x137,
            pcr_counter: Some(7),
        };
        let mut w = Writer::new();
        s.save(&mut w);
        let mut r = Reader::new(&w.buf);
        assert_eq!(Session::load(&mut r), Ok(s));
        assert_eq!(r.remaining(), 0);
    }
}
