//! Evidence for a new nonce without booting the guest, for the verifier benchmark and the handshake
//! test: a report captured from the emulated SNP machine gets the new REPORT_DATA (SHA-512(nonce ‖
//! manifest), SVSM spec (AMD 58019) §7.1) and is signed again with the emulated PSP's VCEK. That key is
//! an INSECURE TEST KEY derived from a public label (as `tests/machine`'s chip model derives it), so
//! anyone can sign such reports: evidence made here proves nothing about any machine. It exists so that
//! the HTTP handshake can be measured and tested without a 35-second boot per challenge, on a report
//! whose every other field is the real image's.
use p384::ecdsa::signature::Signer;
use p384::ecdsa::{Signature, SigningKey};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sha2::{Digest, Sha512};
use warden_defs::snp_report::{AttestationReport, REPORT_SIGNED_RANGE};
use zerocopy::{FromBytes, IntoBytes};

/// The label the emulated chip's VCEK is derived from.
const VCEK_LABEL: &str = "warden insecure test VCEK";

/// The emulated PSP's VCEK (INSECURE TEST KEY): the P-384 key drawn from a ChaCha20 generator seeded
/// with the first half of SHA-512 of the public label.
pub fn vcek() -> SigningKey {
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&Sha512::digest(VCEK_LABEL.as_bytes())[..32]);
    SigningKey::random(&mut ChaCha20Rng::from_seed(seed))
}

/// Why a report could not be re-signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotAReport;

impl core::fmt::Display for NotAReport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "not an SEV-SNP attestation report (SEV-SNP ABI (AMD 56860) Table 23)")
    }
}

impl std::error::Error for NotAReport {}

/// `report` with REPORT_DATA = SHA-512(`nonce` ‖ `manifest`), signed again with [`vcek`] (r and s
/// little-endian in their 72-byte fields).
pub fn rebind(
    report: &[u8],
    manifest: &[u8],
    nonce: &[u8; 64],
    vcek: &SigningKey,
) -> Result<Vec<u8>, NotAReport> {
    let mut report = AttestationReport::read_from_bytes(report).map_err(|_| NotAReport)?;
    report.report_data = Sha512::new().chain_update(nonce).chain_update(manifest).finalize().into();
    let signature: Signature = vcek.sign(&report.as_bytes()[REPORT_SIGNED_RANGE]);
    let (r, s) = signature.split_bytes();
    for (field, big_endian) in [(&mut report.signature.r, r), (&mut report.signature.s, s)] {
        field.fill(0);
        for (little, big) in field.iter_mut().zip(big_endian.iter().rev()) {
            *little = *big;
        }
    }
    Ok(report.as_bytes().to_vec())
}
