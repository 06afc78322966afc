//! The hierarchies (Part 1 §13): their authValues, authPolicies, enables and proofs.

use alloc::vec::Vec;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::EntropySource;
use crate::crypto::HashAlg;
use crate::crypto::drbg::Drbg;
use crate::wire::handle::Handle;

// The authValues and proofs are wiped when the state is freed (threat model T5).
impl Drop for Hierarchies {
    fn drop(&mut self) {
        self.owner_auth.zeroize();
        self.endorsement_auth.zeroize();
        self.platform_auth.zeroize();
        self.lockout_auth.zeroize();
        self.proofs.zeroize();
    }
}

impl ZeroizeOnDrop for Hierarchies {}

/// The permanent hierarchies' state (Part 1 §13-14).
#[derive(Debug, Clone)]
pub struct Hierarchies {
    pub(crate) owner_auth: Vec<u8>,
    pub(crate) endorsement_auth: Vec<u8>,
    pub(crate) platform_auth: Vec<u8>,
    pub(crate) lockout_auth: Vec<u8>,
    pub sh_enable: bool,
    pub eh_enable: bool,
    pub ph_enable: bool,
    pub ph_enable_nv: bool,
    pub disable_clear: bool,
    /// Secret values tickets are made with: owner, endorsement, platform, null.
    pub(crate) proofs: [[u8; 32]; 4],
    /// authPolicy and its hash (TPM2_SetPrimaryPolicy): owner, endorsement, platform, lockout.
    pub(crate) policies: [(Vec<u8>, Option<HashAlg>); 4],
}

pub(crate) fn fresh(drbg: &mut Drbg, e: &mut dyn EntropySource) -> [u8; 32] {
    let mut v = [0u8; 32];
    drbg.generate(e, &mut v);
    v
}

impl Hierarchies {
    pub fn manufacture(drbg: &mut Drbg, e: &mut dyn EntropySource) -> Self {
        Hierarchies {
            owner_auth: Vec::new(),
            endorsement_auth: Vec::new(),
            platform_auth: Vec::new(),
            lockout_auth: Vec::new(),
            sh_enable: true,
            eh_enable: true,
            ph_enable: true,
            ph_enable_nv: true,
            disable_clear: false,
            proofs: [fresh(drbg, e), fresh(drbg, e), fresh(drbg, e), fresh(drbg, e)],
            policies: Default::default(),
        }
    }

    /// Startup(CLEAR): every hierarchy enabled, platform auth back to empty (the platform firmware
    /// would set it), and on a TPM Reset a new null proof.
    pub fn startup_clear(&mut self, tpm_reset: bool, drbg: &mut Drbg, e: &mut dyn EntropySource) {
        self.sh_enable = true;
        self.eh_enable = true;
        self.ph_enable = true;
        self.ph_enable_nv = true;
        self.platform_auth.zeroize();
        if let Some(p) = self.policies.get_mut(2) {
            *p = (Vec::new(), None);
        }
        if tpm_reset {
            self.proofs[3] = fresh(drbg, e);
        }
    }

    pub fn auth(&self, h: Handle) -> Option<&[u8]> {
        match h {
            Handle::RH_OWNER => Some(&self.owner_auth),
            Handle::RH_ENDORSEMENT => Some(&self.endorsement_auth),
            Handle::RH_PLATFORM => Some(&self.platform_auth),
            Handle::RH_LOCKOUT => Some(&self.lockout_auth),
            Handle::RH_NULL => Some(&[]),
            _ => None,
        }
    }

    fn policy_slot(h: Handle) -> Option<usize> {
        match h {
            Handle::RH_OWNER => Some(0),
            Handle::RH_ENDORSEMENT => Some(1),
            Handle::RH_PLATFORM => Some(2),
            Handle::RH_LOCKOUT => Some(3),
            _ => None,
        }
    }

    /// The authPolicy of a hierarchy, if one was set.
    pub fn policy(&self, h: Handle) -> Option<(Vec<u8>, HashAlg)> {
        let (p, alg) = self.policies.get(Self::policy_slot(h)?)?;
        alg.filter(|_| !p.is_empty()).map(|a| (p.clone(), a))
    }

    /// TPM2_SetPrimaryPolicy.
    pub fn set_policy(&mut self, h: Handle, policy: &[u8], alg: Option<HashAlg>) {
        if let Some(p) = Self::policy_slot(h).and_then(|i| self.policies.get_mut(i)) {
            *p = (policy.to_vec(), alg);
        }
    }

    pub fn enabled(&self, h: Handle) -> bool {
        match h {
            Handle::RH_OWNER => self.sh_enable,
            Handle::RH_ENDORSEMENT => self.eh_enable,
            Handle::RH_PLATFORM => self.ph_enable,
            _ => true,
        }
    }

    pub fn proof(&self, h: Handle) -> Option<&[u8; 32]> {
        match h {
            Handle::RH_OWNER => self.proofs.first(),
            Handle::RH_ENDORSEMENT => self.proofs.get(1),
            Handle::RH_PLATFORM => self.proofs.get(2),
            _ => None,
        }
    }

    /// TPMA_PERMANENT ownerAuthSet, endorsementAuthSet, lockoutAuthSet (Part 2 Table 38).
    pub fn auth_set_bits(&self) -> u32 {
        u32::from(!self.owner_auth.is_empty())
            | u32::from(!self.endorsement_auth.is_empty()) << 1
            | u32::from(!self.lockout_auth.is_empty()) << 2
    }
}
