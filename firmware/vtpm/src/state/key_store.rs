//! Key objects: the primary seeds they derive from, the persistent objects made by EvictControl, and
//! how a key object is written into a context blob. Loaded keys live in the transient object table
//! (`state::transient`).

use alloc::boxed::Box;
use alloc::vec::Vec;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::EntropySource;
use crate::crypto::drbg::Drbg;
use crate::object::key_material::{self as keys, Material};
use crate::object::{Public, Sensitive, attr};
use crate::state::primary_cache::PrimaryCache;
use crate::wire::command_code::CommandCode;
use crate::wire::handle::Handle;
use crate::wire::marshal::{Reader, Writer};
use crate::wire::response_code::{ResponseCode, TpmResult};

/// Persistent objects (EvictControl), TPM_PT_HR_PERSISTENT_MIN.
pub const MAX_PERSISTENT: usize = 8;

/// savedHandle of a key object's context (Part 3 §28.2: 0x80000000 for an ordinary object).
pub const SAVED_HANDLE: Handle = Handle(0x8000_0000);

/// A loaded key object.
#[derive(Debug, Clone)]
pub struct KeyObject {
    pub public: Public,
    pub sens: Sensitive,
    pub material: Material,
    pub name: Vec<u8>,
    /// Part 1 §16: QN(primary) = H(hierarchy || Name), QN(child) = H(QN(parent) || Name).
    pub qualified: Vec<u8>,
    /// The hierarchy the object belongs to (owner, endorsement, platform or null).
    pub hierarchy: Handle,
}

impl KeyObject {
    pub fn new(
        public: Public,
        sens: Sensitive,
        material: Material,
        parent_qn: &[u8],
        hierarchy: Handle,
    ) -> Self {
        let name = public.name();
        let mut qualified = public.name_alg.id().to_be_bytes().to_vec();
        qualified.extend_from_slice(public.name_alg.digest(&[parent_qn, &name]).as_slice());
        KeyObject { public, sens, material, name, qualified, hierarchy }
    }

    /// The state written into a context blob: hierarchy, public area, sensitive area, QN.
    pub fn save(&self, w: &mut Writer) {
        w.handle(self.hierarchy);
        w.tpm2b(&self.public.marshal());
        w.tpm2b(&self.sens.marshal());
        w.tpm2b(&self.qualified);
    }

    /// Reads back what `save` wrote (the blob is authenticated; parsed defensively anyway).
    pub fn load(r: &mut Reader<'_>) -> TpmResult<KeyObject> {
        let hierarchy = r.handle()?;
        let public = Public::parse_2b(r)?;
        let sens = Sensitive::parse(&mut Reader::new(r.tpm2b(1024)?))?;
        let qualified = r.tpm2b(64)?.to_vec();
        let material = keys::restore(&public, &sens)?;
        let name = public.name();
        Ok(KeyObject { public, sens, material, name, qualified, hierarchy })
    }
}

// The primary seeds are wiped when the store is freed; persistent objects wipe their own sensitive
// areas (`Sensitive` and the RustCrypto key types zeroize on drop).
impl Drop for KeyStore {
    fn drop(&mut self) {
        self.seeds.zeroize();
    }
}

impl ZeroizeOnDrop for KeyStore {}

/// The primary seeds and persistent keys.
#[derive(Debug, Clone)]
pub struct KeyStore {
    /// Owner (SPS), endorsement (EPS), platform (PPS), null seed.
    seeds: [[u8; 32]; 4],
    /// The EPS is the platform's (`set_endorsement_seed`), not one this TPM generated: TPM2_ChangeEPS
    /// is then not offered, and a stored state must carry this very EPS (`persistence::format`).
    platform_eps: bool,
    persistent: Vec<(Handle, Box<KeyObject>)>,
    /// Recently derived RSA primaries (`primary_cache.rs`); emptied whenever a seed changes.
    primaries: PrimaryCache,
}

fn fresh(drbg: &mut Drbg, e: &mut dyn EntropySource) -> [u8; 32] {
    let mut v = [0u8; 32];
    drbg.generate(e, &mut v);
    v
}

