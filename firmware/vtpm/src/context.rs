//! Context management: ContextSave, ContextLoad and FlushContext (Part 3 §28).
//!
//! A saved context is TPMS_CONTEXT whose blob is `TPM2B integrity || AES-256-CFB(state)`. The keys
//! come from a secret drawn at every TPM Reset: `KDFa(SHA-256, secret, "WARDEN CONTEXT", sequence ||
//! savedHandle || hierarchy, "", 640)` gives the HMAC key, the AES key and the IV, so each context has
//! its own IV and no context survives a TPM Reset. The integrity value is HMAC-SHA256 over the
//! sequence, handle, hierarchy and ciphertext. A session's slot remembers the sequence number it was
//! saved under, so an old context of the same session cannot be loaded twice.

use alloc::vec::Vec;

use crate::consts::handle;
use crate::crypto::{HashAlg, aes_cfb, ct_eq};
use crate::dispatch::Cmd;
use crate::drbg::Drbg;
use crate::hash_seq::SeqObject;
use crate::marshal::{Reader, Writer};
use crate::rc::{At, Rc, TpmResult};
use crate::session::Session;
use crate::{EntropySource, Tpm};

/// savedHandle of a sequence-object context (Part 3 §28.2: 0x80000001 marks a sequence object).
const SEQUENCE_SAVED_HANDLE: u32 = 0x8000_0001;
/// Largest context blob accepted (TPM_PT_MAX_OBJECT_CONTEXT / MAX_SESSION_CONTEXT report this).
pub const MAX_CONTEXT_BLOB: usize = 1024;

/// The per-boot context protection secret and the context sequence counter.
#[derive(Clone)]
pub struct ContextKeys {
    secret: [u8; 32],
    sequence: u64,
}

impl core::fmt::Debug for ContextKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ContextKeys").field("sequence", &self.sequence).finish_non_exhaustive()
    }
}

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
    fn keys(&self, sequence: u64, saved: u32, hierarchy: u32) -> TpmResult<([u8; 32], [u8; 32], [u8; 16])> {
        let mut ctx = [0u8; 16];
        ctx[..8].copy_from_slice(&sequence.to_be_bytes());
        ctx[8..12].copy_from_slice(&saved.to_be_bytes());
        ctx[12..].copy_from_slice(&hierarchy.to_be_bytes());
        let m = HashAlg::Sha256.kdfa(&self.secret, b"WARDEN CONTEXT", &ctx, &[], 640)?;
        let (mut ik, mut ek, mut iv) = ([0u8; 32], [0u8; 32], [0u8; 16]);
        ik.copy_from_slice(m.get(..32).ok_or(Rc::FAILURE)?);
        ek.copy_from_slice(m.get(32..64).ok_or(Rc::FAILURE)?);
        iv.copy_from_slice(m.get(64..80).ok_or(Rc::FAILURE)?);
        Ok((ik, ek, iv))
    }

    fn integrity(ik: &[u8], sequence: u64, saved: u32, hierarchy: u32, enc: &[u8]) -> TpmResult<Vec<u8>> {
        let d = HashAlg::Sha256
            .hmac(ik, &[&sequence.to_be_bytes(), &saved.to_be_bytes(), &hierarchy.to_be_bytes(), enc])?;
        Ok(d.as_slice().to_vec())
    }
}

