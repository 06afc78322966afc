//! The TPM 2.0 wire format (Part 2): marshalling, response codes and the constants commands carry.
//! The lowest layer: it imports nothing else from the crate.

pub mod alg_id;
pub mod command_code;
pub mod constants;
pub mod handle;
pub mod marshal;
pub mod response_code;
