//! The NV-resident state as bytes: what a TPM keeps across power loss (TPM 2.0 Library Part 1 §37 "NV
//! Memory" and the PERSISTENT_DATA / ORDERLY_DATA lists of ms-tpm-20-ref `Global.h`), written in a
//! versioned, bounded format and parsed back from bytes the host stored (hostile: every field is
//! checked, nothing panics, a state is applied only once all of it parsed).
//!
//! Persisted: the storage, endorsement and platform primary seeds (TPM2_Clear, ChangeEPS and ChangePPS
//! change them). The EPS is written as it is, but where the firmware derives it from the platform
//! (`Tpm::set_endorsement_seed`) the platform's wins: TPM 2.0 Library Part 1 §14.3.2 lets the EPS change
//! only through TPM2_ChangeEPS, which such a TPM does not offer, so a state whose EPS differs from the
//! platform's is not one this TPM wrote, and [`apply`] refuses it whole (rather than dropping the EPS
//! from the format: the TPMs that generate their own EPS keep theirs across a reboot the same way); the owner, endorsement and platform proofs; ownerAuth, endorsementAuth, lockoutAuth and
//! their authPolicies (platformAuth and its policy are reset by every Startup(CLEAR), Part 1 §13.4);
//! disableClear; the dictionary-attack parameters, failedTries and whether lockoutAuth is locked (Part 1
//! §19.8); Clock (as of the save), resetCount and restartCount (Part 1 §36); every NV index with its
//! attributes (WRITTEN and the locks included), authValue, authPolicy and data, and the highest value a
//! deleted counter held (Part 1 §37.2.4); the persistent objects of TPM2_EvictControl.
//!
//! Not persisted (volatile per Part 1 §37.1, or left out by choice): PCRs, sessions, loaded objects,
//! the null seed and proof (new at every TPM Reset anyway), shEnable/ehEnable/phEnableNV (STATE_CLEAR,
//! set again by Startup(CLEAR)), the Shutdown(STATE) snapshot (a resume across a reboot is not offered:
//! every boot is a TPM Reset), the PCR allocation and the command-audit list (their defaults return).

use alloc::boxed::Box;
use alloc::vec::Vec;

use zeroize::{Zeroize, Zeroizing};

use crate::Tpm;
use crate::crypto::HashAlg;
use crate::state::key_store::{self, KeyObject};
use crate::state::nv::{self, NvIndex, NvType};
use crate::wire::handle::{HT_NV_INDEX, Handle};
use crate::wire::marshal::{Reader, Writer};

/// The format version this code writes and reads.
pub const FORMAT_VERSION: u16 = 1;

/// Largest body the format produces: every NV byte, the index and key overhead, with room to spare.
pub const MAX_BODY: usize = 96 * 1024;

/// Largest authValue or authPolicy (a SHA-384 digest).
const MAX_DIGEST: usize = 48;

/// Handle type of persistent objects (Part 2 Table 28, TPM_HT_PERSISTENT).
const HT_PERSISTENT: u8 = 0x81;

/// Why stored state bytes were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatError {
    /// The bytes end inside a field, or a size exceeds its bound.
    Truncated,
    /// A format version this code does not read.
    Version(u16),
    /// More indices or objects than the TPM holds, or too many NV bytes.
    Limit,
    /// A field holds a value the TPM never writes (a handle of the wrong type, an unknown hash,
    /// an unsupported index type, a flag that is neither 0 nor 1).
    Value,
    /// A persistent object's areas do not make a key.
    Object,
    /// Bytes left after the last field.
    Trailing,
    /// The endorsement primary seed is not the platform's, which this TPM's EPS is (Part 1 §14.3.2:
    /// only TPM2_ChangeEPS changes an EPS, and a TPM with the platform's EPS does not offer it).
    EndorsementSeed,
}

impl From<crate::ResponseCode> for FormatError {
    fn from(_: crate::ResponseCode) -> Self {
        FormatError::Truncated
    }
}

/// The parsed state, not yet applied. Secrets wipe themselves when it is dropped.
pub(crate) struct Stored {
    seeds: Zeroizing<[[u8; 32]; 3]>,
    proofs: Zeroizing<[[u8; 32]; 3]>,
    auths: [Zeroizing<Vec<u8>>; 3],
    policies: [(Vec<u8>, Option<HashAlg>); 3],
    disable_clear: bool,
    da: [u32; 4],
    lockout_locked: bool,
    clock: u64,
    reset_count: u32,
    restart_count: u32,
    max_counter: u64,
    indices: Vec<NvIndex>,
    objects: Vec<(Handle, KeyObject)>,
}

