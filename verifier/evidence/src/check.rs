//! The named checks of a verification, their outcomes, and why one failed.
use core::fmt;

use crate::cert_table::CertTableError;
use crate::chain::ChainError;
use crate::manifest::ManifestError;
use crate::report::ReportError;
use crate::tcb::TcbVersion;
use crate::vcek::VcekError;

/// One step of [`crate::verify`], in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// The report has the size, version, signature algorithm and processor of a report we can read.
    ReportFormat,
    /// A trusted ARK signed the ASK.
    AskSignedByArk,
    /// The ASK signed the VCEK.
    VcekSignedByAsk,
    /// The VCEK was issued for the report's REPORTED_TCB.
    VcekTcbMatchesReport,
    /// The VCEK was issued for the report's CHIP_ID.
    VcekChipIdMatchesReport,
    /// The VCEK's key signed the report.
    ReportSignedByVcek,
    /// REPORT_DATA is SHA-512(nonce ‖ manifest): the report is fresh and speaks for this manifest.
    ReportDataBindsNonceAndManifest,
    /// MEASUREMENT is one of the signed reference values.
    MeasurementReferenced,
    /// GUEST_POLICY is the signed one.
    PolicyAsSigned,
    /// GUEST_POLICY does not allow debugging.
    DebugDisabled,
    /// The report was requested for VMPL 0 (Warden's own level, not a guest's).
    Vmpl0,
    /// REPORTED_TCB is at least the minimum.
    MinimumTcb,
    /// The manifest's vTPM entry is an L-1 EK (and the vTPM's, when the caller read it).
    ManifestEk,
}

impl Check {
    /// A short stable name, for the one-line-per-check output.
    pub fn name(self) -> &'static str {
        match self {
            Self::ReportFormat => "report-format",
            Self::AskSignedByArk => "ask-signed-by-ark",
            Self::VcekSignedByAsk => "vcek-signed-by-ask",
            Self::VcekTcbMatchesReport => "vcek-tcb-matches-report",
            Self::VcekChipIdMatchesReport => "vcek-chip-id-matches-report",
            Self::ReportSignedByVcek => "report-signed-by-vcek",
            Self::ReportDataBindsNonceAndManifest => "report-data-binds-nonce-and-manifest",
            Self::MeasurementReferenced => "measurement-referenced",
            Self::PolicyAsSigned => "policy-as-signed",
            Self::DebugDisabled => "debug-disabled",
            Self::Vmpl0 => "vmpl-0",
            Self::MinimumTcb => "minimum-tcb",
            Self::ManifestEk => "manifest-ek",
        }
    }
}

/// Why a check failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The report could not be read.
    Report(ReportError),
    /// The certificate table could not be read.
    CertTable(CertTableError),
    /// The evidence carries no certificate of this kind.
    MissingCertificate(&'static str),
    /// A certificate or a link of the chain.
    Chain(&'static str, ChainError),
    /// The VCEK's key or extensions.
    Vcek(VcekError),
    /// The VCEK's TCB extensions name another TCB than the report.
    TcbMismatch { vcek: TcbVersion, report: TcbVersion },
    /// The VCEK's hwid is not the report's chip id.
    ChipIdMismatch,
    /// The report's signature does not verify with the VCEK.
    ReportSignature,
    /// REPORT_DATA is not SHA-512(nonce ‖ manifest).
    ReportData,
    /// MEASUREMENT is in no reference value.
    Measurement,
    /// GUEST_POLICY differs from the signed one.
    Policy { report: u64, signed: u64 },
    /// GUEST_POLICY allows debugging.
    Debug,
    /// The report is for another VMPL than 0.
    Vmpl(u32),
    /// REPORTED_TCB is older than the minimum.
    Tcb { report: TcbVersion, minimum: TcbVersion },
    /// The manifest or its EK.
    Manifest(ManifestError),
    /// An earlier check this one needs did not pass.
    Skipped(Check),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Report(e) => write!(f, "{e}"),
            Self::CertTable(e) => write!(f, "{e}"),
            Self::MissingCertificate(which) => write!(f, "the evidence has no {which} certificate"),
            Self::Chain(which, e) => write!(f, "{which}: {e}"),
            Self::Vcek(e) => write!(f, "{e}"),
            Self::TcbMismatch { vcek, report } => write!(f, "VCEK for {vcek}, report says {report}"),
            Self::ChipIdMismatch => f.write_str("the VCEK was issued for another chip"),
            Self::ReportSignature => f.write_str("the signature does not verify with the VCEK's key"),
            Self::ReportData => f.write_str("REPORT_DATA is not SHA-512(nonce || manifest)"),
            Self::Measurement => f.write_str("MEASUREMENT is not in the reference values"),
            Self::Policy { report, signed } => write!(f, "policy {report:#x}, signed {signed:#x}"),
            Self::Debug => f.write_str("the policy allows the hypervisor to debug the guest"),
            Self::Vmpl(vmpl) => write!(f, "the report is for VMPL {vmpl}"),
            Self::Tcb { report, minimum } => write!(f, "{report} is older than the minimum {minimum}"),
            Self::Manifest(e) => write!(f, "{e}"),
            Self::Skipped(needed) => write!(f, "not checked: {} did not pass", needed.name()),
        }
    }
}

/// The outcome of every check, in order, and what a passing verification yields.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    /// (check, detail on success or why it failed).
    pub checks: Vec<(Check, Result<String, Failure>)>,
    /// The guest's EK (marshaled TPMT_PUBLIC) once the manifest check passed.
    pub ek_public: Option<Vec<u8>>,
}

impl Verdict {
    /// Whether every check passed (a verdict with no checks has not passed).
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|(_, outcome)| outcome.is_ok())
    }

    /// The first failing check, if any.
    pub fn first_failure(&self) -> Option<(Check, &Failure)> {
        self.checks.iter().find_map(|(check, outcome)| outcome.as_ref().err().map(|e| (*check, e)))
    }

    /// Records an outcome; returns the value on success, for the checks that build on it.
    pub(crate) fn record<T>(&mut self, check: Check, outcome: Result<(String, T), Failure>) -> Option<T> {
        match outcome {
            Ok((detail, value)) => {
                self.checks.push((check, Ok(detail)));
                Some(value)
            }
            Err(failure) => {
                self.checks.push((check, Err(failure)));
                None
            }
        }
    }
}
