//! Tickets (Part 2 Table 112-114): the proof they are made with, and TPMT_TK_HASHCHECK.

use crate::Tpm;
use crate::crypto::{Digest, HashAlg, SecretBytes};
use crate::wire::constants::st;
use crate::wire::handle::Handle;
use crate::wire::marshal::{Reader, Writer};
use crate::wire::response_code::{At, ResponseCode, TpmResult};

/// The secret tickets are made with: the hierarchy proof, or for the null hierarchy a value derived
/// from the null seed (it changes with it).
pub(crate) fn ticket_proof(tpm: &Tpm, hierarchy: Handle) -> TpmResult<SecretBytes> {
    if let Some(p) = tpm.hier.proof(hierarchy) {
        return Ok(SecretBytes::new(p.to_vec()));
    }
    let seed = tpm.keys.seed(Handle::RH_NULL).ok_or(ResponseCode::FAILURE)?;
    HashAlg::Sha256.kdfa(seed, b"WARDEN NULL PROOF", &[], &[], 256)
}

/// Reads a TPMI_RH_HIERARCHY+ parameter: owner, endorsement, platform or NULL, and enabled.
pub(crate) fn read_hierarchy(tpm: &Tpm, r: &mut Reader<'_>, n: u32) -> TpmResult<Handle> {
    let h = r.handle().p(n)?;
    match h {
        Handle::RH_NULL => Ok(h),
        Handle::RH_OWNER | Handle::RH_ENDORSEMENT | Handle::RH_PLATFORM if tpm.hier.enabled(h) => Ok(h),
        Handle::RH_OWNER | Handle::RH_ENDORSEMENT | Handle::RH_PLATFORM => {
            Err(ResponseCode::HIERARCHY.param(n))
        }
        _ => Err(ResponseCode::VALUE.param(n)),
    }
}

/// A TPMT_TK_HASHCHECK (Part 2 Table 112): HMAC(proof(hierarchy), TPM_ST_HASHCHECK || digest), or the
/// NULL ticket when no ticket may be produced.
pub(crate) fn write_ticket(
    tpm: &Tpm,
    w: &mut Writer,
    hierarchy: Handle,
    digest: &Digest,
    allowed: bool,
) -> TpmResult<()> {
    w.u16(st::HASHCHECK);
    match tpm.hier.proof(hierarchy).filter(|_| allowed) {
        Some(proof) => {
            w.handle(hierarchy);
            let t = HashAlg::Sha256.hmac(proof, &[&st::HASHCHECK.to_be_bytes(), digest.as_slice()])?;
            w.tpm2b(t.as_slice());
        }
        None => {
            w.handle(Handle::RH_NULL);
            w.u16(0);
        }
    }
    Ok(())
}
