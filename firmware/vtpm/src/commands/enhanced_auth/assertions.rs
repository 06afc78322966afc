//! Policy assertions that need no keys (Part 3 §23.11-§23.20): AuthValue, Password, CommandCode, PCR,
//! OR, Locality, NvWritten, Restart and GetDigest.

use super::{session, update};
use crate::crypto::Digest;
use crate::engine::command::Cmd;
use crate::state::pcr::{PCR_COUNT, read_selection};
use crate::state::session::SessionKind;
use crate::wire::command_code::CommandCode;
use crate::wire::constants::MAX_DIGEST;
use crate::wire::marshal::Writer;
use crate::wire::response_code::{At, ResponseCode, TpmResult};
use crate::{Tpm, engine::command_table as commands};

/// Most digests in a PolicyOR list (TPML_DIGEST).
const MAX_OR: u32 = 8;

/// TPM2_PolicyAuthValue (Part 3 §23.17): the HMAC will include the entity's authValue.
pub(crate) fn auth_value(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    let s = session(tpm, c)?;
    update(s, &[&CommandCode::POLICY_AUTH_VALUE.to_be_bytes()]);
    s.auth_value_needed = true;
    s.password_needed = false;
    Ok(())
}

/// TPM2_PolicyPassword (Part 3 §23.18): the authValue is given in the clear. The digest is that of
/// PolicyAuthValue, so one policy serves both.
pub(crate) fn password(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    let s = session(tpm, c)?;
    update(s, &[&CommandCode::POLICY_AUTH_VALUE.to_be_bytes()]);
    s.password_needed = true;
    s.auth_value_needed = false;
    Ok(())
}

/// TPM2_PolicyCommandCode (Part 3 §23.11).
pub(crate) fn command_code(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let code = CommandCode(c.params.u32().p(1)?);
    c.params.finish()?;
    let s = session(tpm, c)?;
    if s.command_code != CommandCode(0) && s.command_code != code {
        return Err(ResponseCode::VALUE.param(1));
    }
    if commands::lookup(code).is_none() {
        return Err(ResponseCode::POLICY_CC.param(1));
    }
    update(s, &[&CommandCode::POLICY_COMMAND_CODE.to_be_bytes(), &code.to_be_bytes()]);
    s.command_code = code;
    Ok(())
}

/// TPM2_PolicyPCR (Part 3 §23.7): the digest of the selected PCR values (given, or computed now in a
/// trial session) goes into the policy; a real session remembers the PCR update counter.
pub(crate) fn pcr(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let given = Digest::from_slice(c.params.tpm2b(MAX_DIGEST).p(1)?);
    let start = c.params.rest();
    let (sel, n) = read_selection(&mut c.params).p(2)?;
    let sel_bytes = start.get(..start.len() - c.params.remaining()).unwrap_or_default();
    c.params.finish()?;
    let (alg, trial) = {
        let s = session(tpm, c)?;
        (s.alg, s.kind == SessionKind::Trial)
    };
    let mut values = alloc::vec::Vec::new();
    for (bank, bits) in sel.iter().take(n) {
        for i in (0..PCR_COUNT).filter(|i| bits.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0)) {
            if let Some(d) = tpm.pcrs.get(i, *bank) {
                values.extend_from_slice(d.as_slice());
            }
        }
    }
    let now = alg.digest(&[&values]);
    let counter = tpm.pcrs.update_counter;
    let s = session(tpm, c)?;
    let digest = if trial {
        if given.as_slice().is_empty() { now } else { given }
    } else {
        if !given.as_slice().is_empty() && given != now {
            return Err(ResponseCode::VALUE.param(1));
        }
        if s.pcr_counter.is_some_and(|old| old != counter) {
            return Err(ResponseCode::PCR_CHANGED);
        }
        s.pcr_counter = Some(counter);
        now
    };
    update(s, &[&CommandCode::POLICY_PCR.to_be_bytes(), sel_bytes, digest.as_slice()]);
    Ok(())
}

/// TPM2_PolicyOR (Part 3 §23.6): policyDigest := H(0...0 || TPM_CC_PolicyOR || digests), allowed in
/// a real session only when the current digest is one of the list.
pub(crate) fn or(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let count = c.params.u32().p(1)?;
    if !(2..=MAX_OR).contains(&count) {
        return Err(ResponseCode::SIZE.param(1));
    }
    let mut list = Writer::new();
    let mut found = false;
    let s = tpm.sessions.get(c.handles[0]).ok_or(ResponseCode::HANDLE.handle(1))?;
    for _ in 0..count {
        let d = c.params.tpm2b(MAX_DIGEST).p(1)?;
        found |= d == s.policy.as_slice();
        list.bytes(d);
    }
    c.params.finish()?;
    let s = session(tpm, c)?;
    if s.kind != SessionKind::Trial && !found {
        return Err(ResponseCode::VALUE.param(1));
    }
    s.policy = Digest::zeros(s.alg.size());
    update(s, &[&CommandCode::POLICY_OR.to_be_bytes(), &list.buf]);
    Ok(())
}

/// TPM2_PolicyLocality (Part 3 §23.8): the command must come from one of these localities (bits
/// 0-4), or from this one extended locality (32-255). Successive calls narrow the set.
pub(crate) fn locality(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let wanted = c.params.u8().p(1)?;
    c.params.finish()?;
    let s = session(tpm, c)?;
    let range = Err(ResponseCode::RANGE.param(1));
    if wanted == 0 || (s.locality != 0 && (s.locality < 32) != (wanted < 32)) {
        return range;
    }
    let new = if wanted < 32 {
        let narrowed = if s.locality == 0 { 0x1F } else { s.locality } & wanted;
        if narrowed == 0 {
            return range;
        }
        narrowed
    } else {
        if s.locality != 0 && s.locality != wanted {
            return range;
        }
        wanted
    };
    update(s, &[&CommandCode::POLICY_LOCALITY.to_be_bytes(), &[wanted]]);
    s.locality = new;
    Ok(())
}

/// TPM2_PolicyNvWritten (Part 3 §23.22): the authorized index must (not) have been written.
pub(crate) fn nv_written(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let written = c.params.yes_no().p(1)?;
    c.params.finish()?;
    let s = session(tpm, c)?;
    if s.nv_written.is_some_and(|w| w != written) {
        return Err(ResponseCode::VALUE.param(1));
    }
    update(s, &[&CommandCode::POLICY_NV_WRITTEN.to_be_bytes(), &[u8::from(written)]]);
    s.nv_written = Some(written);
    Ok(())
}

/// TPM2_PolicyRestart (Part 3 §23.15).
pub(crate) fn restart(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    session(tpm, c)?.reset_policy();
    Ok(())
}

/// TPM2_PolicyGetDigest (Part 3 §23.19).
pub(crate) fn get_digest(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    let d = session(tpm, c)?.policy;
    c.out.tpm2b(d.as_slice());
    Ok(())
}
