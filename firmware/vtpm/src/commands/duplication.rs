//! Duplication (Part 3 ch. 13, Part 1 §23.3): TPM2_Duplicate wraps a loaded object for a new parent,
//! possibly in another TPM; TPM2_Import makes such a duplicate (or a key made in software by
//! `tpm2_import`) a child of a storage parent here.
//!
//! A duplicate may carry an outer wrapper (seed shared with the parent under "DUPLICATE": AES-CFB
//! and HMAC keys from KDFa "STORAGE" and "INTEGRITY", as for a child's private blob) and an inner
//! wrapper (AES-CFB under the caller's encryptionKey over TPM2B(H_nameAlg(sensitive || name)) ||
//! TPM2B_SENSITIVE). The result is re-wrapped as an ordinary child of the parent.

use crate::crypto::{SecretBytes, aes_cfb, ct_eq};
use crate::engine::command::Cmd;
use crate::object::creation::{storage_parent, wrap};
use crate::object::secret::{decrypt_secret, encrypt_secret};
use crate::object::{Public, Sensitive, attr};
use crate::state::key_store::KeyObject;
use crate::wire::alg_id::AlgId;
use crate::wire::constants::MAX_DIGEST;
use crate::wire::handle::Handle;
use crate::wire::marshal::{Reader, Writer};
use crate::wire::response_code::{At, ResponseCode, TpmResult};
use crate::{Tpm, object::key_material as keys};

/// Largest duplicate accepted: an outer HMAC, an inner integrity and an RSA sensitive area.
const MAX_DUPLICATE: usize = 640;

const MAX_SEED: usize = 256;

/// The inner wrapper's key size in bits from a TPMT_SYM_DEF_OBJECT+ (parameter `n`): 0 for
/// TPM_ALG_NULL, else AES-128/256 in CFB mode, the only inner wrapper Part 1 §23.3.2.3 needs.
fn read_inner_sym(r: &mut Reader<'_>, n: u32) -> TpmResult<u16> {
    match r.alg().p(n)? {
        AlgId::NULL => Ok(0),
        AlgId::AES => {
            let bits = r.u16().p(n)?;
            if bits != 128 && bits != 256 {
                return Err(ResponseCode::KEY_SIZE.param(n));
            }
            if r.alg().p(n)? != AlgId::CFB {
                return Err(ResponseCode::MODE.param(n));
            }
            Ok(bits)
        }
        _ => Err(ResponseCode::SYMMETRIC.param(n)),
    }
}

/// TPM2_Duplicate (Part 3 §13.1). Handle 1 is the object, authorized in the DUP role (a policy
/// session: the engine only accepts one for this command); handle 2 the new parent or TPM_RH_NULL.
/// Response: encryptionKeyOut (the inner key the TPM chose, or empty), duplicate (TPM2B_PRIVATE),
/// outSymSeed (the outer seed encrypted to the new parent, or empty). Check order as ms-tpm-20-ref.
pub(crate) fn duplicate(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let key_in = c.params.tpm2b(32).p(1)?;
    let inner_bits = read_inner_sym(&mut c.params, 2)?;
    c.params.finish()?;
    let [object, new_parent, _] = c.handles;
    let k = tpm.key(object).ok_or(ResponseCode::HANDLE.handle(1))?;
    if k.public.has(attr::FIXED_PARENT) {
        return Err(ResponseCode::ATTRIBUTES.handle(1));
    }
    if new_parent != Handle::RH_NULL {
        let p = tpm.key(new_parent).ok_or(ResponseCode::HANDLE.handle(2))?;
        if !p.public.is_storage() {
            return Err(ResponseCode::TYPE.handle(2));
        }
    }
    if k.public.has(attr::ENCRYPTED_DUPLICATION) {
        if inner_bits == 0 {
            return Err(ResponseCode::SYMMETRIC.param(2));
        }
        if new_parent == Handle::RH_NULL {
            return Err(ResponseCode::HIERARCHY.handle(2));
        }
    }
    let key_len = usize::from(inner_bits / 8);
    if (inner_bits == 0 && !key_in.is_empty()) || (!key_in.is_empty() && key_in.len() != key_len) {
        return Err(ResponseCode::SIZE.param(1));
    }
    let mut rng = crate::object::signing::fresh_rng(tpm)?;
    // The caller's inner key, or a fresh one the response returns.
    let mut inner_key = SecretBytes::new(key_in.to_vec());
    if inner_bits != 0 && key_in.is_empty() {
        inner_key = SecretBytes::new(alloc::vec![0u8; key_len]);
        tpm.random(&mut inner_key);
    }
    let k = tpm.key(object).ok_or(ResponseCode::HANDLE.handle(1))?;
    let name = k.name.clone();
    let mut sensitive = Writer::secret();
    sensitive.tpm2b(&k.sens.marshal());
    let mut data = sensitive.into_secret();
    // Inner wrapper: TPM2B(H_nameAlg(TPM2B_SENSITIVE || Name)) || TPM2B_SENSITIVE, AES-CFB, zero IV.
    if inner_bits != 0 {
        let integrity = k.public.name_alg.digest(&[&data, &name]);
        let mut w = Writer::secret();
        w.tpm2b(integrity.as_slice());
        w.bytes(&data);
        data = w.into_secret();
        aes_cfb(&inner_key, &[0u8; 16], &mut data, true)?;
    }
    // Outer wrapper: a seed shared with the new parent under "DUPLICATE", then the protection of an
    // ordinary child (KDFa "STORAGE" / "INTEGRITY" with the new parent's nameAlg and symmetric key).
    let mut seed_out = alloc::vec::Vec::new();
    if new_parent != Handle::RH_NULL {
        let p = tpm.key(new_parent).ok_or(ResponseCode::HANDLE.handle(2))?;
        let (seed, encrypted) = encrypt_secret(&p.public, "DUPLICATE", &mut rng).h(2)?;
        let a = p.public.name_alg;
        let sym = a.kdfa(&seed, b"STORAGE", &name, &[], u32::from(p.public.sym.bits))?;
        let mac = a.kdfa(&seed, b"INTEGRITY", &[], &[], a.size() as u32 * 8)?;
        aes_cfb(&sym, &[0u8; 16], &mut data, true)?;
        let hmac = a.hmac(&mac, &[&data, &name])?;
        let mut w = Writer::secret();
        w.tpm2b(hmac.as_slice());
        w.bytes(&data);
        data = w.into_secret();
        seed_out = encrypted;
    }
    c.out.tpm2b(if key_in.is_empty() { &inner_key } else { &[] });
    c.out.tpm2b(&data);
    c.out.tpm2b(&seed_out);
    Ok(())
}

