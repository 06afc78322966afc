//! The commands, one module per chapter of TPM 2.0 Part 3. A command module never uses another:
//! what two chapters share lives in `engine`, `state`, `object`, `crypto` or `wire`.

pub mod asymmetric;
pub mod attestation;
pub mod capability;
pub mod clocks;
pub mod context;
pub mod da;
pub mod duplication;
pub mod enhanced_auth;
pub mod ephemeral;
pub mod hash_hmac;
pub mod hierarchy;
pub mod integrity;
pub mod nv;
pub mod object;
pub mod random;
pub mod session;
pub mod signing;
pub mod startup;
pub mod symmetric;
pub mod testing;
