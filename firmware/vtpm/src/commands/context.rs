//! Context management (Part 3 ch. 28): ContextSave, ContextLoad, FlushContext, EvictControl.

use crate::crypto::{SecretBytes, aes_cfb, ct_eq};
use crate::engine::command::Cmd;
use crate::object::attr;
use crate::state::context_keys::{ContextKeys, MAX_CONTEXT_BLOB, SEQUENCE_SAVED_HANDLE};
use crate::state::sequence::SeqObject;
use crate::state::session::Session;
use crate::wire::handle::{self, Handle};
use crate::wire::marshal::{Reader, Writer};
use crate::wire::response_code::{At, ResponseCode, TpmResult};
use crate::{Tpm, object::key_material as keys};

/// TPM2_ContextSave (Part 3 §28.2). A saved session leaves memory; a saved object stays loaded.
pub(crate) fn save(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    let h = c.handles[0];
    let sequence = tpm.contexts.sequence;
    let mut state = Writer::new();
    let saved = if let Some(k) = tpm.key(h) {
        tpm.keys.save_context(k, &mut state);
        crate::state::key_store::SAVED_HANDLE
    } else if h.ty() == handle::HT_TRANSIENT {
        tpm.objects.sequence(h).ok_or(ResponseCode::REFERENCE_H0)?.save(&mut state);
        SEQUENCE_SAVED_HANDLE
    } else {
        tpm.sessions.get(h).ok_or(ResponseCode::REFERENCE_H0)?.save(&mut state);
        h
    };
    let hierarchy = Handle::RH_NULL;
    let (ik, ek, iv) = tpm.contexts.keys(sequence, saved, hierarchy)?;
    let mut enc = state.buf;
    aes_cfb(&ek, &iv, &mut enc, true)?;
    let integrity = ContextKeys::integrity(&ik, sequence, saved, hierarchy, &enc)?;
    if h.ty() != handle::HT_TRANSIENT {
        tpm.sessions.save(h, sequence).ok_or(ResponseCode::REFERENCE_H0)?;
    }
    tpm.contexts.sequence = sequence.wrapping_add(1);

    let mut blob = Writer::new();
    blob.tpm2b(&integrity);
    blob.bytes(&enc);
    c.out.u64(sequence);
    c.out.handle(saved);
    c.out.handle(hierarchy);
    c.out.tpm2b(&blob.buf);
    Ok(())
}

/// TPM2_ContextLoad (Part 3 §28.3).
pub(crate) fn load(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let sequence = c.params.u64().p(1)?;
    let saved = c.params.handle().p(1)?;
    let hierarchy = c.params.handle().p(1)?;
    let blob = c.params.tpm2b(MAX_CONTEXT_BLOB).p(1)?;
    c.params.finish()?;
    let is_session = matches!(saved.ty(), handle::HT_HMAC_SESSION | handle::HT_POLICY_SESSION);
    let is_key = saved == crate::state::key_store::SAVED_HANDLE;
    if saved != SEQUENCE_SAVED_HANDLE && !is_session && !is_key {
        return Err(ResponseCode::HANDLE.param(1));
    }
    if hierarchy != Handle::RH_NULL {
        return Err(ResponseCode::HIERARCHY.param(1));
    }
    let mut r = Reader::new(blob);
    let integrity = r.tpm2b(32).map_err(|_| ResponseCode::INTEGRITY.param(1))?;
    let (ik, ek, iv) = tpm.contexts.keys(sequence, saved, hierarchy)?;
    let expect = ContextKeys::integrity(&ik, sequence, saved, hierarchy, r.rest())?;
    if !ct_eq(&expect, integrity) {
        return Err(ResponseCode::INTEGRITY.param(1));
    }
    let mut state = SecretBytes::new(r.rest().to_vec());
    aes_cfb(&ek, &iv, &mut state, false)?;
    let mut s = Reader::new(&state);
    // The blob is authentic, so a parse failure here means a bug; report it as an integrity failure.
    let bad = |_| ResponseCode::INTEGRITY.param(1);
    if is_session {
        let session = Session::load(&mut s).map_err(bad)?;
        s.finish().map_err(bad)?;
        tpm.sessions.restore(saved, sequence, session).map_err(|e| e.param(1))?;
        c.rhandle = saved;
    } else if is_key {
        let key = tpm.keys.load_context(&mut s).map_err(|e| e.param(1))?;
        s.finish().map_err(bad)?;
        c.rhandle = tpm.objects.insert_key(key)?;
    } else {
        let object = SeqObject::load(&mut s).map_err(bad)?;
        s.finish().map_err(bad)?;
        c.rhandle = tpm.objects.insert_sequence(object)?;
    }
    Ok(())
}

/// TPM2_FlushContext (Part 3 §28.4): the handle is a parameter, not in the handle area.
pub(crate) fn flush(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let h = c.params.handle().p(1)?;
    c.params.finish()?;
    match h.ty() {
        handle::HT_TRANSIENT if tpm.objects.remove_key(h) => Ok(()),
        handle::HT_TRANSIENT => {
            tpm.objects.remove_sequence(h).map(|_| ()).ok_or(ResponseCode::HANDLE.param(1))
        }
        handle::HT_HMAC_SESSION | handle::HT_POLICY_SESSION => {
            if tpm.sessions.flush(h) {
                Ok(())
            } else {
                Err(ResponseCode::HANDLE.param(1))
            }
        }
        _ => Err(ResponseCode::VALUE.param(1)),
    }
}

/// TPM2_EvictControl (Part 3 §28.5): makes a loaded object persistent, or removes a persistent one.
pub(crate) fn evict_control(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let persistent = c.params.handle().p(1)?;
    c.params.finish()?;
    let [auth, object, _] = c.handles;
    let k = tpm.key(object).ok_or(ResponseCode::HANDLE.handle(2))?;
    // Owner authorizes owner and endorsement objects in 0x81000000-0x817FFFFF; platform the rest.
    let platform = auth == Handle::RH_PLATFORM;
    let allowed = if platform {
        k.hierarchy == Handle::RH_PLATFORM
    } else {
        matches!(k.hierarchy, Handle::RH_OWNER | Handle::RH_ENDORSEMENT)
    };
    if !allowed {
        return Err(ResponseCode::HIERARCHY.handle(2));
    }
    let in_range = |h: Handle| h.ty() == handle::HT_PERSISTENT && (h.0 >= 0x8180_0000) == platform;
    if object.ty() == handle::HT_PERSISTENT {
        if persistent != object {
            return Err(ResponseCode::HANDLE.param(1));
        }
        if !in_range(object) {
            return Err(ResponseCode::HIERARCHY.handle(2));
        }
        tpm.keys.remove_persistent(object);
        return Ok(());
    }
    // stClear objects die at Startup; external public keys are the caller's, not the TPM's.
    if k.public.has(attr::ST_CLEAR) || matches!(k.material, keys::Material::PublicOnly) {
        return Err(ResponseCode::ATTRIBUTES.handle(2));
    }
    if !in_range(persistent) {
        return Err(ResponseCode::RANGE.param(1));
    }
    let copy = k.clone();
    tpm.keys.make_persistent(persistent, copy)
}
