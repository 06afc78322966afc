//! Hashing: TPM2_Hash, hash and event sequences (HashSequenceStart, SequenceUpdate, SequenceComplete,
//! EventSequenceComplete), and the transient-object slots that hold sequence objects.

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::Tpm;
use crate::consts::{MAX_BUFFER, MAX_DIGEST, TPM_GENERATED_VALUE, alg, handle, st};
use crate::crypto::{Digest, HASH_ALGS, HashAlg};
use crate::dispatch::Cmd;
use crate::marshal::{Reader, Writer};
use crate::rc::{At, Rc, TpmResult};
use crate::stream::StreamHash;

/// Transient object slots (TPM_PT_HR_TRANSIENT_MIN).
pub const MAX_OBJECTS: usize = 8;

/// What a sequence object is accumulating.
#[derive(Debug, Clone)]
pub enum SeqState {
    Hash(Box<StreamHash>),
    /// An event sequence hashes with every implemented algorithm, in `HASH_ALGS` order.
    Event(Box<[StreamHash; 2]>),
}

/// A sequence object (Part 1 §32.4.5).
#[derive(Debug, Clone)]
pub struct SeqObject {
    pub auth: Vec<u8>,
    pub state: SeqState,
    /// Whether the first block has been seen, and whether a ticket may be produced: not when the
    /// data starts with TPM_GENERATED_VALUE (Part 3 §17.5, so a forged "TPM-made" message cannot get one).
    pub started: bool,
    pub ticket_ok: bool,
}

impl SeqObject {
    fn update(&mut self, data: &[u8]) {
        if !self.started {
            self.started = true;
            self.ticket_ok = !starts_generated(data);
        }
        match &mut self.state {
            SeqState::Hash(h) => h.update(data),
            SeqState::Event(hs) => hs.iter_mut().for_each(|h| h.update(data)),
        }
    }

    pub fn save(&self, w: &mut Writer) {
        w.tpm2b(&self.auth);
        w.u8(u8::from(self.started) | u8::from(self.ticket_ok) << 1);
        match &self.state {
            SeqState::Hash(h) => {
                w.u8(0);
                h.save(w);
            }
            SeqState::Event(hs) => {
                w.u8(1);
                hs.iter().for_each(|h| h.save(w));
            }
        }
    }

    pub fn load(r: &mut Reader<'_>) -> TpmResult<SeqObject> {
        let auth = r.tpm2b(MAX_DIGEST)?.to_vec();
        let flags = r.u8()?;
        let state = match r.u8()? {
            0 => SeqState::Hash(Box::new(StreamHash::load(r)?)),
            1 => SeqState::Event(Box::new([StreamHash::load(r)?, StreamHash::load(r)?])),
            _ => return Err(Rc::INTEGRITY),
        };
        Ok(SeqObject { auth, state, started: flags & 1 != 0, ticket_ok: flags & 2 != 0 })
    }
}

fn starts_generated(data: &[u8]) -> bool {
    data.get(..4) == Some(&TPM_GENERATED_VALUE.to_be_bytes()[..])
}

/// The transient object slots. Handle = TRANSIENT_FIRST + slot.
#[derive(Debug, Default, Clone)]
pub struct Objects {
    slots: [Option<Box<SeqObject>>; MAX_OBJECTS],
}

fn slot_of(h: u32) -> Option<usize> {
    h.checked_sub(handle::TRANSIENT_FIRST).map(|i| i as usize).filter(|&i| i < MAX_OBJECTS)
}

impl Objects {
    pub fn get(&self, h: u32) -> Option<&SeqObject> {
        self.slots.get(slot_of(h)?)?.as_deref()
    }

    pub fn get_mut(&mut self, h: u32) -> Option<&mut SeqObject> {
        self.slots.get_mut(slot_of(h)?)?.as_deref_mut()
    }

    pub fn insert(&mut self, o: SeqObject) -> TpmResult<u32> {
        let i = self.slots.iter().position(Option::is_none).ok_or(Rc::OBJECT_MEMORY)?;
        if let Some(s) = self.slots.get_mut(i) {
            *s = Some(Box::new(o));
        }
        Ok(handle::TRANSIENT_FIRST + i as u32)
    }

    pub fn remove(&mut self, h: u32) -> Option<Box<SeqObject>> {
        self.slots.get_mut(slot_of(h)?)?.take()
    }

    pub fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
    }

    pub fn count(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    pub fn handles(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .map(|(i, _)| handle::TRANSIENT_FIRST + i as u32)
    }
}

/// Reads a TPMI_RH_HIERARCHY+ parameter: owner, endorsement, platform or NULL, and enabled.
fn read_hierarchy(tpm: &Tpm, r: &mut Reader<'_>, n: u32) -> TpmResult<u32> {
    let h = r.u32().p(n)?;
    match h {
        handle::RH_NULL => Ok(h),
        handle::RH_OWNER | handle::RH_ENDORSEMENT | handle::RH_PLATFORM if tpm.hier.enabled(h) => Ok(h),
        handle::RH_OWNER | handle::RH_ENDORSEMENT | handle::RH_PLATFORM => Err(Rc::HIERARCHY.param(n)),
        _ => Err(Rc::VALUE.param(n)),
    }
}

