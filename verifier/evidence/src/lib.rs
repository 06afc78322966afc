//! The relying party's side of Warden's attestation: given SEV-SNP evidence from a Warden guest (the
//! report, the services manifest, the nonce, the certificates) and the image's signed reference values,
//! decide whether to trust it, one named check at a time.
//!
//! The checks, in order ([`Check`]): the report is readable; a pinned ARK signed the ASK, which signed the
//! VCEK (RSASSA-PSS/SHA-384); the VCEK was issued for the report's TCB and chip; the VCEK's P-384 key
//! signed the report; REPORT_DATA = SHA-512(nonce ‖ manifest) (SVSM spec (AMD 58019) §7.1); MEASUREMENT
//! and policy are the signed ones, debugging is off, the report is for VMPL 0 and its TCB is recent
//! enough; the manifest's vTPM entry is the EK. A check whose inputs an earlier check refused is reported
//! as not checked, so the list always has every check.
//!
//! Everything here treats the evidence as hostile: it is copied, bounds-checked and never trusted to be
//! well formed. The crate lives beside the firmware, not in it: it is what a verification service embeds.
#![forbid(unsafe_code)]

mod amd_roots;
pub mod cert_table;
pub mod chain;
mod check;
pub mod manifest;
pub mod reference_values;
pub mod report;
pub mod tcb;
pub mod vcek;

use p384::ecdsa::signature::Verifier;
use sha2::{Digest, Sha512};
use x509_cert::Certificate;

pub use amd_roots::TrustAnchors;
pub use check::{Check, Failure, Verdict};
pub use report::Report;
pub use tcb::{Product, TcbVersion};

/// What the guest and its host handed over.
#[derive(Clone, Debug, Default)]
pub struct Evidence {
    /// The attestation report (0x4A0 bytes).
    pub report: Vec<u8>,
    /// The services manifest the report binds.
    pub manifest: Vec<u8>,
    /// The relying party's nonce.
    pub nonce: Vec<u8>,
    /// The host's certificate table (may be empty when `ask` and `vcek` are given).
    pub cert_table: Vec<u8>,
    /// The ASK (DER or PEM), taken from `cert_table` when absent.
    pub ask: Option<Vec<u8>>,
    /// The VCEK (DER or PEM), taken from `cert_table` when absent.
    pub vcek: Option<Vec<u8>>,
}

/// What the relying party expects, from the signed reference values and its own policy.
#[derive(Clone, Debug, Default)]
pub struct Expected {
    /// Launch measurements of the images it accepts.
    pub measurements: Vec<[u8; 48]>,
    /// The guest policy the image was signed with.
    pub policy: u64,
    /// The oldest TCB it accepts.
    pub minimum_tcb: TcbVersion,
    /// The EK it read from the vTPM itself, if it did.
    pub ek_public: Option<Vec<u8>>,
}

/// Runs every check; see [`Verdict::passed`].
pub fn verify(evidence: &Evidence, roots: &TrustAnchors, expected: &Expected) -> Verdict {
    let mut verdict = Verdict::default();
    let report = verdict.record(
        Check::ReportFormat,
        Report::parse(&evidence.report)
            .map(|r| (format!("version {}, {}", r.version(), r.product().name()), r))
            .map_err(Failure::Report),
    );
    let vcek = chain_from(evidence, roots, &mut verdict);
    let key = match (&report, &vcek) {
        (Some(report), Some(vcek)) => vcek_matches_report(report, vcek, &mut verdict),
        _ => {
            let needed = if report.is_none() { Check::ReportFormat } else { Check::VcekSignedByAsk };
            for check in [Check::VcekTcbMatchesReport, Check::VcekChipIdMatchesReport] {
                verdict.checks.push((check, Err(Failure::Skipped(needed))));
            }
            None
        }
    };
    let Some(report) = report else {
        for check in REPORT_CHECKS {
            verdict.checks.push((check, Err(Failure::Skipped(Check::ReportFormat))));
        }
        return verdict;
    };
    let signature = match key {
        Some(key) => report
            .signature()
            .map_err(Failure::Report)
            .and_then(|sig| key.verify(report.signed_bytes(), &sig).map_err(|_| Failure::ReportSignature))
            .map(|()| ("ECDSA P-384 over SHA-384 of bytes 0..0x2A0".into(), ())),
        None => Err(Failure::Skipped(Check::VcekSignedByAsk)),
    };
    verdict.record(Check::ReportSignedByVcek, signature);
    report_fields(&report, evidence, expected, &mut verdict);
    verdict
}

/// The checks that need only a readable report.
const REPORT_CHECKS: [Check; 8] = [
    Check::ReportSignedByVcek,
    Check::ReportDataBindsNonceAndManifest,
    Check::MeasurementReferenced,
    Check::PolicyAsSigned,
    Check::DebugDisabled,
    Check::Vmpl0,
    Check::MinimumTcb,
    Check::ManifestEk,
];