fn seed_slot(h: Handle) -> Option<usize> {
    match h {
        Handle::RH_OWNER => Some(0),
        Handle::RH_ENDORSEMENT => Some(1),
        Handle::RH_PLATFORM => Some(2),
        Handle::RH_NULL => Some(3),
        _ => None,
    }
}

impl KeyStore {
    pub fn manufacture(drbg: &mut Drbg, e: &mut dyn EntropySource) -> Self {
        KeyStore {
            seeds: [fresh(drbg, e), fresh(drbg, e), fresh(drbg, e), fresh(drbg, e)],
            platform_eps: false,
            persistent: Vec::new(),
            primaries: PrimaryCache::default(),
        }
    }

    /// Recently derived RSA primaries.
    pub fn primaries(&self) -> &PrimaryCache {
        &self.primaries
    }

    /// The primary seed of a hierarchy.
    pub fn seed(&self, h: Handle) -> Option<&[u8; 32]> {
        self.seeds.get(seed_slot(h)?)
    }

    /// A TPM Reset: a new null seed (Part 1 §14.5), so null-hierarchy primaries change (the caller
    /// flushes the loaded keys).
    pub fn tpm_reset(&mut self, drbg: &mut Drbg, e: &mut dyn EntropySource) {
        self.seeds[3] = fresh(drbg, e);
        self.primaries.forget(Handle::RH_NULL);
    }

    /// A new endorsement seed from the firmware (`Tpm::set_endorsement_seed`): endorsement keys derived
    /// from the old one, loaded or remembered, are gone.
    pub fn set_endorsement_seed(&mut self, seed: &[u8; 32]) {
        self.seeds[1].zeroize();
        self.seeds[1] = *seed;
        self.platform_eps = true;
        self.primaries.forget(Handle::RH_ENDORSEMENT);
        self.persistent.retain(|(_, k)| k.hierarchy != Handle::RH_ENDORSEMENT);
    }

    /// The platform's EPS, if the firmware gave one (`set_endorsement_seed`); `None` when this TPM
    /// generated its own.
    pub fn platform_endorsement_seed(&self) -> Option<&[u8; 32]> {
        self.platform_eps.then_some(&self.seeds[1])
    }

    /// TPM2_Clear: a new storage primary seed; persistent owner objects are gone (the caller flushes
    /// the loaded ones).
    pub fn clear_owner(&mut self, drbg: &mut Drbg, e: &mut dyn EntropySource) {
        self.seeds[0] = fresh(drbg, e);
        self.primaries.forget(Handle::RH_OWNER);
        self.persistent.retain(|(_, k)| k.hierarchy != Handle::RH_OWNER);
    }

    /// TPM2_ChangeEPS / TPM2_ChangePPS (Part 3 §24.4, §24.5): a new primary seed for `hierarchy` from
    /// the RNG; the remembered primaries and the hierarchy's persistent objects are gone (the caller
    /// flushes the loaded ones), and contexts saved under the old seed no longer load (`seed_tag`).
    pub fn change_seed(&mut self, hierarchy: Handle, drbg: &mut Drbg, e: &mut dyn EntropySource) {
        if let Some(slot) = seed_slot(hierarchy).and_then(|i| self.seeds.get_mut(i)) {
            slot.zeroize();
            *slot = fresh(drbg, e);
        }
        self.primaries.forget(hierarchy);
        self.persistent.retain(|(_, k)| k.hierarchy != hierarchy);
    }

    /// A tag of the seed `hierarchy`'s objects derive from: a context saved before the seed changed
    /// (TPM2_Clear for the owner, a TPM Reset for null) no longer loads.
    fn seed_tag(&self, hierarchy: Handle) -> [u8; 8] {
        let mut tag = [0u8; 8];
        if let Some(seed) = self.seed(hierarchy) {
            let d = crate::crypto::HashAlg::Sha256.digest(&[b"WARDEN CONTEXT SEED", seed]);
            tag.copy_from_slice(d.as_slice().get(..8).unwrap_or(&[0; 8]));
        }
        tag
    }