/// TPM2_ContextSave (Part 3 §28.2). A saved session leaves memory; a saved object stays loaded.
pub(crate) fn save(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    let h = c.handles[0];
    let sequence = tpm.contexts.sequence;
    let mut state = Writer::new();
    let saved = if let Some(k) = tpm.keys.get(h) {
        tpm.keys.save_context(k, &mut state);
        crate::key_store::SAVED_HANDLE
    } else if handle::ht(h) == handle::HT_TRANSIENT {
        tpm.objects.get(h).ok_or(Rc::REFERENCE_H0)?.save(&mut state);
        SEQUENCE_SAVED_HANDLE
    } else {
        tpm.sessions.get(h).ok_or(Rc::REFERENCE_H0)?.save(&mut state);
        h
    };
    let hierarchy = handle::RH_NULL;
    let (ik, ek, iv) = tpm.contexts.keys(sequence, saved, hierarchy)?;
    let mut enc = state.buf;
    aes_cfb(&ek, &iv, &mut enc, true)?;
    let integrity = ContextKeys::integrity(&ik, sequence, saved, hierarchy, &enc)?;
    if handle::ht(h) != handle::HT_TRANSIENT {
        tpm.sessions.save(h, sequence).ok_or(Rc::REFERENCE_H0)?;
    }
    tpm.contexts.sequence = sequence.wrapping_add(1);

    let mut blob = Writer::new();
    blob.tpm2b(&integrity);
    blob.bytes(&enc);
    c.out.u64(sequence);
    c.out.u32(saved);
    c.out.u32(hierarchy);
    c.out.tpm2b(&blob.buf);
    Ok(())
}

/// TPM2_ContextLoad (Part 3 §28.3).
pub(crate) fn load(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let sequence = c.params.u64().p(1)?;
    let saved = c.params.u32().p(1)?;
    let hierarchy = c.params.u32().p(1)?;
    let blob = c.params.tpm2b(MAX_CONTEXT_BLOB).p(1)?;
    c.params.finish()?;
    let is_session = matches!(handle::ht(saved), handle::HT_HMAC_SESSION | handle::HT_POLICY_SESSION);
    let is_key = saved == crate::key_store::SAVED_HANDLE;
    if saved != SEQUENCE_SAVED_HANDLE && !is_session && !is_key {
        return Err(Rc::HANDLE.param(1));
    }
    if hierarchy != handle::RH_NULL {
        return Err(Rc::HIERARCHY.param(1));
    }
    let mut r = Reader::new(blob);
    let integrity = r.tpm2b(32).map_err(|_| Rc::INTEGRITY.param(1))?;
    let (ik, ek, iv) = tpm.contexts.keys(sequence, saved, hierarchy)?;
    let expect = ContextKeys::integrity(&ik, sequence, saved, hierarchy, r.rest())?;
    if !ct_eq(&expect, integrity) {
        return Err(Rc::INTEGRITY.param(1));
    }
    let mut state = r.rest().to_vec();
    aes_cfb(&ek, &iv, &mut state, false)?;
    let mut s = Reader::new(&state);
    // The blob is authentic, so a parse failure here means a bug; report it as an integrity failure.
    let bad = |_| Rc::INTEGRITY.param(1);
    if is_session {
        let session = Session::load(&mut s).map_err(bad)?;
        s.finish().map_err(bad)?;
        tpm.sessions.restore(saved, sequence, session).map_err(|e| e.param(1))?;
        c.rhandle = saved;
    } else if is_key {
        let key = tpm.keys.load_context(&mut s).map_err(|e| e.param(1))?;
        s.finish().map_err(bad)?;
        c.rhandle = tpm.keys.insert(key)?;
    } else {
        let object = SeqObject::load(&mut s).map_err(bad)?;
        s.finish().map_err(bad)?;
        c.rhandle = tpm.objects.insert(object)?;
    }
    Ok(())
}

/// TPM2_FlushContext (Part 3 §28.4): the handle is a parameter, not in the handle area.
pub(crate) fn flush(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let h = c.params.u32().p(1)?;
    c.params.finish()?;
    match handle::ht(h) {
        handle::HT_TRANSIENT if tpm.keys.remove(h) => Ok(()),
        handle::HT_TRANSIENT => tpm.objects.remove(h).map(|_| ()).ok_or(Rc::HANDLE.param(1)),
        handle::HT_HMAC_SESSION | handle::HT_POLICY_SESSION => {
            if tpm.sessions.flush(h) {
                Ok(())
            } else {
                Err(Rc::HANDLE.param(1))
            }
        }
        _ => Err(Rc::VALUE.param(1)),
    }
}
