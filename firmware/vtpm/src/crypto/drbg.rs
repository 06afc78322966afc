//! The TPM's random number generator: HMAC_DRBG with SHA-256 (NIST SP 800-90A §10.1.2), seeded and
//! periodically reseeded from the platform's `EntropySource`, stirrable by TPM2_StirRandom.

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::EntropySource;
use crate::crypto::HashAlg;

/// Generate calls between automatic reseeds from the entropy source (SP 800-90A allows 2^48).
const RESEED_INTERVAL: u32 = 1024;

/// HMAC_DRBG state.
#[derive(Clone)]
pub struct Drbg {
    k: [u8; 32],
    v: [u8; 32],
    since_reseed: u32,
}

impl core::fmt::Debug for Drbg {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print the state.
        f.debug_struct("Drbg").field("since_reseed", &self.since_reseed).finish_non_exhaustive()
    }
}

fn hmac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // HMAC-SHA256 with a 32-byte key cannot fail; on the impossible error the output stays zero and the
    // next reseed recovers.
    if let Ok(d) = HashAlg::Sha256.hmac(key, parts) {
        out.copy_from_slice(d.as_slice());
    }
    out
}

// The DRBG state predicts every future output: wiped when freed.
impl Drop for Drbg {
    fn drop(&mut self) {
        self.k.zeroize();
        self.v.zeroize();
    }
}

impl ZeroizeOnDrop for Drbg {}

impl Drbg {
    /// Instantiate from 48 bytes of entropy plus `personalization`.
    pub fn new(entropy: &mut dyn EntropySource, personalization: &[u8]) -> Self {
        let mut d = Drbg { k: [0; 32], v: [1; 32], since_reseed: 0 };
        let mut seed = [0u8; 48];
        entropy.fill_bytes(&mut seed);
        d.update(&[&seed, personalization]);
        d
    }

    fn update(&mut self, provided: &[&[u8]]) {
        let empty = provided.iter().all(|p| p.is_empty());
        let a = provided.first().copied().unwrap_or_default();
        let b = provided.get(1).copied().unwrap_or_default();
        for round in [0u8, 1] {
            if round == 1 && empty {
                break;
            }
            self.k = hmac(&self.k, &[&self.v, &[round], a, b]);
            self.v = hmac(&self.k, &[&self.v]);
        }
    }

    /// Mixes fresh entropy and `additional` into the state.
    pub fn reseed(&mut self, entropy: &mut dyn EntropySource, additional: &[u8]) {
        let mut seed = [0u8; 32];
        entropy.fill_bytes(&mut seed);
        self.update(&[&seed, additional]);
        self.since_reseed = 0;
    }

    /// Mixes caller data into the state without fresh entropy (TPM2_StirRandom).
    pub fn stir(&mut self, additional: &[u8]) {
        self.update(&[additional]);
    }

    /// Fills `out` with random bytes.
    pub fn generate(&mut self, entropy: &mut dyn EntropySource, out: &mut [u8]) {
        if self.since_reseed >= RESEED_INTERVAL {
            self.reseed(entropy, &[]);
        }
        for chunk in out.chunks_mut(32) {
            self.v = hmac(&self.k, &[&self.v]);
            chunk.copy_from_slice(&self.v[..chunk.len()]);
        }
        self.update(&[]);
        self.since_reseed += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::Drbg;
    use crate::insecure_test_entropy::InsecureTestEntropy;

    #[test]
    fn output_changes_and_stir_matters() {
        let mut e = InsecureTestEntropy::new(1);
        let mut a = Drbg::new(&mut e, b"");
        let (mut x, mut y) = ([0u8; 40], [0u8; 40]);
        a.generate(&mut e, &mut x);
        a.generate(&mut e, &mut y);
        assert_ne!(x, y);
        // Two generators from the same seed agree until one is stirred.
        let mut e1 = InsecureTestEntropy::new(7);
        let mut e2 = InsecureTestEntropy::new(7);
        let mut p = Drbg::new(&mut e1, b"");
        let mut q = Drbg::new(&mut e2, b"");
        p.generate(&mut e1, &mut x);
        q.generate(&mut e2, &mut y);
        assert_eq!(x, y);
        q.stir(b"stir");
        p.generate(&mut e1, &mut x);
        q.generate(&mut e2, &mut y);
        assert_ne!(x, y);
    }
}
