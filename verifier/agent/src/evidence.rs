//! Warden's attestation evidence as the agent sends it (the `tee-evidence` of the KBS `attest` request
//! for the TEE type `svsm`), and where the agent gets it: the SVSM attestation protocol (SVSM spec (AMD
//! 58019) §7) is reached from inside the guest, and the guest here is the test guest on the emulated
//! SNP machine, so the agent runs a command that boots it with the nonce and leaves an evidence
//! directory (`cargo xtask attest --out DIR --nonce HEX` writes one), or reads a directory captured
//! earlier.
//!
//! The directory's files: `report.bin` (the 0x4A0-byte report, SEV-SNP ABI (AMD 56860) Table 23),
//! `manifest.bin` (the services manifest), `nonce.bin` (the nonce the guest attested), `certs.bin` (the
//! host's certificate table, GHCB spec (AMD 56421) §4.1.8.1) and the chain as `ask.pem` / `vcek.pem`.
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::runtime_data::SvsmNonce;

/// The TEE type the agent names in its `auth` request: SVSM evidence (the `kbs-types` crate's `Tee`
/// has no variant for it).
pub const TEE: &str = "svsm";

/// The SVSM evidence JSON; byte strings are standard base64.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SvsmEvidence {
    /// The attestation report.
    #[serde(with = "b64")]
    pub report: Vec<u8>,
    /// The services manifest REPORT_DATA binds.
    #[serde(with = "b64")]
    pub manifest: Vec<u8>,
    /// The host's certificate table (may be empty).
    #[serde(rename = "cert-table", with = "b64")]
    pub cert_table: Vec<u8>,
    /// The VCEK certificate (DER), when the table lacks it.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "b64_opt")]
    pub vcek: Option<Vec<u8>>,
    /// The ASK certificate (DER), when the table lacks it.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "b64_opt")]
    pub ask: Option<Vec<u8>>,
}

/// Why no evidence could be had.
#[derive(Debug)]
pub enum EvidenceError {
    /// A file of the evidence directory could not be read.
    Read(PathBuf, std::io::Error),
    /// A PEM file holds no certificate.
    Pem(PathBuf),
    /// The attesting command could not start, or failed.
    Command(String),
    /// The guest attested another nonce than the one asked for.
    NonceMismatch,
}

impl core::fmt::Display for EvidenceError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Read(path, e) => write!(f, "cannot read {}: {e}", path.display()),
            Self::Pem(path) => write!(f, "{} is not a PEM certificate", path.display()),
            Self::Command(what) => write!(f, "the attesting command: {what}"),
            Self::NonceMismatch => write!(f, "the evidence attests another nonce than the one asked for"),
        }
    }
}

impl std::error::Error for EvidenceError {}

/// The GUIDs of the certificate table entries (GHCB spec (AMD 56421) §4.1.8.1, RFC 4122 byte order).
const ASK_GUID: [u8; 16] = guid(0x4ab7b379, 0xbbac, 0x4fe4, [0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82]);
const VCEK_GUID: [u8; 16] =
    guid(0x63da758d, 0xe664, 0x4564, [0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd]);

const fn guid(a: u32, b: u16, c: u16, d: [u8; 8]) -> [u8; 16] {
    let (a, b, c) = (a.to_be_bytes(), b.to_be_bytes(), c.to_be_bytes());
    [a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]
}

/// Whether the table (24-byte entries, ended by a zero GUID) names `wanted`. Only a hint for what to
/// send: the verifier parses the table itself.
fn table_has(table: &[u8], wanted: &[u8; 16]) -> bool {
    table.chunks_exact(24).take_while(|entry| entry[..16] != [0; 16]).any(|entry| entry[..16] == wanted[..])
}

/// Where the evidence comes from.
#[derive(Clone, Debug)]
pub enum Attester {
    /// Run this command; `{nonce}` in an argument becomes the nonce in hex, `{out}` an empty directory
    /// the command writes the evidence to.
    Command(Vec<String>),
    /// Read evidence captured earlier (for another nonce: a verifier must refuse it).
    Dir(PathBuf),
}

