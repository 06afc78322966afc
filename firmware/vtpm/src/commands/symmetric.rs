//! Symmetric primitives (Part 3 ch. 15): EncryptDecrypt, EncryptDecrypt2 (AES in CFB, CBC, ECB, CTR
//! or OFB with a SYMCIPHER object), Hash and HMAC.

use crate::Tpm;
use crate::crypto::block_modes::{BLOCK, BlockMode, aes_crypt};
use crate::crypto::{HashAlg, SecretBytes};
use crate::engine::command::Cmd;
use crate::object::attr;
use crate::object::signing::hmac_key_hash;
use crate::state::sequence::starts_generated;
use crate::state::tickets::{read_hierarchy, write_ticket};
use crate::wire::alg_id::AlgId;
use crate::wire::constants::MAX_BUFFER;
use crate::wire::marshal::Reader;
use crate::wire::response_code::{At, ResponseCode, TpmResult};

/// The common body of Part 3 §15.2 and §15.3; `p` numbers the parameters inData, decrypt, mode,
/// ivIn (they come in a different order in the two commands).
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
    // The key's mode, unless it has none (TPM_ALG_NULL): then the caller's, which must name one.
    let mode = match (k.public.sym.mode, mode) {
        (AlgId::NULL, AlgId::NULL) => return Err(ResponseCode::MODE.param(p[2])),
        (AlgId::NULL, asked) => asked,
        (key, asked) if asked == AlgId::NULL || asked == key => key,
        _ => return Err(ResponseCode::MODE.param(p[2])),
    };
    let mode = BlockMode::from_alg(mode).ok_or(ResponseCode::MODE.param(p[2]))?;
    if iv.len() != mode.iv_len() {
        return Err(ResponseCode::SIZE.param(p[3]));
    }
    if mode.whole_blocks_only() && !data.len().is_multiple_of(BLOCK) {
        return Err(ResponseCode::SIZE.param(p[0]));
    }
    // The output may be plaintext: wiped when dropped.
    let mut out = SecretBytes::new(data.to_vec());
    let iv_out = aes_crypt(mode, &k.sens.secret, iv, &mut out, !decrypt)?;
    c.out.tpm2b(&out);
    c.out.tpm2b(iv_out.as_slice());
    Ok(())
}

/// TPM2_EncryptDecrypt2: inData, decrypt, mode, ivIn.
pub(crate) fn encrypt_decrypt2(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let mut r: Reader<'_> = c.params.clone();
    let data = r.tpm2b(MAX_BUFFER).p(1)?;
    let decrypt = r.yes_no().p(2)?;
    let mode = r.alg().p(3)?;
    let iv = r.tpm2b(BLOCK).p(4)?;
    r.finish()?;
    run(tpm, c, data, decrypt, mode, iv, [1, 2, 3, 4])
}

/// TPM2_EncryptDecrypt (deprecated order): decrypt, mode, ivIn, inData.
pub(crate) fn encrypt_decrypt(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let mut r: Reader<'_> = c.params.clone();
    let decrypt = r.yes_no().p(1)?;
    let mode = r.alg().p(2)?;
    let iv = r.tpm2b(BLOCK).p(3)?;
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
