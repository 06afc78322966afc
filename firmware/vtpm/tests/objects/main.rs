//! Integration tests for key objects: creation, loading, signing, attestation, encryption, import,
//! credentials, authorization and the primary cache (TPM 2.0 Part 3 ch. 12-20).

#[path = "../common/mod.rs"]
mod common;
#[path = "../key_helpers/mod.rs"]
mod key_helpers;

mod attest;
mod child_keys;
mod cipher_modes;
mod credential;
mod crypt;
mod duplicate;
mod ecdaa;
mod endorsement_seed;
mod ephemeral;
mod external;
mod hmac_seq;
mod import;
mod key_auth;
mod keys;
mod primary_cache;
mod rsa_sizes;
mod xor_keys;
