//! TPM2_Sign and TPM2_VerifySignature (Part 3 ch. 20); Sign with ECDAA uses a TPM2_Commit.

use crate::Tpm;
use crate::crypto::{HashAlg, ct_eq};
use crate::engine::command::Cmd;
use crate::object::attr;
use crate::object::ecdaa;
use crate::object::key_material::{self as keys};
use crate::object::signing::fresh_rng;
use crate::state::tickets::ticket_proof;
use crate::wire::alg_id::AlgId;
use crate::wire::constants::{MAX_DIGEST, st};
use crate::wire::handle::Handle;
use crate::wire::response_code::{At, ResponseCode, TpmResult};

/// TPM_ST_VERIFIED, TPM_ST_ATTEST_CERTIFY, TPM_ST_ATTEST_QUOTE (Part 2 Table 19).
const ST_VERIFIED: u16 = 0x8022;

/// TPM2_Sign (Part 3 §20.2).
pub(crate) fn sign(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let digest = c.params.tpm2b(MAX_DIGEST).p(1)?;
    let (asked, count) = keys::read_sig_scheme_with_count(&mut c.params).p(2)?;
    if c.params.u16().p(3)? != st::HASHCHECK {
        return Err(ResponseCode::TAG.param(3));
    }
    let ticket_h = c.params.handle().p(3)?;
    let ticket = c.params.tpm2b(MAX_DIGEST).p(3)?;
    c.params.finish()?;
    let mut rng = fresh_rng(tpm)?;
    let k = tpm.key(c.handles[0]).ok_or(ResponseCode::HANDLE.handle(1))?;
    if !k.public.has(attr::SIGN) {
        return Err(ResponseCode::KEY.handle(1));
    }
    let scheme = keys::pick_scheme(&k.public, asked).p(2)?;
    if digest.len() != scheme.1.size() {
        return Err(ResponseCode::SIZE.param(1));
    }
    // A restricted key signs only digests the TPM computed of data not starting with
    // TPM_GENERATED_VALUE; the hash-check ticket proves that.
    if k.public.has(attr::RESTRICTED) {
        let proof = tpm.hier.proof(ticket_h).ok_or(ResponseCode::TICKET.param(3))?;
        let expect = HashAlg::Sha256.hmac(proof, &[&st::HASHCHECK.to_be_bytes(), digest])?;
        if !ct_eq(expect.as_slice(), ticket) {
            return Err(ResponseCode::TICKET.param(3));
        }
    }
    if scheme.0 != AlgId::ECDAA {
        return keys::sign(&k.material, &k.sens, scheme, digest, &mut rng, &mut c.out).h(1);
    }
    // ECDAA: the commitment `count` names must be outstanding for this key; it is used once.
    let mut r_stream = tpm.commit.committed(&k.name, count).ok_or(ResponseCode::VALUE.param(2))?;
    ecdaa::sign(&k.material, &mut r_stream, &mut rng, scheme.1, digest, &mut c.out).h(1)?;
    tpm.commit.retire(count);
    Ok(())
}

/// TPM2_VerifySignature (Part 3 §20.1): a TPMT_TK_VERIFIED on success.
pub(crate) fn verify_signature(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let digest = c.params.tpm2b(MAX_DIGEST).p(1)?;
    let k = tpm.key(c.handles[0]).ok_or(ResponseCode::HANDLE.handle(1))?;
    if !k.public.has(attr::SIGN) {
        return Err(ResponseCode::ATTRIBUTES.handle(1));
    }
    let good = keys::verify(&k.public, &k.sens, &mut c.params, digest).p(2)?;
    c.params.finish()?;
    if !good {
        return Err(ResponseCode::SIGNATURE.param(2));
    }
    c.out.u16(ST_VERIFIED);
    if k.hierarchy == Handle::RH_NULL {
        c.out.handle(Handle::RH_NULL);
        c.out.u16(0);
        return Ok(());
    }
    let proof = ticket_proof(tpm, k.hierarchy)?;
    let t = HashAlg::Sha256.hmac(&proof, &[&ST_VERIFIED.to_be_bytes(), digest, &k.name])?;
    c.out.handle(k.hierarchy);
    c.out.tpm2b(t.as_slice());
    Ok(())
}
