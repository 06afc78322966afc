//! Every check of `warden_evidence::verify` on evidence signed by a test hierarchy: genuine evidence
//! passes, and each forgery or policy violation fails at the check that names it.
mod support;

use p384::ecdsa::SigningKey;
use p384::ecdsa::signature::Signer;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use sha2::{Digest, Sha512};
use warden_defs::snp_report::{AttestationReport, REPORT_SIGNED_RANGE};
use warden_evidence::manifest::ManifestError;
use warden_evidence::{Check, Failure, TrustAnchors, Verdict, manifest, verify};
use zerocopy::{FromBytes, IntoBytes};

use support::{POLICY, POLICY_DEBUG, TCB, evidence, expected, hierarchy, test_roots};

/// The first failing check and why (a genuine verdict has none).
fn first_failure(verdict: &Verdict) -> Option<(Check, Failure)> {
    verdict.first_failure().map(|(check, failure)| (check, failure.clone()))
}

#[test]
fn genuine_evidence_passes_every_check_and_yields_the_ek() {
    let verdict = verify(&evidence(|_| {}), &test_roots(), &expected());
    assert_eq!(first_failure(&verdict), None, "{:#?}", verdict.checks);
    assert!(verdict.passed());
    assert_eq!(verdict.checks.len(), 13, "one outcome per check");
    assert_eq!(verdict.ek_public, Some(support::ek(0xC5)));
}

#[test]
fn certificates_given_as_pem_are_the_same_as_the_table() {
    let h = hierarchy();
    let mut e = evidence(|_| {});
    e.cert_table.clear();
    e.ask = Some(support::pem(&h.ask));
    e.vcek = Some(support::pem(&h.vcek));
    assert!(verify(&e, &test_roots(), &expected()).passed());
}

#[test]
fn a_flipped_report_byte_breaks_the_signature() {
    let mut e = evidence(|_| {});
    e.report[0x1F0] ^= 1; // LAUNCH_TCB: no other check reads it
    assert_eq!(
        first_failure(&verify(&e, &test_roots(), &expected())),
        Some((Check::ReportSignedByVcek, Failure::ReportSignature))
    );
}

#[test]
fn a_different_nonce_is_not_bound() {
    let mut e = evidence(|_| {});
    e.nonce[0] ^= 1;
    let verdict = verify(&e, &test_roots(), &expected());
    assert_eq!(first_failure(&verdict), Some((Check::ReportDataBindsNonceAndManifest, Failure::ReportData)));
    assert_eq!(verdict.ek_public, None, "an unbound manifest yields no EK");
}

#[test]
fn a_manifest_with_another_ek_fails() {
    // Swapped after the report was made: the binding breaks.
    let mut swapped = evidence(|_| {});
    swapped.manifest = manifest::single_vtpm_manifest(&support::ek(0x77));
    assert_eq!(
        first_failure(&verify(&swapped, &test_roots(), &expected())),
        Some((Check::ReportDataBindsNonceAndManifest, Failure::ReportData))
    );
    // Bound by the report, but not the EK the relying party read from the vTPM.
    let mut read_from_vtpm = expected();
    read_from_vtpm.ek_public = Some(support::ek(0x77));
    assert_eq!(
        first_failure(&verify(&evidence(|_| {}), &test_roots(), &read_from_vtpm)),
        Some((Check::ManifestEk, Failure::Manifest(ManifestError::UnexpectedEk)))
    );
}

#[test]
fn a_measurement_not_in_the_reference_values_fails() {
    let e = evidence(|f| f.measurement = [0x99; 48]);
    assert_eq!(
        first_failure(&verify(&e, &test_roots(), &expected())),
        Some((Check::MeasurementReferenced, Failure::Measurement))
    );
}

#[test]
fn a_report_signed_outside_the_chain_fails() {
    let rogue = SigningKey::random(&mut ChaCha20Rng::from_seed([7; 32]));
    let mut e = evidence(|_| {});
    let mut report = AttestationReport::read_from_bytes(&e.report).unwrap();
    let signature: p384::ecdsa::Signature = rogue.sign(&report.as_bytes()[REPORT_SIGNED_RANGE]);
    warden_evidence::report::encode_signature(&signature, &mut report);
    e.report = report.as_bytes().to_vec();
    assert_eq!(
        first_failure(&verify(&e, &test_roots(), &expected())),
        Some((Check::ReportSignedByVcek, Failure::ReportSignature))
    );
}

