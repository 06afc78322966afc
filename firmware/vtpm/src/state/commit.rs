//! The commit state of the split signing schemes (TPM 2.0 Part 1 §C.2 ECDAA; ms-tpm-20-ref
//! `gr.commitNonce`, `gr.commitCounter`, `gr.commitArray`): TPM2_Commit (Part 3 §19.2) takes the
//! next counter value and marks it outstanding; the one signature that names it derives the same
//! ephemeral scalar r from the secret nonce, the key's Name and the counter, and retires it, so r
//! is never stored and never used twice (a reused r reveals the private key). New at each TPM Reset;
//! the nonce is drawn at the first commitment after it, so a TPM that never commits draws nothing
//! (and recorded command flows replay against the same DRBG stream).

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::HashAlg;
use crate::crypto::seeded_rng::SeededRng;
use crate::wire::response_code::{ResponseCode, TpmResult};

/// Outstanding commits tracked at once (the reference's 128-bit commitArray): a commit whose bit
/// was reused by a later counter value can no longer be signed with.
const SLOTS: u64 = 128;

/// The commit nonce, counter and outstanding commits.
#[derive(Debug, Clone)]
pub struct CommitState {
    /// Secret: with it, a Name and a counter value one knows that commitment's r. None until the
    /// first commitment after a TPM Reset.
    nonce: Option<[u8; 32]>,
    counter: u64,
    /// Per slot (counter mod SLOTS), the full counter value committed there and not yet used.
    outstanding: [Option<u64>; SLOTS as usize],
}

// The nonce is wiped when the state is freed (threat model T5).
impl Drop for CommitState {
    fn drop(&mut self) {
        if let Some(n) = self.nonce.as_mut() {
            n.zeroize();
        }
    }
}

impl ZeroizeOnDrop for CommitState {}

impl Default for CommitState {
    fn default() -> Self {
        CommitState { nonce: None, counter: 0, outstanding: [None; SLOTS as usize] }
    }
}

impl CommitState {
    /// A TPM Reset: the nonce is forgotten, the counter starts again, every commitment is gone.
    pub fn tpm_reset(&mut self) {
        if let Some(n) = self.nonce.as_mut() {
            n.zeroize();
        }
        *self = CommitState::default();
    }

    pub fn has_nonce(&self) -> bool {
        self.nonce.is_some()
    }

    /// Sets the nonce drawn for the first commitment since the TPM Reset.
    pub fn set_nonce(&mut self, nonce: [u8; 32]) {
        self.nonce = Some(nonce);
    }

    /// The stream r is drawn from for the key `name` at counter value `count`: KDFa(SHA-256,
    /// commitNonce, "ECDAA Commit", Name, count), the label ms-tpm-20-ref CryptGenerateR uses.
    fn stream(&self, name: &[u8], count: u64) -> TpmResult<SeededRng> {
        let nonce = self.nonce.as_ref().ok_or(ResponseCode::FAILURE)?;
        SeededRng::new(HashAlg::Sha256, nonce, b"ECDAA Commit", name, &count.to_be_bytes())
    }

    /// The stream of r for a TPM2_Commit with the key `name` at the current counter value; `commit`
    /// then takes that value once the commitment's outputs were computed.
    pub fn peek(&self, name: &[u8]) -> TpmResult<SeededRng> {
        self.stream(name, self.counter)
    }

    /// Marks the current counter value outstanding and advances; returns its low 16 bits.
    pub fn commit(&mut self) -> u16 {
        let count = self.counter;
        if let Some(slot) = self.outstanding.get_mut((count % SLOTS) as usize) {
            *slot = Some(count);
        }
        self.counter = self.counter.wrapping_add(1);
        count as u16
    }

    /// The stream of the outstanding commitment `c` (low 16 bits of its counter) for the key `name`,
    /// without retiring it; None if there is none.
    pub fn committed(&self, name: &[u8], c: u16) -> Option<SeededRng> {
        let full = self.outstanding.get((u64::from(c) % SLOTS) as usize).copied().flatten()?;
        if full as u16 != c {
            return None;
        }
        self.stream(name, full).ok()
    }

    /// Retires commitment `c` after the signature that used it.
    pub fn retire(&mut self, c: u16) {
        if let Some(slot) = self.outstanding.get_mut((u64::from(c) % SLOTS) as usize) {
            *slot = None;
        }
    }

    /// TPM2_EC_Ephemeral (Part 3 §19.3): takes the next counter value (shared with TPM2_Commit, so
    /// the values tools see run 0, 1, 2 ... across both) and returns it with the stream its r is drawn
    /// from: KDFa(SHA-256, null seed, "ECDAA Commit", counter). The null seed is new at every TPM Reset,
    /// like the reference's commitNonce, and using it draws nothing from the DRBG. The value is not made
    /// an outstanding commitment: no ECDAA signature may use an EC_Ephemeral r (TPM2_ZGen_2Phase, its
    /// consumer, is not implemented).
    pub fn ephemeral(&mut self, null_seed: &[u8]) -> TpmResult<(u64, SeededRng)> {
        let count = self.counter;
        self.counter = self.counter.wrapping_add(1);
        let rng = SeededRng::new(HashAlg::Sha256, null_seed, b"ECDAA Commit", &count.to_be_bytes(), &[])?;
        Ok((count, rng))
    }
}
