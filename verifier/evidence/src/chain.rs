//! The AMD certificate chain: ARK (root, self-signed) → ASK → VCEK, every signature RSASSA-PSS with
//! SHA-384 (VCEK specification, AMD 57230, §2.3 and Table 6; RFC 4055 §3.1 for the PSS parameters).
//!
//! Certificates are parsed with `x509-cert`; the signature is checked over the DER of the
//! tbsCertificate exactly as it came. AMD's certificates name the PSS algorithm in the subject key info
//! too, which generic RSA key decoders refuse (virtee/snpguest#57), so the key is read from the
//! subjectPublicKey bits (PKCS #1 RSAPublicKey) whatever the key algorithm says.
use core::fmt;

use der::asn1::ObjectIdentifier;
use der::{Decode, DecodePem, Encode};
use rsa::RsaPublicKey;
use rsa::pkcs1::{DecodeRsaPublicKey, RsaPssParams};
use rsa::signature::Verifier;
use sha2::Sha384;
use x509_cert::Certificate;

/// id-RSASSA-PSS (RFC 4055 §3.1).
const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
/// id-sha384 (RFC 5758 §2).
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
/// id-mgf1 (RFC 4055 §2.2).
const MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
/// AMD's salt length: the hash's size (VCEK specification Table 6).
const SALT_LEN: u8 = 48;

/// Why a certificate or a link of the chain was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainError {
    /// Not a DER (or PEM) X.509 certificate.
    Malformed,
    /// The issuer's subject public key is not an RSA key.
    IssuerKey,
    /// The signature algorithm is not RSASSA-PSS with SHA-384, MGF1-SHA-384 and a 48-byte salt.
    Algorithm,
    /// The certificate's issuer name is not the issuer's subject name.
    IssuerName,
    /// The signature does not verify with the issuer's key.
    Signature,
    /// No trusted root (ARK) signed the ASK.
    UntrustedRoot,
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => "not an X.509 certificate",
            Self::IssuerKey => "the issuer's key is not RSA",
            Self::Algorithm => "not signed with RSASSA-PSS, SHA-384, MGF1-SHA-384, salt 48",
            Self::IssuerName => "its issuer is not the signing certificate's subject",
            Self::Signature => "the signature does not verify",
            Self::UntrustedRoot => "no trusted ARK signed it",
        })
    }
}

/// A parsed certificate.
pub fn parse_der(der: &[u8]) -> Result<Certificate, ChainError> {
    Certificate::from_der(der).map_err(|_| ChainError::Malformed)
}

/// A parsed PEM certificate.
pub fn parse_pem(pem: &[u8]) -> Result<Certificate, ChainError> {
    Certificate::from_pem(pem).map_err(|_| ChainError::Malformed)
}

/// Checks that `issuer` signed `subject` with AMD's RSASSA-PSS/SHA-384 profile.
pub fn verify_signed_by(issuer: &Certificate, subject: &Certificate) -> Result<(), ChainError> {
    if subject.tbs_certificate.issuer != issuer.tbs_certificate.subject {
        return Err(ChainError::IssuerName);
    }
    check_pss_sha384(subject)?;
    let key_bits = issuer.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes();
    let key = RsaPublicKey::from_pkcs1_der(key_bits).map_err(|_| ChainError::IssuerKey)?;
    let signed = subject.tbs_certificate.to_der().map_err(|_| ChainError::Malformed)?;
    let signature =
        rsa::pss::Signature::try_from(subject.signature.raw_bytes()).map_err(|_| ChainError::Signature)?;
    rsa::pss::VerifyingKey::<Sha384>::new_with_salt_len(key, SALT_LEN.into())
        .verify(&signed, &signature)
        .map_err(|_| ChainError::Signature)
}

/// The outer signature algorithm must be PSS with SHA-384 throughout; the inner (tbs) one must agree.
fn check_pss_sha384(cert: &Certificate) -> Result<(), ChainError> {
    let algorithm = &cert.signature_algorithm;
    if algorithm.oid != RSASSA_PSS || cert.tbs_certificate.signature != *algorithm {
        return Err(ChainError::Algorithm);
    }
    let params = algorithm.parameters.as_ref().ok_or(ChainError::Algorithm)?;
    let params = params.decode_as::<RsaPssParams<'_>>().map_err(|_| ChainError::Algorithm)?;
    let mgf_hash = params.mask_gen.parameters.as_ref().map(|h| h.oid);
    if params.hash.oid != SHA384
        || params.mask_gen.oid != MGF1
        || mgf_hash != Some(SHA384)
        || params.salt_len != SALT_LEN
    {
        return Err(ChainError::Algorithm);
    }
    Ok(())
}

/// The common name of a certificate's subject, for the one-line report (`ARK-Genoa`, `SEV-VCEK`).
pub fn common_name(cert: &Certificate) -> String {
    const CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
    cert.tbs_certificate
        .subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|atv| atv.oid == CN)
        .and_then(|atv| {
            der::asn1::Utf8StringRef::try_from(&atv.value)
                .map(|s| s.as_str().to_owned())
                .or_else(|_| {
                    der::asn1::PrintableStringRef::try_from(&atv.value).map(|s| s.as_str().to_owned())
                })
                .ok()
        })
        .unwrap_or_else(|| "(no common name)".into())
}