impl Attester {
    /// Evidence for `nonce`.
    pub fn attest(&self, nonce: &SvsmNonce) -> Result<SvsmEvidence, EvidenceError> {
        match self {
            Self::Dir(dir) => Ok(read_dir(dir)?.0),
            Self::Command(command) => {
                let out =
                    tempfile::tempdir().map_err(|e| EvidenceError::Command(format!("no temp dir: {e}")))?;
                let hex: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
                let out_text = out.path().display().to_string();
                let args: Vec<String> =
                    command.iter().map(|a| a.replace("{nonce}", &hex).replace("{out}", &out_text)).collect();
                let (program, rest) =
                    args.split_first().ok_or_else(|| EvidenceError::Command("empty command".into()))?;
                let status = Command::new(program)
                    .args(rest)
                    .status()
                    .map_err(|e| EvidenceError::Command(format!("{program}: {e}")))?;
                if !status.success() {
                    return Err(EvidenceError::Command(format!("{} ended with {status}", args.join(" "))));
                }
                let (evidence, attested) = read_dir(out.path())?;
                if attested != nonce {
                    return Err(EvidenceError::NonceMismatch);
                }
                Ok(evidence)
            }
        }
    }
}

/// The evidence in `dir` and the nonce the guest attested. The ASK and VCEK are sent from the PEM files
/// only when the certificate table does not carry them.
pub fn read_dir(dir: &Path) -> Result<(SvsmEvidence, Vec<u8>), EvidenceError> {
    let read = |file: &str| std::fs::read(dir.join(file)).map_err(|e| EvidenceError::Read(dir.join(file), e));
    let cert_table = if dir.join("certs.bin").exists() { read("certs.bin")? } else { Vec::new() };
    let der_unless_in_table = |file: &str, guid: &[u8; 16]| -> Result<Option<Vec<u8>>, EvidenceError> {
        if table_has(&cert_table, guid) {
            return Ok(None);
        }
        let pem = read(file)?;
        match pem_rfc7468::decode_vec(&pem) {
            Ok(("CERTIFICATE", der)) => Ok(Some(der)),
            _ => Err(EvidenceError::Pem(dir.join(file))),
        }
    };
    let evidence = SvsmEvidence {
        report: read("report.bin")?,
        manifest: read("manifest.bin")?,
        ask: der_unless_in_table("ask.pem", &ASK_GUID)?,
        vcek: der_unless_in_table("vcek.pem", &VCEK_GUID)?,
        cert_table,
    };
    Ok((evidence, read("nonce.bin")?))
}

/// Standard base64 for `Vec<u8>` members.
mod b64 {
    use super::{Engine, STANDARD};

    pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text: String = serde::Deserialize::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

/// Standard base64 for `Option<Vec<u8>>` members.
mod b64_opt {
    use super::{Engine, STANDARD};

    pub fn serialize<S: serde::Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => s.serialize_str(&STANDARD.encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let text: Option<String> = serde::Deserialize::deserialize(d)?;
        text.map(|t| STANDARD.decode(t).map_err(serde::de::Error::custom)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::{ASK_GUID, SvsmEvidence, VCEK_GUID, read_dir, table_has};

    /// A certificate table with one VCEK entry, then the terminator.
    fn table_with_vcek() -> Vec<u8> {
        let mut table = VCEK_GUID.to_vec();
        table.extend_from_slice(&48u32.to_le_bytes());
        table.extend_from_slice(&1u32.to_le_bytes());
        table.extend_from_slice(&[0; 24]);
        table.push(0x30);
        table
    }

    #[test]
    fn guids_are_in_rfc_4122_byte_order() {
        assert_eq!(VCEK_GUID[..4], [0x63, 0xda, 0x75, 0x8d]);
        assert_eq!(ASK_GUID[4..8], [0xbb, 0xac, 0x4f, 0xe4]);
        assert!(table_has(&table_with_vcek(), &VCEK_GUID));
        assert!(!table_has(&table_with_vcek(), &ASK_GUID));
    }

    #[test]
    fn an_evidence_dir_becomes_the_evidence_json() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| std::fs::write(dir.path().join(name), bytes).unwrap();
        write("report.bin", &[1, 2, 3]);
        write("manifest.bin", b"manifest");
        write("nonce.bin", &[7; 64]);
        write("certs.bin", &table_with_vcek());
        write("ask.pem", b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n");
        write("vcek.pem", b"not read: the table has the VCEK");
        let (evidence, nonce) = read_dir(dir.path()).unwrap();
        assert_eq!(nonce, [7; 64]);
        let json = serde_json::to_value(&evidence).unwrap();
        assert_eq!(json["report"], "AQID");
        assert_eq!(json["manifest"], "bWFuaWZlc3Q=");
        assert_eq!(json["ask"], "MAA=", "the ASK, absent from the table, is sent as DER");
        assert!(json.get("vcek").is_none(), "the VCEK is in the table");
        let back: SvsmEvidence = serde_json::from_value(json).unwrap();
        assert_eq!(back, evidence);
        write("ask.pem", b"garbage");
        assert!(read_dir(dir.path()).is_err(), "a PEM without a certificate is an error");
    }
}