/// A TPMT_TK_HASHCHECK (Part 2 Table 112): HMAC(proof(hierarchy), TPM_ST_HASHCHECK || digest), or the
/// NULL ticket when no ticket may be produced.
fn write_ticket(tpm: &Tpm, w: &mut Writer, hierarchy: u32, digest: &Digest, allowed: bool) -> TpmResult<()> {
    w.u16(st::HASHCHECK);
    match tpm.hier.proof(hierarchy).filter(|_| allowed) {
        Some(proof) => {
            w.u32(hierarchy);
            let t = HashAlg::Sha256.hmac(proof, &[&st::HASHCHECK.to_be_bytes(), digest.as_slice()])?;
            w.tpm2b(t.as_slice());
        }
        None => {
            w.u32(handle::RH_NULL);
            w.u16(0);
        }
    }
    Ok(())
}

/// TPM2_Hash (Part 3 §15.4).
pub(crate) fn hash(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let data = c.params.tpm2b(MAX_BUFFER).p(1)?;
    let alg = HashAlg::from_id(c.params.u16().p(2)?).ok_or(Rc::HASH.param(2))?;
    let hierarchy = read_hierarchy(tpm, &mut c.params, 3)?;
    c.params.finish()?;
    let d = alg.digest(&[data]);
    c.out.tpm2b(d.as_slice());
    write_ticket(tpm, &mut c.out, hierarchy, &d, !starts_generated(data))
}

/// TPM2_HashSequenceStart (Part 3 §17.3); TPM_ALG_NULL starts an event sequence.
pub(crate) fn start(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let auth = c.params.tpm2b(MAX_DIGEST).p(1)?.to_vec();
    let id = c.params.u16().p(2)?;
    c.params.finish()?;
    let state = match (id, HashAlg::from_id(id)) {
        (_, Some(a)) => SeqState::Hash(Box::new(StreamHash::new(a))),
        (alg::NULL, None) => SeqState::Event(Box::new(HASH_ALGS.map(StreamHash::new))),
        _ => return Err(Rc::HASH.param(2)),
    };
    c.rhandle = tpm.objects.insert(SeqObject { auth, state, started: false, ticket_ok: true })?;
    Ok(())
}

/// TPM2_SequenceUpdate (Part 3 §17.4).
pub(crate) fn update(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let data = c.params.tpm2b(MAX_BUFFER).p(1)?;
    c.params.finish()?;
    let o = tpm.objects.get_mut(c.handles[0]).ok_or(Rc::HANDLE.handle(1))?;
    o.update(data);
    Ok(())
}

/// TPM2_SequenceComplete (Part 3 §17.5).
pub(crate) fn complete(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let data = c.params.tpm2b(MAX_BUFFER).p(1)?;
    let hierarchy = read_hierarchy(tpm, &mut c.params, 2)?;
    c.params.finish()?;
    let h = c.handles[0];
    if !matches!(tpm.objects.get(h).map(|o| &o.state), Some(SeqState::Hash(_))) {
        return Err(Rc::MODE.handle(1));
    }
    let mut o = tpm.objects.remove(h).ok_or(Rc::HANDLE.handle(1))?;
    o.update(data);
    let SeqState::Hash(s) = o.state else { return Err(Rc::MODE.handle(1)) };
    let d = s.finish();
    c.out.tpm2b(d.as_slice());
    write_ticket(tpm, &mut c.out, hierarchy, &d, o.ticket_ok)
}

/// TPM2_EventSequenceComplete (Part 3 §17.6).
pub(crate) fn event_complete(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let data = c.params.tpm2b(MAX_BUFFER).p(1)?;
    c.params.finish()?;
    let [pcr, h, _] = c.handles;
    if !matches!(tpm.objects.get(h).map(|o| &o.state), Some(SeqState::Event(_))) {
        return Err(Rc::MODE.handle(2));
    }
    let pcr = (pcr != handle::RH_NULL).then_some(pcr as usize);
    if let Some(i) = pcr
        && !crate::pcr::RULES
            .get(i)
            .is_some_and(|r| c.locality < 5 && r.extend_locality & (1 << c.locality) != 0)
    {
        return Err(Rc::LOCALITY);
    }
    let mut o = tpm.objects.remove(h).ok_or(Rc::HANDLE.handle(2))?;
    o.update(data);
    let SeqState::Event(hs) = o.state else { return Err(Rc::MODE.handle(2)) };
    c.out.u32(hs.len() as u32);
    for s in *hs {
        let alg = s.alg();
        let d = s.finish();
        c.out.u16(alg.id());
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

/// TPM2_ReadPublic (Part 3 §12.4). The only objects this engine holds are sequence objects, which
/// have no public area: TPM_RC_SEQUENCE (as ms-tpm-20-ref answers for them).
pub(crate) fn read_public(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    tpm.objects.get(c.handles[0]).ok_or(Rc::HANDLE.handle(1))?;
    Err(Rc::SEQUENCE)
}
