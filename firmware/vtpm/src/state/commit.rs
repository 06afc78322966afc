//! The ephemeral-key commit counter of TPM2_EC_Ephemeral (Part 3 §19.3; ms-tpm-20-ref
//! `gr.commitCounter`): each call takes the next counter value, and its ephemeral scalar r is derived
//! from a secret and that counter, so a later two-phase operation naming the counter can recompute r
//! instead of the TPM storing it. The secret is the null hierarchy's seed, which is new at every TPM
//! Reset (ms-tpm-20-ref draws a separate `commitNonce` then); the counter starts again with it.
//! Nothing is drawn from the DRBG here, so adding this state changed no other random value.

use crate::crypto::HashAlg;
use crate::crypto::seeded_rng::SeededRng;
use crate::wire::response_code::TpmResult;

/// The commit counter.
#[derive(Debug, Clone, Default)]
pub struct CommitState {
    counter: u64,
}

impl CommitState {
    /// A TPM Reset: the counter starts again (the null seed, and so every old r, changed with it).
    pub fn tpm_reset(&mut self) {
        self.counter = 0;
    }

    /// Takes the next counter value; returns it and the stream r is drawn from for it: KDFa(SHA-256,
    /// null seed, "ECDAA Commit", counter), with the label ms-tpm-20-ref CryptGenerateR uses.
    pub fn next(&mut self, null_seed: &[u8]) -> TpmResult<(u64, SeededRng)> {
        self.counter = self.counter.wrapping_add(1);
        let rng =
            SeededRng::new(HashAlg::Sha256, null_seed, b"ECDAA Commit", &self.counter.to_be_bytes(), &[])?;
        Ok((self.counter, rng))
    }
}
