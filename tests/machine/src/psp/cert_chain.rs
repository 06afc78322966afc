//! The emulated PSP's INSECURE TEST certificate chain, shaped like AMD's (the VCEK certificate profile
//! of AMD's Key Distribution Service): ARK (self-signed, RSA-4096) → ASK (RSA-4096, signed by the ARK)
//! → VCEK (P-384, signed by the ASK), every signature RSASSA-PSS with SHA-384, MGF1-SHA-384 and a
//! 48-byte salt; the VCEK carries AMD's extensions under 1.3.6.1.4.1.3704.1 (structVersion,
//! productName, the blSPL/teeSPL/snpSPL/spl4-7/ucodeSPL of the REPORTED_TCB, and hwid = CHIP_ID).
//!
//! Why a stored file: generating two RSA-4096 keys takes seconds even optimized, and every boot of
//! the machine (each test, each `cargo xtask run`) needs the chain. So the certificates (public data
//! only) are kept in `insecure-test-certs.pem`, and the test `stored_chain_is_what_the_seeds_give`
//! regenerates them from the labelled seeds and compares byte for byte, so the file cannot drift from
//! the code. The ARK/ASK private keys exist only inside that regeneration.
use std::path::Path;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

use const_oid::ObjectIdentifier;
use der::asn1::{BitString, Ia5String, OctetString, UtcTime};
use der::{Decode, DecodePem, Encode, EncodePem};
use rsa::RsaPrivateKey;
use rsa::pss::SigningKey as PssSigningKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use sha1::Sha1;
use sha2::{Digest, Sha384};
use spki::{EncodePublicKey, SubjectPublicKeyInfoOwned};
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier};
use x509_cert::ext::{AsExtension, Extension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use super::chip::{self, PRODUCT_NAME, REPORTED_TCB};

/// The stored chain (ARK, ASK, VCEK), written by [`CertChain::to_file_text`].
const STORED: &str = include_str!("insecure-test-certs.pem");

/// AMD's VCEK extension OIDs (arc 1.3.6.1.4.1.3704.1: structVersion .1, productName .2, the TCB's
/// security patch levels .3.1-.3.8, hwid .4).
mod oid {
    use const_oid::ObjectIdentifier;
    pub const STRUCT_VERSION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.1");
    pub const PRODUCT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.2");
    pub const BL_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.1");
    pub const TEE_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.2");
    pub const SNP_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.3");
    pub const SPL_4_TO_7: [ObjectIdentifier; 4] = [
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.4"),
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.5"),
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.6"),
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.7"),
    ];
    pub const UCODE_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.8");
    pub const HWID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.4");
}
pub use oid::{BL_SPL, HWID, SNP_SPL, TEE_SPL, UCODE_SPL};

/// The three certificates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertChain {
    /// AMD Root Key (self-signed).
    pub ark: Certificate,
    /// AMD SEV Key (signed by the ARK).
    pub ask: Certificate,
    /// Versioned Chip Endorsement Key (signed by the ASK).
    pub vcek: Certificate,
}

