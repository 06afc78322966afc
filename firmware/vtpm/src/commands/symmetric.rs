//! Symmetric primitives (Part 3 ch. 15): EncryptDecrypt, EncryptDecrypt2 (AES with a SYMCIPHER
//! object), Hash and HMAC.

use aes::cipher::{BlockEncrypt, KeyInit};

use crate::Tpm;
use crate::crypto::{HashAlg, aes_cfb};
use crate::engine::command::Cmd;
use crate::object::attr;
use crate::object::signing::hmac_key_hash;
use crate::state::sequence::starts_generated;
use crate::state::tickets::{read_hierarchy, write_ticket};
use crate::wire::alg_id::AlgId;
use crate::wire::constants::MAX_BUFFER;
use crate::wire::marshal::Reader;
use crate::wire::response_code::{At, ResponseCode, TpmResult};

const BLOCK: usize = 16;

/// AES-ECB of one block (the CFB keystream for the next block).
fn encrypt_block(key: &[u8], block: &mut [u8; BLOCK]) -> TpmResult<()> {
    let mut b = aes::Block::from(*block);
    match key.len() {
        16 => aes::Aes128::new_from_slice(key).map_err(|_| ResponseCode::FAILURE)?.encrypt_block(&mut b),
        32 => aes::Aes256::new_from_slice(key).map_err(|_| ResponseCode::FAILURE)?.encrypt_block(&mut b),
        _ => return Err(ResponseCode::FAILURE),
    }
    block.copy_from_slice(&b);
    Ok(())
}

/// The chaining value after `cipher` (the ciphertext) under `key` from `iv`.
fn iv_out(key: &[u8], iv: &[u8; BLOCK], cipher: &[u8]) -> TpmResult<[u8; BLOCK]> {
    let full = cipher.len() / BLOCK;
    let rest = cipher.len() % BLOCK;
    let mut prev = *iv;
    if let Some(last) = full.checked_sub(1).and_then(|i| cipher.get(i * BLOCK..(i + 1) * BLOCK)) {
        prev.copy_from_slice(last);
    }
    if rest == 0 {
        return Ok(prev);
    }
    encrypt_block(key, &mut prev)?;
    let tail = cipher.get(full * BLOCK..).unwrap_or_default();
    prev.get_mut(..tail.len()).unwrap_or_default().copy_from_slice(tail);
    Ok(prev)
}

/// The common body; `p` numbers the parameters (they come in a different order in the two commands).
fn run(
    tpm: &mut Tpm,
    c: &mut Cmd<'_>,
    data: &[u8],
    decrypt: bool,
    mode: AlgId,
    iv: &[u8],
    p: [u32; 4],
) -> TpmResult<()> {
    let k = tpm.key(c.handles[0]).ok_or(ResponseCode::HANDLE.handle(1))?;
    if k.public.kind != AlgId::SYMCIPHER {
        return Err(ResponseCode::KEY.handle(1));
    }
    if k.public.has(attr::RESTRICTED) || !k.public.has(if decrypt { attr::DECRYPT } else { attr::SIGN }) {
        return Err(ResponseCode::ATTRIBUTES.handle(1));
    }
    if mode != AlgId::NULL && mode != k.public.sym.mode {
        return Err(ResponseCode::MODE.param(p[2]));
    }
    let iv: [u8; BLOCK] = iv.try_into().map_err(|_| ResponseCode::SIZE.param(p[3]))?;
    let mut out = data.to_vec();
    aes_cfb(&k.sens.secret, &iv, &mut out, !decrypt)?;
    let cipher = if decrypt { data } else { &out };
    let next = iv_out(&k.sens.secret, &iv, cipher)?;
    c.out.tpm2b(&out);
    c.out.tpm2b(&next);
    Ok(())
}

/// TPM2_EncryptDecrypt2: inData, decrypt, mode, ivIn.
pub(crate) fn encrypt_decrypt2(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let mut r: Reader<'_> = c.params.clone();
    let data = r.tpm2b(MAX_BUFFER).p(1)?;
    let decrypt = r.yes_no().p(2)?;
    let mode = r.alg().p(3)?;
    let iv = r.tpm2b(BLOCK * 4).p(4)?;
    r.finish()?;
    run(tpm, c, data, decrypt, mode, iv, [1, 2, 3, 4])
}

/// TPM2_EncryptDecrypt (deprecated order): decrypt, mode, ivIn, inData.
pub(crate) fn encrypt_decrypt(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let mut r: Reader<'_> = c.params.clone();
    let decrypt = r.yes_no().p(1)?;
    let mode = r.alg().p(2)?;
    let iv = r.tpm2b(BLOCK * 4).p(3)?;
    let data = r.tpm2b(MAX_BUFFER).p(4)?;
    r.finish()?;
    run(tpm, c, data, decrypt, mode, iv, [4, 1, 2, 3])
}

/// TPM2_Hash (Part 3 §15.4).
pub(crate) fn hash(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let data = c.params.tpm2b(MAX_BUFFER).p(1)?;
    let alg = HashAlg::from_id(c.params.alg().p(2)?).ok_or(ResponseCode::HASH.param(2))?;
    let hierarchy = read_hierarchy(tpm, &mut c.params, 3)?;
    c.params.finish()?;
    let d = alg.digest(&[data]);
    c.out.tpm2b(d.as_slice());
    write_ticket(tpm, &mut c.out, hierarchy, &d, !starts_generated(data))
}

/// TPM2_HMAC (Part 3 §15.5): an unrestricted keyed-hash signing key MACs the buffer.
pub(crate) fn hmac(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let buffer = c.params.tpm2b(MAX_BUFFER).p(1)?;
    let asked = c.params.alg().p(2)?;
    c.params.finish()?;
    let k = tpm.key(c.handles[0]).ok_or(ResponseCode::HANDLE.handle(1))?;
    let hash = hmac_key_hash(&k.public, asked)?;
    let mac = hash.hmac(&k.sens.secret, &[buffer])?;
    c.out.tpm2b(mac.as_slice());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{BLOCK, iv_out};
    use crate::crypto::aes_cfb;

    /// Processing a message in block-aligned pieces, each starting from the previous ivOut, gives
    /// the ciphertext of processing it at once; after a partial block, ivOut is that block's
    /// ciphertext followed by the rest of its keystream.
    #[test]
    fn iv_out_chains_pieces() {
        let key = [7u8; 16];
        let iv = [3u8; BLOCK];
        let msg: alloc::vec::Vec<u8> = (0..53u8).collect();
        let mut whole = msg.clone();
        aes_cfb(&key, &iv, &mut whole, true).unwrap();
        for split in [0, 16, 32, 48] {
            let (a, b) = msg.split_at(split);
            let mut first = a.to_vec();
            aes_cfb(&key, &iv, &mut first, true).unwrap();
            let next = iv_out(&key, &iv, &first).unwrap();
            let mut second = b.to_vec();
            aes_cfb(&key, &next, &mut second, true).unwrap();
            assert_eq!([first, second].concat(), whole, "split {split}");
        }
        // Five bytes: ivOut = their ciphertext || keystream bytes 5..16 (CFB of zeros is keystream).
        let mut five = msg[..5].to_vec();
        aes_cfb(&key, &iv, &mut five, true).unwrap();
        let mut keystream = [0u8; BLOCK];
        aes_cfb(&key, &iv, &mut keystream, true).unwrap();
        let next = iv_out(&key, &iv, &five).unwrap();
        assert_eq!(&next[..5], &five[..]);
        assert_eq!(&next[5..], &keystream[5..]);
    }
}
