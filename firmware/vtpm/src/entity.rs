//! Entities that can be authorized: their authValues, authPolicies, Names and dictionary-attack status.

use alloc::vec::Vec;

use crate::consts::handle;
use crate::rc::Rc;
use crate::{Tpm, pcr};

impl Tpm {
    /// The authValue of an entity that has one.
    pub(crate) fn entity_auth(&self, h: u32) -> Option<Vec<u8>> {
        match handle::ht(h) {
            handle::HT_PERMANENT => self.hier.auth(h).map(<[u8]>::to_vec),
            handle::HT_PCR if (h as usize) < pcr::PCR_COUNT => Some(Vec::new()),
            handle::HT_NV_INDEX => self.nv.get(h).map(|i| i.auth.clone()),
            handle::HT_TRANSIENT => self.objects.get(h).map(|o| o.auth.clone()),
            _ => None,
        }
    }

    /// The authPolicy of an entity.
    pub(crate) fn entity_policy(&self, h: u32) -> Option<Vec<u8>> {
        match handle::ht(h) {
            handle::HT_PERMANENT => self.hier.policy(h).map(<[u8]>::to_vec),
            handle::HT_NV_INDEX => self.nv.get(h).map(|i| i.auth_policy.clone()),
            _ => None,
        }
    }

    /// The Name of an entity (Part 1 §16): an NV index's is nameAlg || H(public); others are the handle.
    pub(crate) fn entity_name(&self, h: u32) -> Vec<u8> {
        match self.nv.get(h) {
            Some(index) => index.name(),
            None => h.to_be_bytes().to_vec(),
        }
    }

    /// Whether failed authorizations of `h` count towards lockout. Permanent handles, PCRs and
    /// sequence objects are exempt; NV indices are protected unless TPMA_NV_NO_DA.
    pub(crate) fn is_da_protected(&self, h: u32) -> bool {
        self.nv.get(h).is_some_and(|i| !i.no_da())
    }

    /// Records a failed authorization and picks its code: TPM_RC_AUTH_FAIL where the dictionary-attack
    /// logic took note, TPM_RC_BAD_AUTH for exempt entities (Part 1 §19.8).
    pub(crate) fn auth_failure(&mut self, h: u32) -> Rc {
        if h == handle::RH_LOCKOUT {
            self.da.lockout_failed();
            Rc::AUTH_FAIL
        } else if self.is_da_protected(h) {
            self.da.failed();
            Rc::AUTH_FAIL
        } else {
            Rc::BAD_AUTH
        }
    }
}
