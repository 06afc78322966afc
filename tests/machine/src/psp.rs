//! The PSP as guest requests reach it (GHCB exit 0x8000_0011, SNP_GUEST_REQUEST; SEV-SNP ABI (AMD
//! 56860) §8.26 "SNP_GUEST_REQUEST"). A hook: the attestation work fills it with a real model.
use std::fmt::Debug;

pub mod cert_chain;
pub mod chip;

/// Answers a guest request page with a response page, or a firmware error code.
pub trait PspModel: Debug {
    /// `request` is the (encrypted) request message page; on success the response message page.
    fn guest_request(&mut self, request: &[u8; 4096]) -> Result<Box<[u8; 4096]>, u32>;
}

/// A PSP that implements no message: every request fails with INVALID_COMMAND, so a caller sees
/// plainly that attestation is not modelled yet.
#[derive(Debug, Default)]
pub struct NoPsp;

/// SEV-SNP ABI (AMD 56860) Table "Status Codes": INVALID_COMMAND.
pub const STATUS_INVALID_COMMAND: u32 = 0x3;

impl PspModel for NoPsp {
    fn guest_request(&mut self, _request: &[u8; 4096]) -> Result<Box<[u8; 4096]>, u32> {
        Err(STATUS_INVALID_COMMAND)
    }
}
