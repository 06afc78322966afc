//! MakeCredential and ActivateCredential (Part 3 §12.5, §12.6; Part 1 §24): a credential
//! encrypted to an EK-like storage key, bound to the Name of the key it is for, released only by
//! a TPM that holds both.
//!
//! The blob is TPM2B_ID_OBJECT = TPM2B(integrityHMAC) || AES-CFB(TPM2B credential), with
//! seed = the secret shared with the storage key under "IDENTITY", symKey = KDFa(nameAlg, seed,
//! "STORAGE", objectName, "", symBits), hmacKey = KDFa(nameAlg, seed, "INTEGRITY", "", "", hash
//! bits) and integrityHMAC = HMAC(hmacKey, encIdentity || objectName).

use crate::Tpm;
use crate::crypto::seeded_rng::SeededRng;
use crate::crypto::{HashAlg, SecretBytes, aes_cfb, ct_eq};
use crate::engine::command::Cmd;
use crate::object::Public;
use crate::object::key_material::Material;
use crate::object::secret::{decrypt_secret, encrypt_secret};
use crate::state::key_store::KeyObject;
use crate::wire::constants::MAX_DIGEST;
use crate::wire::marshal::{Reader, Writer};
use crate::wire::response_code::{At, ResponseCode, TpmResult};

/// Largest TPM2B_NAME (a SHA-384 Name) and TPM2B_ENCRYPTED_SECRET accepted.
const MAX_NAME: usize = 2 + 48;

const MAX_SECRET: usize = 256;

/// Largest TPM2B_ID_OBJECT: HMAC plus an encrypted TPM2B_DIGEST.
const MAX_ID_OBJECT: usize = 2 + MAX_DIGEST + 2 + MAX_DIGEST;

fn keys_for(p: &Public, seed: &[u8], name: &[u8]) -> TpmResult<(SecretBytes, SecretBytes)> {
    let a = p.name_alg;
    let sym = a.kdfa(seed, b"STORAGE", name, &[], u32::from(p.sym.bits))?;
    let mac = a.kdfa(seed, b"INTEGRITY", &[], &[], a.size() as u32 * 8)?;
    Ok((sym, mac))
}

/// An EK-like key: restricted, decrypt, with a symmetric definition (public-only is fine here).
fn credential_key(k: &KeyObject) -> TpmResult<()> {
    if k.public.is_storage() { Ok(()) } else { Err(ResponseCode::TYPE.handle(1)) }
}

/// TPM2_MakeCredential: usable with a public key alone (LoadExternal of an EK's public area).
pub(crate) fn make_credential(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let credential = c.params.tpm2b(MAX_DIGEST).p(1)?;
    let name = c.params.tpm2b(MAX_NAME).p(2)?;
    c.params.finish()?;
    let mut seed = [0u8; 32];
    tpm.random(&mut seed);
    let mut rng = SeededRng::new(HashAlg::Sha256, &seed, b"CREDENTIAL", &[], &[])?;
    let k = tpm.key(c.handles[0]).ok_or(ResponseCode::HANDLE.handle(1))?;
    credential_key(k)?;
    let (seed, secret) = encrypt_secret(&k.public, "IDENTITY", &mut rng).h(1)?;
    let (sym, mac) = keys_for(&k.public, &seed, name)?;
    let mut enc = Writer::new();
    enc.tpm2b(credential);
    let mut enc = enc.buf;
    aes_cfb(&sym, &[0u8; 16], &mut enc, true)?;
    let hmac = k.public.name_alg.hmac(&mac, &[&enc, name])?;
    let mut blob = Writer::new();
    blob.tpm2b(hmac.as_slice());
    blob.bytes(&enc);
    c.out.tpm2b(&blob.buf);
    c.out.tpm2b(&secret);
    Ok(())
}

/// TPM2_ActivateCredential: handle 1 is the object the credential names (ADMIN role), handle 2
/// the storage key it was encrypted to (USER role).
pub(crate) fn activate_credential(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let blob = c.params.tpm2b(MAX_ID_OBJECT).p(1)?;
    let secret = c.params.tpm2b(MAX_SECRET).p(2)?;
    c.params.finish()?;
    let [object, key, _] = c.handles;
    let mut blinding = crate::object::signing::fresh_rng(tpm)?;
    let name = tpm.key(object).ok_or(ResponseCode::HANDLE.handle(1))?.name.clone();
    let k = tpm.key(key).ok_or(ResponseCode::HANDLE.handle(2))?;
    credential_key(k).map_err(|_| ResponseCode::TYPE.handle(2))?;
    if matches!(k.material, Material::PublicOnly) {
        return Err(ResponseCode::TYPE.handle(2));
    }
    // A secret that does not decrypt: TPM_RC_VALUE (ms-tpm-20-ref CryptSecretDecrypt).
    let seed = decrypt_secret(k, secret, "IDENTITY", &mut blinding)
        .map_err(|e| if e.is_fmt1() { e.param(2) } else { e })?;
    let (sym, mac) = keys_for(&k.public, &seed, &name)?;
    let mut r = Reader::new(blob);
    let integrity = r.tpm2b(MAX_DIGEST).map_err(|_| ResponseCode::INTEGRITY.param(1))?;
    let expect = k.public.name_alg.hmac(&mac, &[r.rest(), &name])?;
    if !ct_eq(expect.as_slice(), integrity) {
        return Err(ResponseCode::INTEGRITY.param(1));
    }
    let mut plain = SecretBytes::new(r.rest().to_vec());
    aes_cfb(&sym, &[0u8; 16], &mut plain, false)?;
    let mut p = Reader::new(&plain);
    let credential = p.tpm2b(MAX_DIGEST).map_err(|_| ResponseCode::SIZE.param(1))?;
    p.finish().map_err(|_| ResponseCode::SIZE.param(1))?;
    c.out.tpm2b(credential);
    Ok(())
}
