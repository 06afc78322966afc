//! The SEV-SNP attestation report (SEV-SNP ABI (AMD 56860) Table 23 "ATTESTATION_REPORT Structure"),
//! copied once out of the evidence and read by offset.
//!
//! The report comes from whoever hands us the evidence: every length and enumerated value is checked here
//! before any field is used, and nothing in it can make the parser panic.
use core::fmt;

use p384::ecdsa::Signature;
use warden_defs::snp_report::{
    AttestationReport, POLICY_DEBUG, REPORT_SIGNED_RANGE, SIGNATURE_ALGO_ECDSA_P384_SHA384, SNP_REPORT_SIZE,
};
use zerocopy::{FromBytes, IntoBytes};

use crate::tcb::{Product, TcbVersion};

/// A P-384 scalar's size; the signature stores each of r and s in 72 little-endian bytes.
const SCALAR_LEN: usize = 48;

/// Why a report was not accepted for reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportError {
    /// Not 0x4A0 bytes.
    Size(usize),
    /// A VERSION other than 3, 4 or 5 (v2 carries no CPUID, so its TCB layout is a guess).
    Version(u32),
    /// SIGNATURE_ALGO is not ECDSA P-384 with SHA-384.
    SignatureAlgorithm(u32),
    /// CPUID family and model of no SEV-SNP generation this verifier knows.
    UnknownProduct { family: u8, model: u8 },
    /// r or s is not a P-384 scalar (too long, zero or not reduced).
    SignatureEncoding,
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Size(n) => write!(f, "the report is {n} bytes, not {SNP_REPORT_SIZE}"),
            Self::Version(v) => write!(f, "report version {v} (3, 4 or 5 accepted)"),
            Self::SignatureAlgorithm(a) => write!(f, "signature algorithm {a} (1, ECDSA P-384, expected)"),
            Self::UnknownProduct { family, model } => {
                write!(f, "CPUID family {family:#x} model {model:#x} is no known SEV-SNP processor")
            }
            Self::SignatureEncoding => f.write_str("the signature's r or s is not a P-384 scalar"),
        }
    }
}

/// A report whose size, version, signature algorithm and processor generation are known good.
#[derive(Clone, Debug)]
pub struct Report {
    fields: AttestationReport,
    product: Product,
}

impl Report {
    /// Copies and checks `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Self, ReportError> {
        let fields = AttestationReport::read_from_bytes(bytes).map_err(|_| ReportError::Size(bytes.len()))?;
        if !(3..=5).contains(&fields.version) {
            return Err(ReportError::Version(fields.version));
        }
        if fields.signature_algo != SIGNATURE_ALGO_ECDSA_P384_SHA384 {
            return Err(ReportError::SignatureAlgorithm(fields.signature_algo));
        }
        let (family, model) = (fields.cpuid_fam_id, fields.cpuid_mod_id);
        let product =
            Product::from_cpuid(family, model).ok_or(ReportError::UnknownProduct { family, model })?;
        Ok(Self { fields, product })
    }

    /// VERSION.
    pub fn version(&self) -> u32 {
        self.fields.version
    }

    /// The processor generation named by CPUID_FAM_ID / CPUID_MOD_ID.
    pub fn product(&self) -> Product {
        self.product
    }

    /// GUEST_POLICY the guest was launched with.
    pub fn policy(&self) -> u64 {
        self.fields.policy
    }

    /// Whether the policy lets the hypervisor debug the guest (and so read and change its memory).
    pub fn debug_allowed(&self) -> bool {
        self.fields.policy & POLICY_DEBUG != 0
    }

    /// VMPL the report was requested for.
    pub fn vmpl(&self) -> u32 {
        self.fields.vmpl
    }

    /// REPORT_DATA: what the requester bound into the report.
    pub fn report_data(&self) -> &[u8; 64] {
        &self.fields.report_data
    }

    /// MEASUREMENT: the launch digest.
    pub fn measurement(&self) -> &[u8; 48] {
        &self.fields.measurement
    }

    /// REPORTED_TCB: the TCB the VCEK that signs the report was derived for.
    pub fn reported_tcb(&self) -> TcbVersion {
        TcbVersion::from_word(self.product, self.fields.reported_tcb)
    }

    /// CHIP_ID (zero when the policy masked it).
    pub fn chip_id(&self) -> &[u8; 64] {
        &self.fields.chip_id
    }

    /// The bytes the signature covers.
    pub fn signed_bytes(&self) -> &[u8] {
        &self.fields.as_bytes()[REPORT_SIGNED_RANGE]
    }

    /// The signature as a P-384 ECDSA signature: r and s are little-endian in 72-byte fields whose
    /// upper 24 bytes must be zero.
    pub fn signature(&self) -> Result<Signature, ReportError> {
        let scalar = |component: &[u8; 72]| -> Result<[u8; SCALAR_LEN], ReportError> {
            if component[SCALAR_LEN..].iter().any(|&b| b != 0) {
                return Err(ReportError::SignatureEncoding);
            }
            let mut big_endian = [0u8; SCALAR_LEN];
            big_endian.copy_from_slice(&component[..SCALAR_LEN]);
            big_endian.reverse();
            Ok(big_endian)
        };
        let (r, s) = (scalar(&self.fields.signature.r)?, scalar(&self.fields.signature.s)?);
        Signature::from_scalars(r, s).map_err(|_| ReportError::SignatureEncoding)
    }
}

/// Writes `signature` into `report`'s signature fields (test evidence uses it): r and s little-endian,
/// zero-padded to 72 bytes.
pub fn encode_signature(signature: &Signature, report: &mut AttestationReport) {
    let (r, s) = signature.split_bytes();
    for (field, scalar) in [(&mut report.signature.r, r), (&mut report.signature.s, s)] {
        field.fill(0);
        field[..SCALAR_LEN].copy_from_slice(&scalar);
        field[..SCALAR_LEN].reverse();
    }
}
