//! From SVSM evidence to the claims of a token: run `warden-evidence`'s checks against the stored
//! reference values and say which of them matched, or which check failed.
//!
//! `warden_evidence::Expected` holds one guest policy, while the store may hold reference values of
//! several images with different policies. So the values are grouped by policy and the evidence is
//! verified against each group whose measurement matches the report's (all groups when none does, so
//! the verdict names `measurement-referenced`); the first passing group wins.
use warden_evidence::{Check, Evidence, Expected, Report, TcbVersion, TrustAnchors};

use crate::protocol::Tcb;
use crate::store::StoredReferenceValues;

/// What a passing verification established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attested {
    /// MEASUREMENT.
    pub measurement: [u8; 48],
    /// GUEST_POLICY.
    pub policy: u64,
    /// REPORTED_TCB.
    pub reported_tcb: Tcb,
    /// VMPL.
    pub vmpl: u32,
    /// Whether GUEST_POLICY allows debugging.
    pub debug: bool,
    /// The manifest's EK (marshaled TPMT_PUBLIC).
    pub ek: Vec<u8>,
    /// The ids of the reference values whose measurement is the report's.
    pub reference_values: Vec<String>,
}

/// The first check that failed, by its stable name, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// The failed check.
    pub check: Check,
    /// The failure, in words.
    pub detail: String,
}

/// Verifies `evidence` against `references`.
pub fn evaluate(
    evidence: &Evidence,
    roots: &TrustAnchors,
    references: &[StoredReferenceValues],
) -> Result<Attested, Rejected> {
    let measurement = Report::parse(&evidence.report).ok().map(|report| *report.measurement());
    let names = |r: &StoredReferenceValues| measurement.is_some_and(|m| r.measurements.contains(&m));
    let matching: Vec<&StoredReferenceValues> = references.iter().filter(|r| names(r)).collect();
    let candidates = if matching.is_empty() { references.iter().collect() } else { matching };
    let mut policies: Vec<u64> = candidates.iter().map(|r| r.policy).collect();
    policies.sort_unstable();
    policies.dedup();
    if policies.is_empty() {
        // No reference values at all: verify anyway, so the answer names the check that fails.
        policies.push(0);
    }
    let mut first_rejection = None;
    for policy in policies {
        let group: Vec<&StoredReferenceValues> =
            candidates.iter().copied().filter(|r| r.policy == policy).collect();
        let expected = Expected {
            measurements: group.iter().flat_map(|r| r.measurements.iter().copied()).collect(),
            policy,
            // The minimum TCB is each resource's policy's to set; the token reports the TCB.
            minimum_tcb: TcbVersion::default(),
            ek_public: None,
        };
        let verdict = warden_evidence::verify(evidence, roots, &expected);
        if verdict.passed() {
            let report = Report::parse(&evidence.report)
                .map_err(|e| Rejected { check: Check::ReportFormat, detail: e.to_string() })?;
            let tcb = report.reported_tcb();
            return Ok(Attested {
                measurement: *report.measurement(),
                policy: report.policy(),
                reported_tcb: Tcb {
                    bootloader: tcb.bootloader,
                    tee: tcb.tee,
                    snp: tcb.snp,
                    microcode: tcb.microcode,
                },
                vmpl: report.vmpl(),
                debug: report.debug_allowed(),
                ek: verdict.ek_public.clone().unwrap_or_default(),
                reference_values: group.iter().filter(|r| names(r)).map(|r| r.id.clone()).collect(),
            });
        }
        if first_rejection.is_none() {
            first_rejection = verdict
                .first_failure()
                .map(|(check, failure)| Rejected { check, detail: failure.to_string() });
        }
    }
    Err(first_rejection
        .unwrap_or(Rejected { check: Check::ReportFormat, detail: "the verification ran no check".into() }))
}
