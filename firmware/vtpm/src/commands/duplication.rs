//! TPM2_Import (Part 3 §13.3, Part 1 §23.3): an object duplicated elsewhere (in practice, a key
//! made in software by `tpm2_import`) becomes a child of a storage parent.
//!
//! The duplicate may carry an outer wrapper (seed shared with the parent under "DUPLICATE": AES-CFB
//! and HMAC keys from KDFa "STORAGE" and "INTEGRITY", as for a child's private blob) and an inner
//! wrapper (AES-CFB under the caller's encryptionKey over TPM2B(H_nameAlg(sensitive || name)) ||
//! TPM2B_SENSITIVE). The result is re-wrapped as an ordinary child of the parent.

use crate::crypto::{SecretBytes, aes_cfb, ct_eq};
use crate::engine::command::Cmd;
use crate::object::creation::{storage_parent, wrap};
use crate::object::secret::decrypt_secret;
use crate::object::{Public, Sensitive, attr};
use crate::state::key_store::KeyObject;
use crate::wire::alg_id::AlgId;
use crate::wire::constants::MAX_DIGEST;
use crate::wire::marshal::Reader;
use crate::wire::response_code::{At, ResponseCode, TpmResult};
use crate::{Tpm, object::key_material as keys};

/// Largest duplicate accepted: an outer HMAC, an inner integrity and an RSA sensitive area.
const MAX_DUPLICATE: usize = 640;

const MAX_SEED: usize = 256;

/// TPM2_Import.
pub(crate) fn import(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let encryption_key = c.params.tpm2b(32).p(1)?;
    let public = Public::parse_2b(&mut c.params).p(2)?;
    let duplicate = c.params.tpm2b(MAX_DUPLICATE).p(3)?;
    let seed = c.params.tpm2b(MAX_SEED).p(4)?;
    let sym_alg = c.params.alg().p(5)?;
    let inner_bits = match sym_alg {
        AlgId::NULL => 0,
        AlgId::AES => {
            let bits = c.params.u16().p(5)?;
            if bits != 128 && bits != 256 {
                return Err(ResponseCode::KEY_SIZE.param(5));
            }
            if c.params.alg().p(5)? != AlgId::CFB {
                return Err(ResponseCode::MODE.param(5));
            }
            bits
        }
        _ => return Err(ResponseCode::SYMMETRIC.param(5)),
    };
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
