//! Policy commands (Part 3 §23) that need no keys: PolicyAuthValue, PolicyPassword,
//! PolicyCommandCode, PolicyPCR, PolicyOR, PolicyRestart and PolicyGetDigest. Each extends the
//! session's policyDigest the way Part 3 gives it, so trial sessions compute the same digests a
//! caller would put in an NV index's authPolicy.

use crate::Tpm;
use crate::commands;
use crate::consts::{MAX_DIGEST, cc};
use crate::crypto::Digest;
use crate::dispatch::Cmd;
use crate::marshal::Writer;
use crate::pcr::{PCR_COUNT, read_selection};
use crate::rc::{At, Rc, TpmResult};
use crate::session::{Session, SessionKind};

/// Most digests in a PolicyOR list (TPML_DIGEST).
const MAX_OR: u32 = 8;

fn session<'t>(tpm: &'t mut Tpm, c: &Cmd<'_>) -> TpmResult<&'t mut Session> {
    tpm.sessions.get_mut(c.handles[0]).ok_or(Rc::HANDLE.handle(1))
}

/// policyDigest := H(policyDigest || parts...).
fn update(s: &mut Session, parts: &[&[u8]]) {
    let old = s.policy;
    let mut all: alloc::vec::Vec<&[u8]> = alloc::vec![old.as_slice()];
    all.extend_from_slice(parts);
    s.policy = s.alg.digest(&all);
}

/// TPM2_PolicyAuthValue (Part 3 §23.17): the HMAC will include the entity's authValue.
pub(crate) fn auth_value(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    let s = session(tpm, c)?;
    update(s, &[&cc::POLICY_AUTH_VALUE.to_be_bytes()]);
    s.auth_value_needed = true;
    s.password_needed = false;
    Ok(())
}

/// TPM2_PolicyPassword (Part 3 §23.18): the authValue is given in the clear. The digest is that of
/// PolicyAuthValue, so one policy serves both.
pub(crate) fn password(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    let s = session(tpm, c)?;
    update(s, &[&cc::POLICY_AUTH_VALUE.to_be_bytes()]);
    s.password_needed = true;
    s.auth_value_needed = false;
    Ok(())
}

/// TPM2_PolicyCommandCode (Part 3 §23.11).
pub(crate) fn command_code(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let code = c.params.u32().p(1)?;
    c.params.finish()?;
    let s = session(tpm, c)?;
    if s.command_code != 0 && s.command_code != code {
        return Err(Rc::VALUE.param(1));
    }
    if commands::lookup(code).is_none() {
        return Err(Rc::POLICY_CC.param(1));
    }
    update(s, &[&cc::POLICY_COMMAND_CODE.to_be_bytes(), &code.to_be_bytes()]);
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
            return Err(Rc::VALUE.param(1));
        }
        if s.pcr_counter.is_some_and(|old| old != counter) {
            return Err(Rc::PCR_CHANGED);
        }
        s.pcr_counter = Some(counter);
        now
    };
    update(s, &[&cc::POLICY_PCR.to_be_bytes(), sel_bytes, digest.as_slice()]);
    Ok(())
}

/// TPM2_PolicyOR (Part 3 §23.6): policyDigest := H(0...0 || TPM_CC_PolicyOR || digests), allowed in
/// a real session only when the current digest is one of the list.
pub(crate) fn or(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let count = c.params.u32().p(1)?;
    if !(2..=MAX_OR).contains(&count) {
        return Err(Rc::SIZE.param(1));
    }
    let mut list = Writer::new();
    let mut found = false;
    let s = tpm.sessions.get(c.handles[0]).ok_or(Rc::HANDLE.handle(1))?;
    for _ in 0..count {
        let d = c.params.tpm2b(MAX_DIGEST).p(1)?;
        found |= d == s.policy.as_slice();
        list.bytes(d);
    }
    c.params.finish()?;
    let s = session(tpm, c)?;
    if s.kind != SessionKind::Trial && !found {
        return Err(Rc::VALUE.param(1));
    }
    s.policy = Digest::zeros(s.alg.size());
    update(s, &[&cc::POLICY_OR.to_be_bytes(), &list.buf]);
    Ok(())
}

/// TPM2_PolicyLocality (Part 3 §23.8): the command must come from one of these localities (bits
/// 0-4), or from this one extended locality (32-255). Successive calls narrow the set.
pub(crate) fn locality(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let wanted = c.params.u8().p(1)?;
    c.params.finish()?;
    let s = session(tpm, c)?;
    let range = Err(Rc::RANGE.param(1));
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
    update(s, &[&cc::POLICY_LOCALITY.to_be_bytes(), &[wanted]]);
    s.locality = new;
    Ok(())
}

/// Whether a command from `locality` satisfies a session's PolicyLocality setting.
pub(crate) fn locality_allowed(setting: u8, locality: u8) -> bool {
    match (setting, locality) {
        (0, _) => true,
        (s, l) if s < 32 => l < 5 && s & (1 << l) != 0,
        (s, l) => s == l,
    }
}

/// TPM2_PolicyNvWritten (Part 3 §23.22): the authorized index must (not) have been written.
pub(crate) fn nv_written(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let written = c.params.yes_no().p(1)?;
    c.params.finish()?;
    let s = session(tpm, c)?;
    if s.nv_written.is_some_and(|w| w != written) {
        return Err(Rc::VALUE.param(1));
    }
    update(s, &[&cc::POLICY_NV_WRITTEN.to_be_bytes(), &[u8::from(written)]]);
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
