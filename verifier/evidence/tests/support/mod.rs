//! An INSECURE TEST KEY hierarchy (ARK → ASK → VCEK, shaped as AMD's: RSA-4096 RSASSA-PSS/SHA-384 and a
//! P-384 VCEK with the TCB and hwid extensions) and evidence signed by it, for the verifier's tests.
//!
//! Every key comes from a ChaCha20 generator seeded with SHA-512 of a label, so a run is reproducible;
//! anyone can recompute these keys, which is the point: they prove nothing outside a test.
#![allow(dead_code, reason = "each test binary uses part of the support")]

use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

use der::asn1::{BitString, OctetString};
use der::{Any, Encode, EncodePem};
use p384::ecdsa::SigningKey;
use p384::ecdsa::signature::Signer;
use p384::pkcs8::EncodePublicKey;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use rsa::pkcs1::RsaPssParams;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha384, Sha512};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use warden_defs::snp_report::{AttestationReport, REPORT_SIGNED_RANGE};
use warden_evidence::report::encode_signature;
use warden_evidence::{Evidence, Expected, Product, TcbVersion, TrustAnchors, cert_table, manifest, vcek};
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::der::DecodePem;
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;
use zerocopy::{FromZeros, IntoBytes};

/// The test chip's TCB.
pub const TCB: TcbVersion = TcbVersion { fmc: 0, bootloader: 4, tee: 0, snp: 22, microcode: 213 };
/// The measurement the test image "has".
pub const MEASUREMENT: [u8; 48] = [0x4D; 48];
/// Policy: ABI 0.0, bit 17 (must be one), SMT allowed (bit 16).
pub const POLICY: u64 = 0x3_0000;
/// GUEST_POLICY bit 19.
pub const POLICY_DEBUG: u64 = 1 << 19;
const ID_RSASSA_PSS: &str = "1.2.840.113549.1.1.10";

fn rng(label: &str) -> ChaCha20Rng {
    let seed = Sha512::digest(format!("warden INSECURE TEST KEY: verifier tests: {label}").as_bytes());
    ChaCha20Rng::from_seed(seed[..32].try_into().unwrap())
}

/// The test hierarchy.
#[derive(Debug)]
pub struct Hierarchy {
    pub ark_key: RsaPrivateKey,
    pub ark: Certificate,
    pub ask_key: RsaPrivateKey,
    pub ask: Certificate,
    pub vcek_key: SigningKey,
    pub vcek: Certificate,
    pub chip_id: [u8; 64],
}

/// Built once per test binary: RSA-4096 key generation takes seconds.
pub fn hierarchy() -> &'static Hierarchy {
    static ONCE: OnceLock<Hierarchy> = OnceLock::new();
    ONCE.get_or_init(|| {
        let ark_key = RsaPrivateKey::new(&mut rng("ARK"), 4096).unwrap();
        let ask_key = RsaPrivateKey::new(&mut rng("ASK"), 4096).unwrap();
        let vcek_key = SigningKey::random(&mut rng("VCEK"));
        let chip_id: [u8; 64] = Sha512::digest(b"warden insecure test chip").into();
        let ark_name = "CN=ARK-Genoa,O=Warden INSECURE TEST KEY";
        let ask_name = "CN=SEV-Genoa,O=Warden INSECURE TEST KEY";
        let ark = rsa_cert(&ark_key, ark_name, ark_name, spki_of_rsa(&ark_key.to_public_key()), vec![]);
        let ask = rsa_cert(&ark_key, ark_name, ask_name, spki_of_rsa(&ask_key.to_public_key()), vec![]);
        let vcek_spki = SubjectPublicKeyInfoOwned::try_from(
            vcek_key.verifying_key().to_public_key_der().unwrap().as_bytes(),
        )
        .unwrap();
        let vcek = rsa_cert(
            &ask_key,
            ask_name,
            "CN=SEV-VCEK,O=Warden INSECURE TEST KEY",
            vcek_spki,
            vcek_extensions(TCB, &chip_id),
        );
        Hierarchy { ark_key, ark, ask_key, ask, vcek_key, vcek, chip_id }
    })
}

fn spki_of_rsa(key: &RsaPublicKey) -> SubjectPublicKeyInfoOwned {
    use rsa::pkcs8::EncodePublicKey as _;
    SubjectPublicKeyInfoOwned::try_from(key.to_public_key_der().unwrap().as_bytes()).unwrap()
}

/// AMD's VCEK extensions for `tcb` and `chip_id` (VCEK specification, AMD 57230, Table 8).
pub fn vcek_extensions(tcb: TcbVersion, chip_id: &[u8; 64]) -> Vec<Extension> {
    let [_, bootloader, tee, snp, microcode] = vcek::oids::TCB;
    let mut extensions: Vec<Extension> =
        [(bootloader, tcb.bootloader), (tee, tcb.tee), (snp, tcb.snp), (microcode, tcb.microcode)]
            .into_iter()
            .map(|(oid, svn)| Extension {
                extn_id: oid,
                critical: false,
                extn_value: OctetString::new(svn.to_der().unwrap()).unwrap(),
            })
            .collect();
    extensions.push(Extension {
        extn_id: vcek::oids::HWID,
        critical: false,
        extn_value: OctetString::new(chip_id.to_vec()).unwrap(),
    });
    extensions
}

