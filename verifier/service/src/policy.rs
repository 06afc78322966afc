//! Resource policies: which attested guests may read a resource. A policy is stored by name
//! (`warden-verifier policy set NAME FILE`) and every resource names its policy, so one policy change
//! covers every secret of a deployment.
use serde::{Deserialize, Serialize};

use crate::protocol::Tcb;

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
