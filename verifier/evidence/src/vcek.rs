//! What the VCEK certificate says about the chip and firmware it was issued for, and its key.
//!
//! VCEK specification (AMD 57230) Table 8 "VCEK Certificate Extensions": 1.3.6.1.4.1.3704.1.3.1
//! bootloader, .2 TEE, .3 SNP, .8 microcode, .9 FMC (Turin), each an INTEGER; 1.3.6.1.4.1.3704.1.4 hwid,
//! the chip id as raw bytes. A report is only as good as the VCEK that signed it, so these must equal
//! the report's REPORTED_TCB and CHIP_ID.
use core::fmt;

use der::Decode;
use der::asn1::ObjectIdentifier;
use p384::ecdsa::VerifyingKey;
use x509_cert::Certificate;

use crate::tcb::{Product, TcbVersion};

/// id-ecPublicKey (RFC 5480 §2.1.1).
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// secp384r1 (RFC 5480 §2.1.1.1).
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const BOOTLOADER: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.1");
const TEE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.2");
const SNP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.3");
const MICROCODE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.8");
const FMC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.9");
const HWID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.4");

/// Why a VCEK's contents were refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VcekError {
    /// The subject key is not an ECDSA P-384 key.
    Key,
    /// A TCB extension is missing or not a small INTEGER.
    TcbExtension,
    /// The hwid extension is missing.
    Hwid,
}

impl fmt::Display for VcekError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Key => "the VCEK's key is not ECDSA P-384",
            Self::TcbExtension => "a VCEK TCB extension is missing or malformed",
            Self::Hwid => "the VCEK has no hwid extension",
        })
    }
}

/// The VCEK's P-384 public key.
pub fn public_key(vcek: &Certificate) -> Result<VerifyingKey, VcekError> {
    let spki = &vcek.tbs_certificate.subject_public_key_info;
    let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
    if spki.algorithm.oid != EC_PUBLIC_KEY || curve != Some(SECP384R1) {
        return Err(VcekError::Key);
    }
    VerifyingKey::from_sec1_bytes(spki.subject_public_key.raw_bytes()).map_err(|_| VcekError::Key)
}

/// The TCB the VCEK was issued for.
pub fn tcb(vcek: &Certificate, product: Product) -> Result<TcbVersion, VcekError> {
    let svn = |oid: ObjectIdentifier| -> Result<u8, VcekError> {
        let value = extension(vcek, oid).ok_or(VcekError::TcbExtension)?;
        u8::from_der(value).map_err(|_| VcekError::TcbExtension)
    };
    Ok(TcbVersion {
        fmc: if product == Product::Turin { svn(FMC)? } else { 0 },
        bootloader: svn(BOOTLOADER)?,
        tee: svn(TEE)?,
        snp: svn(SNP)?,
        microcode: svn(MICROCODE)?,
    })
}

/// The chip id the VCEK was issued for: the extension's raw bytes (some issuers wrap them in an OCTET
/// STRING; that wrapping is taken off).
pub fn hwid(vcek: &Certificate) -> Result<Vec<u8>, VcekError> {
    let value = extension(vcek, HWID).ok_or(VcekError::Hwid)?;
    match der::asn1::OctetStringRef::from_der(value) {
        Ok(inner) if matches!(inner.as_bytes().len(), 8 | 64) => Ok(inner.as_bytes().to_vec()),
        _ => Ok(value.to_vec()),
    }
}

fn extension(cert: &Certificate, oid: ObjectIdentifier) -> Option<&[u8]> {
    cert.tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id == oid)
        .map(|e| e.extn_value.as_bytes())
}

/// The OIDs, for builders of test certificates.
pub mod oids {
    use der::asn1::ObjectIdentifier;

    /// The TCB extensions in the order (fmc, bootloader, tee, snp, microcode).
    pub const TCB: [ObjectIdentifier; 5] =
        [super::FMC, super::BOOTLOADER, super::TEE, super::SNP, super::MICROCODE];
    /// The hwid extension.
    pub const HWID: ObjectIdentifier = super::HWID;
}
