//! Entities that can be authorized: their authValues, authPolicies, Names, which kinds of
//! authorization they offer for a command, and their dictionary-attack status (Part 1 §19.8).

use alloc::vec::Vec;

use crate::crypto::{HashAlg, SecretBytes, strip_trailing_zeros};
use crate::state::nv::attr;
use crate::wire::command_code::CommandCode;
use crate::wire::handle::{self, Handle};
use crate::wire::response_code::ResponseCode;
use crate::{Tpm, state::pcr};

/// NV commands in which the index takes the ADMIN role (Part 3 §31.5, §31.15): only a policy session
/// authorizes them, with the index's authPolicy whatever its POLICYREAD/POLICYWRITE bits (ms-tpm-20-ref
/// IsPolicySessionRequired).
fn nv_admin_op(code: CommandCode) -> bool {
    matches!(code, CommandCode::NV_UNDEFINE_SPACE_SPECIAL | CommandCode::NV_CHANGE_AUTH)
}

/// NV commands that write (they take the index's write authorization; the others read).
fn nv_write_op(code: CommandCode) -> bool {
    matches!(
        code,
        CommandCode::NV_WRITE
            | CommandCode::NV_INCREMENT
            | CommandCode::NV_EXTEND
            | CommandCode::NV_SET_BITS
            | CommandCode::NV_WRITE_LOCK
    )
}

impl Tpm {
    /// The authValue of an entity that has one.
    pub(crate) fn entity_auth(&self, h: Handle) -> Option<SecretBytes> {
        let auth = match h.ty() {
            handle::HT_PERMANENT => self.hier.auth(h).map(<[u8]>::to_vec),
            handle::HT_PCR if (h.0 as usize) < pcr::PCR_COUNT => Some(Vec::new()),
            handle::HT_NV_INDEX => self.nv.get(h).map(|i| i.auth.clone()),
            handle::HT_TRANSIENT | handle::HT_PERSISTENT if self.key(h).is_some() => {
                self.key(h).map(|k| k.sens.auth.clone())
            }
            handle::HT_TRANSIENT => self.objects.sequence(h).map(|o| o.auth.clone()),
            _ => None,
        };
        auth.map(SecretBytes::new)
    }

    /// Whether `h`'s authValue may authorize command `code` (ms-tpm-20-ref IsAuthValueAvailable): an
    /// NV index only with TPMA_NV_AUTHWRITE / AUTHREAD for the kind of access.
    pub(crate) fn auth_value_available(&self, h: Handle, code: CommandCode) -> bool {
        match h.ty() {
            handle::HT_NV_INDEX if nv_admin_op(code) => false,
            handle::HT_NV_INDEX => self
                .nv
                .get(h)
                .is_some_and(|i| i.has(if nv_write_op(code) { attr::AUTHWRITE } else { attr::AUTHREAD })),
            _ if self.key(h).is_some() => self.key(h).is_some_and(|k| k.auth_value_available(code)),
            _ => self.entity_auth(h).is_some(),
        }
    }

    /// The authPolicy and its algorithm, if a policy may authorize command `code` on `h`
    /// (IsAuthPolicyAvailable): a hierarchy with a policy set by TPM2_SetPrimaryPolicy, or an NV index
    /// with a policy and TPMA_NV_POLICYWRITE / POLICYREAD.
    pub(crate) fn auth_policy(&self, h: Handle, code: CommandCode) -> Option<(Vec<u8>, HashAlg)> {
        if h.ty() == handle::HT_PERMANENT {
            return self.hier.policy(h);
        }
        if let Some(k) = self.key(h) {
            return k.auth_policy();
        }
        let index = self.nv.get(h)?;
        let bit = if nv_write_op(code) { attr::POLICYWRITE } else { attr::POLICYREAD };
        (!index.auth_policy.is_empty() && (index.has(bit) || nv_admin_op(code)))
            .then(|| (index.auth_policy.clone(), index.name_alg))
    }

    /// Whether an NV index can be used now (ms-tpm-20-ref NvIndexIsAccessible): indices of a disabled
    /// hierarchy (shEnable, or phEnableNV for platform-created ones) are hidden.
    pub(crate) fn nv_accessible(&self, h: Handle) -> bool {
        self.nv.get(h).is_some_and(|i| {
            if i.has(attr::PLATFORMCREATE) { self.hier.ph_enable_nv } else { self.hier.sh_enable }
        })
    }

    /// The Name of an entity (Part 1 §16): an NV index's or key's is nameAlg || H(public); a
    /// sequence object's is empty, because its nameAlg is TPM_ALG_NULL (ms-tpm-20-ref EntityGetName
    /// via ObjectGetName), which is what a caller puts in cpHash; others are the handle.
    pub(crate) fn entity_name(&self, h: Handle) -> Vec<u8> {
        if let Some(index) = self.nv.get(h) {
            return index.name();
        }
        if let Some(k) = self.key(h) {
            return k.name.clone();
        }
        if h.ty() == handle::HT_TRANSIENT && self.objects.sequence(h).is_some() {
            return Vec::new();
        }
        h.to_be_bytes().to_vec()
    }

    /// Whether `h` is exempt from dictionary-attack protection: permanent handles except lockout,
    /// PCRs, sequence objects, and NV indices with TPMA_NV_NO_DA.
    pub(crate) fn da_exempt(&self, h: Handle) -> bool {
        match h.ty() {
            handle::HT_PERMANENT => h != Handle::RH_LOCKOUT,
            handle::HT_NV_INDEX => self.nv.get(h).is_none_or(|i| i.no_da()),
            handle::HT_TRANSIENT | handle::HT_PERSISTENT if self.key(h).is_some() => {
                self.key(h).is_some_and(|k| k.public.has(crate::object::attr::NO_DA))
            }
            _ => true,
        }
    }

    /// Records a failed authorization that counts (ms-tpm-20-ref IncrementLockout after its
    /// exemption checks): a lockout failure blocks lockoutAuth, any other adds a failed try.
    pub(crate) fn register_auth_failure(&mut self, h: Handle) -> ResponseCode {
        if h == Handle::RH_LOCKOUT {
            self.da.lockout_failed();
        } else {
            self.da.failed();
        }
        ResponseCode::AUTH_FAIL
    }
}

/// What identifies a bound entity (ms-tpm-20-ref SessionComputeBoundEntity uses Name and authValue):
/// H(Name || authValue). The authValue matters: sequence objects all have the empty Name, and an
/// entity whose authValue changed is no longer the bind entity (Part 1 §19.6.11), so its authValue
/// goes into the HMAC again.
pub(crate) fn bound_entity(tpm: &Tpm, alg: HashAlg, h: Handle) -> Vec<u8> {
    let auth = tpm.entity_auth(h).unwrap_or_default();
    alg.digest(&[&tpm.entity_name(h), strip_trailing_zeros(&auth)]).as_slice().to_vec()
}
