//! The transient object table (Part 1 §32.4): the one set of slots that holds loaded objects, both
//! sequence objects and keys, and the lookup of a key whether it is loaded or persistent.
//!
//! Handle = TRANSIENT_FIRST + slot. Sequences take slots 0-7 and keys slots 16-23, each with its own
//! capacity (TPM_PT_HR_TRANSIENT_MIN is reported for sequences), so the handles clients see stay
//! what they have always been.

use alloc::boxed::Box;

use crate::Tpm;
use crate::state::key_store::KeyObject;
use crate::state::sequence::SeqObject;
use crate::wire::handle::{self, Handle};
use crate::wire::response_code::{ResponseCode, TpmResult};

/// Sequence object slots (TPM_PT_HR_TRANSIENT_MIN).
pub const MAX_SEQUENCES: usize = 8;
/// Key slots.
pub const MAX_KEYS: usize = 8;
/// The first key slot: keys live at 0x80000010 upwards.
const FIRST_KEY_SLOT: usize = 0x10;
const SLOTS: usize = FIRST_KEY_SLOT + MAX_KEYS;

/// What a transient slot holds.
#[derive(Debug, Clone)]
pub enum TransientObject {
    Sequence(Box<SeqObject>),
    Key(Box<KeyObject>),
}

/// The transient object slots.
#[derive(Debug, Clone)]
pub struct TransientObjects {
    slots: [Option<TransientObject>; SLOTS],
}

impl Default for TransientObjects {
    fn default() -> Self {
        TransientObjects { slots: core::array::from_fn(|_| None) }
    }
}

fn slot_of(h: Handle) -> Option<usize> {
    h.index_from(Handle::TRANSIENT_FIRST).map(|i| i as usize).filter(|&i| i < SLOTS)
}

fn handle_of(slot: usize) -> Handle {
    Handle::TRANSIENT_FIRST.offset(slot as u32)
}

impl TransientObjects {
    fn slot(&self, h: Handle) -> Option<&TransientObject> {
        self.slots.get(slot_of(h)?)?.as_ref()
    }

    /// Puts `o` in the first free slot of `range`; TPM_RC_OBJECT_MEMORY if there is none.
    fn insert(&mut self, range: core::ops::Range<usize>, o: TransientObject) -> TpmResult<Handle> {
        let free = self.slots.get_mut(range.clone()).and_then(|r| r.iter().position(Option::is_none));
        let i = range.start + free.ok_or(ResponseCode::OBJECT_MEMORY)?;
        if let Some(s) = self.slots.get_mut(i) {
            *s = Some(o);
        }
        Ok(handle_of(i))
    }

    pub fn sequence(&self, h: Handle) -> Option<&SeqObject> {
        match self.slot(h)? {
            TransientObject::Sequence(s) => Some(s),
            TransientObject::Key(_) => None,
        }
    }

    pub fn sequence_mut(&mut self, h: Handle) -> Option<&mut SeqObject> {
        match self.slots.get_mut(slot_of(h)?)?.as_mut()? {
            TransientObject::Sequence(s) => Some(s),
            TransientObject::Key(_) => None,
        }
    }

    pub fn insert_sequence(&mut self, o: SeqObject) -> TpmResult<Handle> {
        self.insert(0..MAX_SEQUENCES, TransientObject::Sequence(Box::new(o)))
    }

    /// Flushes a sequence object and hands it back.
    pub fn remove_sequence(&mut self, h: Handle) -> Option<Box<SeqObject>> {
        let slot = self.slots.get_mut(slot_of(h)?)?;
        match slot.take()? {
            TransientObject::Sequence(s) => Some(s),
            other => {
                *slot = Some(other);
                None
            }
        }
    }

    pub fn sequence_count(&self) -> usize {
        self.slots.iter().filter(|s| matches!(s, Some(TransientObject::Sequence(_)))).count()
    }

    /// A loaded key.
    pub fn key(&self, h: Handle) -> Option<&KeyObject> {
        match self.slot(h)? {
            TransientObject::Key(k) => Some(k),
            TransientObject::Sequence(_) => None,
        }
    }

    pub fn insert_key(&mut self, k: KeyObject) -> TpmResult<Handle> {
        self.insert(FIRST_KEY_SLOT..SLOTS, TransientObject::Key(Box::new(k)))
    }

    /// Flushes a loaded key; false if there was none.
    pub fn remove_key(&mut self, h: Handle) -> bool {
        if self.key(h).is_none() {
            return false;
        }
        slot_of(h).and_then(|i| self.slots.get_mut(i)).and_then(Option::take).is_some()
    }

    /// Flushes the loaded keys of `hierarchy` (HierarchyControl disabling it, a seed changing).
    pub fn flush_keys_of(&mut self, hierarchy: Handle) {
        for s in self.slots.iter_mut() {
            if matches!(s, Some(TransientObject::Key(k)) if k.hierarchy == hierarchy) {
                *s = None;
            }
        }
    }

    /// A TPM Reset: every loaded key is gone (their null-seed or context keys changed).
    pub fn clear_keys(&mut self) {
        for s in self.slots.iter_mut() {
            if matches!(s, Some(TransientObject::Key(_))) {
                *s = None;
            }
        }
    }

    /// _TPM_Init: every loaded object is gone.
    pub fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
    }

    /// The handles of every loaded object, in handle order.
    pub fn handles(&self) -> impl Iterator<Item = Handle> + '_ {
        self.slots.iter().enumerate().filter(|(_, s)| s.is_some()).map(|(i, _)| handle_of(i))
    }
}

impl Tpm {
    /// A key object, loaded (transient) or persistent.
    pub(crate) fn key(&self, h: Handle) -> Option<&KeyObject> {
        match h.ty() {
            handle::HT_TRANSIENT => self.objects.key(h),
            handle::HT_PERSISTENT => self.keys.persistent(h),
            _ => None,
        }
    }
}
