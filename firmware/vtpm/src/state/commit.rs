//! The ephemeral-key commit state of Part 1 §C.2.4 / ms-tpm-20-ref `gr.commitNonce` and
//! `gr.commitCounter`: each TPM2_EC_Ephemeral (Part 3 §19.3) takes the next counter value, and its
//! ephemeral scalar r is derived from a secret nonce and that counter, so a later two-phase operation
//! naming the counter can recompute r instead of the TPM storing it. Both are new at each TPM Reset.

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::EntropySource;
use crate::crypto::HashAlg;
use crate::crypto::drbg::Drbg;
use crate::crypto::seeded_rng::SeededRng;
use crate::state::hierarchy::fresh;
use crate::wire::response_code::TpmResult;

/// The commit nonce and counter.
#[derive(Debug, Clone)]
pub struct CommitState {
    /// Secret: whoever knows it and a counter value knows that ephemeral key's private part.
    nonce: [u8; 32],
    counter: u64,
}

// The nonce is wiped when the state is freed (threat model T5).
impl Drop for CommitState {
    fn drop(&mut self) {
        self.nonce.zeroize();
    }
}

impl ZeroizeOnDrop for CommitState {}

impl CommitState {
    pub fn new(drbg: &mut Drbg, e: &mut dyn EntropySource) -> Self {
        CommitState { nonce: fresh(drbg, e), counter: 0 }
    }

    /// A TPM Reset: a new nonce, and the counter starts again (ephemeral keys of the old one are gone).
    pub fn tpm_reset(&mut self, drbg: &mut Drbg, e: &mut dyn EntropySource) {
        self.nonce.zeroize();
        self.nonce = fresh(drbg, e);
        self.counter = 0;
    }

    /// Takes the next counter value; returns it and the stream r is drawn from for it (KDFa(SHA-256,
    /// commitNonce, "ECDAA Commit", counter), the label ms-tpm-20-ref CryptGenerateR uses).
    pub fn next(&mut self) -> TpmResult<(u64, SeededRng)> {
        self.counter = self.counter.wrapping_add(1);
        let rng =
            SeededRng::new(HashAlg::Sha256, &self.nonce, b"ECDAA Commit", &self.counter.to_be_bytes(), &[])?;
        Ok((self.counter, rng))
    }
}
