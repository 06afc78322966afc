//! AES in the block-cipher modes TPM2_EncryptDecrypt offers (TPM 2.0 Part 2 Table 9: CFB, CBC, ECB,
//! CTR, OFB), each with the chaining value Part 3 §15.2 returns as ivOut so that a long message can
//! be processed in pieces. The RustCrypto mode crates do the cipher work; this file picks the mode
//! and computes ivOut the way the TCG reference implementation (CryptSymmetricEncrypt) leaves its
//! IV buffer.

use aes::cipher::typenum::U16;
use aes::cipher::{
    BlockCipher, BlockDecrypt, BlockDecryptMut, BlockEncrypt, BlockEncryptMut, BlockSizeUser, KeyInit,
    KeyIvInit, StreamCipher,
};

use crate::wire::alg_id::AlgId;
use crate::wire::response_code::{ResponseCode, TpmResult};

/// The AES block size, in bytes.
pub const BLOCK: usize = 16;

/// A symmetric mode of operation (TPMI_ALG_SYM_MODE, Part 2 Table 65).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockMode {
    Cfb,
    Cbc,
    Ecb,
    Ctr,
    Ofb,
}

impl BlockMode {
    /// The mode a TPM_ALG_ID names, if this engine implements it.
    pub fn from_alg(id: AlgId) -> Option<BlockMode> {
        match id {
            AlgId::CFB => Some(BlockMode::Cfb),
            AlgId::CBC => Some(BlockMode::Cbc),
            AlgId::ECB => Some(BlockMode::Ecb),
            AlgId::CTR => Some(BlockMode::Ctr),
            AlgId::OFB => Some(BlockMode::Ofb),
            _ => None,
        }
    }

    /// ECB and CBC work on whole blocks only (Part 3 §15.2: TPM_RC_SIZE otherwise).
    pub fn whole_blocks_only(self) -> bool {
        matches!(self, BlockMode::Ecb | BlockMode::Cbc)
    }

    /// ECB takes no IV (an empty ivIn); every other mode takes one block.
    pub fn iv_len(self) -> usize {
        if self == BlockMode::Ecb { 0 } else { BLOCK }
    }
}

/// Encrypts or decrypts `buf` in place with AES (128, 192 or 256 by the key's length) in `mode`
/// from `iv`; returns ivOut. The caller has checked the IV length and, for ECB/CBC, that `buf` is
/// whole blocks.
pub fn aes_crypt(mode: BlockMode, key: &[u8], iv: &[u8], buf: &mut [u8], encrypt: bool) -> TpmResult<Vec16> {
    match key.len() {
        16 => crypt::<aes::Aes128>(mode, key, iv, buf, encrypt),
        24 => crypt::<aes::Aes192>(mode, key, iv, buf, encrypt),
        32 => crypt::<aes::Aes256>(mode, key, iv, buf, encrypt),
        _ => Err(ResponseCode::FAILURE),
    }
}

/// An ivOut: empty for ECB, one block otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vec16 {
    bytes: [u8; BLOCK],
    len: usize,
}

impl Vec16 {
    pub fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }

    fn block(bytes: [u8; BLOCK]) -> Self {
        Vec16 { bytes, len: BLOCK }
    }
}

