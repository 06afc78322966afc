//! The sealed envelope the host stores: a header naming the format, the image and the generation, then
//! the state encrypted and authenticated with AES-256-GCM (NIST SP 800-38D) under a key only this image
//! on this machine derives (the firmware's choice: MSG_KEY_REQ on SEV-SNP, a fixed INSECURE key on
//! native). The whole header is the GCM additional data, so neither the image nor the generation can be
//! changed without failing the tag. Warden's own format: no public table describes it.

use alloc::vec::Vec;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce, Tag};
use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};
use zeroize::Zeroizing;

/// `magic` of a sealed vTPM state.
pub const MAGIC: [u8; 8] = *b"WRDNVTPM";
/// The envelope version this code writes and reads.
pub const SEAL_VERSION: u32 = 1;
/// Bytes of the GCM tag after the ciphertext.
pub const TAG_LEN: usize = 16;

/// The identity of the running image the state belongs to: the launch measurement on SEV-SNP, a
/// digest of the loaded code and constants on native.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ImageId(pub [u8; 48]);

impl ImageId {
    /// The SHA-384 of `parts` (on native: the loaded image's code and constants).
    pub fn of(parts: &[&[u8]]) -> ImageId {
        let mut id = [0u8; 48];
        id.copy_from_slice(crate::crypto::HashAlg::Sha384.digest(parts).as_slice());
        ImageId(id)
    }
}

impl core::fmt::Debug for ImageId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for b in self.0.get(..8).unwrap_or(&[]) {
            write!(f, "{b:02x}")?;
        }
        f.write_str("...")
    }
}

/// The AES-256 key the state is sealed with. Wiped on drop; never printed.
pub struct SealingKey(Zeroizing<[u8; 32]>);

impl SealingKey {
    /// A key from 32 secret bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }
}

/// HKDF salt of [`SealingKey::from_platform_key`]: the one the endorsement seed uses (it names Warden's
/// vTPM); the info below tells the two keys apart.
const PLATFORM_SALT: &[u8] = b"Warden vTPM v1";
/// HKDF info prefix of [`SealingKey::from_platform_key`]: not the endorsement seed's, so one platform key
/// yields two unrelated secrets, and knowing the sealing key tells nothing of the EK.
const PLATFORM_INFO_PREFIX: &[u8] = b"vTPM state sealing key/";

/// The label of [`SealingKey::insecure_native`].
const INSECURE_NATIVE_LABEL: &[u8] = b"Warden INSECURE native vTPM state key";

impl SealingKey {
    /// The key derived from `platform_key`, a secret only this launch can obtain from its platform (on
    /// SEV-SNP a MSG_KEY_REQ key bound to the measurement, policy, VMPL0, the chip and its TCB), with
    /// HKDF-SHA-384 (RFC 5869); `platform` names the platform and the key request, as for the
    /// endorsement seed, whose derivation from the same key uses another info string.
    pub fn from_platform_key(platform_key: &[u8; 32], platform: &[u8]) -> Self {
        let hkdf = hkdf::Hkdf::<sha2::Sha384>::new(Some(PLATFORM_SALT), platform_key);
        let mut key = Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA-384's limit of 255 * 48, so expansion cannot fail.
        let expanded = hkdf.expand_multi_info(&[PLATFORM_INFO_PREFIX, platform], &mut key[..]);
        debug_assert!(expanded.is_ok(), "HKDF output length within bounds");
        Self(key)
    }

    /// INSECURE: the key of native boots, where no hardware secret exists. Anyone can compute it from
    /// the image: it detects corruption and another image's state, it hides nothing from the host.
    pub fn insecure_native(image: &ImageId) -> Self {
        let mut key = [0u8; 32];
        key.copy_from_slice(
            crate::crypto::HashAlg::Sha256.digest(&[INSECURE_NATIVE_LABEL, &image.0]).as_slice(),
        );
        Self::new(key)
    }
}

impl core::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SealingKey(..)")
    }
}

/// The header in front of the ciphertext (little-endian; 88 bytes), all of it GCM additional data.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct SealedHeader {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// [`SEAL_VERSION`].
    pub version: U32,
    /// Bytes of ciphertext after the header (the tag follows them).
    pub body_len: U32,
    /// Counts the saves of this state, starting at 1: a state older than one already seen is refused.
    pub generation: U64,
    /// The [`ImageId`] of the image that sealed it.
    pub image: [u8; 48],
    /// The GCM nonce, random for every seal.
    pub nonce: [u8; 12],
    /// Zero.
    pub reserved: [u8; 4],
}

