//! Session parameter encryption (Part 1 §21): AES-CFB over the data of the first TPM2B parameter of
//! a command (decrypt) or a response (encrypt), keyed from the session key, the authorized entity's
//! authValue and the two nonces.

use crate::Tpm;
use crate::crypto::{HashAlg, SecretBytes, aes_cfb, secret_concat, strip_trailing_zeros};
use crate::engine::authorization::{Authorized, Used};
use crate::wire::response_code::{ResponseCode, TpmResult};

/// sessionKey || authValue for parameter encryption: the authValue of the authorized entity is
/// included whenever the session authorizes one, bound or not (ms-tpm-20-ref ParseSessionBuffer).
pub(crate) fn crypt_key(tpm: &Tpm, used: &Used, after: bool) -> SecretBytes {
    let session_key = tpm.sessions.get(used.handle).map(|s| s.key.as_slice()).unwrap_or_default();
    let now = used.entity.and_then(|e| tpm.entity_auth(e)).filter(|_| after);
    let auth = match used.entity {
        Some(_) => strip_trailing_zeros(now.as_deref().unwrap_or(&used.auth_before)),
        None => &[],
    };
    secret_concat(session_key, auth)
}

/// AES-CFB over the data of the TPM2B at the start of `params`, keyed as Part 1 §21.3 says:
/// KDFa(sessionAlg, key, "CFB", nonceNewer, nonceOlder, keyBits + 128) = AES key || IV.
fn cfb_first_tpm2b(
    alg: HashAlg,
    bits: u16,
    key: &[u8],
    nonces: (&[u8], &[u8]),
    params: &mut [u8],
    encrypt: bool,
) -> TpmResult<()> {
    let size = match params.get(..2) {
        Some(&[a, b]) => usize::from(u16::from_be_bytes([a, b])),
        _ => return Err(ResponseCode::SIZE.param(1)),
    };
    let data = params.get_mut(2..2 + size).ok_or(ResponseCode::SIZE.param(1))?;
    let m = alg.kdfa(key, b"CFB", nonces.0, nonces.1, u32::from(bits) + 128)?;
    let (k, iv) = m.split_at(usize::from(bits / 8).min(m.len()));
    aes_cfb(k, iv, data, encrypt)
}

/// Decrypts the first command parameter if a session asked for it (after cpHash was computed over
/// the ciphertext).
pub(crate) fn decrypt_params(tpm: &Tpm, a: &Authorized, params: &mut [u8]) -> TpmResult<()> {
    let Some(used) = a.decrypt.and_then(|j| a.used.get(j)).and_then(Option::as_ref) else { return Ok(()) };
    let sess = tpm.sessions.get(used.handle).ok_or(ResponseCode::FAILURE)?;
    let key = crypt_key(tpm, used, false);
    let nonces = (used.nonce_caller.as_slice(), sess.nonce_tpm.as_slice());
    cfb_first_tpm2b(sess.alg, sess.aes_bits, &key, nonces, params, false)
}

/// Encrypts the first response parameter if a session asked for it, with the new nonceTPM (the
/// rpHash is computed afterwards, over the ciphertext).
pub(crate) fn encrypt_response(tpm: &Tpm, a: &Authorized, rp: &mut [u8]) -> TpmResult<()> {
    let Some(used) = a.encrypt.and_then(|j| a.used.get(j)).and_then(Option::as_ref) else { return Ok(()) };
    let s = tpm.sessions.get(used.handle).ok_or(ResponseCode::FAILURE)?;
    let key = crypt_key(tpm, used, true);
    let nonces = (s.nonce_tpm.as_slice(), used.nonce_caller.as_slice());
    cfb_first_tpm2b(s.alg, s.aes_bits, &key, nonces, rp, true)
}
