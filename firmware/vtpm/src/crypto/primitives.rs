//! The engine's hash algorithms (SHA-1 from RustCrypto's `sha1`; SHA-256 and SHA-384 from `warden-sha`),
//! HMAC, KDFa and AES-CFB, over RustCrypto.

use alloc::vec::Vec;

use cfb_mode::cipher::{AsyncStreamCipher, KeyIvInit};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Digest as _;
use warden_sha::{Sha256, Sha384};

use crate::crypto::SecretBytes;
use crate::wire::alg_id::AlgId;
use crate::wire::constants::MAX_DIGEST;
use crate::wire::response_code::{ResponseCode, TpmResult};

// Warden's accelerated SHA-2 behind the same `digest` traits; RustCrypto's signature and OAEP code keeps
// its own `sha2` (soft) hashing.

/// An implemented hash algorithm (TPMI_ALG_HASH without NULL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    /// SHA-1 (FIPS 180-4): weak against collisions, implemented because the PC Client PTP asks for a
    /// SHA-1 PCR bank and measured-boot and IMA tooling still read it.
    Sha1,
    Sha256,
    Sha384,
}

/// Every implemented hash, in bank order (the order PCR banks and event digests are reported): ascending
/// TPM_ALG_ID, as ms-tpm-20-ref lists its banks.
pub const HASH_ALGS: [HashAlg; 3] = [HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384];

impl HashAlg {
    /// The implemented hash with this TPM_ALG_ID, if any.
    pub fn from_id(id: AlgId) -> Option<HashAlg> {
        match id {
            AlgId::SHA1 => Some(HashAlg::Sha1),
            AlgId::SHA256 => Some(HashAlg::Sha256),
            AlgId::SHA384 => Some(HashAlg::Sha384),
            _ => None,
        }
    }

    pub fn id(self) -> AlgId {
        match self {
            HashAlg::Sha1 => AlgId::SHA1,
            HashAlg::Sha256 => AlgId::SHA256,
            HashAlg::Sha384 => AlgId::SHA384,
        }
    }

    pub fn size(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
        }
    }

    /// The hash of the concatenation of `parts`.
    pub fn digest(self, parts: &[&[u8]]) -> Digest {
        match self {
            HashAlg::Sha1 => {
                let mut h = Sha1::new();
                parts.iter().for_each(|p| h.update(p));
                Digest::from_slice(&h.finalize())
            }
            HashAlg::Sha256 => {
                let mut h = Sha256::new();
                parts.iter().for_each(|p| h.update(p));
                Digest::from_slice(&h.finalize())
            }
            HashAlg::Sha384 => {
                let mut h = Sha384::new();
                parts.iter().for_each(|p| h.update(p));
                Digest::from_slice(&h.finalize())
            }
        }
    }

    /// HMAC over the concatenation of `parts`.
    pub fn hmac(self, key: &[u8], parts: &[&[u8]]) -> TpmResult<Digest> {
        // HMAC accepts keys of any length, so `new_from_slice` cannot fail; map it anyway, no unwrap.
        match self {
            HashAlg::Sha1 => {
                let mut m = Hmac::<Sha1>::new_from_slice(key).map_err(|_| ResponseCode::FAILURE)?;
                parts.iter().for_each(|p| m.update(p));
                Ok(Digest::from_slice(&m.finalize().into_bytes()))
            }
            HashAlg::Sha256 => {
                let mut m = Hmac::<Sha256>::new_from_slice(key).map_err(|_| ResponseCode::FAILURE)?;
                parts.iter().for_each(|p| m.update(p));
                Ok(Digest::from_slice(&m.finalize().into_bytes()))
            }
            HashAlg::Sha384 => {
                let mut m = Hmac::<Sha384>::new_from_slice(key).map_err(|_| ResponseCode::FAILURE)?;
                parts.iter().for_each(|p| m.update(p));
                Ok(Digest::from_slice(&m.finalize().into_bytes()))
            }
        }
    }

    /// KDFa (Part 1 §11.4.10.2, SP 800-108 counter mode with HMAC): `bits` of key material from `key`,
    /// `label` (without its terminating zero, which is added here), `context_u` and `context_v`.
    pub fn kdfa(
        self,
        key: &[u8],
        label: &[u8],
        context_u: &[u8],
        context_v: &[u8],
        bits: u32,
    ) -> TpmResult<SecretBytes> {
        let bytes = bits.div_ceil(8) as usize;
        // Sized once, so the key material never moves to a larger block and leaves a copy behind.
        let mut out = SecretBytes::new(Vec::with_capacity(bytes + self.size()));
        let mut counter: u32 = 1;
        while out.len() < bytes {
            let block = self.hmac(
                key,
                &[&counter.to_be_bytes(), label, &[0], context_u, context_v, &bits.to_be_bytes()],
            )?;
            out.extend_from_slice(block.as_slice());
            counter = counter.wrapping_add(1);
        }
        out.truncate(bytes);
        // Part 1: when bits is not a multiple of 8, the unused high bits of the first octet are cleared.
        if !bits.is_multiple_of(8)
            && let Some(first) = out.first_mut()
        {
            *first &= 0xFF >> (8 - bits % 8);
        }
        Ok(out)
    }
}

