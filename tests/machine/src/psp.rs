//! The PSP as guest requests reach it (GHCB exits 0x8000_0011 SNP_GUEST_REQUEST and 0x8000_0012
//! SNP_EXTENDED_GUEST_REQUEST; SEV-SNP ABI (AMD 56860) §8.26 "SNP_GUEST_REQUEST"): the hook the
//! hypervisor calls ([`PspModel`]), a PSP that answers nothing ([`NoPsp`]), and the model of the
//! real one ([`snp_psp::SnpPsp`]) with its insecure test chip, certificate chain and keys.
use std::fmt::Debug;

pub mod cert_chain;
pub mod cert_table;
pub mod chip;
pub mod derived_key;
pub mod report;
pub mod snp_psp;

/// Answers a guest request page with a response page, or a firmware error code.
pub trait PspModel: Debug {
    /// `request` is the (encrypted) request message page; on success the response message page.
    fn guest_request(&mut self, request: &[u8; 4096]) -> Result<Box<[u8; 4096]>, u32>;
}

/// SEV-SNP ABI (AMD 56860) Table "Status Codes" values the model returns (the firmware's status in
/// SW_EXITINFO2[31:0], or a response payload's STATUS).
pub mod status {
    /// INVALID_COMMAND.
    pub const INVALID_COMMAND: u32 = 0x11;
    /// INVALID_PARAM.
    pub const INVALID_PARAM: u32 = 0x16;
    /// AEAD_OFLOW: the message sequence number would overflow.
    pub const AEAD_OFLOW: u32 = 0x1D;
    /// INVALID_KEY.
    pub const INVALID_KEY: u32 = 0x27;
}

/// A PSP that implements no message: every request fails with INVALID_COMMAND, so a caller sees
/// plainly that no PSP is there (a machine launched without a secrets page).
#[derive(Debug, Default)]
pub struct NoPsp;

impl PspModel for NoPsp {
    fn guest_request(&mut self, _request: &[u8; 4096]) -> Result<Box<[u8; 4096]>, u32> {
        Err(status::INVALID_COMMAND)
    }
}
