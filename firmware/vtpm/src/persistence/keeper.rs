//! The keeper of the stored state: reads, opens and applies it at every _TPM_Init, and seals and stores
//! it again after every command that changed it (TPM 2.0 Library Part 1 §37: NV writes, index and
//! object definitions, authorization changes, TPM2_Clear, dictionary-attack failures ... are durable
//! when the command completes). What it refuses, it says why, and the TPM starts fresh.

use alloc::vec;

use crate::Tpm;
use crate::persistence::format::FormatError;
use crate::persistence::seal::{self, HEADER_LEN, ImageId, SealError, SealingKey};

/// The host's storage (untrusted: it may return anything, keep old copies, or lose writes).
pub trait StateStorage {
    /// Bytes the storage holds.
    fn capacity(&self) -> usize;
    /// Reads `out.len()` bytes from `offset`.
    fn read_at(&mut self, offset: usize, out: &mut [u8]) -> Result<(), StorageError>;
    /// Writes `data` at offset 0 (a whole blob).
    fn write(&mut self, data: &[u8]) -> Result<(), StorageError>;
}

/// The storage device failed or is too small.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageError {
    /// The device reported an error or did not answer.
    Device,
    /// The state does not fit.
    TooLarge,
}

/// What [`StateKeeper::load`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadOutcome {
    /// The storage holds no state (first boot): the TPM is as manufactured.
    Empty,
    /// The stored state of this generation was applied.
    Restored { generation: u64 },
    /// The stored state was refused; the TPM starts fresh (manufactured anew).
    Refused(Refusal),
}

/// What [`StateKeeper::save_if_changed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveOutcome {
    /// Nothing durable changed since the last save.
    Unchanged,
    /// The state was stored as this generation.
    Saved { generation: u64 },
    /// The stored copy was not the one this boot last wrote: refused, the TPM started fresh, and the
    /// fresh state was stored.
    Refused(Refusal),
}

/// Why a stored state was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The storage could not be read.
    Storage(StorageError),
    /// The envelope: malformed, another image's, or its tag fails.
    Seal(SealError),
    /// Older than a state this boot already read or wrote (a replay).
    Older { stored: u64, seen: u64 },
    /// Before a save: newer than any state this boot wrote (only this boot writes while it runs).
    Newer { stored: u64, seen: u64 },
    /// The tag verified but the contents do not parse (a bug, or a key compromise).
    Format(FormatError),
}

/// Loads and saves one TPM's state through `S`, sealed with one key for one image.
#[derive(Debug)]
pub struct StateKeeper<S> {
    storage: S,
    key: SealingKey,
    image: ImageId,
    /// The highest generation read or written during this boot.
    seen: Option<u64>,
    /// The digest of the state last saved or loaded (Clock left out), to save only on change.
    saved: Option<[u8; 32]>,
}

impl<S: StateStorage> StateKeeper<S> {
    /// A keeper for `image`'s state, sealed with `key`, kept in `storage`.
    pub fn new(storage: S, key: SealingKey, image: ImageId) -> Self {
        Self { storage, key, image, seen: None, saved: None }
    }

    /// _TPM_Init: applies the stored state to `tpm`, or, if it is refused, manufactures `tpm` anew
    /// (fresh seeds, no NV) so that nothing of the refused state nor of the state before survives.
    pub fn load(&mut self, tpm: &mut Tpm) -> LoadOutcome {
        let outcome = self.read_and_apply(tpm);
        if let LoadOutcome::Refused(_) = outcome {
            tpm.manufacture_anew();
            self.saved = None;
        }
        outcome
    }

    fn read_and_apply(&mut self, tpm: &mut Tpm) -> LoadOutcome {
        let mut head = [0u8; HEADER_LEN];
        if let Err(e) = self.storage.read_at(0, &mut head) {
            return LoadOutcome::Refused(Refusal::Storage(e));
        }
        if head.iter().all(|&b| b == 0) {
            self.saved = None;
            return LoadOutcome::Empty;
        }
        let len = match seal::header(&head) {
            Ok(h) => seal::blob_len(&h),
            Err(e) => return LoadOutcome::Refused(Refusal::Seal(e)),
        };
        if len > self.storage.capacity() {
            return LoadOutcome::Refused(Refusal::Seal(SealError::Malformed));
        }
        let mut blob = vec![0u8; len];
        if let Err(e) = self.storage.read_at(0, &mut blob) {
            return LoadOutcome::Refused(Refusal::Storage(e));
        }
        let (generation, body) = match seal::open(&self.key, &self.image, &blob) {
            Ok(opened) => opened,
            Err(e) => return LoadOutcome::Refused(Refusal::Seal(e)),
        };
        if let Some(seen) = self.seen.filter(|&seen| generation < seen) {
            return LoadOutcome::Refused(Refusal::Older { stored: generation, seen });
        }
        if let Err(e) = tpm.restore_nv_state(&body) {
            return LoadOutcome::Refused(Refusal::Format(e));
        }
        self.seen = Some(generation);
        self.saved = Some(tpm.nv_state_digest());
        LoadOutcome::Restored { generation }
    }

    /// After a command: if `tpm`'s NV-resident state differs from the one last stored, seals it as the
    /// next generation and writes it. Before writing, the stored copy must still be the one this boot
    /// last read or wrote: a host that put anything else there (an older state, another image's, bytes
    /// that fail the tag) is refused as at a load, and the TPM starts fresh; the fresh state is stored.
    pub fn save_if_changed(&mut self, tpm: &mut Tpm) -> Result<SaveOutcome, StorageError> {
        let digest = tpm.nv_state_digest();
        if self.saved == Some(digest) {
            return Ok(SaveOutcome::Unchanged);
        }
        let refused = match self.seen {
            Some(seen) => self.stored_is(seen).err(),
            None => None,
        };
        if let Some(Refusal::Storage(e)) = refused {
            return Err(e);
        }
        if refused.is_some() {
            tpm.manufacture_anew();
        }
        let generation = self.seen.map_or(1, |g| g.saturating_add(1));
        let body = tpm.nv_state();
        let mut nonce = [0u8; 12];
        tpm.random(&mut nonce);
        let blob = seal::seal(&self.key, &self.image, generation, nonce, &body);
        if blob.len() > self.storage.capacity() {
            return Err(StorageError::TooLarge);
        }
        self.storage.write(&blob)?;
        self.seen = Some(generation);
        self.saved = Some(tpm.nv_state_digest());
        Ok(match refused {
            Some(why) => SaveOutcome::Refused(why),
            None => SaveOutcome::Saved { generation },
        })
    }

    /// Checks that the storage holds generation `seen` of this image's state, sealed with this key.
    fn stored_is(&mut self, seen: u64) -> Result<(), Refusal> {
        let mut head = [0u8; HEADER_LEN];
        self.storage.read_at(0, &mut head).map_err(Refusal::Storage)?;
        let len = seal::blob_len(&seal::header(&head).map_err(Refusal::Seal)?);
        if len > self.storage.capacity() {
            return Err(Refusal::Seal(SealError::Malformed));
        }
        let mut blob = vec![0u8; len];
        self.storage.read_at(0, &mut blob).map_err(Refusal::Storage)?;
        let (generation, _) = seal::open(&self.key, &self.image, &blob).map_err(Refusal::Seal)?;
        match generation {
            g if g < seen => Err(Refusal::Older { stored: g, seen }),
            g if g > seen => Err(Refusal::Newer { stored: g, seen }),
            _ => Ok(()),
        }
    }

    /// The storage (for the firmware's diagnostics and the tests).
    pub fn storage_mut(&mut self) -> &mut S {
        &mut self.storage
    }
}
