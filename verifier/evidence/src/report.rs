//! The SEV-SNP attestation report (SEV-SNP ABI (AMD 56860) Table 23 "ATTESTATION_REPORT Structure"),
//! copied once out of the evidence and read by offset.
//!
//! The report comes from whoever hands us the evidence: every length and enumerated value is checked here
//! before any field is used, and nothing in it can make the parser panic.
use core::fmt;

use p384::ecdsa::Signature;

use crate::tcb::{Product, TcbVersion};

/// The size of a report of versions 2 to 5.
pub const REPORT_SIZE: usize = 0x4A0;
/// The signature covers bytes `0..SIGNED_LEN` (Table 23, SIGNATURE).
pub const SIGNED_LEN: usize = 0x2A0;
/// SIGNATURE_ALGO 1: ECDSA P-384 with SHA-384 (Table 117 "Signature Algorithm Encodings").
const ECDSA_P384_SHA384: u32 = 1;
/// GUEST_POLICY bit 19: the hypervisor may debug the guest (SEV-SNP ABI Table 10 "Guest Policy").
const POLICY_DEBUG: u64 = 1 << 19;
/// A P-384 scalar's size; the signature stores each of r and s in 72 little-endian bytes.
const SCALAR_LEN: usize = 48;
/// Where r and s start (Table 119 "ECDSA P-384 with SHA-384 Signature").
const SIGNATURE_R: usize = 0x2A0;
const SIGNATURE_S: usize = 0x2E8;
const SIGNATURE_COMPONENT_LEN: usize = 72;

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
            Self::Size(n) => write!(f, "the report is {n} bytes, not {REPORT_SIZE}"),
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
    bytes: Box<[u8; REPORT_SIZE]>,
    product: Product,
}

impl Report {
    /// Copies and checks `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Self, ReportError> {
        let bytes: Box<[u8; REPORT_SIZE]> =
            Box::new(bytes.try_into().map_err(|_| ReportError::Size(bytes.len()))?);
        let version = u32_at(&bytes, 0x000);
        if !(3..=5).contains(&version) {
            return Err(ReportError::Version(version));
        }
        let algorithm = u32_at(&bytes, 0x034);
        if algorithm != ECDSA_P384_SHA384 {
            return Err(ReportError::SignatureAlgorithm(algorithm));
        }
        let (family, model) = (bytes[0x188], bytes[0x189]);
        let product =
            Product::from_cpuid(family, model).ok_or(ReportError::UnknownProduct { family, model })?;
        Ok(Self { bytes, product })
    }

    /// VERSION.
    pub fn version(&self) -> u32 {
        u32_at(&self.bytes, 0x000)
    }

    /// The processor generation named by CPUID_FAM_ID / CPUID_MOD_ID.
    pub fn product(&self) -> Product {
        self.product
    }

    /// GUEST_POLICY the guest was launched with.
    pub fn policy(&self) -> u64 {
        u64_at(&self.bytes, 0x008)
    }

    /// Whether the policy lets the hypervisor debug the guest (and so read and change its memory).
    pub fn debug_allowed(&self) -> bool {
        self.policy() & POLICY_DEBUG != 0
    }

    /// VMPL the report was requested for.
    pub fn vmpl(&self) -> u32 {
        u32_at(&self.bytes, 0x030)
    }

    /// REPORT_DATA: what the requester bound into the report.
    pub fn report_data(&self) -> &[u8; 64] {
        field(&self.bytes, 0x050)
    }

    /// MEASUREMENT: the launch digest.
    pub fn measurement(&self) -> &[u8; 48] {
        field(&self.bytes, 0x090)
    }

    /// REPORTED_TCB: the TCB the VCEK that signs the report was derived for.
    pub fn reported_tcb(&self) -> TcbVersion {
        TcbVersion::from_bytes(self.product, *field(&self.bytes, 0x180))
    }

    /// CHIP_ID (zero when the policy masked it).
    pub fn chip_id(&self) -> &[u8; 64] {
        field(&self.bytes, 0x1A0)
    }

    /// The bytes the signature covers.
    pub fn signed_bytes(&self) -> &[u8] {
        &self.bytes[..SIGNED_LEN]
    }

    /// The signature as a P-384 ECDSA signature: r and s are little-endian in 72-byte fields whose
    /// upper 24 bytes must be zero.
    pub fn signature(&self) -> Result<Signature, ReportError> {
        let scalar = |at: usize| -> Result<[u8; SCALAR_LEN], ReportError> {
            let component = &self.bytes[at..at + SIGNATURE_COMPONENT_LEN];
            if component[SCALAR_LEN..].iter().any(|&b| b != 0) {
                return Err(ReportError::SignatureEncoding);
            }
            let mut big_endian = [0u8; SCALAR_LEN];
            big_endian.copy_from_slice(&component[..SCALAR_LEN]);
            big_endian.reverse();
            Ok(big_endian)
        };
        let (r, s) = (scalar(SIGNATURE_R)?, scalar(SIGNATURE_S)?);
        Signature::from_scalars(r, s).map_err(|_| ReportError::SignatureEncoding)
    }
}

fn u32_at(bytes: &[u8; REPORT_SIZE], at: usize) -> u32 {
    u32::from_le_bytes(*field(bytes, at))
}

fn u64_at(bytes: &[u8; REPORT_SIZE], at: usize) -> u64 {
    u64::from_le_bytes(*field(bytes, at))
}

/// The N bytes at `at`; every caller passes a constant offset inside the report.
fn field<const N: usize>(bytes: &[u8; REPORT_SIZE], at: usize) -> &[u8; N] {
    bytes[at..at + N].try_into().expect("a constant field offset inside the report")
}

/// Writes the signature fields of `report` (test evidence and the emulated PSP's counterpart use the
/// same encoding): r and s little-endian, zero-padded to 72 bytes.
pub fn encode_signature(signature: &Signature, report: &mut [u8; REPORT_SIZE]) {
    let (r, s) = signature.split_bytes();
    for (at, scalar) in [(SIGNATURE_R, r), (SIGNATURE_S, s)] {
        let field = &mut report[at..at + SIGNATURE_COMPONENT_LEN];
        field.fill(0);
        field[..SCALAR_LEN].copy_from_slice(&scalar);
        field[..SCALAR_LEN].reverse();
    }
}
