//! Resource policies: which attested guests may read a resource. A policy is stored by name
//! (`warden-verifier policy set NAME FILE`) and every resource names its policy, so one policy change
//! covers every secret of a deployment.
use serde::{Deserialize, Serialize};

use crate::protocol::{Tcb, TokenClaims};

/// A resource policy as stored (JSON): `{"reference-values": [ids], "minimum-tcb": {...},
/// "allow-debug": false}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcePolicy {
    /// The reference values (ids) the token must name at least one of; empty = none is accepted.
    #[serde(rename = "reference-values")]
    pub reference_values: Vec<String>,
    /// The oldest reported TCB accepted, component by component.
    #[serde(rename = "minimum-tcb", default)]
    pub minimum_tcb: Tcb,
    /// Whether a guest whose policy allows debugging may read the resource.
    #[serde(rename = "allow-debug", default)]
    pub allow_debug: bool,
}

/// Why a token's claims do not satisfy a policy.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyRefusal {
    /// The token names none of the policy's reference values.
    #[error("the attested image matched none of the reference values {0:?}")]
    ReferenceValues(Vec<String>),
    /// A TCB component is older than the policy's minimum.
    #[error("reported TCB {reported:?} is older than the minimum {minimum:?}")]
    Tcb { reported: Tcb, minimum: Tcb },
    /// The guest policy allows debugging and the resource's policy does not.
    #[error("the guest's policy allows debugging")]
    Debug,
}

impl ResourcePolicy {
    /// Whether the claims of a verified token satisfy this policy.
    pub fn admits(&self, claims: &TokenClaims) -> Result<(), PolicyRefusal> {
        if !claims.reference_values.iter().any(|id| self.reference_values.contains(id)) {
            return Err(PolicyRefusal::ReferenceValues(self.reference_values.clone()));
        }
        let (reported, minimum) = (claims.reported_tcb, self.minimum_tcb);
        // A TCB is only as new as its oldest component.
        if reported.bootloader < minimum.bootloader
            || reported.tee < minimum.tee
            || reported.snp < minimum.snp
            || reported.microcode < minimum.microcode
        {
            return Err(PolicyRefusal::Tcb { reported, minimum });
        }
        if claims.debug && !self.allow_debug {
            return Err(PolicyRefusal::Debug);
        }
        Ok(())
    }
}
