//! Derived RSA primaries, remembered.
//!
//! Deriving an RSA-2048 primary from a seed means searching the seed's stream for two 1024-bit primes
//! (`crypto::rsa_primes`: tens of milliseconds on the host, more in the firmware), while the same
//! template under the same seed always gives the same key (Part 1 §26.2). So the TPM keeps the last
//! few: a cache keyed by a digest of everything the derivation reads (seed, label, template digest,
//! sensitive data). It is emptied whenever a seed changes (`KeyStore::tpm_reset`,
//! `KeyStore::clear_owner`), so no key outlives its seed. ECC primaries derive in well under a
//! millisecond and are not cached.

use alloc::vec::Vec;
use core::cell::RefCell;

use zeroize::Zeroize;

use crate::crypto::HashAlg;
use crate::object::key_material::Material;
use crate::object::{Public, Sensitive};

/// How many primaries the cache keeps (oldest out first).
const CAPACITY: usize = 4;

#[derive(Clone)]
struct Entry {
    key: [u8; 32],
    public: Public,
    /// The derived sensitive area without its authValue (the caller's, set on every use).
    sensitive: Sensitive,
    material: Material,
}

// The cache key is a hash over the seed; the entry's sensitive area and material wipe themselves.
impl Drop for Entry {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

/// The cache. Interior mutability: derivation reads the TPM, and remembering a key is not a state change
/// any command can observe, except in time.
#[derive(Clone, Default)]
pub struct PrimaryCache(RefCell<Vec<Entry>>);

impl core::fmt::Debug for PrimaryCache {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print key material.
        f.debug_struct("PrimaryCache").field("entries", &self.0.borrow().len()).finish_non_exhaustive()
    }
}

impl PrimaryCache {
    /// The cache key: SHA-256 over every input of the derivation, each length-prefixed.
    pub fn key(seed: &[u8], label: &[u8], template_digest: &[u8], data: &[u8]) -> [u8; 32] {
        let lengths =
            [seed.len(), label.len(), template_digest.len(), data.len()].map(|n| (n as u32).to_be_bytes());
        let digest = HashAlg::Sha256.digest(&[
            b"WARDEN PRIMARY CACHE",
            &lengths[0],
            seed,
            &lengths[1],
            label,
            &lengths[2],
            template_digest,
            &lengths[3],
            data,
        ]);
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_slice().get(..32).unwrap_or(&[0; 32]));
        key
    }

    /// The remembered derivation for `key`, if any.
    pub fn get(&self, key: &[u8; 32]) -> Option<(Public, Sensitive, Material)> {
        let entries = self.0.borrow();
        let entry = entries.iter().find(|entry| &entry.key == key)?;
        Some((entry.public.clone(), entry.sensitive.clone(), entry.material.clone()))
    }

    /// Remembers a derivation (its authValue is not kept).
    pub fn put(&self, key: [u8; 32], public: &Public, sensitive: &Sensitive, material: &Material) {
        let mut entries = self.0.borrow_mut();
        if entries.iter().any(|entry| entry.key == key) {
            return;
        }
        if entries.len() == CAPACITY {
            entries.remove(0);
        }
        let mut sensitive = sensitive.clone();
        sensitive.auth.zeroize();
        entries.push(Entry { key, public: public.clone(), sensitive, material: material.clone() });
    }

    /// Forgets everything (a seed changed).
    pub fn clear(&self) {
        self.0.borrow_mut().clear();
    }
}
