//! Sequence objects (Part 1 §32.4.5): hash and event sequences in progress, and the transient slots
//! that hold them.

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::crypto::stream_hash::StreamHash;
use crate::wire::constants::{MAX_DIGEST, TPM_GENERATED_VALUE};
use crate::wire::handle::Handle;
use crate::wire::marshal::{Reader, Writer};
use crate::wire::response_code::{ResponseCode, TpmResult};

/// Transient object slots (TPM_PT_HR_TRANSIENT_MIN).
pub const MAX_OBJECTS: usize = 8;

/// What a sequence object is accumulating.
#[derive(Debug, Clone)]
pub enum SeqState {
    Hash(Box<StreamHash>),
    /// An event sequence hashes with every implemented algorithm, in `HASH_ALGS` order.
    Event(Box<[StreamHash; 2]>),
}

/// A sequence object (Part 1 §32.4.5).
#[derive(Debug, Clone)]
pub struct SeqObject {
    pub auth: Vec<u8>,
    pub state: SeqState,
    /// Whether the first block has been seen, and whether a ticket may be produced: not when the
    /// data starts with TPM_GENERATED_VALUE (Part 3 §17.5, so a forged "TPM-made" message cannot get one).
    pub started: bool,
    pub ticket_ok: bool,
}

impl SeqObject {
    pub(crate) fn update(&mut self, data: &[u8]) {
        if !self.started {
            self.started = true;
            self.ticket_ok = !starts_generated(data);
        }
        match &mut self.state {
            SeqState::Hash(h) => h.update(data),
            SeqState::Event(hs) => hs.iter_mut().for_each(|h| h.update(data)),
        }
    }

    pub fn save(&self, w: &mut Writer) {
        w.tpm2b(&self.auth);
        w.u8(u8::from(self.started) | u8::from(self.ticket_ok) << 1);
        match &self.state {
            SeqState::Hash(h) => {
                w.u8(0);
                h.save(w);
            }
            SeqState::Event(hs) => {
                w.u8(1);
                hs.iter().for_each(|h| h.save(w));
            }
        }
    }

    pub fn load(r: &mut Reader<'_>) -> TpmResult<SeqObject> {
        let auth = r.tpm2b(MAX_DIGEST)?.to_vec();
        let flags = r.u8()?;
        let state = match r.u8()? {
            0 => SeqState::Hash(Box::new(StreamHash::load(r)?)),
            1 => SeqState::Event(Box::new([StreamHash::load(r)?, StreamHash::load(r)?])),
            _ => return Err(ResponseCode::INTEGRITY),
        };
        Ok(SeqObject { auth, state, started: flags & 1 != 0, ticket_ok: flags & 2 != 0 })
    }
}

pub(crate) fn starts_generated(data: &[u8]) -> bool {
    data.get(..4) == Some(&TPM_GENERATED_VALUE.to_be_bytes()[..])
}

/// The transient object slots. Handle = TRANSIENT_FIRST + slot.
#[derive(Debug, Default, Clone)]
pub struct Objects {
    pub(crate) slots: [Option<Box<SeqObject>>; MAX_OBJECTS],
}

fn slot_of(h: Handle) -> Option<usize> {
    h.index_from(Handle::TRANSIENT_FIRST).map(|i| i as usize).filter(|&i| i < MAX_OBJECTS)
}

impl Objects {
    pub fn get(&self, h: Handle) -> Option<&SeqObject> {
        self.slots.get(slot_of(h)?)?.as_deref()
    }

    pub fn get_mut(&mut self, h: Handle) -> Option<&mut SeqObject> {
        self.slots.get_mut(slot_of(h)?)?.as_deref_mut()
    }

    pub fn insert(&mut self, o: SeqObject) -> TpmResult<Handle> {
        let i = self.slots.iter().position(Option::is_none).ok_or(ResponseCode::OBJECT_MEMORY)?;
        if let Some(s) = self.slots.get_mut(i) {
            *s = Some(Box::new(o));
        }
        Ok(Handle::TRANSIENT_FIRST.offset(i as u32))
    }

    pub fn remove(&mut self, h: Handle) -> Option<Box<SeqObject>> {
        self.slots.get_mut(slot_of(h)?)?.take()
    }

    pub fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
    }

    pub fn count(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    pub fn handles(&self) -> impl Iterator<Item = Handle> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .map(|(i, _)| Handle::TRANSIENT_FIRST.offset(i as u32))
    }
}
