//! The endorsement primary seed (EPS) the firmware hands the vTPM, so the EK stays the same across boots
//! of the same image without any storage.
//!
//! A hardware TPM keeps its EPS in NV for life (TPM 2.0 Part 1 §14.3.2). Warden has no storage the
//! platform would vouch for, so the firmware derives the EPS at every boot from a key only this launch can
//! obtain (on SEV-SNP, a MSG_KEY_REQ key bound to the launch's measurement, policy and TCB) and hands it
//! over as an [`EndorsementSeed`]; the engine never sees the platform key itself.
//!
//! Derivation: HKDF-SHA-384 (RFC 5869) with the platform key as input keying material, a fixed salt
//! naming Warden's vTPM and an info string naming the platform and the seed's purpose. Changing either
//! string changes every EK, so both carry a version.

use zeroize::{Zeroize, ZeroizeOnDrop};

/// HKDF salt: names the key's user, so a platform key reused elsewhere never yields the same bytes.
const SALT: &[u8] = b"Warden vTPM v1";
/// HKDF info prefix: names the seed; the platform's label follows.
const INFO_PREFIX: &[u8] = b"endorsement primary seed/";

/// 32 bytes of endorsement primary seed, wiped when dropped. Its bytes never leave the crate.
pub struct EndorsementSeed([u8; 32]);

impl Drop for EndorsementSeed {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for EndorsementSeed {}

impl core::fmt::Debug for EndorsementSeed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The seed is the EK's private key in all but name: it stays out of debug output.
        f.write_str("EndorsementSeed(..)")
    }
}

impl EndorsementSeed {
    /// The seed derived from `platform_key`, a secret only this launch can obtain from its platform
    /// (`platform` names which, e.g. `b"sev-snp/vcek"`, so two platforms never share a seed).
    pub fn from_platform_key(platform_key: &[u8; 32], platform: &[u8]) -> EndorsementSeed {
        let hkdf = hkdf::Hkdf::<sha2::Sha384>::new(Some(SALT), platform_key);
        let mut seed = [0u8; 32];
        // 32 bytes is far below HKDF-SHA-384's limit of 255 * 48, so expansion cannot fail.
        let expanded = hkdf.expand_multi_info(&[INFO_PREFIX, platform], &mut seed);
        debug_assert!(expanded.is_ok(), "HKDF output length within bounds");
        EndorsementSeed(seed)
    }

    /// A fresh seed from `entropy`, for a platform that gives a launch no key to derive one from (TDX:
    /// the TDX module offers no sealing-key derivation to a TD). The EK is then new at every boot: a
    /// verifier cannot pin it across boots and must take it from each boot's attested services manifest.
    pub fn from_entropy(entropy: &mut dyn crate::EntropySource) -> EndorsementSeed {
        let mut seed = [0u8; 32];
        entropy.fill_bytes(&mut seed);
        EndorsementSeed(seed)
    }

    /// INSECURE: the same seed in every TPM that is given it, so every such TPM has the same EK. For
    /// the native (non-confidential) platform, which has no platform key and attests nothing; the
    /// firmware's confidential platforms must never use it (the kernel's `endorsement` tests check
    /// where it is called).
    pub fn insecure_fixed() -> EndorsementSeed {
        let mut seed = [0u8; 32];
        for (byte, label) in seed.iter_mut().zip(b"INSECURE fixed native vTPM EPS!!") {
            *byte = *label;
        }
        EndorsementSeed(seed)
    }

    /// The seed's bytes, for the key store.
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::EndorsementSeed;

    #[test]
    fn the_seed_follows_the_platform_key_and_the_platform_label() {
        let a = EndorsementSeed::from_platform_key(&[7; 32], b"sev-snp/vcek");
        let b = EndorsementSeed::from_platform_key(&[7; 32], b"sev-snp/vcek");
        assert_eq!(a.bytes(), b.bytes());
        let other_key = EndorsementSeed::from_platform_key(&[8; 32], b"sev-snp/vcek");
        assert_ne!(a.bytes(), other_key.bytes());
        let other_platform = EndorsementSeed::from_platform_key(&[7; 32], b"tdx");
        assert_ne!(a.bytes(), other_platform.bytes());
        assert_ne!(a.bytes(), &[7; 32], "the platform key itself is never the seed");
        assert_ne!(a.bytes(), EndorsementSeed::insecure_fixed().bytes());
    }

    #[test]
    fn the_derivation_is_rfc5869_hkdf_sha384() {
        // Recomputed by hand from RFC 5869 (extract, then one expand block) over HMAC-SHA-384.
        use hmac::{Hmac, Mac};
        type HmacSha384 = Hmac<sha2::Sha384>;
        let key = [0x42u8; 32];
        let mut extract = HmacSha384::new_from_slice(super::SALT).unwrap();
        extract.update(&key);
        let prk = extract.finalize().into_bytes();
        let mut expand = HmacSha384::new_from_slice(&prk).unwrap();
        expand.update(super::INFO_PREFIX);
        expand.update(b"sev-snp/vcek");
        expand.update(&[1]);
        let t1 = expand.finalize().into_bytes();
        let seed = EndorsementSeed::from_platform_key(&key, b"sev-snp/vcek");
        assert_eq!(seed.bytes()[..], t1[..32]);
    }

    #[test]
    fn an_entropy_seed_is_the_sources_bytes_and_differs_with_them() {
        struct Counter(u8);
        impl crate::EntropySource for Counter {
            fn fill_bytes(&mut self, out: &mut [u8]) {
                for byte in out {
                    self.0 = self.0.wrapping_add(1);
                    *byte = self.0;
                }
            }
        }
        let mut source = Counter(0);
        let first = EndorsementSeed::from_entropy(&mut source);
        let second = EndorsementSeed::from_entropy(&mut source);
        assert_eq!(first.bytes()[..3], [1, 2, 3]);
        assert_ne!(first.bytes(), second.bytes(), "every boot draws a new seed");
    }

    #[test]
    fn debug_output_hides_the_seed() {
        let seed = EndorsementSeed::from_platform_key(&[1; 32], b"x");
        assert_eq!(alloc::format!("{seed:?}"), "EndorsementSeed(..)");
    }
}
