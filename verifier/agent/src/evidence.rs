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
use warden_evidence::cert_table::{self, ASK_GUID, VCEK_GUID};
use warden_verifier::protocol::SvsmEvidence;

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
    /// Captured evidence could not be re-signed for the nonce.
    Rebind(String),
}

impl core::fmt::Display for EvidenceError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Read(path, e) => write!(f, "cannot read {}: {e}", path.display()),
            Self::Pem(path) => write!(f, "{} is not a PEM certificate", path.display()),
            Self::Command(what) => write!(f, "the attesting command: {what}"),
            Self::NonceMismatch => write!(f, "the evidence attests another nonce than the one asked for"),
            Self::Rebind(what) => write!(f, "the captured evidence cannot be re-signed: {what}"),
        }
    }
}

impl std::error::Error for EvidenceError {}

/// Whether the host's table carries `guid`'s certificate. Only a hint for what to send: the verifier
/// parses the table itself, and refuses a table it cannot read.
fn table_has(table: &[u8], guid: &[u8; 16]) -> bool {
    matches!(cert_table::find(table, guid), Ok(Some(_)))
}

/// Where the evidence comes from.
#[derive(Clone, Debug)]
pub enum Attester {
    /// Run this command; `{nonce}` in an argument becomes the nonce in hex, `{out}` an empty directory
    /// the command writes the evidence to.
    Command(Vec<String>),
    /// Read evidence captured earlier (for another nonce: a verifier must refuse it).
    Dir(PathBuf),
    /// Evidence captured earlier, re-signed for the nonce by the emulated PSP's INSECURE TEST VCEK
    /// ([`crate::insecure_test_psp`]): for benchmarks and tests of the handshake, never a proof.
    InsecureRebound(PathBuf),
}

impl Attester {
    /// Evidence for `nonce`.
    pub fn attest(&self, nonce: &[u8; 64]) -> Result<SvsmEvidence, EvidenceError> {
        match self {
            Self::Dir(dir) => Ok(read_dir(dir)?.0),
            Self::InsecureRebound(dir) => {
                let (evidence, _) = read_dir(dir)?;
                let raw = evidence.decode(nonce).map_err(|e| EvidenceError::Rebind(e.to_string()))?;
                let vcek = crate::insecure_test_psp::vcek();
                let report = crate::insecure_test_psp::rebind(&raw.report, &raw.manifest, nonce, &vcek)
                    .map_err(|e| EvidenceError::Rebind(e.to_string()))?;
                Ok(SvsmEvidence { report: STANDARD.encode(report), ..evidence })
            }
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
                if attested != nonce.as_slice() {
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
        ask: der_unless_in_table("ask.pem", &ASK_GUID)?.map(|der| STANDARD.encode(der)),
        vcek: der_unless_in_table("vcek.pem", &VCEK_GUID)?.map(|der| STANDARD.encode(der)),
        ..SvsmEvidence::encode(&read("report.bin")?, &read("manifest.bin")?, &cert_table)
    };
    Ok((evidence, read("nonce.bin")?))
}

#[cfg(test)]
mod tests {
    use super::{ASK_GUID, SvsmEvidence, VCEK_GUID, cert_table, read_dir, table_has};

    #[test]
    fn a_table_is_asked_for_its_entries() {
        let table = cert_table::build(&[(VCEK_GUID, b"vcek")]);
        assert!(table_has(&table, &VCEK_GUID) && !table_has(&table, &ASK_GUID));
        assert!(!table_has(&[1, 2, 3], &VCEK_GUID), "an unreadable table has nothing");
    }

    #[test]
    fn an_evidence_dir_becomes_the_evidence_json() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| std::fs::write(dir.path().join(name), bytes).unwrap();
        write("report.bin", &[1, 2, 3]);
        write("manifest.bin", b"manifest");
        write("nonce.bin", &[7; 64]);
        write("certs.bin", &cert_table::build(&[(VCEK_GUID, b"\x30")]));
        write("ask.pem", b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n");
        write("vcek.pem", b"not read: the table has the VCEK");
        let (evidence, nonce) = read_dir(dir.path()).unwrap();
        assert_eq!(nonce, [7; 64]);
        let json = serde_json::to_value(&evidence).unwrap();
        let decoded = evidence.decode(&[7; 64]).unwrap();
        assert_eq!((decoded.report, decoded.ask, decoded.vcek), (vec![1, 2, 3], Some(vec![0x30, 0]), None));
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