    /// A key object's state for a context blob (`context`), bound to its hierarchy's seed.
    pub fn save_context(&self, k: &KeyObject, w: &mut Writer) {
        w.bytes(&self.seed_tag(k.hierarchy));
        k.save(w);
    }

    /// Reads back `save_context`; TPM_RC_INTEGRITY if the hierarchy's seed changed since, or the
    /// state does not parse (the blob is authenticated, so that would be a bug).
    pub fn load_context(&self, r: &mut Reader<'_>) -> TpmResult<KeyObject> {
        let tag = r.bytes(8).map_err(|_| ResponseCode::INTEGRITY)?;
        let k = KeyObject::load(r).map_err(|_| ResponseCode::INTEGRITY)?;
        r.finish().map_err(|_| ResponseCode::INTEGRITY)?;
        if tag != self.seed_tag(k.hierarchy) {
            return Err(ResponseCode::INTEGRITY);
        }
        Ok(k)
    }

    /// The state stored across reboots (`persistence`): the storage, endorsement and platform seeds and
    /// the persistent objects replace the current ones; remembered primaries came from the old seeds.
    pub fn restore(&mut self, seeds: &[[u8; 32]; 3], persistent: Vec<(Handle, Box<KeyObject>)>) {
        self.seeds.iter_mut().take(3).for_each(Zeroize::zeroize);
        self.seeds[..3].copy_from_slice(seeds);
        self.persistent = persistent;
        for hierarchy in [Handle::RH_OWNER, Handle::RH_ENDORSEMENT, Handle::RH_PLATFORM] {
            self.primaries.forget(hierarchy);
        }
    }

    /// A persistent key.
    pub fn persistent(&self, h: Handle) -> Option<&KeyObject> {
        self.persistent.iter().find(|(p, _)| *p == h).map(|(_, k)| &**k)
    }

    pub fn persistent_handles(&self) -> Vec<Handle> {
        let mut v: Vec<Handle> = self.persistent.iter().map(|(h, _)| *h).collect();
        v.sort_unstable();
        v
    }

    pub fn make_persistent(&mut self, h: Handle, k: KeyObject) -> TpmResult<()> {
        if self.persistent(h).is_some() {
            return Err(ResponseCode::NV_DEFINED);
        }
        if self.persistent.len() >= MAX_PERSISTENT {
            return Err(ResponseCode::NV_SPACE);
        }
        self.persistent.push((h, Box::new(k)));
        Ok(())
    }

    pub fn remove_persistent(&mut self, h: Handle) -> bool {
        let before = self.persistent.len();
        self.persistent.retain(|(p, _)| *p != h);
        self.persistent.len() != before
    }
}

/// Commands in which an object handle takes the ADMIN role (Part 3: ActivateCredential, Certify,
/// CertifyCreation's object, ObjectChangeAuth, PolicySigned ...). Duplicate's object takes the DUP
/// role, see `auth_value_available`.
pub fn admin_role(code: CommandCode) -> bool {
    matches!(code, CommandCode::ACTIVATE_CREDENTIAL | CommandCode::CERTIFY | CommandCode::OBJECT_CHANGE_AUTH)
}

impl KeyObject {
    /// IsAuthValueAvailable for an object: USER role needs userWithAuth, ADMIN role needs
    /// adminWithPolicy clear.
    pub fn auth_value_available(&self, code: CommandCode) -> bool {
        // The DUP role (Part 3 §13.1 Duplicate's object) is only ever authorized by a policy.
        if code == CommandCode::DUPLICATE {
            false
        } else if admin_role(code) {
            !self.public.has(attr::ADMIN_WITH_POLICY)
        } else {
            self.public.has(attr::USER_WITH_AUTH)
        }
    }

    /// The authPolicy, if set.
    pub fn auth_policy(&self) -> Option<(Vec<u8>, crate::crypto::HashAlg)> {
        (!self.public.policy.is_empty()).then(|| (self.public.policy.clone(), self.public.name_alg))
    }
}
