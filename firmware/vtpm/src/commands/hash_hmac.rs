//! Hash, HMAC and event sequences (Part 3 ch. 17): HMAC_Start, HashSequenceStart, SequenceUpdate,
//! SequenceComplete, EventSequenceComplete.

use alloc::boxed::Box;

use crate::Tpm;
use crate::crypto::stream_hash::StreamHash;
use crate::crypto::stream_hmac::StreamHmac;
use crate::crypto::{HASH_ALGS, HashAlg};
use crate::engine::command::Cmd;
use crate::object::signing::hmac_key_hash;
use crate::state::sequence::{SeqObject, SeqState};
use crate::state::tickets::{read_hierarchy, write_ticket};
use crate::wire::alg_id::AlgId;
use crate::wire::constants::{MAX_BUFFER, MAX_DIGEST};
use crate::wire::handle::Handle;
use crate::wire::response_code::{At, ResponseCode, TpmResult};

/// TPM2_HMAC_Start (Part 3 §17.2): an HMAC sequence keyed by an unrestricted keyed-hash signing key,
/// with the hash of the key's scheme (or `hashAlg` when the scheme is NULL).
pub(crate) fn hmac_start(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let auth = c.params.tpm2b(MAX_DIGEST).p(1)?.to_vec();
    let asked = c.params.alg().p(2)?;
    c.params.finish()?;
    let k = tpm.key(c.handles[0]).ok_or(ResponseCode::HANDLE.handle(1))?;
    let hash = hmac_key_hash(&k.public, asked)?;
    let state = SeqState::Hmac(Box::new(StreamHmac::new(hash, &k.sens.secret)));
    // An HMAC sequence never yields a ticket (Part 3 §17.5: the validation is the NULL ticket).
    c.rhandle = tpm.objects.insert_sequence(SeqObject { auth, state, started: false, ticket_ok: false })?;
    Ok(())
}

/// TPM2_HashSequenceStart (Part 3 §17.3); TPM_ALG_NULL starts an event sequence.
pub(crate) fn start(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let auth = c.params.tpm2b(MAX_DIGEST).p(1)?.to_vec();
    let id = c.params.alg().p(2)?;
    c.params.finish()?;
    let state = match (id, HashAlg::from_id(id)) {
        (_, Some(a)) => SeqState::Hash(Box::new(StreamHash::new(a))),
        (AlgId::NULL, None) => SeqState::Event(Box::new(HASH_ALGS.map(StreamHash::new))),
        _ => return Err(ResponseCode::HASH.param(2)),
    };
    c.rhandle = tpm.objects.insert_sequence(SeqObject { auth, state, started: false, ticket_ok: true })?;
    Ok(())
}

/// TPM2_SequenceUpdate (Part 3 §17.4).
pub(crate) fn update(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let data = c.params.tpm2b(MAX_BUFFER).p(1)?;
    c.params.finish()?;
    let o = tpm.objects.sequence_mut(c.handles[0]).ok_or(ResponseCode::HANDLE.handle(1))?;
    o.update(data);
    Ok(())
}

/// TPM2_SequenceComplete (Part 3 §17.5): the digest of a hash sequence with its ticket, or the HMAC of
/// an HMAC sequence with the NULL ticket.
pub(crate) fn complete(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let data = c.params.tpm2b(MAX_BUFFER).p(1)?;
    let hierarchy = read_hierarchy(tpm, &mut c.params, 2)?;
    c.params.finish()?;
    let h = c.handles[0];
    if !matches!(tpm.objects.sequence(h).map(|o| &o.state), Some(SeqState::Hash(_) | SeqState::Hmac(_))) {
        return Err(ResponseCode::MODE.handle(1));
    }
    let mut o = tpm.objects.remove_sequence(h).ok_or(ResponseCode::HANDLE.handle(1))?;
    o.update(data);
    // `SeqObject` wipes its authValue on drop, so its state is cloned out rather than moved.
    let (d, ticket_ok) = match o.state.clone() {
        SeqState::Hash(s) => (s.finish(), o.ticket_ok),
        SeqState::Hmac(m) => (m.finish(), false),
        SeqState::Event(_) => return Err(ResponseCode::MODE.handle(1)),
    };
    c.out.tpm2b(d.as_slice());
    write_ticket(tpm, &mut c.out, hierarchy, &d, ticket_ok)
}

/// TPM2_EventSequenceComplete (Part 3 §17.6).
pub(crate) fn event_complete(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let data = c.params.tpm2b(MAX_BUFFER).p(1)?;
    c.params.finish()?;
    let [pcr, h, _] = c.handles;
    if !matches!(tpm.objects.sequence(h).map(|o| &o.state), Some(SeqState::Event(_))) {
        return Err(ResponseCode::MODE.handle(2));
    }
    let pcr = (pcr != Handle::RH_NULL).then_some(pcr.0 as usize);
    if let Some(i) = pcr
        && !crate::state::pcr::RULES
            .get(i)
            .is_some_and(|r| c.locality < 5 && r.extend_locality & (1 << c.locality) != 0)
    {
        return Err(ResponseCode::LOCALITY);
    }
    let mut o = tpm.objects.remove_sequence(h).ok_or(ResponseCode::HANDLE.handle(2))?;
    o.update(data);
    let SeqState::Event(hs) = o.state.clone() else { return Err(ResponseCode::MODE.handle(2)) };
    c.out.u32(hs.len() as u32);
    for s in *hs {
        let alg = s.alg();
        let d = s.finish();
        c.out.alg(alg.id());
        c.out.bytes(d.as_slice());
        if let Some(i) = pcr {
            tpm.pcrs.extend(i, alg, d.as_slice());
        }
    }
    if pcr.is_some() {
        tpm.pcrs.update_counter = tpm.pcrs.update_counter.wrapping_add(1);
    }
    Ok(())
}
