//! `warden-verifier`: the relying party of Warden's attestation as a service. It speaks the KBS
//! attestation protocol (Trustee's `kbs/docs/kbs_attestation_protocol.md`) over HTTP, checks SVSM
//! evidence with `warden-evidence` against signed reference values, issues an ES384 attestation token,
//! and releases a stored secret as a JWE only to the key the attested guest bound into its report.
//!
//! Sessions live in a signed cookie, not in server memory, and everything durable is behind the
//! [`store::Store`] trait, so any number of replicas sharing one store serve the same clients.
#![forbid(unsafe_code)]

pub mod admin;
pub mod attest;
pub mod cli;
pub mod jwe;
pub mod policy;
pub mod protocol;
pub mod server;
pub mod session;
pub mod store;
pub mod token;

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}
