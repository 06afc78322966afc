//! The keys that protect context blobs (Part 1 §30.3): drawn at every TPM Reset.

use alloc::vec::Vec;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::EntropySource;
use crate::crypto::HashAlg;
use crate::crypto::drbg::Drbg;
use crate::wire::handle::Handle;
use crate::wire::response_code::{ResponseCode, TpmResult};

/// savedHandle of a sequence-object context (Part 3 §28.2: 0x80000001 marks a sequence object).
pub(crate) const SEQUENCE_SAVED_HANDLE: Handle = Handle(0x8000_0001);

/// Largest context blob accepted (TPM_PT_MAX_OBJECT_CONTEXT / MAX_SESSION_CONTEXT report this).
pub const MAX_CONTEXT_BLOB: usize = 1024;

/// The per-boot context protection secret and the context sequence counter.
#[derive(Clone)]
pub struct ContextKeys {
    pub(crate) secret: [u8; 32],
    pub(crate) sequence: u64,
}

impl core::fmt::Debug for ContextKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ContextKeys").field("sequence", &self.sequence).finish_non_exhaustive()
    }
}

impl Drop for ContextKeys {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

impl ZeroizeOnDrop for ContextKeys {}

impl ContextKeys {
    pub fn new(drbg: &mut Drbg, e: &mut dyn EntropySource) -> Self {
        let mut k = ContextKeys { secret: [0; 32], sequence: 0 };
        k.tpm_reset(drbg, e);
        k
    }

    /// A TPM Reset invalidates every saved context.
    pub fn tpm_reset(&mut self, drbg: &mut Drbg, e: &mut dyn EntropySource) {
        drbg.generate(e, &mut self.secret);
    }

    /// (HMAC key, AES key, IV) for one context.
    pub(crate) fn keys(
        &self,
        sequence: u64,
        saved: Handle,
        hierarchy: Handle,
    ) -> TpmResult<([u8; 32], [u8; 32], [u8; 16])> {
        let mut ctx = [0u8; 16];
        ctx[..8].copy_from_slice(&sequence.to_be_bytes());
        ctx[8..12].copy_from_slice(&saved.to_be_bytes());
        ctx[12..].copy_from_slice(&hierarchy.to_be_bytes());
        let m = HashAlg::Sha256.kdfa(&self.secret, b"WARDEN CONTEXT", &ctx, &[], 640)?;
        let (mut ik, mut ek, mut iv) = ([0u8; 32], [0u8; 32], [0u8; 16]);
        ik.copy_from_slice(m.get(..32).ok_or(ResponseCode::FAILURE)?);
        ek.copy_from_slice(m.get(32..64).ok_or(ResponseCode::FAILURE)?);
        iv.copy_from_slice(m.get(64..80).ok_or(ResponseCode::FAILURE)?);
        Ok((ik, ek, iv))
    }

    pub(crate) fn integrity(
        ik: &[u8],
        sequence: u64,
        saved: Handle,
        hierarchy: Handle,
        enc: &[u8],
    ) -> TpmResult<Vec<u8>> {
        let d = HashAlg::Sha256
            .hmac(ik, &[&sequence.to_be_bytes(), &saved.to_be_bytes(), &hierarchy.to_be_bytes(), enc])?;
        Ok(d.as_slice().to_vec())
    }
}
