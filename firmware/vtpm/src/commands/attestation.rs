//! Attestation (Part 3 ch. 18): Certify, CertifyCreation, Quote, GetSessionAuditDigest,
//! GetCommandAuditDigest and GetTime, with their TPMS_ATTEST (Part 2 Table 131).

use alloc::vec::Vec;

use crate::Tpm;
use crate::crypto::{HashAlg, ct_eq};
use crate::engine::command::Cmd;
use crate::object::attest::{attest_header, clock_info};
use crate::object::attr;
use crate::object::creation::{MAX_DATA, ST_CREATION};
use crate::object::key_material::{self as keys};
use crate::object::signing::sign_message;
use crate::state::pcr::{PCR_COUNT, read_selection, write_selection};
use crate::state::session::SessionKind;
use crate::state::tickets::ticket_proof;
use crate::wire::alg_id::AlgId;
use crate::wire::constants::MAX_DIGEST;
use crate::wire::handle::Handle;
use crate::wire::marshal::Writer;
use crate::wire::response_code::{At, ResponseCode, TpmResult};

/// TPM_ST_ATTEST_* (Part 2 Table 19).
const ST_ATTEST_COMMAND_AUDIT: u16 = 0x8015;

const ST_ATTEST_SESSION_AUDIT: u16 = 0x8016;

const ST_ATTEST_CERTIFY: u16 = 0x8017;

const ST_ATTEST_QUOTE: u16 = 0x8018;

const ST_ATTEST_TIME: u16 = 0x8019;

const ST_ATTEST_CREATION: u16 = 0x801A;

/// TPM2_GetTime (Part 3 §18.7): Time and Clock signed by `signHandle`, with the endorsement
/// hierarchy's authorization (the privacy administrator).
pub(crate) fn get_time(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let (extra, asked) = privacy_admin_request(c)?;
    let [_, signer, _] = c.handles;
    let now = tpm.now_ms();
    let time = tpm.time.time(now);
    let (clock, reset, restart, firmware) = clock_info(tpm, signer)?;
    let mut a = attest_header(tpm, ST_ATTEST_TIME, signer, extra)?;
    a.u64(time);
    a.u64(clock);
    a.u32(reset);
    a.u32(restart);
    a.u8(1);
    a.u64(firmware);
    attest_signed(tpm, c, signer, asked, &a)
}

/// What GetTime and the audit-digest commands (Part 3 §18.3, §18.5, §18.7) read first:
/// qualifyingData and inScheme, then the privacy administrator (handle 1), which must be the
/// endorsement hierarchy.
fn privacy_admin_request<'a>(c: &mut Cmd<'a>) -> TpmResult<(&'a [u8], (AlgId, AlgId))> {
    let extra = c.params.tpm2b(MAX_DATA).p(1)?;
    let asked = keys::read_sig_scheme(&mut c.params).p(2)?;
    c.params.finish()?;
    if c.handles[0] != Handle::RH_ENDORSEMENT {
        return Err(ResponseCode::VALUE.handle(1));
    }
    Ok((extra, asked))
}

/// Writes the TPM2B_ATTEST `a` and its signature by `signer` (handle 2), or TPM_ALG_NULL for a
/// NULL signer.
fn attest_signed(
    tpm: &mut Tpm,
    c: &mut Cmd<'_>,
    signer: Handle,
    asked: (AlgId, AlgId),
    a: &Writer,
) -> TpmResult<()> {
    c.out.tpm2b(&a.buf);
    if signer == Handle::RH_NULL {
        c.out.alg(AlgId::NULL);
        return Ok(());
    }
    sign_message(tpm, signer, 2, asked, &a.buf, &mut c.out).p(2)
}

/// TPM2_GetSessionAuditDigest (Part 3 §18.3): an audit session's digest (TPMS_SESSION_AUDIT_INFO),
/// signed with the endorsement hierarchy's authorization (the privacy administrator).
pub(crate) fn get_session_audit_digest(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let (extra, asked) = privacy_admin_request(c)?;
    let [_, signer, session] = c.handles;
    let sess = tpm.sessions.get(session).filter(|s| s.kind == SessionKind::Hmac);
    let digest =
        sess.ok_or(ResponseCode::TYPE.handle(3))?.audit_digest.ok_or(ResponseCode::TYPE.handle(3))?;
    let exclusive = tpm.sessions.exclusive_audit == Some(session);
    let mut a = attest_header(tpm, ST_ATTEST_SESSION_AUDIT, signer, extra)?;
    a.u8(u8::from(exclusive));
    a.tpm2b(digest.as_slice());
    attest_signed(tpm, c, signer, asked, &a)
}