impl CertChain {
    /// The chain the machine uses, parsed once per process from the stored file.
    pub fn stored() -> &'static CertChain {
        static CHAIN: OnceLock<CertChain> = OnceLock::new();
        CHAIN.get_or_init(|| {
            let pems: Vec<&str> = STORED
                .split_inclusive("-----END CERTIFICATE-----")
                .filter_map(|p| p.find("-----BEGIN CERTIFICATE-----").map(|at| &p[at..]))
                .collect();
            let parse = |i: usize| {
                // The file is part of the machine's source and checked by a test: a parse failure is
                // a bug in the tree, never input from a guest.
                Certificate::from_pem(pems.get(i).copied().unwrap_or_default())
                    .unwrap_or_else(|e| panic!("insecure-test-certs.pem certificate {i}: {e}"))
            };
            CertChain { ark: parse(0), ask: parse(1), vcek: parse(2) }
        })
    }

    /// Builds the chain from the labelled seeds (two RSA-4096 key generations: seconds).
    pub fn generate() -> Result<CertChain, String> {
        let ark_key = rsa_key("warden insecure test ARK")?;
        let ask_key = rsa_key("warden insecure test ASK")?;
        let ark_name = name("ARK-Genoa")?;
        let ask_name = name("SEV-Genoa")?;
        let (ca_from, ca_to) = (unix_time(1_767_225_600)?, unix_time(2_524_607_999)?); // 2026-01-01..2049-12-31
        let ca_extensions = |spki: &SubjectPublicKeyInfoOwned, subject: &Name| {
            Ok::<_, String>(vec![
                extension(&BasicConstraints { ca: true, path_len_constraint: None }, subject)?,
                extension(&KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign), subject)?,
                extension(&key_identifier(spki)?, subject)?,
            ])
        };
        let ark_spki = spki(ark_key.to_public_key())?;
        let ark_ext = ca_extensions(&ark_spki, &ark_name)?;
        let ark = sign(&ark_key, "ARK", 1, &ark_name, &ark_name, (ca_from, ca_to), ark_spki, ark_ext)?;
        let ask_spki = spki(ask_key.to_public_key())?;
        let ask_ext = ca_extensions(&ask_spki, &ask_name)?;
        let ask = sign(&ark_key, "ASK", 2, &ark_name, &ask_name, (ca_from, ca_to), ask_spki, ask_ext)?;
        let vcek_spki = spki(*chip::vcek().verifying_key())?;
        let vcek_validity = (ca_from, unix_time(1_988_150_400)?); // ..2033-01-01
        let vcek_name = name("SEV-VCEK")?;
        let vcek =
            sign(&ask_key, "VCEK", 3, &ask_name, &vcek_name, vcek_validity, vcek_spki, vcek_extensions()?)?;
        Ok(CertChain { ark, ask, vcek })
    }

    /// The stored file's text: a warning, then the three certificates as PEM.
    pub fn to_file_text(&self) -> Result<String, String> {
        let mut text = String::from(
            "INSECURE TEST KEY chain of Warden's emulated PSP (tests/machine): ARK -> ASK -> VCEK.\n\
             Generated from public labels; never trust it outside tests.\n",
        );
        for cert in [&self.ark, &self.ask, &self.vcek] {
            text.push_str(&cert.to_pem(der::pem::LineEnding::LF).map_err(|e| e.to_string())?);
        }
        Ok(text)
    }

    /// Writes `ark.pem`, `ask.pem` and `vcek.pem` (one certificate each) into `dir`.
    pub fn write_pems(&self, dir: &Path) -> Result<(), String> {
        for (file, cert) in [("ark.pem", &self.ark), ("ask.pem", &self.ask), ("vcek.pem", &self.vcek)] {
            let pem = cert.to_pem(der::pem::LineEnding::LF).map_err(|e| e.to_string())?;
            std::fs::write(dir.join(file), pem).map_err(|e| format!("{}: {e}", dir.join(file).display()))?;
        }
        Ok(())
    }
}

fn rsa_key(label: &str) -> Result<RsaPrivateKey, String> {
    RsaPrivateKey::new(&mut chip::labelled_rng(label), 4096).map_err(|e| format!("{label}: {e}"))
}

fn name(common_name: &str) -> Result<Name, String> {
    Name::from_str(&format!("CN={common_name},OU=INSECURE TEST KEY,O=Warden emulated PSP,C=US"))
        .map_err(|e| e.to_string())
}

fn unix_time(seconds: u64) -> Result<Time, String> {
    UtcTime::from_unix_duration(Duration::from_secs(seconds)).map(Time::UtcTime).map_err(|e| e.to_string())
}

fn spki(key: impl EncodePublicKey) -> Result<SubjectPublicKeyInfoOwned, String> {
    let der = key.to_public_key_der().map_err(|e| e.to_string())?;
    SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).map_err(|e| e.to_string())
}

/// RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits.
fn key_identifier(spki: &SubjectPublicKeyInfoOwned) -> Result<SubjectKeyIdentifier, String> {
    let digest = Sha1::digest(spki.subject_public_key.raw_bytes());
    OctetString::new(digest.to_vec()).map(SubjectKeyIdentifier).map_err(|e| e.to_string())
}

fn extension(value: &impl AsExtension, subject: &Name) -> Result<Extension, String> {
    value.to_extension(subject, &[]).map_err(|e| e.to_string())
}

