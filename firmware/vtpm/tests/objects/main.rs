//! Integration tests for key objects: creation, loading, signing, attestation, encryption, import,
//! credentials, authorization and the primary cache (TPM 2.0 Part 3 ch. 12-20).

#[path = "../common/mod.rs"]
mod common;
#[path = "../key_helpers/mod.rs"]
mod key_helpers;

mod attest;
mod child_keys;
mod credential;
mod crypt;
mod duplicate;
mod endorsement_seed;
mod ephemeral;
mod external;
mod import;
mod key_auth;
mod keys;
mod primary_cache;
