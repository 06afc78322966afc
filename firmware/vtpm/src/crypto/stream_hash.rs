//! A streaming SHA-1/256/384 whose state can be written into a context blob and read back.
//!
//! `sha1` and `sha2` 0.10's hashers cannot export their state, but the crates expose their compression
//! functions, so the chaining value, the pending block and the length are kept here (FIPS 180-4 §5.1,
//! §6.1, §6.2, §6.5). In an HMAC sequence the state is keyed, so it is wiped on drop and kept out of
//! debug output.

use zeroize::Zeroize;

use crate::crypto::{Digest, HashAlg};
use crate::wire::marshal::{Reader, Writer};
use crate::wire::response_code::TpmResult;

const SHA1_IV: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];

const SHA256_IV: [u32; 8] =
    [0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19];

const SHA384_IV: [u64; 8] = [
    0xcbbb_9d5d_c105_9ed8,
    0x629a_292a_367c_d507,
    0x9159_015a_3070_dd17,
    0x152f_ecd8_f70e_5939,
    0x6733_2667_ffc0_0b31,
    0x8eb4_4a87_6858_1511,
    0xdb0c_2e0d_64f9_8fa7,
    0x47b5_481d_befa_4fa4,
];

/// A hash in progress.
#[derive(Clone)]
pub struct StreamHash {
    alg: HashAlg,
    /// The chaining value; SHA-1 and SHA-256 use the low 32 bits of the first five or eight words.
    state: [u64; 8],
    block: [u8; 128],
    pending: usize,
    total: u64,
}

impl core::fmt::Debug for StreamHash {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StreamHash").field("alg", &self.alg).finish_non_exhaustive()
    }
}

impl Drop for StreamHash {
    fn drop(&mut self) {
        self.state.zeroize();
        self.block.zeroize();
    }
}

impl StreamHash {
    pub fn new(alg: HashAlg) -> Self {
        let state = match alg {
            HashAlg::Sha1 => {
                let mut s = [0u64; 8];
                s.iter_mut().zip(SHA1_IV).for_each(|(w, iv)| *w = u64::from(iv));
                s
            }
            HashAlg::Sha256 => SHA256_IV.map(u64::from),
            HashAlg::Sha384 => SHA384_IV,
        };
        StreamHash { alg, state, block: [0; 128], pending: 0, total: 0 }
    }

    pub fn alg(&self) -> HashAlg {
        self.alg
    }

    pub fn block_len(&self) -> usize {
        match self.alg {
            HashAlg::Sha1 | HashAlg::Sha256 => 64,
            HashAlg::Sha384 => 128,
        }
    }

    fn compress(&mut self) {
        match self.alg {
            HashAlg::Sha1 => {
                let mut s = [0u32; 5];
                s.iter_mut().zip(self.state).for_each(|(w, v)| *w = v as u32);
                let mut b = [0u8; 64];
                b.copy_from_slice(&self.block[..64]);
                sha1::compress(&mut s, &[b.into()]);
                b.zeroize();
                self.state.iter_mut().zip(s).for_each(|(w, v)| *w = u64::from(v));
                s.zeroize();
            }
            HashAlg::Sha256 => {
                let mut s = self.state.map(|w| w as u32);
                let mut b = [0u8; 64];
                b.copy_from_slice(&self.block[..64]);
                sha2::compress256(&mut s, &[b.into()]);
                self.state = s.map(u64::from);
            }
            HashAlg::Sha384 => {
                sha2::compress512(&mut self.state, &[self.block.into()]);
            }
        }
    }

    pub fn update(&mut self, mut data: &[u8]) {
        self.total = self.total.wrapping_add(data.len() as u64);
        let bl = self.block_len();
        while !data.is_empty() {
            let take = (bl - self.pending).min(data.len());
            let (head, tail) = data.split_at(take);
            self.block[self.pending..self.pending + take].copy_from_slice(head);
            self.pending += take;
            data = tail;
            if self.pending == bl {
                self.compress();
                self.pending = 0;
            }
        }
    }

    pub fn finish(mut self) -> Digest {
        let bl = self.block_len();
        let len_field = if bl == 64 { 8 } else { 16 };
        let bits = self.total.wrapping_mul(8);
        self.block[self.pending] = 0x80;
        self.block[self.pending + 1..].fill(0);
        if self.pending + 1 > bl - len_field {
            self.compress();
            self.block.fill(0);
        }
        self.block[bl - 8..bl].copy_from_slice(&bits.to_be_bytes());
        self.compress();
        let mut out = [0u8; 48];
        match self.alg {
            HashAlg::Sha1 | HashAlg::Sha256 => {
                for (chunk, w) in out.chunks_exact_mut(4).zip(self.state) {
                    chunk.copy_from_slice(&(w as u32).to_be_bytes());
                }
            }
            HashAlg::Sha384 => {
                for (chunk, w) in out.chunks_exact_mut(8).zip(self.state) {
                    chunk.copy_from_slice(&w.to_be_bytes());
                }
            }
        }
        Digest::from_slice(&out[..self.alg.size()])
    }

    /// Serialises the state for a context blob.
    pub fn save(&self, w: &mut Writer) {
        w.alg(self.alg.id());
        self.state.iter().for_each(|&s| w.u64(s));
        w.bytes(&self.block);
        w.u8(self.pending as u8);
        w.u64(self.total);
    }

    /// Reads back what `save` wrote. The blob was integrity-checked, but it is parsed defensively anyway.
    pub fn load(r: &mut Reader<'_>) -> TpmResult<Self> {
        let alg = HashAlg::from_id(r.alg()?).ok_or(crate::wire::response_code::ResponseCode::INTEGRITY)?;
        let mut s = StreamHash::new(alg);
        for w in s.state.iter_mut() {
            *w = r.u64()?;
        }
        s.block.copy_from_slice(r.bytes(128)?);
        s.pending = usize::from(r.u8()?);
        s.total = r.u64()?;
        if s.pending >= s.block_len() {
            return Err(crate::wire::response_code::ResponseCode::INTEGRITY);
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::StreamHash;
    use crate::crypto::HashAlg;
    use crate::wire::marshal::{Reader, Writer};
    use sha2::Digest as _;

    fn data(n: usize) -> alloc::vec::Vec<u8> {
        (0..n).map(|i| (i * 7 + 3) as u8).collect()
    }

    #[test]
    fn matches_sha2_at_every_padding_boundary() {
        for n in (0..300).chain([1000, 1024, 4097]) {
            let d = data(n);
            for (alg, expect) in [
                (HashAlg::Sha1, sha1::Sha1::digest(&d).to_vec()),
                (HashAlg::Sha256, sha2::Sha256::digest(&d).to_vec()),
                (HashAlg::Sha384, sha2::Sha384::digest(&d).to_vec()),
            ] {
                let mut s = StreamHash::new(alg);
                // Feed in uneven pieces to exercise the block buffer.
                for piece in d.chunks(37) {
                    s.update(piece);
                }
                assert_eq!(s.finish().as_slice(), &expect[..], "{alg:?} len {n}");
            }
        }
    }

    #[test]
    fn survives_save_and_load() {
        let d = data(777);
        let mut s = StreamHash::new(HashAlg::Sha384);
        s.update(&d[..300]);
        let mut w = Writer::new();
        s.save(&mut w);
        let mut t = StreamHash::load(&mut Reader::new(&w.buf)).unwrap();
        t.update(&d[300..]);
        assert_eq!(t.finish().as_slice(), &sha2::Sha384::digest(&d)[..]);
    }
}