fn crypt<C>(mode: BlockMode, key: &[u8], iv: &[u8], buf: &mut [u8], encrypt: bool) -> TpmResult<Vec16>
where
    C: BlockCipher + BlockEncrypt + BlockDecrypt + KeyInit + BlockSizeUser<BlockSize = U16> + Clone,
{
    let bad = |_| ResponseCode::FAILURE;
    if mode == BlockMode::Ecb {
        if !buf.len().is_multiple_of(BLOCK) {
            return Err(ResponseCode::SIZE);
        }
        if encrypt {
            let mut enc = ecb::Encryptor::<C>::new_from_slice(key).map_err(bad)?;
            for chunk in buf.chunks_exact_mut(BLOCK) {
                in_place(chunk, |b| enc.encrypt_block_mut(b));
            }
        } else {
            let mut dec = ecb::Decryptor::<C>::new_from_slice(key).map_err(bad)?;
            for chunk in buf.chunks_exact_mut(BLOCK) {
                in_place(chunk, |b| dec.decrypt_block_mut(b));
            }
        }
        return Ok(Vec16 { bytes: [0; BLOCK], len: 0 });
    }
    let iv: [u8; BLOCK] = iv.try_into().map_err(|_| ResponseCode::SIZE)?;
    let cipher = C::new_from_slice(key).map_err(bad)?;
    let blocks = buf.len().div_ceil(BLOCK);
    match mode {
        BlockMode::Cbc => {
            if !buf.len().is_multiple_of(BLOCK) {
                return Err(ResponseCode::SIZE);
            }
            // ivOut is the last ciphertext block: of the output when encrypting, the input when not.
            let mut last = iv;
            if !encrypt && let Some(tail) = buf.rchunks_exact(BLOCK).next() {
                last.copy_from_slice(tail);
            }
            if encrypt {
                let mut enc = cbc::Encryptor::<C>::new_from_slices(key, &iv).map_err(bad)?;
                for chunk in buf.chunks_exact_mut(BLOCK) {
                    in_place(chunk, |b| enc.encrypt_block_mut(b));
                }
                if let Some(tail) = buf.rchunks_exact(BLOCK).next() {
                    last.copy_from_slice(tail);
                }
            } else {
                let mut dec = cbc::Decryptor::<C>::new_from_slices(key, &iv).map_err(bad)?;
                for chunk in buf.chunks_exact_mut(BLOCK) {
                    in_place(chunk, |b| dec.decrypt_block_mut(b));
                }
            }
            Ok(Vec16::block(last))
        }
        BlockMode::Cfb => {
            let cipher_text = if encrypt { None } else { Some(buf.to_vec()) };
            crate::crypto::aes_cfb(key, &iv, buf, encrypt)?;
            let ct = cipher_text.as_deref().unwrap_or(buf);
            Ok(Vec16::block(cfb_iv_out(&cipher, &iv, ct)))
        }
        BlockMode::Ctr => {
            ctr::Ctr128BE::<C>::new_from_slices(key, &iv).map_err(bad)?.apply_keystream(buf);
            // The counter advanced once per block, the last partial one included.
            let next = u128::from_be_bytes(iv).wrapping_add(blocks as u128);
            Ok(Vec16::block(next.to_be_bytes()))
        }
        BlockMode::Ofb => {
            ofb::Ofb::<C>::new_from_slices(key, &iv).map_err(bad)?.apply_keystream(buf);
            // ivOut is the last keystream block: E applied `blocks` times to the IV.
            let mut state = aes::Block::from(iv);
            for _ in 0..blocks {
                cipher.encrypt_block(&mut state);
            }
            Ok(Vec16::block(state.into()))
        }
        BlockMode::Ecb => Err(ResponseCode::FAILURE),
    }
}

/// Runs `f` over one 16-byte chunk through the cipher crates' block type.
fn in_place(chunk: &mut [u8], f: impl FnOnce(&mut aes::Block)) {
    let mut b = aes::Block::default();
    b.copy_from_slice(chunk);
    f(&mut b);
    chunk.copy_from_slice(&b);
}

/// CFB's chaining value after `cipher_text`: its last full block; after a partial block, that
/// block's ciphertext followed by the rest of its keystream.
fn cfb_iv_out<C: BlockEncrypt + BlockSizeUser<BlockSize = U16>>(
    cipher: &C,
    iv: &[u8; BLOCK],
    cipher_text: &[u8],
) -> [u8; BLOCK] {
    let full = cipher_text.len() / BLOCK;
    let mut prev = *iv;
    if let Some(last) = full.checked_sub(1).and_then(|i| cipher_text.get(i * BLOCK..(i + 1) * BLOCK)) {
        prev.copy_from_slice(last);
    }
    let tail = cipher_text.get(full * BLOCK..).unwrap_or_default();
    if tail.is_empty() {
        return prev;
    }
    let mut keystream = aes::Block::from(prev);
    cipher.encrypt_block(&mut keystream);
    let mut out: [u8; BLOCK] = keystream.into();
    out.get_mut(..tail.len()).unwrap_or_default().copy_from_slice(tail);
    out
}

#[cfg(test)]
mod tests {
    use super::{BLOCK, BlockMode, aes_crypt};