#[test]
fn a_vcek_the_ask_did_not_sign_fails() {
    let h = hierarchy();
    // Signed by the ARK's key under the ASK's name: the name chain holds, the signature does not.
    let forged = support::rsa_cert(
        &h.ark_key,
        "CN=SEV-Genoa,O=Warden INSECURE TEST KEY",
        "CN=SEV-VCEK,O=Warden INSECURE TEST KEY",
        h.vcek.tbs_certificate.subject_public_key_info.clone(),
        support::vcek_extensions(TCB, &h.chip_id),
    );
    let mut e = evidence(|_| {});
    e.vcek = Some(support::der(&forged));
    let verdict = verify(&e, &test_roots(), &expected());
    assert!(matches!(first_failure(&verdict), Some((Check::VcekSignedByAsk, Failure::Chain("VCEK", _)))));
    assert!(!verdict.passed());
}

#[test]
fn a_test_chain_is_refused_by_amds_roots() {
    let verdict = verify(&evidence(|_| {}), &TrustAnchors::amd(), &expected());
    assert!(matches!(first_failure(&verdict), Some((Check::AskSignedByArk, Failure::Chain("ASK", _)))));
    // Everything downstream of the chain says why it was not checked.
    let outcome = |check| verdict.checks.iter().find(|(c, _)| *c == check).map(|(_, o)| o.clone());
    assert_eq!(outcome(Check::ReportSignedByVcek), Some(Err(Failure::Skipped(Check::VcekSignedByAsk))));
}

#[test]
fn a_debug_policy_fails_even_when_signed() {
    let e = evidence(|f| f.policy = POLICY | POLICY_DEBUG);
    let mut signed_debug = expected();
    signed_debug.policy = POLICY | POLICY_DEBUG;
    assert_eq!(
        first_failure(&verify(&e, &test_roots(), &signed_debug)),
        Some((Check::DebugDisabled, Failure::Debug))
    );
    assert_eq!(
        first_failure(&verify(&e, &test_roots(), &expected())),
        Some((Check::PolicyAsSigned, Failure::Policy { report: POLICY | POLICY_DEBUG, signed: POLICY }))
    );
}

#[test]
fn a_vmpl_other_than_0_fails() {
    let e = evidence(|f| f.vmpl = 2);
    assert_eq!(
        first_failure(&verify(&e, &test_roots(), &expected())),
        Some((Check::Vmpl0, Failure::Vmpl(2)))
    );
}

#[test]
fn the_vcek_must_be_for_the_reports_tcb_and_chip() {
    let older = warden_evidence::TcbVersion { snp: TCB.snp - 1, ..TCB };
    let e = evidence(|f| f.tcb = older);
    assert_eq!(
        first_failure(&verify(&e, &test_roots(), &expected())),
        Some((Check::VcekTcbMatchesReport, Failure::TcbMismatch { vcek: TCB, report: older }))
    );
    let e = evidence(|f| f.chip_id[63] ^= 1);
    assert_eq!(
        first_failure(&verify(&e, &test_roots(), &expected())),
        Some((Check::VcekChipIdMatchesReport, Failure::ChipIdMismatch))
    );
}

#[test]
fn a_tcb_below_the_minimum_fails() {
    let mut newer = expected();
    newer.minimum_tcb.microcode = TCB.microcode + 1;
    assert!(matches!(
        first_failure(&verify(&evidence(|_| {}), &test_roots(), &newer)),
        Some((Check::MinimumTcb, Failure::Tcb { .. }))
    ));
}

#[test]
fn hostile_evidence_fails_without_panicking() {
    let good = evidence(|_| {});
    for cut in [0, 1, 0x2A0, 0x49F] {
        let mut e = good.clone();
        e.report.truncate(cut);
        let verdict = verify(&e, &test_roots(), &expected());
        assert_eq!(first_failure(&verdict).map(|(c, _)| c), Some(Check::ReportFormat));
        assert_eq!(verdict.checks.len(), 13);
    }
    let mut garbage = good.clone();
    garbage.cert_table = Sha512::digest(b"not a table").repeat(3);
    assert!(!verify(&garbage, &test_roots(), &expected()).passed());
    let mut bad_sig = good;
    bad_sig.report[0x2A0 + 60] = 1; // r longer than a P-384 scalar
    assert!(matches!(
        first_failure(&verify(&bad_sig, &test_roots(), &expected())),
        Some((Check::ReportSignedByVcek, Failure::Report(_)))
    ));
}