/// The owner, endorsement and lockout slots of `Hierarchies::policies`.
const POLICY_SLOTS: [usize; 3] = [0, 1, 3];

/// Writes `tpm`'s NV-resident state with Clock `clock`.
pub(crate) fn write(tpm: &Tpm, clock: u64, w: &mut Writer) {
    w.u16(FORMAT_VERSION);
    for h in [Handle::RH_OWNER, Handle::RH_ENDORSEMENT, Handle::RH_PLATFORM] {
        w.bytes(tpm.keys.seed(h).unwrap_or(&[0; 32]));
    }
    for proof in tpm.hier.proofs.iter().take(3) {
        w.bytes(proof);
    }
    for auth in [&tpm.hier.owner_auth, &tpm.hier.endorsement_auth, &tpm.hier.lockout_auth] {
        w.tpm2b(auth);
    }
    for slot in POLICY_SLOTS {
        let (policy, alg) = tpm.hier.policies.get(slot).cloned().unwrap_or_default();
        w.tpm2b(&policy);
        w.u16(alg.map_or(0, |a| a.id().0));
    }
    w.u8(u8::from(tpm.hier.disable_clear));
    let da = &tpm.da;
    for v in [da.failed_tries, da.max_tries, da.recovery_time, da.lockout_recovery] {
        w.u32(v);
    }
    w.u8(u8::from(da.lockout_auth_locked()));
    w.u64(clock);
    w.u32(tpm.time.reset_count);
    w.u32(tpm.time.restart_count);
    w.u64(tpm.nv.max_counter);
    w.u16(tpm.nv.len() as u16);
    for index in tpm.nv.iter() {
        w.handle(index.handle);
        w.u16(index.name_alg.id().0);
        w.u32(index.attrs);
        w.tpm2b(&index.auth_policy);
        w.tpm2b(&index.auth);
        w.tpm2b(&index.data);
    }
    let handles = tpm.keys.persistent_handles();
    w.u16(handles.len() as u16);
    for h in handles {
        if let Some(k) = tpm.keys.persistent(h) {
            w.handle(h);
            k.save(w);
        }
    }
}

fn flag(r: &mut Reader<'_>) -> Result<bool, FormatError> {
    r.yes_no().map_err(|_| FormatError::Value)
}

fn hash(id: u16) -> Result<HashAlg, FormatError> {
    HashAlg::from_id(crate::AlgId(id)).ok_or(FormatError::Value)
}

fn seed_triple(r: &mut Reader<'_>) -> Result<Zeroizing<[[u8; 32]; 3]>, FormatError> {
    let mut out = Zeroizing::new([[0u8; 32]; 3]);
    for slot in out.iter_mut() {
        slot.copy_from_slice(r.bytes(32)?);
    }
    Ok(out)
}

fn index(r: &mut Reader<'_>) -> Result<NvIndex, FormatError> {
    let handle = r.handle()?;
    let name_alg = hash(r.u16()?)?;
    let attrs = r.u32()?;
    let policy = r.tpm2b(MAX_DIGEST)?;
    let auth = Zeroizing::new(r.tpm2b(MAX_DIGEST)?.to_vec());
    let data = r.tpm2b(nv::MAX_INDEX_SIZE)?;
    let kind = NvType::from_attrs(attrs).ok_or(FormatError::Value)?;
    let fixed_size = matches!(kind, NvType::Counter | NvType::Bits);
    if handle.ty() != HT_NV_INDEX || attrs & nv::attr::RESERVED != 0 || (fixed_size && data.len() != 8) {
        return Err(FormatError::Value);
    }
    let size = u16::try_from(data.len()).map_err(|_| FormatError::Limit)?;
    let mut index = NvIndex::new(handle, name_alg, attrs, policy, &auth, size);
    index.data.copy_from_slice(data);
    Ok(index)
}

