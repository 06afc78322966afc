//! Resources at rest: AES-256-GCM (NIST SP 800-38D) under a key derived from the store key, with the
//! resource's path and policy name as associated data, so a database row moved to another path or
//! re-labelled with a weaker policy no longer decrypts.
//!
//! The store key never encrypts directly: HKDF-SHA-256 (RFC 5869) derives one key per purpose, so the
//! session-cookie key a replica may also derive from it stays independent of this one.
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{ResourcePath, StoreError, StoreKey};

/// HKDF `info` of the resource-sealing key.
const SEALING_INFO: &[u8] = b"warden-verifier store: resource sealing key v1";
/// The GCM nonce length: 96 bits, fresh and random for every write (SP 800-38D §8.2.2; a store sees far
/// fewer than 2^32 writes under one key).
const NONCE_LEN: usize = 12;
/// What [`Sealer::seal_check`] seals: a row that tells at start-up whether the key is the store's.
const KEY_CHECK_PLAINTEXT: &[u8] = b"warden-verifier store key check";
/// The associated-data label of the key-check row (no resource path can equal it: paths have slashes).
const KEY_CHECK_LABEL: &str = "store-key-check";

/// Seals and opens resources under one store key.
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// The sealer for `key`.
    pub fn new(key: &StoreKey) -> Self {
        let mut derived = Zeroizing::new([0u8; 32]);
        Hkdf::<Sha256>::new(None, key.bytes())
            .expand(SEALING_INFO, derived.as_mut())
            .expect("32 bytes is a valid HKDF-SHA-256 output length");
        // aes-gcm's key schedule zeroizes itself on drop (its `zeroize` feature).
        Self { cipher: Aes256Gcm::new(derived.as_ref().into()) }
    }

    /// `nonce ‖ ciphertext ‖ tag` of `secret`, bound to `path` and `policy_name`.
    pub fn seal(&self, path: &ResourcePath, policy_name: &str, secret: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.seal_with_label(&associated_data(&path.to_string(), policy_name), secret)
    }

    /// The secret inside `sealed`, if it was sealed for `path` and `policy_name` under this key.
    pub fn open(
        &self,
        path: &ResourcePath,
        policy_name: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        self.open_with_label(&associated_data(&path.to_string(), policy_name), sealed)
            .ok_or_else(|| StoreError::WrongKey(path.to_string()))
    }

    /// The key-check row a new store records.
    pub fn seal_check(&self) -> Result<Vec<u8>, StoreError> {
        self.seal_with_label(&associated_data(KEY_CHECK_LABEL, ""), KEY_CHECK_PLAINTEXT)
    }

    /// Whether a store's key-check row was sealed under this key.
    pub fn opens_check(&self, sealed: &[u8]) -> bool {
        self.open_with_label(&associated_data(KEY_CHECK_LABEL, ""), sealed)
            .is_some_and(|plain| plain.as_slice() == KEY_CHECK_PLAINTEXT)
    }

    fn seal_with_label(&self, aad: &[u8], secret: &[u8]) -> Result<Vec<u8>, StoreError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(&nonce, Payload { msg: secret, aad })
            .map_err(|_| StoreError::Database("AES-GCM refused to seal (message too long)".into()))?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    fn open_with_label(&self, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let (nonce, ciphertext) = sealed.split_first_chunk::<NONCE_LEN>()?;
        let plain = self.cipher.decrypt(&Nonce::from(*nonce), Payload { msg: ciphertext, aad }).ok()?;
        Some(Zeroizing::new(plain))
    }
}

/// `len(path) ‖ path ‖ policy`: length-prefixed so that no (path, policy) pair aliases another.
fn associated_data(path: &str, policy_name: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(8 + path.len() + policy_name.len());
    aad.extend_from_slice(&(path.len() as u64).to_be_bytes());
    aad.extend_from_slice(path.as_bytes());
    aad.extend_from_slice(policy_name.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> ResourcePath {
        text.parse().unwrap()
    }

    #[test]
    fn sealed_secrets_open_only_for_their_path_policy_and_key() {
        let sealer = Sealer::new(&StoreKey::new([7; 32]));
        let sealed = sealer.seal(&path("a/b/c"), "p", b"secret").unwrap();
        assert_eq!(sealer.open(&path("a/b/c"), "p", &sealed).unwrap().as_slice(), b"secret");
        assert!(!sealed.windows(6).any(|w| w == b"secret"), "the secret is not stored in clear");
        assert!(sealer.open(&path("a/b/d"), "p", &sealed).is_err(), "another path");
        assert!(sealer.open(&path("a/b/c"), "q", &sealed).is_err(), "another policy");
        let other = Sealer::new(&StoreKey::new([8; 32]));
        assert!(matches!(other.open(&path("a/b/c"), "p", &sealed), Err(StoreError::WrongKey(_))));
        for at in [0, NONCE_LEN, sealed.len() - 1] {
            let mut flipped = sealed.clone();
            flipped[at] ^= 1;
            assert!(sealer.open(&path("a/b/c"), "p", &flipped).is_err(), "byte {at}");
        }
        assert!(sealer.open(&path("a/b/c"), "p", &sealed[..5]).is_err(), "truncated");
    }

    #[test]
    fn every_write_has_a_fresh_nonce() {
        let sealer = Sealer::new(&StoreKey::new([7; 32]));
        let one = sealer.seal(&path("a/b/c"), "p", b"secret").unwrap();
        let two = sealer.seal(&path("a/b/c"), "p", b"secret").unwrap();
        assert_ne!(one[..NONCE_LEN], two[..NONCE_LEN]);
    }

    #[test]
    fn the_key_check_tells_keys_apart() {
        let sealer = Sealer::new(&StoreKey::new([7; 32]));
        let check = sealer.seal_check().unwrap();
        assert!(sealer.opens_check(&check));
        assert!(!Sealer::new(&StoreKey::new([8; 32])).opens_check(&check));
    }
}
