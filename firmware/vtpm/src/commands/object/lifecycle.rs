//! Objects beyond create and load (Part 3 §12.3, §12.7-§12.9): LoadExternal, Unseal,
//! ObjectChangeAuth and CreateLoaded.

use alloc::vec::Vec;

use zeroize::Zeroize;

use crate::engine::command::Cmd;
use crate::object::creation::{derive_primary, new_child, read_sensitive_create, storage_parent, wrap};
use crate::object::curve;
use crate::object::{Public, Sensitive, attr};
use crate::state::key_store::KeyObject;
use crate::wire::alg_id::AlgId;
use crate::wire::constants::MAX_DIGEST;
use crate::wire::handle::{self, Handle};
use crate::wire::marshal::Reader;
use crate::wire::response_code::{At, ResponseCode, TpmResult};
use crate::{Tpm, object::key_material as keys};

/// TPM2_CreateLoaded (Part 3 §12.9): a primary when the parent is a hierarchy, else an ordinary
/// object under a storage parent, loaded at once. Derivation parents are not implemented (TYPE).
pub(crate) fn create_loaded(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let (auth, data) = read_sensitive_create(&mut c.params).p(1)?;
    let template = Public::parse_2b(&mut c.params).p(2)?;
    c.params.finish()?;
    let h = c.handles[0];
    let primary = h.ty() == handle::HT_PERMANENT;
    template.validate(primary).p(2)?;
    if auth.len() > template.name_alg.size() {
        return Err(ResponseCode::SIZE.param(1));
    }
    let (k, private) = if primary {
        if !matches!(h, Handle::RH_OWNER | Handle::RH_ENDORSEMENT | Handle::RH_PLATFORM | Handle::RH_NULL) {
            return Err(ResponseCode::VALUE.handle(1));
        }
        if !tpm.hier.enabled(h) {
            return Err(ResponseCode::HIERARCHY.handle(1));
        }
        (derive_primary(tpm, h, &template, auth, data)?, Vec::new())
    } else {
        let parent = storage_parent(tpm, h)?.clone();
        let k = new_child(tpm, &parent, &template, auth, data)?;
        let private = wrap(&parent, &k)?;
        (k, private)
    };
    c.out.tpm2b(&private);
    c.out.tpm2b(&k.public.marshal());
    c.out.tpm2b(&k.name);
    c.rhandle = tpm.objects.insert_key(k)?;
    Ok(())
}

/// TPM2_ObjectChangeAuth (Part 3 §12.6): a new private blob with `newAuth`; the loaded object keeps
/// its old authValue. `parentHandle` must be the object's parent (TPM_RC_TYPE otherwise).
pub(crate) fn object_change_auth(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let new_auth = c.params.tpm2b(MAX_DIGEST).p(1)?;
    c.params.finish()?;
    let [object, parent, _] = c.handles;
    let k = tpm.key(object).ok_or(ResponseCode::HANDLE.handle(1))?;
    let p = storage_parent(tpm, parent)
        .map_err(|e| if e == ResponseCode::TYPE.handle(1) { ResponseCode::TYPE.handle(2) } else { e })?;
    let mut qn = k.public.name_alg.id().to_be_bytes().to_vec();
    qn.extend_from_slice(k.public.name_alg.digest(&[&p.qualified, &k.name]).as_slice());
    if qn != k.qualified {
        return Err(ResponseCode::TYPE.handle(2));
    }
    if crate::crypto::strip_trailing_zeros(new_auth).len() > k.public.name_alg.size() {
        return Err(ResponseCode::SIZE.param(1));
    }
    let mut changed = k.clone();
    changed.sens.auth.zeroize();
    changed.sens.auth = new_auth.to_vec();
    c.out.tpm2b(&wrap(p, &changed)?);
    Ok(())
}