/// TPM2_GetCommandAuditDigest (Part 3 §18.5): the command audit digest, counter and list
/// (TPMS_COMMAND_AUDIT_INFO); signing it with a key starts a new digest.
pub(crate) fn get_command_audit_digest(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let (extra, asked) = privacy_admin_request(c)?;
    let [_, signer, _] = c.handles;
    let alg = tpm.audit.alg;
    let digest = tpm.audit.digest.unwrap_or(crate::crypto::Digest::EMPTY);
    let mut a = attest_header(tpm, ST_ATTEST_COMMAND_AUDIT, signer, extra)?;
    a.u64(tpm.audit.counter);
    a.alg(alg.id());
    a.tpm2b(digest.as_slice());
    a.tpm2b(tpm.audit.command_digest().as_slice());
    attest_signed(tpm, c, signer, asked, &a)?;
    if signer != Handle::RH_NULL {
        tpm.audit.digest = None;
    }
    Ok(())
}

/// TPM2_Quote (Part 3 §18.4).
pub(crate) fn quote(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let extra = c.params.tpm2b(MAX_DATA).p(1)?;
    let asked = keys::read_sig_scheme(&mut c.params).p(2)?;
    let (sel, n) = read_selection(&mut c.params).p(3)?;
    c.params.finish()?;
    let h = c.handles[0];
    let k = tpm.key(h).ok_or(ResponseCode::HANDLE.handle(1))?;
    if !k.public.has(attr::SIGN) {
        return Err(ResponseCode::KEY.handle(1));
    }
    let (_, hash) = keys::pick_scheme(&k.public, asked).p(2)?;
    let mut sel = sel;
    let sel = sel.get_mut(..n).unwrap_or_default();
    // The attestation names only allocated PCRs (ms-tpm-20-ref filters the selection the same way).
    tpm.pcrs.filter_allocated(sel);
    let sel = &*sel;
    let mut values: Vec<u8> = Vec::new();
    for (bank, bits) in sel {
        for i in (0..PCR_COUNT).filter(|i| bits.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0)) {
            if let Some(d) = tpm.pcrs.get(i, *bank) {
                values.extend_from_slice(d.as_slice());
            }
        }
    }
    let mut a = attest_header(tpm, ST_ATTEST_QUOTE, h, extra)?;
    write_selection(&mut a, sel);
    a.tpm2b(hash.digest(&[&values]).as_slice());
    c.out.tpm2b(&a.buf);
    sign_message(tpm, h, 1, asked, &a.buf, &mut c.out).p(2)
}

/// TPM2_Certify (Part 3 §18.2). A NULL signHandle gives the unsigned attestation.
pub(crate) fn certify(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let extra = c.params.tpm2b(MAX_DATA).p(1)?;
    let asked = keys::read_sig_scheme(&mut c.params).p(2)?;
    c.params.finish()?;
    let [object, signer, _] = c.handles;
    let k = tpm.key(object).ok_or(ResponseCode::HANDLE.handle(1))?;
    let (name, qn) = (k.name.clone(), k.qualified.clone());
    let mut a = attest_header(tpm, ST_ATTEST_CERTIFY, signer, extra)?;
    a.tpm2b(&name);
    a.tpm2b(&qn);
    attest_signed(tpm, c, signer, asked, &a)
}

/// TPM2_CertifyCreation (Part 3 §18.3): attests that the object with this Name was created by this
/// TPM with this creationHash, as its creation ticket proves.
pub(crate) fn certify_creation(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let extra = c.params.tpm2b(MAX_DATA).p(1)?;
    let creation_hash = c.params.tpm2b(MAX_DIGEST).p(2)?;
    let asked = keys::read_sig_scheme(&mut c.params).p(3)?;
    if c.params.u16().p(4)? != ST_CREATION {
        return Err(ResponseCode::TAG.param(4));
    }
    let ticket_h = c.params.handle().p(4)?;
    let ticket = c.params.tpm2b(MAX_DIGEST).p(4)?;
    c.params.finish()?;
    let [signer, object, _] = c.handles;
    let name = tpm.key(object).ok_or(ResponseCode::HANDLE.handle(2))?.name.clone();
    let proof = match ticket_h {
        Handle::RH_OWNER | Handle::RH_ENDORSEMENT | Handle::RH_PLATFORM | Handle::RH_NULL => {
            ticket_proof(tpm, ticket_h)?
        }
        _ => return Err(ResponseCode::TICKET.param(4)),
    };
    let expect = HashAlg::Sha256.hmac(&proof, &[&ST_CREATION.to_be_bytes(), &name, creation_hash])?;
    if !ct_eq(expect.as_slice(), ticket) {
        return Err(ResponseCode::TICKET.param(4));
    }
    let mut a = attest_header(tpm, ST_ATTEST_CREATION, signer, extra)?;
    a.tpm2b(&name);
    a.tpm2b(creation_hash);
    c.out.tpm2b(&a.buf);
    if signer == Handle::RH_NULL {
        c.out.alg(AlgId::NULL);
        return Ok(());
    }
    sign_message(tpm, signer, 1, asked, &a.buf, &mut c.out).p(3)
}