/// A certificate for `spki` named `subject`, signed by `issuer_key` (named `issuer`) with AMD's
/// RSASSA-PSS/SHA-384 profile.
pub fn rsa_cert(
    issuer_key: &RsaPrivateKey,
    issuer: &str,
    subject: &str,
    spki: SubjectPublicKeyInfoOwned,
    extensions: Vec<Extension>,
) -> Certificate {
    let algorithm = AlgorithmIdentifierOwned {
        oid: ID_RSASSA_PSS.parse().unwrap(),
        parameters: Some(Any::encode_from(&RsaPssParams::new::<Sha384>(48)).unwrap()),
    };
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&Sha384::digest(subject.as_bytes())[..8]).unwrap(),
        signature: algorithm.clone(),
        issuer: Name::from_str(issuer).unwrap(),
        validity: Validity::from_now(Duration::from_secs(3600 * 24 * 365)).unwrap(),
        subject: Name::from_str(subject).unwrap(),
        subject_public_key_info: spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: (!extensions.is_empty()).then_some(extensions),
    };
    let signer = rsa::pss::SigningKey::<Sha384>::new_with_salt_len(issuer_key.clone(), 48);
    let signature = signer.sign_with_rng(&mut rng(subject), &tbs.to_der().unwrap());
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm: algorithm,
        signature: BitString::from_bytes(&signature.to_bytes()).unwrap(),
    }
}

pub fn pem(cert: &Certificate) -> Vec<u8> {
    cert.to_pem(der::pem::LineEnding::LF).unwrap().into_bytes()
}

pub fn der(cert: &Certificate) -> Vec<u8> {
    cert.to_der().unwrap()
}

/// A report's fields before signing.
#[derive(Clone, Debug)]
pub struct ReportFields {
    pub policy: u64,
    pub vmpl: u32,
    pub measurement: [u8; 48],
    pub report_data: [u8; 64],
    pub tcb: TcbVersion,
    pub chip_id: [u8; 64],
}

/// A v3 Genoa report with `fields`, signed by `key`.
pub fn signed_report(fields: &ReportFields, key: &SigningKey) -> Vec<u8> {
    let tcb = fields.tcb.to_word(Product::Genoa);
    let mut r = AttestationReport::new_zeroed();
    r.version = 3;
    r.policy = fields.policy;
    r.vmpl = fields.vmpl;
    r.signature_algo = 1;
    r.report_data = fields.report_data;
    r.measurement = fields.measurement;
    // One firmware, never updated: current, reported, committed and launch TCB agree.
    (r.current_tcb, r.reported_tcb, r.committed_tcb, r.launch_tcb) = (tcb, tcb, tcb, tcb);
    (r.cpuid_fam_id, r.cpuid_mod_id) = (0x19, 0x11); // Genoa
    r.chip_id = fields.chip_id;
    let signature: p384::ecdsa::Signature = key.sign(&r.as_bytes()[REPORT_SIGNED_RANGE]);
    encode_signature(&signature, &mut r);
    r.as_bytes().to_vec()
}

/// The test EK (an L-1 TPMT_PUBLIC with a made-up modulus).
pub fn ek(fill: u8) -> Vec<u8> {
    manifest::l1_ek_public(&[fill | 0x80; 256])
}

/// Good evidence: nonce, a manifest with the test EK, a report binding both, and the chain in a GHCB
/// certificate table.
pub fn evidence(tweak: impl FnOnce(&mut ReportFields)) -> Evidence {
    let h = hierarchy();
    let nonce = Sha512::digest(b"the relying party's nonce").to_vec();
    let manifest = manifest::single_vtpm_manifest(&ek(0xC5));
    let mut fields = ReportFields {
        policy: POLICY,
        vmpl: 0,
        measurement: MEASUREMENT,
        report_data: Sha512::new().chain_update(&nonce).chain_update(&manifest).finalize().into(),
        tcb: TCB,
        chip_id: h.chip_id,
    };
    tweak(&mut fields);
    Evidence {
        report: signed_report(&fields, &h.vcek_key),
        manifest,
        nonce,
        cert_table: cert_table::build(&[
            (cert_table::ARK_GUID, &der(&h.ark)),
            (cert_table::ASK_GUID, &der(&h.ask)),
            (cert_table::VCEK_GUID, &der(&h.vcek)),
        ]),
        ask: None,
        vcek: None,
    }
}

/// What the reference values say of the test image.
pub fn expected() -> Expected {
    Expected {
        measurements: vec![[0x11; 48], MEASUREMENT],
        policy: POLICY,
        minimum_tcb: TCB,
        ek_public: None,
    }
}

/// Only the test ARK.
pub fn test_roots() -> TrustAnchors {
    TrustAnchors::only(&pem(&hierarchy().ark)).unwrap()
}

pub fn ark_from_pem(pem: &[u8]) -> Certificate {
    Certificate::from_pem(pem).unwrap()
}