/// A digest of at most `MAX_DIGEST` bytes, kept inline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Digest {
    len: u8,
    bytes: [u8; MAX_DIGEST],
}

impl core::fmt::Debug for Digest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Digest(")?;
        self.as_slice().iter().try_for_each(|b| write!(f, "{b:02x}"))?;
        write!(f, ")")
    }
}

impl Digest {
    /// The empty digest (an empty TPM2B).
    pub const EMPTY: Digest = Digest { len: 0, bytes: [0; MAX_DIGEST] };

    /// A copy of at most `MAX_DIGEST` bytes of `s` (callers bound `s` first).
    pub fn from_slice(s: &[u8]) -> Digest {
        let n = s.len().min(MAX_DIGEST);
        let mut d = Digest::EMPTY;
        d.bytes[..n].copy_from_slice(&s[..n]);
        d.len = n as u8;
        d
    }

    /// All-zero of `n` bytes (a fresh PCR or policy digest).
    pub fn zeros(n: usize) -> Digest {
        Digest { len: n.min(MAX_DIGEST) as u8, bytes: [0; MAX_DIGEST] }
    }

    /// All-ones of `n` bytes (the DRTM PCRs after a TPM Reset).
    pub fn ones(n: usize) -> Digest {
        Digest { len: n.min(MAX_DIGEST) as u8, bytes: [0xFF; MAX_DIGEST] }
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.bytes[..usize::from(self.len)]
    }
}

/// An authValue with trailing zero octets removed (Part 1 §19.6.4.3: they are not significant).
pub fn strip_trailing_zeros(v: &[u8]) -> &[u8] {
    let end = v.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &v[..end]
}

/// Constant-time equality of two byte strings (the lengths are public).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn cfb<C>(key: &[u8], iv: &[u8], buf: &mut [u8], encrypt: bool) -> TpmResult<()>
where
    C: aes::cipher::BlockEncryptMut + aes::cipher::BlockCipher + aes::cipher::KeyInit,
{
    if encrypt {
        cfb_mode::Encryptor::<C>::new_from_slices(key, iv).map_err(|_| ResponseCode::FAILURE)?.encrypt(buf);
    } else {
        cfb_mode::Decryptor::<C>::new_from_slices(key, iv).map_err(|_| ResponseCode::FAILURE)?.decrypt(buf);
    }
    Ok(())
}

/// AES-CFB (full-block feedback, Part 1 §11.4.6.3) over `buf` in place; the key length picks
/// AES-128, -192 or -256.
pub fn aes_cfb(key: &[u8], iv: &[u8], buf: &mut [u8], encrypt: bool) -> TpmResult<()> {
    match key.len() {
        16 => cfb::<aes::Aes128>(key, iv, buf, encrypt),
        24 => cfb::<aes::Aes192>(key, iv, buf, encrypt),
        32 => cfb::<aes::Aes256>(key, iv, buf, encrypt),
        _ => Err(ResponseCode::FAILURE),
    }
}

#[cfg(test)]
mod tests {
    use super::{HashAlg, strip_trailing_zeros};

    #[test]
    fn kdfa_matches_its_definition() {
        // Recompute KDFa with the `hmac` crate directly: two blocks, counter 1 and 2.
        use hmac::{Hmac, Mac};
        let block = |i: u32| {
            let mut m = Hmac::<sha2::Sha256>::new_from_slice(b"key").unwrap();
            m.update(&i.to_be_bytes());
            m.update(b"ATH\0uv");
            m.update(&400u32.to_be_bytes());
            m.finalize().into_bytes()
        };
        let mut expect = block(1).to_vec();
        expect.extend_from_slice(&block(2));
        expect.truncate(50);
        assert_eq!(HashAlg::Sha256.kdfa(b"key", b"ATH", b"u", b"v", 400).unwrap().as_slice(), expect);
    }

    #[test]
    fn trailing_zeros_are_not_significant() {
        assert_eq!(strip_trailing_zeros(&[1, 0, 2, 0, 0]), &[1, 0, 2]);
        assert_eq!(strip_trailing_zeros(&[0, 0]), &[] as &[u8]);
    }
}
