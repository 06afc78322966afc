//! The byte stream keys are drawn from: deterministic for primaries (keyed by the hierarchy seed,
//! Part 1 §26-27 style), fresh DRBG output otherwise.

use alloc::vec::Vec;

use rand_core::{CryptoRng, RngCore};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::HashAlg;
use crate::wire::response_code::{ResponseCode, TpmResult};

/// A deterministic byte stream: HMAC-SHA256 in counter mode (SP 800-108) under a key that KDFa
/// derives from a seed, a label and two contexts. Primaries draw from one keyed by the hierarchy
/// seed; other objects from one keyed by fresh DRBG output.
#[derive(Clone)]
pub struct SeededRng {
    key: [u8; 32],
    counter: u32,
    block: [u8; 32],
    used: usize,
}

impl core::fmt::Debug for SeededRng {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SeededRng").finish_non_exhaustive()
    }
}

// The key (derived from a hierarchy seed for primaries) and the pending block are wiped when freed.
impl Drop for SeededRng {
    fn drop(&mut self) {
        self.key.zeroize();
        self.block.zeroize();
    }
}

impl ZeroizeOnDrop for SeededRng {}

impl SeededRng {
    pub fn new(alg: HashAlg, seed: &[u8], label: &[u8], u: &[u8], v: &[u8]) -> TpmResult<Self> {
        let k = alg.kdfa(seed, label, u, v, 256)?;
        let mut key = [0u8; 32];
        key.copy_from_slice(k.get(..32).ok_or(ResponseCode::FAILURE)?);
        Ok(SeededRng { key, counter: 0, block: [0; 32], used: 32 })
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = alloc::vec![0u8; n];
        self.fill_bytes(&mut v);
        v
    }
}

impl RngCore for SeededRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for out in dest {
            if self.used == self.block.len() {
                self.counter = self.counter.wrapping_add(1);
                // HMAC-SHA256 with a 32-byte key cannot fail.
                if let Ok(d) = HashAlg::Sha256.hmac(&self.key, &[&self.counter.to_be_bytes()]) {
                    self.block.copy_from_slice(d.as_slice());
                }
                self.used = 0;
            }
            *out = self.block[self.used];
            self.used += 1;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for SeededRng {}
