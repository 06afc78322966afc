//! The emulated chip behind the PSP model: its identity (chip ID, CPUID family/model/stepping, product
//! name), its TCB, its firmware version, its chip secret and its VCEK signing key. Every secret here is
//! an INSECURE TEST KEY derived from a public label, so anyone can recompute it: the point is a
//! repeatable machine whose evidence tools Warden did not write can check, never secrecy. A release
//! firmware image holds none of this; only the machine and the verifier's tests do.
use p384::ecdsa::SigningKey;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sha2::{Digest, Sha512};
use warden_defs::snp_report::{TcbLayout, TcbParts, TcbVersion};

/// The product the chip claims to be: the VCEK's productName extension and the ARK/ASK names (AMD's
/// Genoa chain is named ARK-Genoa / SEV-Genoa).
pub const PRODUCT_NAME: &str = "Genoa";

/// The report's CPUID_FAM_ID, CPUID_MOD_ID, CPUID_STEP (report version 3 and later): family 0x19,
/// model 0x11 is Genoa, which verifiers use to pick the TCB_VERSION layout below.
pub const CPUID_FAMILY_MODEL_STEPPING: [u8; 3] = [0x19, 0x11, 0x01];

/// The TCB_VERSION layout of this family (SEV-SNP ABI (AMD 56860) "TCB_VERSION structure"): Genoa
/// is Milan's, byte 0 BOOT_LOADER, 1 TEE, 6 SNP, 7 MICROCODE.
pub const TCB_LAYOUT: TcbLayout = TcbLayout::MilanGenoa;

/// The TCB the chip runs (CURRENT_TCB).
pub const CURRENT_TCB: TcbParts = TcbParts { fmc: 0, bootloader: 9, tee: 0, snp: 23, microcode: 0x48 };
/// The TCB committed with SNP_COMMIT (COMMITTED_TCB) and the one the guest launched under (LAUNCH_TCB).
pub const COMMITTED_TCB: TcbParts = CURRENT_TCB;
/// The TCB the host reports to guests (REPORTED_TCB): older than the current one, as after an update
/// the host has not yet published. The VCEK is the key of this TCB, so its certificate's SPL
/// extensions carry these values, and a verifier that compares them with CURRENT_TCB instead fails.
pub const REPORTED_TCB: TcbParts = TcbParts { fmc: 0, bootloader: 7, tee: 0, snp: 21, microcode: 0x45 };

/// `parts` as the 8-byte word reports and MSG_KEY_REQ carry.
pub const fn tcb_version(parts: TcbParts) -> TcbVersion {
    TcbVersion::new(TCB_LAYOUT, parts)
}

/// Whether every SVN of `have` is at least that of `asked` (a derived key may be asked for an older
/// TCB than the committed one, never a newer one).
pub fn tcb_covers(have: TcbParts, asked: TcbParts) -> bool {
    have.fmc >= asked.fmc
        && have.bootloader >= asked.bootloader
        && have.tee >= asked.tee
        && have.snp >= asked.snp
        && have.microcode >= asked.microcode
}

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
    fn tcb_words_are_milan_genoa_layout() {
        assert_eq!(tcb_version(CURRENT_TCB).0, [9, 0, 0, 0, 0, 0, 23, 0x48]);
    }

    #[test]
    fn current_tcb_covers_reported_not_the_reverse() {
        assert!(tcb_covers(CURRENT_TCB, REPORTED_TCB));
        assert!(!tcb_covers(REPORTED_TCB, CURRENT_TCB));
    }

    #[test]
    fn the_vcek_is_the_same_on_every_call_and_differs_from_other_labels() {
        assert_eq!(vcek().verifying_key(), vcek().verifying_key());
        assert_ne!(labelled_seed("a"), labelled_seed("b"));
    }
}