    fn hex(s: &str) -> alloc::vec::Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// NIST SP 800-38A appendix F, AES-128, first block of each mode (F.1.1, F.2.1, F.3.13, F.4.1,
    /// F.5.1).
    #[test]
    fn sp800_38a_first_blocks() {
        let key = hex("2b7e151628aed2a6abf7158809cf4f3c");
        let iv = hex("000102030405060708090a0b0c0d0e0f");
        let ctr = hex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
        let plain = hex("6bc1bee22e409f96e93d7e117393172a");
        for (mode, iv, expect) in [
            (BlockMode::Ecb, &[][..], "3ad77bb40d7a3660a89ecaf32466ef97"),
            (BlockMode::Cbc, &iv[..], "7649abac8119b246cee98e9b12e9197d"),
            (BlockMode::Cfb, &iv[..], "3b3fd92eb72dad20333449f8e83cfb4a"),
            (BlockMode::Ofb, &iv[..], "3b3fd92eb72dad20333449f8e83cfb4a"),
            (BlockMode::Ctr, &ctr[..], "874d6191b620e3261bef6864990db6ce"),
        ] {
            let mut buf = plain.clone();
            aes_crypt(mode, &key, iv, &mut buf, true).unwrap();
            assert_eq!(buf, hex(expect), "{mode:?}");
            aes_crypt(mode, &key, iv, &mut buf, false).unwrap();
            assert_eq!(buf, plain, "{mode:?} decrypt");
        }
    }

    /// Processing a message in pieces, each from the previous piece's ivOut, gives what processing it
    /// at once gives, both ways (the chaining Part 3 §15.2 promises).
    #[test]
    fn iv_out_chains_pieces() {
        let key = [7u8; 32];
        let iv = [3u8; BLOCK];
        let msg: alloc::vec::Vec<u8> = (0..64u8).collect();
        for mode in [BlockMode::Cfb, BlockMode::Cbc, BlockMode::Ecb, BlockMode::Ctr, BlockMode::Ofb] {
            let iv = &iv[..mode.iv_len()];
            for encrypt in [true, false] {
                let mut whole = msg.clone();
                aes_crypt(mode, &key, iv, &mut whole, encrypt).unwrap();
                for split in [0, 16, 32, 48] {
                    let (a, b) = msg.split_at(split);
                    let mut first = a.to_vec();
                    let next = aes_crypt(mode, &key, iv, &mut first, encrypt).unwrap();
                    let mut second = b.to_vec();
                    aes_crypt(mode, &key, next.as_slice(), &mut second, encrypt).unwrap();
                    assert_eq!([first, second].concat(), whole, "{mode:?} {encrypt} split {split}");
                }
            }
        }
    }

    /// A partial last block: CTR and OFB keep going from ivOut as if the block had been whole; CFB's
    /// ivOut is the partial ciphertext followed by the rest of that block's keystream.
    #[test]
    fn partial_blocks() {
        let key = [9u8; 16];
        let iv = [1u8; BLOCK];
        let msg: alloc::vec::Vec<u8> = (0..37u8).collect();
        for mode in [BlockMode::Ctr, BlockMode::Ofb] {
            let mut whole = [msg.clone(), alloc::vec![0; 11]].concat();
            aes_crypt(mode, &key, &iv, &mut whole, true).unwrap();
            let mut first = msg[..21].to_vec();
            let next = aes_crypt(mode, &key, &iv, &mut first, true).unwrap();
            let mut second = msg[21..].to_vec();
            second.extend_from_slice(&[0; 11]);
            let mut rest = second[11..].to_vec();
            aes_crypt(mode, &key, next.as_slice(), &mut rest, true).unwrap();
            assert_eq!(&first[..], &whole[..21], "{mode:?}");
            assert_eq!(&rest[..], &whole[32..], "{mode:?} resumes at the next block");
        }
        let mut five = msg[..5].to_vec();
        let next = aes_crypt(BlockMode::Cfb, &key, &iv, &mut five, true).unwrap();
        let mut keystream = [0u8; BLOCK];
        aes_crypt(BlockMode::Cfb, &key, &iv, &mut keystream, true).unwrap();
        assert_eq!(&next.as_slice()[..5], &five[..]);
        assert_eq!(&next.as_slice()[5..], &keystream[5..]);
        // ECB and CBC refuse partial blocks.
        let mut odd = [0u8; 17];
        assert!(aes_crypt(BlockMode::Cbc, &key, &iv, &mut odd, true).is_err());
        assert!(aes_crypt(BlockMode::Ecb, &key, &[], &mut odd, true).is_err());
    }
}