/// TPM2_Unseal (Part 3 §12.7): the data of a sealed-data object (KEYEDHASH, neither sign nor decrypt).
pub(crate) fn unseal(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    let k = tpm.key(c.handles[0]).ok_or(ResponseCode::HANDLE.handle(1))?;
    if k.public.kind != AlgId::KEYEDHASH {
        return Err(ResponseCode::TYPE.handle(1));
    }
    if k.public.attrs & (attr::SIGN | attr::DECRYPT) != 0 {
        return Err(ResponseCode::ATTRIBUTES.handle(1));
    }
    c.out.tpm2b(&k.sens.secret);
    Ok(())
}

/// TPM2_LoadExternal (Part 3 §12.3): a public key alone (any hierarchy), or a key with its
/// TPMT_SENSITIVE, which only the NULL hierarchy takes and which may not claim fixedTPM or
/// fixedParent (the TPM did not make it).
pub(crate) fn load_external(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let private = c.params.tpm2b(MAX_EXTERNAL_SENSITIVE).p(1)?;
    let public = Public::parse_2b(&mut c.params).p(2)?;
    let hierarchy = c.params.handle().p(3)?;
    c.params.finish()?;
    match hierarchy {
        Handle::RH_NULL => {}
        Handle::RH_OWNER | Handle::RH_ENDORSEMENT | Handle::RH_PLATFORM if tpm.hier.enabled(hierarchy) => {}
        Handle::RH_OWNER | Handle::RH_ENDORSEMENT | Handle::RH_PLATFORM => {
            return Err(ResponseCode::HIERARCHY.param(3));
        }
        _ => return Err(ResponseCode::VALUE.param(3)),
    }
    public.validate(false).p(2)?;
    let sens = if private.is_empty() {
        Sensitive::default()
    } else {
        if hierarchy != Handle::RH_NULL {
            return Err(ResponseCode::HIERARCHY.param(3));
        }
        // A caller who knows the private part must not get a key that looks TPM-made, nor a
        // restricted one (its signatures or children would pass for the TPM's).
        if public.attrs & (attr::FIXED_TPM | attr::FIXED_PARENT | attr::RESTRICTED) != 0 {
            return Err(ResponseCode::ATTRIBUTES.param(2));
        }
        let mut r = Reader::new(private);
        let s = Sensitive::parse(&mut r).p(1)?;
        r.finish().p(1)?;
        if s.kind == AlgId::ERROR || s.auth.len() > public.name_alg.size() {
            return Err(ResponseCode::VALUE.param(1));
        }
        s
    };
    if private.is_empty() {
        check_public_key(&public).p(2)?;
    }
    let material = keys::restore(&public, &sens).p(1)?;
    let k = KeyObject::new(public, sens, material, &hierarchy.to_be_bytes(), hierarchy);
    c.out.tpm2b(&k.name);
    c.rhandle = tpm.objects.insert_key(k)?;
    Ok(())
}

/// Largest TPM2B_SENSITIVE accepted by LoadExternal (an RSA-2048 prime plus auth and seed).
const MAX_EXTERNAL_SENSITIVE: usize = 2 + 2 + MAX_DIGEST + 2 + MAX_DIGEST + 2 + 256;

/// A public-only key must be usable: an ECC point on its curve, an RSA modulus of exactly keyBits.
fn check_public_key(p: &Public) -> TpmResult<()> {
    match p.kind {
        AlgId::ECC => {
            let sec1 = [&[4u8][..], &p.unique, &p.unique_y].concat();
            let ok = match p.curve {
                curve::NIST_P256 => p256::PublicKey::from_sec1_bytes(&sec1).is_ok(),
                _ => p384::PublicKey::from_sec1_bytes(&sec1).is_ok(),
            };
            if ok { Ok(()) } else { Err(ResponseCode::ECC_POINT) }
        }
        AlgId::RSA
            if p.unique.len() != usize::from(p.rsa_bits / 8)
                || p.unique.first().is_none_or(|b| b & 0x80 == 0) =>
        {
            Err(ResponseCode::KEY_SIZE)
        }
        _ => Ok(()),
    }
}
