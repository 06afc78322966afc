//! Derived RSA primaries, remembered.
//!
//! Deriving an RSA-2048 primary from a seed means searching the seed's stream for two 1024-bit primes
//! (`crypto::rsa_primes`: tens of milliseconds on the host, more in the firmware), while the same
//! template under the same seed always gives the same key (Part 1 §26.2). So the TPM keeps the last
//! few: a cache keyed by a digest of everything the derivation reads (seed, label, template digest,
//! sensitive data). A hierarchy's entries are forgotten whenever its seed changes
//! (`KeyStore::tpm_reset` for the null seed, `KeyStore::clear_owner`, ChangeEPS/ChangePPS, a firmware
//! endorsement seed), so no key outlives its seed; a TPM Reset keeps the EK the firmware derived at
//! boot, which the guest then asks for again. ECC primaries derive in well under a millisecond and are
//! not cached.

use alloc::vec::Vec;
use core::cell::RefCell;

use zeroize::Zeroize;

use crate::crypto::HashAlg;
use crate::object::key_material::Material;
use crate::object::{Public, Sensitive};
use crate::wire::handle::Handle;

/// How many primaries the cache keeps (oldest out first).
const CAPACITY: usize = 4;

#[derive(Clone)]
struct Entry {
    key: [u8; 32],
    /// The hierarchy whose seed the key was derived from.
    hierarchy: Handle,
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

    /// Remembers a derivation from `hierarchy`'s seed (its authValue is not kept).
    pub fn put(
        &self,
        key: [u8; 32],
        hierarchy: Handle,
        public: &Public,
        sensitive: &Sensitive,
        material: &Material,
    ) {
        let mut entries = self.0.borrow_mut();
        if entries.iter().any(|entry| entry.key == key) {
            return;
        }
        if entries.len() == CAPACITY {
            entries.remove(0);
        }
        let mut sensitive = sensitive.clone();
        sensitive.auth.zeroize();
        entries.push(Entry { key, hierarchy, public: public.clone(), sensitive, material: material.clone() });
    }

    /// Forgets what was derived from `hierarchy`'s seed (it changed).
    pub fn forget(&self, hierarchy: Handle) {
        self.0.borrow_mut().retain(|entry| entry.hierarchy != hierarchy);
    }
}
