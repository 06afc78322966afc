//! Cryptography the engine runs on: hashes, HMAC, KDFa, AES-CFB, the DRBG, seeded key streams and a
//! hash whose state can be saved. Uses only `wire`.

pub mod drbg;
mod primitives;
pub mod seeded_rng;
pub mod stream_hash;

pub use primitives::{Digest, HASH_ALGS, HashAlg, aes_cfb, ct_eq, strip_trailing_zeros};