/// TPM2_Import.
pub(crate) fn import(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let encryption_key = c.params.tpm2b(32).p(1)?;
    let public = Public::parse_2b(&mut c.params).p(2)?;
    let duplicate = c.params.tpm2b(MAX_DUPLICATE).p(3)?;
    let seed = c.params.tpm2b(MAX_SEED).p(4)?;
    let inner_bits = read_inner_sym(&mut c.params, 5)?;
    c.params.finish()?;
    public.validate(false).p(2)?;
    // An imported object was not made here: it can be neither fixedTPM nor fixedParent.
    if public.attrs & (attr::FIXED_TPM | attr::FIXED_PARENT) != 0 {
        return Err(ResponseCode::ATTRIBUTES.param(2));
    }
    if public.has(attr::ENCRYPTED_DUPLICATION) && (inner_bits == 0 || seed.is_empty()) {
        return Err(ResponseCode::ATTRIBUTES.param(2));
    }
    if usize::from(inner_bits / 8) != encryption_key.len() && !(inner_bits == 0 && encryption_key.is_empty())
    {
        return Err(ResponseCode::SIZE.param(1));
    }
    let mut blinding = crate::object::signing::fresh_rng(tpm)?;
    let parent = storage_parent(tpm, c.handles[0])?.clone();
    let name = public.name();

    // Outer wrapper, if a seed was shared with the parent.
    // Decrypted below: the object's sensitive area in the clear, wiped when dropped.
    let mut data = SecretBytes::new(duplicate.to_vec());
    if !seed.is_empty() {
        let shared = decrypt_secret(&parent, seed, "DUPLICATE", &mut blinding)
            .map_err(|e| if e.is_fmt1() { e.param(4) } else { e })?;
        let a = parent.public.name_alg;
        let sym = a.kdfa(&shared, b"STORAGE", &name, &[], u32::from(parent.public.sym.bits))?;
        let mac = a.kdfa(&shared, b"INTEGRITY", &[], &[], a.size() as u32 * 8)?;
        let mut r = Reader::new(duplicate);
        let integrity = r.tpm2b(MAX_DIGEST).map_err(|_| ResponseCode::INTEGRITY.param(3))?;
        let expect = a.hmac(&mac, &[r.rest(), &name])?;
        if !ct_eq(expect.as_slice(), integrity) {
            return Err(ResponseCode::INTEGRITY.param(3));
        }
        data = SecretBytes::new(r.rest().to_vec());
        aes_cfb(&sym, &[0u8; 16], &mut data, false)?;
    }
    // Inner wrapper, if the caller had a symmetric key.
    let sensitive_2b: SecretBytes = if inner_bits == 0 {
        data
    } else {
        aes_cfb(encryption_key, &[0u8; 16], &mut data, false)?;
        let mut r = Reader::new(&data);
        let integrity = r.tpm2b(MAX_DIGEST).map_err(|_| ResponseCode::INTEGRITY.param(3))?;
        let expect = public.name_alg.digest(&[r.rest(), &name]);
        if !ct_eq(expect.as_slice(), integrity) {
            return Err(ResponseCode::INTEGRITY.param(3));
        }
        SecretBytes::new(r.rest().to_vec())
    };
    let mut r = Reader::new(&sensitive_2b);
    let mut inner = Reader::new(r.tpm2b(MAX_DUPLICATE).map_err(|_| ResponseCode::SENSITIVE)?);
    r.finish().map_err(|_| ResponseCode::SENSITIVE)?;
    let sens = Sensitive::parse(&mut inner).map_err(|_| ResponseCode::SENSITIVE)?;
    inner.finish().map_err(|_| ResponseCode::SENSITIVE)?;
    if sens.kind == AlgId::ERROR || sens.auth.len() > public.name_alg.size() {
        return Err(ResponseCode::SENSITIVE);
    }
    let material = keys::restore(&public, &sens).p(2)?;
    let k = KeyObject::new(public, sens, material, &parent.qualified, parent.hierarchy);
    c.out.tpm2b(&wrap(&parent, &k)?);
    Ok(())
}
