//! The guest side of Warden's key broker handshake, the part a guest OS's attestation agent plays: ask
//! a verifier (`warden-verifier`, speaking Trustee's KBS protocol, whose wire
//! types and JWE this crate shares: `warden_verifier::protocol`, `warden_verifier::jwe`) for a challenge, make a P-384 key for
//! this handshake, have Warden attest SHA-512 of the canonical `{challenge, public key}` (so the report
//! proves both), present the evidence for a token, and decrypt the secret the verifier seals to the key.
//!
//! It runs on the host here, not in the guest: the bundled test guest on the emulated SNP machine cannot
//! speak HTTP, so the agent boots it with the nonce (see [`evidence::Attester`]) and reads the evidence
//! it printed. A real deployment runs the same steps inside the guest, against the SVSM attestation
//! protocol.
#![forbid(unsafe_code)]

pub mod error;
pub mod evidence;
pub mod handshake;
pub mod insecure_test_psp;
pub mod tee_key;

pub use error::{AgentError, Step};
pub use evidence::Attester;
pub use handshake::{KbsClient, Released, StepTimes, fetch};
pub use warden_verifier::store::ResourcePath;