/// ARK → ASK → VCEK; returns the certificates that passed.
fn chain_from(evidence: &Evidence, roots: &TrustAnchors, verdict: &mut Verdict) -> Option<Certificate> {
    let cert = |given: &Option<Vec<u8>>,
                guid: &[u8; 16],
                name: &'static str|
     -> Result<Certificate, Failure> {
        let bytes = match given {
            Some(bytes) => bytes.as_slice(),
            None => cert_table::find(&evidence.cert_table, guid)
                .map_err(Failure::CertTable)?
                .ok_or(Failure::MissingCertificate(name))?,
        };
        let parsed =
            if bytes.starts_with(b"-----BEGIN") { chain::parse_pem(bytes) } else { chain::parse_der(bytes) };
        parsed.map_err(|e| Failure::Chain(name, e))
    };
    let ask = verdict.record(
        Check::AskSignedByArk,
        cert(&evidence.ask, &cert_table::ASK_GUID, "ASK").and_then(|ask| {
            let ark = roots.root_of(&ask).map_err(|e| Failure::Chain("ASK", e))?;
            let detail = format!(
                "{} signed by {}{}",
                chain::common_name(&ask),
                chain::common_name(ark),
                if roots.is_custom() { " (a root given by the caller, not AMD's)" } else { "" }
            );
            Ok((detail, ask))
        }),
    );
    match &ask {
        Some(ask) => verdict.record(
            Check::VcekSignedByAsk,
            cert(&evidence.vcek, &cert_table::VCEK_GUID, "VCEK").and_then(|vcek| {
                chain::verify_signed_by(ask, &vcek).map_err(|e| Failure::Chain("VCEK", e))?;
                Ok((format!("{} signed by {}", chain::common_name(&vcek), chain::common_name(ask)), vcek))
            }),
        ),
        None => verdict.record(Check::VcekSignedByAsk, Err(Failure::Skipped(Check::AskSignedByArk))),
    }
}

/// The VCEK's extensions against the report; returns the VCEK's key.
fn vcek_matches_report(
    report: &Report,
    cert: &Certificate,
    verdict: &mut Verdict,
) -> Option<p384::ecdsa::VerifyingKey> {
    let product = report.product();
    verdict.record(
        Check::VcekTcbMatchesReport,
        vcek::tcb(cert, product).map_err(Failure::Vcek).and_then(|vcek| {
            let report = report.reported_tcb();
            if vcek == report {
                Ok((format!("{report}"), ()))
            } else {
                Err(Failure::TcbMismatch { vcek, report })
            }
        }),
    );
    verdict.record(
        Check::VcekChipIdMatchesReport,
        vcek::hwid(cert).map_err(Failure::Vcek).and_then(|hwid| {
            if hwid == report.chip_id()[..product.hwid_len()] {
                Ok((format!("{}-byte hwid", hwid.len()), ()))
            } else {
                Err(Failure::ChipIdMismatch)
            }
        }),
    );
    vcek::public_key(cert).ok()
}

/// What the report says against the nonce, the manifest and the expectations.
fn report_fields(report: &Report, evidence: &Evidence, expected: &Expected, verdict: &mut Verdict) {
    let binding = Sha512::new().chain_update(&evidence.nonce).chain_update(&evidence.manifest).finalize();
    let bound = binding[..] == report.report_data()[..];
    verdict.record(
        Check::ReportDataBindsNonceAndManifest,
        if bound {
            Ok((
                format!("{}-byte nonce, {}-byte manifest", evidence.nonce.len(), evidence.manifest.len()),
                (),
            ))
        } else {
            Err(Failure::ReportData)
        },
    );
    let measurement = report.measurement();
    verdict.record(
        Check::MeasurementReferenced,
        if expected.measurements.contains(measurement) {
            Ok((hex(measurement), ()))
        } else {
            Err(Failure::Measurement)
        },
    );
    let policy = report.policy();
    verdict.record(
        Check::PolicyAsSigned,
        if policy == expected.policy {
            Ok((format!("{policy:#x}"), ()))
        } else {
            Err(Failure::Policy { report: policy, signed: expected.policy })
        },
    );
    verdict.record(
        Check::DebugDisabled,
        if report.debug_allowed() { Err(Failure::Debug) } else { Ok(("policy bit 19 clear".into(), ())) },
    );
    let vmpl = report.vmpl();
    verdict
        .record(Check::Vmpl0, if vmpl == 0 { Ok(("VMPL 0".into(), ())) } else { Err(Failure::Vmpl(vmpl)) });
    let tcb = report.reported_tcb();
    verdict.record(
        Check::MinimumTcb,
        if tcb.meets(expected.minimum_tcb) {
            Ok((format!("{tcb} (minimum {})", expected.minimum_tcb), ()))
        } else {
            Err(Failure::Tcb { report: tcb, minimum: expected.minimum_tcb })
        },
    );
    // Only a manifest the report binds speaks for the guest: without the binding its EK is anyone's.
    let ek = if bound {
        manifest::service_entry(&evidence.manifest, &manifest::VTPM_SERVICE_GUID)
            .and_then(|ek| manifest::check_ek(ek, expected.ek_public.as_deref()).map(|()| ek))
            .map(|ek| (format!("{}-byte TPMT_PUBLIC, RSA-2048 template L-1", ek.len()), ek.to_vec()))
            .map_err(Failure::Manifest)
    } else {
        Err(Failure::Skipped(Check::ReportDataBindsNonceAndManifest))
    };
    verdict.ek_public = verdict.record(Check::ManifestEk, ek);
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
