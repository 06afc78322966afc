//! Sequence objects (Part 1 §32.4.5): hash, HMAC and event sequences in progress. They are held in the
//! transient object table (`state::transient`).

use alloc::boxed::Box;
use alloc::vec::Vec;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::stream_hash::StreamHash;
use crate::crypto::stream_hmac::StreamHmac;
use crate::state::pcr::BANKS;
use crate::wire::constants::{MAX_DIGEST, TPM_GENERATED_VALUE};
use crate::wire::marshal::{Reader, Writer};
use crate::wire::response_code::{ResponseCode, TpmResult};

/// What a sequence object is accumulating.
#[derive(Debug, Clone)]
pub enum SeqState {
    Hash(Box<StreamHash>),
    /// An HMAC sequence (TPM2_HMAC_Start): keyed, so its state is secret and wiped when dropped.
    Hmac(Box<StreamHmac>),
    /// An event sequence hashes with every implemented algorithm, in `HASH_ALGS` order.
    Event(Box<[StreamHash; BANKS]>),
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

// The sequence's authValue is wiped when the sequence is freed.
impl Drop for SeqObject {
    fn drop(&mut self) {
        self.auth.zeroize();
    }
}

impl ZeroizeOnDrop for SeqObject {}

impl SeqObject {
    pub(crate) fn update(&mut self, data: &[u8]) {
        if !self.started {
            self.started = true;
            self.ticket_ok = !starts_generated(data);
        }
        match &mut self.state {
            SeqState::Hash(h) => h.update(data),
            SeqState::Hmac(m) => m.update(data),
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
            SeqState::Hmac(m) => {
                w.u8(2);
                m.save(w);
            }
        }
    }

    pub fn load(r: &mut Reader<'_>) -> TpmResult<SeqObject> {
        let auth = r.tpm2b(MAX_DIGEST)?.to_vec();
        let flags = r.u8()?;
        let state = match r.u8()? {
            0 => SeqState::Hash(Box::new(StreamHash::load(r)?)),
            1 => {
                SeqState::Event(Box::new([StreamHash::load(r)?, StreamHash::load(r)?, StreamHash::load(r)?]))
            }
            2 => SeqState::Hmac(Box::new(StreamHmac::load(r)?)),
            _ => return Err(ResponseCode::INTEGRITY),
        };
        Ok(SeqObject { auth, state, started: flags & 1 != 0, ticket_ok: flags & 2 != 0 })
    }
}

pub(crate) fn starts_generated(data: &[u8]) -> bool {
    data.get(..4) == Some(&TPM_GENERATED_VALUE.to_be_bytes()[..])
}
