//! Cryptography the engine runs on: hashes, HMAC, KDFa, AES in CFB and the other block modes, the
//! DRBG, seeded key streams, the RSA prime search and a hash whose state can be saved. Uses only `wire`.

pub mod block_modes;
pub mod drbg;
mod montgomery;
mod prime_sieve;
mod primitives;
pub mod rsa_primes;
pub mod seeded_rng;
pub mod stream_hash;
pub mod stream_hmac;

/// Bytes that are secret (keys, auth values, decrypted data): wiped when dropped (threat model T5).
pub type SecretBytes = zeroize::Zeroizing<alloc::vec::Vec<u8>>;

/// `a || b` as secret bytes, allocated once at its final size so no partial copy is freed unwiped.
pub fn secret_concat(a: &[u8], b: &[u8]) -> SecretBytes {
    let mut out = SecretBytes::new(alloc::vec::Vec::with_capacity(a.len().saturating_add(b.len())));
    out.extend_from_slice(a);
    out.extend_from_slice(b);
    out
}

pub use primitives::{Digest, HASH_ALGS, HashAlg, aes_cfb, ct_eq, strip_trailing_zeros};
