//! Evidence that Warden's verifier accepts is accepted by a verifier Warden did not write: the virtee
//! `sev` crate (pure-Rust `crypto_nossl` build) checks the same ARK → ASK → VCEK chain and report
//! signature; and a report it would refuse after tampering, it refuses too.
mod support;

use sev::certs::snp::{Chain, Verifiable};
use sev::firmware::guest::AttestationReport;
use sev::parser::ByteParser;

use support::{der, evidence, expected, hierarchy, test_roots};

#[test]
fn the_sev_crate_verifies_the_chain_and_the_report() {
    let h = hierarchy();
    let e = evidence(|_| {});
    assert!(warden_evidence::verify(&e, &test_roots(), &expected()).passed());
    let chain = Chain::from_der(&der(&h.ark), &der(&h.ask), &der(&h.vcek)).expect("sev parses the chain");
    let report = AttestationReport::from_bytes(&e.report).expect("sev parses the report");
    assert_eq!(report.measurement.as_slice(), &support::MEASUREMENT[..]);
    (&chain, &report).verify().expect("sev verifies chain and report");

    let mut tampered = e.report.clone();
    tampered[0x90] ^= 1; // MEASUREMENT
    let tampered = AttestationReport::from_bytes(&tampered).unwrap();
    assert!((&chain, &tampered).verify().is_err(), "sev refuses a changed measurement");
}
