//! The emulated chip behind the PSP model: its identity (chip ID, CPUID family/model/stepping, product
//! name), its TCB, its firmware version, its chip secret and its VCEK signing key. Every secret here is
//! an INSECURE TEST KEY derived from a public label, so anyone can recompute it: the point is a
//! repeatable machine whose evidence tools Warden did not write can check, never secrecy. A release
//! firmware image holds none of this; only the machine and the verifier's tests do.
use p384::ecdsa::SigningKey;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sha2::{Digest, Sha512};

/// The product the chip claims to be: the VCEK's productName extension and the ARK/ASK names (AMD's
/// Genoa chain is named ARK-Genoa / SEV-Genoa).
pub const PRODUCT_NAME: &str = "Genoa";

/// The report's CPUID_FAM_ID, CPUID_MOD_ID, CPUID_STEP (report version 3 and later): family 0x19,
/// model 0x11 is Genoa, which verifiers use to pick the TCB_VERSION layout below.
pub const CPUID_FAMILY_MODEL_STEPPING: [u8; 3] = [0x19, 0x11, 0x01];

/// A TCB_VERSION in the Milan/Genoa layout (SEV-SNP ABI (AMD 56860) Table "TCB_VERSION Structure"):
/// byte 0 BOOT_LOADER, byte 1 TEE, bytes 2-5 reserved, byte 6 SNP, byte 7 MICROCODE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcbVersion {
    /// The boot loader's security patch level.
    pub bootloader: u8,
    /// The PSP OS's security patch level.
    pub tee: u8,
    /// The SNP firmware's security patch level.
    pub snp: u8,
    /// The lowest microcode patch level of all cores.
    pub microcode: u8,
}

impl TcbVersion {
    /// The 8 bytes a report or MSG_KEY_REQ carries.
    pub fn to_bytes(self) -> [u8; 8] {
        [self.bootloader, self.tee, 0, 0, 0, 0, self.snp, self.microcode]
    }

    /// Reads 8 bytes; `None` when a reserved byte is not zero.
    pub fn from_bytes(b: [u8; 8]) -> Option<Self> {
        (b[2..6] == [0; 4]).then_some(Self { bootloader: b[0], tee: b[1], snp: b[6], microcode: b[7] })
    }

    /// Whether every component of `self` is at least that of `other` (a derived key may be asked for
    /// an older TCB than the current one, never a newer one).
    pub fn covers(self, other: Self) -> bool {
        self.bootloader >= other.bootloader
            && self.tee >= other.tee
            && self.snp >= other.snp
            && self.microcode >= other.microcode
    }
}

/// The TCB the chip runs (CURRENT_TCB).
pub const CURRENT_TCB: TcbVersion = TcbVersion { bootloader: 9, tee: 0, snp: 23, microcode: 0x48 };
/// The TCB committed with SNP_COMMIT (COMMITTED_TCB) and the one the guest launched under (LAUNCH_TCB).
pub const COMMITTED_TCB: TcbVersion = CURRENT_TCB;
/// The TCB the host reports to guests (REPORTED_TCB): older than the current one, as after an update
/// the host has not yet published. The VCEK is the key of this TCB, so its certificate's SPL
/// extensions carry these values, and a verifier that compares them with CURRENT_TCB instead fails.
pub const REPORTED_TCB: TcbVersion = TcbVersion { bootloader: 7, tee: 0, snp: 21, microcode: 0x45 };

/// The SNP firmware version (CURRENT_BUILD, CURRENT_MINOR, CURRENT_MAJOR): 1.55 build 21.
pub const FIRMWARE_VERSION: [u8; 3] = [21, 55, 1];

/// 32 bytes named by `label`: the first half of SHA-512(label). The labels say INSECURE TEST.
fn labelled_seed(label: &str) -> [u8; 32] {
    let digest = Sha512::digest(label.as_bytes());
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&digest[..32]);
    seed
}

/// A deterministic RNG for the key or signature named by `label`.
pub fn labelled_rng(label: &str) -> ChaCha20Rng {
    ChaCha20Rng::from_seed(labelled_seed(label))
}

/// The chip's CHIP_ID (64 bytes; the VCEK's hwid extension).
pub fn chip_id() -> [u8; 64] {
    Sha512::digest(b"warden insecure test chip id").into()
}

/// The chip secret the derived keys of MSG_KEY_REQ with ROOT_KEY_SELECT = VCEK come from.
pub fn chip_secret() -> [u8; 32] {
    labelled_seed("warden insecure test chip secret")
}

/// The VCEK: the P-384 key of this chip at [`REPORTED_TCB`] (INSECURE TEST KEY).
pub fn vcek() -> SigningKey {
    SigningKey::random(&mut labelled_rng("warden insecure test VCEK"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcb_version_round_trips_and_refuses_reserved_bytes() {
        let bytes = CURRENT_TCB.to_bytes();
        assert_eq!(bytes, [9, 0, 0, 0, 0, 0, 23, 0x48]);
        assert_eq!(TcbVersion::from_bytes(bytes), Some(CURRENT_TCB));
        let mut bad = bytes;
        bad[3] = 1;
        assert_eq!(TcbVersion::from_bytes(bad), None);
    }

    #[test]
    fn current_tcb_covers_reported_not_the_reverse() {
        assert!(CURRENT_TCB.covers(REPORTED_TCB));
        assert!(!REPORTED_TCB.covers(CURRENT_TCB));
    }

    #[test]
    fn the_vcek_is_the_same_on_every_call_and_differs_from_other_labels() {
        assert_eq!(vcek().verifying_key(), vcek().verifying_key());
        assert_ne!(labelled_seed("a"), labelled_seed("b"));
    }
}