/// Parses `body` completely; nothing is applied.
pub(crate) fn parse(body: &[u8]) -> Result<Stored, FormatError> {
    if body.len() > MAX_BODY {
        return Err(FormatError::Limit);
    }
    let r = &mut Reader::new(body);
    let version = r.u16()?;
    if version != FORMAT_VERSION {
        return Err(FormatError::Version(version));
    }
    let seeds = seed_triple(r)?;
    let proofs = seed_triple(r)?;
    let mut auths: [Zeroizing<Vec<u8>>; 3] = Default::default();
    for auth in auths.iter_mut() {
        auth.extend_from_slice(r.tpm2b(MAX_DIGEST)?);
    }
    let mut policies: [(Vec<u8>, Option<HashAlg>); 3] = Default::default();
    for (policy, alg) in policies.iter_mut() {
        *policy = r.tpm2b(MAX_DIGEST)?.to_vec();
        let id = r.u16()?;
        *alg = if id == 0 { None } else { Some(hash(id)?) };
    }
    let disable_clear = flag(r)?;
    let da = [r.u32()?, r.u32()?, r.u32()?, r.u32()?];
    let lockout_locked = flag(r)?;
    let (clock, reset_count, restart_count) = (r.u64()?, r.u32()?, r.u32()?);
    let max_counter = r.u64()?;
    let count = usize::from(r.u16()?);
    if count > nv::MAX_INDICES {
        return Err(FormatError::Limit);
    }
    let mut indices: Vec<NvIndex> = Vec::with_capacity(count);
    for _ in 0..count {
        indices.push(index(r)?);
    }
    let count = usize::from(r.u16()?);
    if count > key_store::MAX_PERSISTENT {
        return Err(FormatError::Limit);
    }
    let mut objects = Vec::with_capacity(count);
    for _ in 0..count {
        let handle = r.handle()?;
        if handle.ty() != HT_PERSISTENT {
            return Err(FormatError::Value);
        }
        objects.push((handle, KeyObject::load(r).map_err(|_| FormatError::Object)?));
    }
    if r.remaining() != 0 {
        return Err(FormatError::Trailing);
    }
    Ok(Stored {
        seeds,
        proofs,
        auths,
        policies,
        disable_clear,
        da,
        lockout_locked,
        clock,
        reset_count,
        restart_count,
        max_counter,
        indices,
        objects,
    })
}

/// Replaces `tpm`'s NV-resident state with `stored` (Clock resumes from the stored value at `now`).
/// Duplicate handles or too many NV bytes refuse the whole state, leaving `tpm` as it was.
pub(crate) fn apply(tpm: &mut Tpm, stored: Stored, now: u64) -> Result<(), FormatError> {
    // Compared without an early exit: both are secrets (the tag verified already, so the bytes are
    // this platform's sealing, not the host's choice).
    if let Some(platform) = tpm.keys.platform_endorsement_seed() {
        let differs = platform.iter().zip(stored.seeds[1].iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if differs != 0 {
            return Err(FormatError::EndorsementSeed);
        }
    }
    let mut store = nv::NvStore::default();
    store.max_counter = stored.max_counter;
    for index in stored.indices {
        store.define(index).map_err(|_| FormatError::Limit)?;
    }
    let mut persistent: Vec<(Handle, Box<KeyObject>)> = Vec::with_capacity(stored.objects.len());
    for (h, k) in stored.objects {
        if persistent.iter().any(|(p, _)| *p == h) {
            return Err(FormatError::Value);
        }
        persistent.push((h, Box::new(k)));
    }
    tpm.nv = store;
    tpm.keys.restore(&stored.seeds, persistent);
    tpm.objects.clear();
    let hier = &mut tpm.hier;
    hier.proofs[..3].copy_from_slice(&stored.proofs[..]);
    let [owner, endorsement, lockout] = stored.auths;
    replace_secret(&mut hier.owner_auth, &owner);
    replace_secret(&mut hier.endorsement_auth, &endorsement);
    replace_secret(&mut hier.lockout_auth, &lockout);
    for (slot, stored) in POLICY_SLOTS.into_iter().zip(stored.policies) {
        if let Some(p) = hier.policies.get_mut(slot) {
            *p = stored;
        }
    }
    hier.disable_clear = stored.disable_clear;
    let [failed_tries, max_tries, recovery_time, lockout_recovery] = stored.da;
    tpm.da.restore(failed_tries, max_tries, recovery_time, lockout_recovery, stored.lockout_locked);
    tpm.time.restore(now, stored.clock, stored.reset_count, stored.restart_count);
    Ok(())
}

/// Overwrites a secret, wiping the old value first.
fn replace_secret(dst: &mut Vec<u8>, src: &[u8]) {
    dst.zeroize();
    dst.extend_from_slice(src);
}