/// Bytes of [`SealedHeader`].
pub const HEADER_LEN: usize = 88;
const _: () = assert!(size_of::<SealedHeader>() == HEADER_LEN);
const _: () = assert!(core::mem::offset_of!(SealedHeader, generation) == 16);
const _: () = assert!(core::mem::offset_of!(SealedHeader, nonce) == 72);

/// Why a stored blob was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealError {
    /// Shorter than its header says, or not a sealed state at all (wrong magic).
    Malformed,
    /// An envelope version this code does not read.
    Version(u32),
    /// Sealed by another image (another measurement).
    OtherImage,
    /// The tag does not verify: the bytes were changed, or sealed under another key.
    Tag,
}

/// Seals `body` as generation `generation` of `image`'s state.
pub fn seal(key: &SealingKey, image: &ImageId, generation: u64, nonce: [u8; 12], body: &[u8]) -> Vec<u8> {
    let header = SealedHeader {
        magic: MAGIC,
        version: SEAL_VERSION.into(),
        body_len: (body.len() as u32).into(),
        generation: generation.into(),
        image: image.0,
        nonce,
        reserved: [0; 4],
    };
    let mut blob = Vec::with_capacity(HEADER_LEN + body.len() + TAG_LEN);
    blob.extend_from_slice(header.as_bytes());
    blob.extend_from_slice(body);
    let cipher = Aes256Gcm::new((&*key.0).into());
    let (aad, text) = blob.split_at_mut(HEADER_LEN);
    // Encryption fails only for inputs beyond GCM's 64 GiB limit, which a state never approaches.
    let tag = cipher.encrypt_in_place_detached(&Nonce::from(nonce), aad, text).unwrap_or_default();
    blob.extend_from_slice(&tag);
    blob
}

/// The header of a stored blob, checked for magic and version only (the tag is not verified yet).
pub fn header(blob: &[u8]) -> Result<SealedHeader, SealError> {
    let (header, _) = SealedHeader::read_from_prefix(blob).map_err(|_| SealError::Malformed)?;
    if header.magic != MAGIC {
        return Err(SealError::Malformed);
    }
    if header.version.get() != SEAL_VERSION {
        return Err(SealError::Version(header.version.get()));
    }
    Ok(header)
}

/// Total bytes of the blob `header` describes.
pub fn blob_len(header: &SealedHeader) -> usize {
    HEADER_LEN + header.body_len.get() as usize + TAG_LEN
}

/// Opens a blob sealed for `image` under `key`: its generation and plaintext body.
pub fn open(key: &SealingKey, image: &ImageId, blob: &[u8]) -> Result<(u64, Zeroizing<Vec<u8>>), SealError> {
    let header = header(blob)?;
    if header.image != image.0 {
        return Err(SealError::OtherImage);
    }
    let len = header.body_len.get() as usize;
    let (aad, rest) = blob.split_at(HEADER_LEN.min(blob.len()));
    let (Some(text), Some(tag)) = (rest.get(..len), rest.get(len..)) else {
        return Err(SealError::Malformed);
    };
    let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| SealError::Malformed)?;
    let mut body = Zeroizing::new(text.to_vec());
    let cipher = Aes256Gcm::new((&*key.0).into());
    cipher
        .decrypt_in_place_detached(&Nonce::from(header.nonce), aad, &mut body, &Tag::from(tag))
        .map_err(|_| SealError::Tag)?;
    Ok((header.generation.get(), body))
}

#[cfg(test)]
mod tests {
    use super::SealingKey;
    use crate::EndorsementSeed;

    #[test]
    fn the_platform_sealing_key_is_not_the_endorsement_seed_and_follows_the_platform_key() {
        let label = b"sev-snp/msg_key_req/vcek/vmpl0/policy+measurement+tcb_version";
        let key = SealingKey::from_platform_key(&[7; 32], label);
        assert_eq!(*key.0, *SealingKey::from_platform_key(&[7; 32], label).0, "deterministic");
        assert_ne!(
            *key.0,
            *EndorsementSeed::from_platform_key(&[7; 32], label).bytes(),
            "another info string"
        );
        assert_ne!(*key.0, *SealingKey::from_platform_key(&[8; 32], label).0, "another platform key");
        assert_ne!(*key.0, *SealingKey::from_platform_key(&[7; 32], b"tdx").0, "another platform");
        assert_ne!(*key.0, [0; 32]);
    }
}
