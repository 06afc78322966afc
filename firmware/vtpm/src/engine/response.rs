//! The response authorization area (Part 1 §18.8, Part 2 Table 82): new nonceTPMs, the encrypted
//! first response parameter, then per session the HMAC over rpHash = H(responseCode || commandCode
//! || parameters); sessions without continueSession are retired.

use alloc::vec::Vec;

use crate::crypto::{Digest, secret_concat, strip_trailing_zeros};
use crate::engine::authorization::Authorized;
use crate::state::session::SessionKind;
use crate::wire::command_code::CommandCode;
use crate::wire::constants::{MAX_DIGEST, session_attr as sa};
use crate::wire::handle::Handle;
use crate::wire::marshal::Writer;
use crate::wire::response_code::TpmResult;
use crate::{Tpm, engine::param_enc};

/// Builds the response authorization area (TPMS_AUTH_RESPONSE per session, Part 2 Table 82):
/// new nonces, the encrypted first response parameter if asked, then the HMACs over rpHash (which
/// covers the ciphertext). Retires sessions without continueSession.
pub(crate) fn respond(
    tpm: &mut Tpm,
    code: CommandCode,
    rp: &mut [u8],
    mut a: Authorized,
) -> TpmResult<Vec<u8>> {
    for used in a.used.iter().flatten().filter(|u| u.handle != Handle::RS_PW) {
        let Some(size) = tpm.sessions.get(used.handle).map(|s| s.nonce_tpm.as_slice().len()) else {
            continue;
        };
        let mut nonce = [0u8; MAX_DIGEST];
        let nonce = nonce.get_mut(..size).unwrap_or_default();
        tpm.random(nonce);
        if let Some(s) = tpm.sessions.get_mut(used.handle) {
            s.nonce_tpm = Digest::from_slice(nonce);
        }
    }
    param_enc::encrypt_response(tpm, &a, rp)?;
    // The audits cover the response as sent; they may change the audit session's attributes.
    crate::engine::audit::record(tpm, code, rp, &mut a);
    let mut w = Writer::new();
    for used in a.used.into_iter().flatten() {
        if used.handle == Handle::RS_PW {
            w.u16(0);
            w.u8(used.attrs | sa::CONTINUE_SESSION);
            w.u16(0);
            continue;
        }
        // After the command, a changed authValue (HierarchyChangeAuth) already applies; an entity
        // the command removed keeps its old one.
        let auth = used.entity.and_then(|e| tpm.entity_auth(e)).unwrap_or(used.auth_before);
        let Some(sess) = tpm.sessions.get_mut(used.handle) else { continue };
        let key = secret_concat(&sess.key, if used.include_auth { strip_trailing_zeros(&auth) } else { &[] });
        let policy = sess.kind != SessionKind::Hmac;
        let hmac = if (policy && sess.password_needed) || (key.is_empty() && used.empty_hmac) {
            Digest::EMPTY
        } else {
            let rp_hash = sess.alg.digest(&[&0u32.to_be_bytes(), &code.to_be_bytes(), rp]);
            let parts: [&[u8]; 4] =
                [rp_hash.as_slice(), sess.nonce_tpm.as_slice(), used.nonce_caller.as_slice(), &[used.attrs]];
            sess.alg.hmac(&key, &parts)?
        };
        w.tpm2b(sess.nonce_tpm.as_slice());
        w.u8(used.attrs);
        w.tpm2b(hmac.as_slice());
        // A policy session whose nonce rolls starts over (ms-tpm-20-ref UpdateInternalSession).
        let cont = used.attrs & sa::CONTINUE_SESSION != 0;
        if policy && cont {
            sess.reset_policy();
        }
        if !cont {
            tpm.sessions.flush(used.handle);
        }
    }
    Ok(w.buf)
}
