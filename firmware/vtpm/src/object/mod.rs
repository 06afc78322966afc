//! Objects (Part 1 §27, Part 2 §12): public and sensitive areas, key material, creation and
//! protection under a parent, secrets shared with a key, and signing.

pub mod attest;
pub mod creation;
pub mod ecdaa;
pub mod identifiers;
pub mod key_material;
mod public;
pub mod secret;
pub mod sensitive;
pub mod signing;

pub use identifiers::{attr, curve};
pub use public::{MAX_ECC_BYTES, MAX_RSA_BYTES, Public};
pub use sensitive::{MAX_SYM_DATA, Sensitive};
