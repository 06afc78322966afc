//! TPM2_NV_Certify (Part 3 §31.16): a signing key attests to the contents of an NV index, either a
//! range of its bytes (TPMS_NV_CERTIFY_INFO, TPM_ST_ATTEST_NV) or, when size and offset are both
//! zero, a digest of all of them (TPMS_NV_DIGEST_CERTIFY_INFO, TPM_ST_ATTEST_NV_DIGEST; Part 2
//! Tables 131-133).

use crate::Tpm;
use crate::engine::command::Cmd;
use crate::object::attest::attest_header;
use crate::object::creation::MAX_DATA;
use crate::object::key_material::{self as keys};
use crate::object::signing::sign_message;
use crate::state::nv::read_access;
use crate::wire::alg_id::AlgId;
use crate::wire::constants::MAX_BUFFER;
use crate::wire::handle::Handle;
use crate::wire::response_code::{At, ResponseCode, TpmResult};

/// TPM_ST_ATTEST_NV (Part 2 Table 19).
const ST_ATTEST_NV: u16 = 0x8014;

/// TPM_ST_ATTEST_NV_DIGEST (Part 2 Table 19).
const ST_ATTEST_NV_DIGEST: u16 = 0x801C;

/// TPM2_NV_Certify. Handles: signHandle (a signing key or TPM_RH_NULL), authHandle (who may read the
/// index), nvIndex. The checks follow ms-tpm-20-ref's order: read access, range, size, scheme.
pub(crate) fn nv_certify(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let extra = c.params.tpm2b(MAX_DATA).p(1)?;
    let asked = keys::read_sig_scheme(&mut c.params).p(2)?;
    let size = usize::from(c.params.u16().p(3)?);
    let offset = usize::from(c.params.u16().p(4)?);
    c.params.finish()?;
    let [signer, auth, h] = c.handles;
    let index = tpm.nv.get(h).ok_or(ResponseCode::HANDLE.handle(3))?;
    read_access(index, auth, c.by_policy[1])?;
    if offset + size > index.data.len() {
        return Err(ResponseCode::NV_RANGE);
    }
    if size > MAX_BUFFER {
        return Err(ResponseCode::VALUE.param(3));
    }
    // The hash of the digest form is the signing scheme's (none for an unsigned attestation).
    let hash = match tpm.key(signer) {
        Some(k) => Some(keys::pick_scheme(&k.public, asked).p(2)?.1),
        None => None,
    };
    let index = tpm.nv.get(h).ok_or(ResponseCode::HANDLE.handle(3))?;
    let name = index.name();
    let digest_form = size == 0 && offset == 0;
    let attested = if digest_form {
        hash.map(|a| a.digest(&[&index.data]).as_slice().to_vec()).unwrap_or_default()
    } else {
        index.data.get(offset..offset + size).ok_or(ResponseCode::NV_RANGE)?.to_vec()
    };
    let kind = if digest_form { ST_ATTEST_NV_DIGEST } else { ST_ATTEST_NV };
    let mut a = attest_header(tpm, kind, signer, extra)?;
    a.tpm2b(&name);
    if !digest_form {
        a.u16(offset as u16);
    }
    a.tpm2b(&attested);
    c.out.tpm2b(&a.buf);
    if signer == Handle::RH_NULL {
        c.out.alg(AlgId::NULL);
        return Ok(());
    }
    sign_message(tpm, signer, 1, asked, &a.buf, &mut c.out).p(2)
}