fn raw_extension(extn_id: ObjectIdentifier, value: impl Encode) -> Result<Extension, String> {
    let der = value.to_der().map_err(|e| e.to_string())?;
    Ok(Extension { extn_id, critical: false, extn_value: OctetString::new(der).map_err(|e| e.to_string())? })
}

/// The VCEK's AMD extensions, for [`REPORTED_TCB`] and the chip's ID.
fn vcek_extensions() -> Result<Vec<Extension>, String> {
    let product = Ia5String::new(PRODUCT_NAME).map_err(|e| e.to_string())?;
    let mut out = vec![
        raw_extension(oid::STRUCT_VERSION, 1u8)?,
        raw_extension(oid::PRODUCT_NAME, product)?,
        raw_extension(oid::BL_SPL, REPORTED_TCB.bootloader)?,
        raw_extension(oid::TEE_SPL, REPORTED_TCB.tee)?,
        raw_extension(oid::SNP_SPL, REPORTED_TCB.snp)?,
    ];
    for spl in oid::SPL_4_TO_7 {
        out.push(raw_extension(spl, 0u8)?);
    }
    out.push(raw_extension(oid::UCODE_SPL, REPORTED_TCB.microcode)?);
    let hwid = OctetString::new(chip::chip_id().to_vec()).map_err(|e| e.to_string())?;
    out.push(raw_extension(oid::HWID, hwid)?);
    Ok(out)
}

/// One certificate signed by `issuer_key` with RSASSA-PSS/SHA-384 (salt from the labelled RNG, so
/// the bytes are repeatable).
#[allow(clippy::too_many_arguments)] // the fields of one TBSCertificate
fn sign(
    issuer_key: &RsaPrivateKey,
    label: &str,
    serial: u8,
    issuer: &Name,
    subject: &Name,
    (not_before, not_after): (Time, Time),
    subject_public_key_info: SubjectPublicKeyInfoOwned,
    extensions: Vec<Extension>,
) -> Result<Certificate, String> {
    let algorithm = rsa::pss::get_default_pss_signature_algo_id::<Sha384>().map_err(|e| e.to_string())?;
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&[serial]).map_err(|e| e.to_string())?,
        signature: algorithm.clone(),
        issuer: issuer.clone(),
        validity: Validity { not_before, not_after },
        subject: subject.clone(),
        subject_public_key_info,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };
    let tbs_der = tbs.to_der().map_err(|e| e.to_string())?;
    let mut rng = chip::labelled_rng(&format!("warden insecure test {label} certificate signature"));
    let signature = PssSigningKey::<Sha384>::new(issuer_key.clone()).sign_with_rng(&mut rng, &tbs_der);
    Ok(Certificate {
        tbs_certificate: tbs,
        signature_algorithm: algorithm,
        signature: BitString::from_bytes(&signature.to_vec()).map_err(|e| e.to_string())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Set to rewrite `insecure-test-certs.pem` from the seeds (after a change to the chain's shape).
    const REGENERATE: &str = "WARDEN_REGENERATE_INSECURE_TEST_CERTS";

    #[test]
    fn stored_chain_is_what_the_seeds_give() {
        let generated = CertChain::generate().expect("generate the chain");
        let text = generated.to_file_text().expect("PEM");
        if std::env::var_os(REGENERATE).is_some() {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/psp/insecure-test-certs.pem");
            std::fs::write(&path, &text).expect("write the stored chain");
        }
        assert!(text == STORED, "insecure-test-certs.pem differs from the seeds' chain; set {REGENERATE}=1");
        assert_eq!(CertChain::stored(), &generated);
    }

    #[test]
    fn the_written_pems_are_the_stored_chain() {
        let dir = std::env::temp_dir().join(format!("warden-psp-pems-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let chain = CertChain::stored();
        chain.write_pems(&dir).expect("write the PEMs");
        for (file, cert) in [("ark.pem", &chain.ark), ("ask.pem", &chain.ask), ("vcek.pem", &chain.vcek)] {
            let pem = std::fs::read_to_string(dir.join(file)).expect("read back");
            assert_eq!(&Certificate::from_pem(&pem).expect("one PEM certificate"), cert, "{file}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
