//! A streaming HMAC (RFC 2104, FIPS 198-1) whose state can be saved in a context blob: the HMAC
//! sequence TPM2_HMAC_Start begins (Part 3 §17.2).
//!
//! HMAC(K, m) = H((K0 ^ opad) || H((K0 ^ ipad) || m)), where K0 is the key padded with zeros to the
//! hash's block size (or hashed first when longer). The inner hash runs as a `StreamHash` keyed with
//! K0 ^ ipad; K0 is kept, wiped on drop, for the outer hash at the end.

use zeroize::Zeroizing;

use crate::crypto::stream_hash::StreamHash;
use crate::crypto::{Digest, HashAlg, SecretBytes};
use crate::wire::marshal::{Reader, Writer};
use crate::wire::response_code::{ResponseCode, TpmResult};

const IPAD: u8 = 0x36;
const OPAD: u8 = 0x5C;

/// An HMAC in progress. Its Debug output shows only the algorithm.
#[derive(Clone)]
pub struct StreamHmac {
    inner: StreamHash,
    /// K0: the key padded to the block size.
    key_block: SecretBytes,
}

impl core::fmt::Debug for StreamHmac {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StreamHmac").field("alg", &self.inner.alg()).finish_non_exhaustive()
    }
}

fn xor_with(key_block: &[u8], pad: u8) -> SecretBytes {
    SecretBytes::new(key_block.iter().map(|b| b ^ pad).collect())
}

impl StreamHmac {
    pub fn new(alg: HashAlg, key: &[u8]) -> Self {
        let inner = StreamHash::new(alg);
        let block = inner.block_len();
        // Sized once at the block length, so padding never moves the key and leaves a copy behind.
        let mut key_block = SecretBytes::new(alloc::vec::Vec::with_capacity(block));
        if key.len() > block {
            key_block.extend_from_slice(alg.digest(&[key]).as_slice());
        } else {
            key_block.extend_from_slice(key);
        }
        key_block.resize(block, 0);
        Self::keyed(inner, key_block)
    }

    fn keyed(mut inner: StreamHash, key_block: SecretBytes) -> Self {
        inner.update(&xor_with(&key_block, IPAD));
        StreamHmac { inner, key_block }
    }

    pub fn alg(&self) -> HashAlg {
        self.inner.alg()
    }

    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
    }

    pub fn finish(self) -> Digest {
        let alg = self.inner.alg();
        let inner = self.inner.clone().finish();
        alg.digest(&[&xor_with(&self.key_block, OPAD), inner.as_slice()])
    }

    /// Serialises the state for a context blob (which is encrypted: the key block is secret).
    pub fn save(&self, w: &mut Writer) {
        w.tpm2b(&self.key_block);
        self.inner.save(w);
    }

    /// Reads back what `save` wrote, checking the key block fits the hash.
    pub fn load(r: &mut Reader<'_>) -> TpmResult<Self> {
        let key_block = Zeroizing::new(r.tpm2b(128)?.to_vec());
        let inner = StreamHash::load(r)?;
        if key_block.len() != inner.block_len() {
            return Err(ResponseCode::INTEGRITY);
        }
        Ok(StreamHmac { inner, key_block })
    }
}

#[cfg(test)]
mod tests {
    use super::StreamHmac;
    use crate::crypto::HashAlg;
    use crate::wire::marshal::{Reader, Writer};

    /// The streaming HMAC equals the one-shot HMAC (the `hmac` crate) for short, block-sized and long
    /// keys, fed in pieces, and across a save/load.
    #[test]
    fn matches_one_shot_hmac() {
        let msg: alloc::vec::Vec<u8> = (0..1000u32).map(|i| (i * 13 + 1) as u8).collect();
        for alg in crate::crypto::HASH_ALGS {
            for key_len in [0, 20, 64, 128, 200] {
                let key: alloc::vec::Vec<u8> = (0..key_len).map(|i| i as u8 ^ 0xA5).collect();
                let mut m = StreamHmac::new(alg, &key);
                m.update(&msg[..333]);
                let mut w = Writer::new();
                m.save(&mut w);
                let mut m = StreamHmac::load(&mut Reader::new(&w.buf)).unwrap();
                for piece in msg[333..].chunks(77) {
                    m.update(piece);
                }
                assert_eq!(m.finish(), alg.hmac(&key, &[&msg]).unwrap(), "{alg:?} key {key_len}");
            }
        }
        assert_eq!(StreamHmac::new(HashAlg::Sha1, b"k").alg(), HashAlg::Sha1);
    }
}
