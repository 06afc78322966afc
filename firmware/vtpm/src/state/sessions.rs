//! The session table: loaded sessions, the sequence numbers of context-saved ones, and the mapping
//! between session handles and slots (a handle's low 24 bits are its slot).

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::state::session::{Session, SessionKind};
use crate::wire::handle::{self, Handle};
use crate::wire::response_code::{ResponseCode, TpmResult};

/// Sessions that may be loaded at once (TPM_PT_HR_LOADED_MIN).
pub const MAX_LOADED: usize = 8;

/// Sessions that may exist, loaded or context-saved (TPM_PT_ACTIVE_SESSIONS_MAX).
pub const MAX_ACTIVE: usize = 64;

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
    /// The exclusive audit session (TPMA_SESSION auditExclusive, Part 2 Table 45): the audit
    /// session that every command since its first use or auditReset was audited in.
    pub exclusive_audit: Option<Handle>,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions { slots: (0..MAX_ACTIVE).map(|_| Slot::Free).collect(), exclusive_audit: None }
    }
}

fn handle_for(slot: usize, policy: bool) -> Handle {
    let base = if policy { Handle::POLICY_SESSION_FIRST } else { Handle::HMAC_SESSION_FIRST };
    base.offset(slot as u32)
}

/// The slot of a session handle, and whether it is a policy-session handle.
fn slot_of(h: Handle) -> Option<(usize, bool)> {
    match h.ty() {
        handle::HT_HMAC_SESSION => Some((h.index() as usize, false)),
        handle::HT_POLICY_SESSION => Some((h.index() as usize, true)),
        _ => None,
    }
}

impl Sessions {
    /// A loaded session.
    pub fn get(&self, h: Handle) -> Option<&Session> {
        let (i, policy) = slot_of(h)?;
        match self.slots.get(i)? {
            Slot::Loaded(s) if (s.kind != SessionKind::Hmac) == policy => Some(s),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, h: Handle) -> Option<&mut Session> {
        let (i, policy) = slot_of(h)?;
        match self.slots.get_mut(i)? {
            Slot::Loaded(s) if (s.kind != SessionKind::Hmac) == policy => Some(s),
            _ => None,
        }
    }

    /// Whether the slot of session handle `h` holds a loaded session (of either type).
    pub fn exists_loaded_slot(&self, h: Handle) -> bool {
        slot_of(h).and_then(|(i, _)| self.slots.get(i)).is_some_and(|s| matches!(s, Slot::Loaded(_)))
    }

    /// Whether `h` names a session that is loaded or saved.
    pub fn exists(&self, h: Handle) -> bool {
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

    pub fn insert(&mut self, s: Session) -> TpmResult<Handle> {
        if self.loaded() >= MAX_LOADED {
            return Err(ResponseCode::SESSION_MEMORY);
        }
        let i =
            self.slots.iter().position(|s| matches!(s, Slot::Free)).ok_or(ResponseCode::SESSION_HANDLES)?;
        let h = handle_for(i, s.kind != SessionKind::Hmac);
        if let Some(slot) = self.slots.get_mut(i) {
            *slot = Slot::Loaded(Box::new(s));
        }
        Ok(h)
    }

    /// Forgets a session, loaded or saved. Returns whether there was one.
    pub fn flush(&mut self, h: Handle) -> bool {
        if !self.exists(h) {
            return false;
        }
        if let Some(slot) = slot_of(h).and_then(|(i, _)| self.slots.get_mut(i)) {
            *slot = Slot::Free;
        }
        if self.exclusive_audit == Some(h) {
            self.exclusive_audit = None;
        }
        true
    }

    /// ContextSave: the session leaves memory; only `sequence` stays to match the context on load.
    pub fn save(&mut self, h: Handle, sequence: u64) -> Option<Box<Session>> {
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
    pub fn restore(&mut self, h: Handle, sequence: u64, s: Session) -> TpmResult<()> {
        let (i, policy) = slot_of(h).ok_or(ResponseCode::HANDLE)?;
        let loaded = self.loaded();
        let slot = self.slots.get_mut(i).ok_or(ResponseCode::HANDLE)?;
        match slot {
            Slot::Saved { sequence: q, policy: p }
                if *q == sequence && *p == policy && (s.kind != SessionKind::Hmac) == policy =>
            {
                if loaded >= MAX_LOADED {
                    return Err(ResponseCode::SESSION_MEMORY);
                }
                *slot = Slot::Loaded(Box::new(s));
                Ok(())
            }
            // A stale or replayed context: the slot was reloaded, re-saved, flushed or reused.
            _ => Err(ResponseCode::HANDLE),
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
        self.exclusive_audit = None;
    }

    /// Handles for GetCapability(TPM_CAP_HANDLES): loaded sessions for HT 0x02, saved for HT 0x03.
    pub fn handles(&self, saved: bool) -> impl Iterator<Item = Handle> + '_ {
        self.slots.iter().enumerate().filter_map(move |(i, s)| match s {
            Slot::Loaded(s) if !saved => Some(handle_for(i, s.kind != SessionKind::Hmac)),
            Slot::Saved { policy, .. } if saved => Some(handle_for(i, *policy)),
            _ => None,
        })
    }
}
