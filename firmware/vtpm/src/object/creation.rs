//! Making objects: creation inputs and data, primaries derived from a hierarchy seed, children drawn
//! from the DRBG, and the wrapping of a child's private area under its storage parent (Part 1 §23.3,
//! §27.7; Part 3 §12.1).

use alloc::vec::Vec;

use crate::Tpm;
use crate::crypto::seeded_rng::SeededRng;
use crate::crypto::{HashAlg, SecretBytes, aes_cfb, ct_eq};
use crate::object::key_material::{self as keys};
use crate::object::{Public, Sensitive, attr};
use crate::state::key_store::KeyObject;
use crate::state::pcr::{Selection, read_selection, write_selection};
use crate::state::primary_cache::PrimaryCache;
use crate::state::tickets::ticket_proof;
use crate::wire::alg_id::AlgId;
use crate::wire::constants::MAX_DIGEST;
use crate::wire::handle::Handle;
use crate::wire::marshal::{Reader, Writer};
use crate::wire::response_code::{At, ResponseCode, TpmResult};

/// TPM_ST_CREATION (Part 2 Table 19).
pub(crate) const ST_CREATION: u16 = 0x8021;

/// Largest TPM2B_PRIVATE accepted.
pub(crate) const MAX_PRIVATE: usize = 512;

/// TPM2B_DATA (outsideInfo, qualifyingData): sizeof(TPMT_HA) with SHA-512 is the usual bound.
pub const MAX_DATA: usize = 66;

/// TPM2B_SENSITIVE_CREATE: (userAuth, data).
pub(crate) fn read_sensitive_create<'a>(r: &mut Reader<'a>) -> TpmResult<(&'a [u8], &'a [u8])> {
    let body = r.tpm2b(4 + MAX_DIGEST + crate::object::MAX_SYM_DATA)?;
    let mut b = Reader::new(body);
    let auth = b.tpm2b(MAX_DIGEST)?;
    let data = b.tpm2b(crate::object::MAX_SYM_DATA)?;
    b.finish()?;
    Ok((auth, data))
}

/// The parameters CreatePrimary and Create share.
pub(crate) struct CreateIn<'a> {
    pub(crate) auth: &'a [u8],
    pub(crate) data: &'a [u8],
    pub(crate) public: Public,
    pub(crate) outside: &'a [u8],
    pub(crate) pcrs: ([Selection; crate::state::pcr::BANKS], usize),
}

pub(crate) fn read_create_in<'a>(r: &mut Reader<'a>, primary: bool) -> TpmResult<CreateIn<'a>> {
    let (auth, data) = read_sensitive_create(r).p(1)?;
    let public = Public::parse_2b(r).p(2)?;
    let outside = r.tpm2b(MAX_DATA).p(3)?;
    let pcrs = read_selection(r).p(4)?;
    r.finish()?;
    public.validate(primary).p(2)?;
    if auth.len() > public.name_alg.size() {
        return Err(ResponseCode::SIZE.param(1));
    }
    Ok(CreateIn { auth, data, public, outside, pcrs })
}

fn label(kind: AlgId) -> &'static [u8] {
    match kind {
        AlgId::ECC => b"ECC",
        AlgId::RSA => b"RSA",
        AlgId::KEYEDHASH => b"KEYEDHASH",
        _ => b"SYMCIPHER",
    }
}

/// Writes outPublic, creationData, creationHash and creationTicket (Part 3 §12.1 / §24.1).
pub(crate) fn write_creation(
    tpm: &Tpm,
    w: &mut Writer,
    k: &KeyObject,
    input: &CreateIn<'_>,
    parent: (AlgId, &[u8], &[u8]),
    locality: u8,
) -> TpmResult<()> {
    w.tpm2b(&k.public.marshal());
    let sel = input.pcrs.0.get(..input.pcrs.1).unwrap_or_default();
    let mut values = Vec::new();
    for (bank, bits) in sel {
        for i in (0..crate::state::pcr::PCR_COUNT)
            .filter(|i| bits.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0))
        {
            if let Some(d) = tpm.pcrs.get(i, *bank) {
                values.extend_from_slice(d.as_slice());
            }
        }
    }
    let mut cd = Writer::new();
    write_selection(&mut cd, sel);
    let pcr_digest = k.public.name_alg.digest(&[&values]);
    cd.tpm2b(if sel.is_empty() { &[] } else { pcr_digest.as_slice() });
    cd.u8(1u8.checked_shl(u32::from(locality)).unwrap_or(0));
    cd.alg(parent.0);
    cd.tpm2b(parent.1);
    cd.tpm2b(parent.2);
    cd.tpm2b(input.outside);
    w.tpm2b(&cd.buf);
    let creation_hash = k.public.name_alg.digest(&[&cd.buf]);
    w.tpm2b(creation_hash.as_slice());
    w.u16(ST_CREATION);
    w.handle(k.hierarchy);
    let proof = ticket_proof(tpm, k.hierarchy)?;
    let t = HashAlg::Sha256.hmac(&proof, &[&ST_CREATION.to_be_bytes(), &k.name, creation_hash.as_slice()])?;
    w.tpm2b(t.as_slice());
    Ok(())
}

/// A primary object of hierarchy `h` from its template, drawn from the hierarchy seed's stream.
pub(crate) fn derive_primary(
    tpm: &Tpm,
    h: Handle,
    template: &Public,
    auth: &[u8],
    data: &[u8],
) -> TpmResult<KeyObject> {
    let seed = *tpm.keys.seed(h).ok_or(ResponseCode::FAILURE)?;
    let alg = template.name_alg;
    let digest = alg.digest(&[&template.marshal()]);
    // RSA primaries are remembered: the prime search dominates CreatePrimary (`primary_cache.rs`).
    let cache_key = (template.kind == AlgId::RSA)
        .then(|| PrimaryCache::key(&seed, label(template.kind), digest.as_slice(), data));
    if let Some((public, mut sens, material)) = cache_key.and_then(|key| tpm.keys.primaries().get(&key)) {
        sens.auth = auth.to_vec();
        return Ok(KeyObject::new(public, sens, material, &h.to_be_bytes(), h));
    }
    let mut rng = SeededRng::new(alg, &seed, label(template.kind), digest.as_slice(), data)?;
    let mut public = template.clone();
    let mut sens = Sensitive::default();
    sens.auth = auth.to_vec();
    let material = keys::generate(&mut public, &mut sens, data, &mut rng).p(2)?;
    if let Some(key) = cache_key {
        tpm.keys.primaries().put(key, h, &public, &sens, &material);
    }
    Ok(KeyObject::new(public, sens, material, &h.to_be_bytes(), h))
}

/// An ordinary (non-primary) object under `parent`, from fresh DRBG output.
pub(crate) fn new_child(
    tpm: &mut Tpm,
    parent: &KeyObject,
    template: &Public,
    auth: &[u8],
    data: &[u8],
) -> TpmResult<KeyObject> {
    check_against_parent(parent, template).p(2)?;
    let mut seed = [0u8; 32];
    tpm.random(&mut seed);
    let mut rng = SeededRng::new(HashAlg::Sha256, &seed, label(template.kind), &[], &[])?;
    let mut public = template.clone();
    let mut sens = Sensitive::default();
    sens.auth = auth.to_vec();
    let material = keys::generate(&mut public, &mut sens, data, &mut rng).p(2)?;
    Ok(KeyObject::new(public, sens, material, &parent.qualified, parent.hierarchy))
}

/// The storage parent at `h` (handle 1), or TPM_RC_TYPE.
pub(crate) fn storage_parent(tpm: &Tpm, h: Handle) -> TpmResult<&KeyObject> {
    let p = tpm.key(h).ok_or(ResponseCode::HANDLE.handle(1))?;
    // A public key loaded alone has no seed to protect children with.
    if !p.public.is_storage() || matches!(p.material, crate::object::key_material::Material::PublicOnly) {
        return Err(ResponseCode::TYPE.handle(1));
    }
    Ok(p)
}

/// The (AES key, HMAC key) protecting children of `parent` named `name` (Part 1 §23.3).
fn protection_keys(parent: &KeyObject, name: &[u8]) -> TpmResult<(SecretBytes, SecretBytes)> {
    let a = parent.public.name_alg;
    let sym = a.kdfa(&parent.sens.seed, b"STORAGE", name, &[], u32::from(parent.public.sym.bits))?;
    let mac = a.kdfa(&parent.sens.seed, b"INTEGRITY", &[], &[], a.size() as u32 * 8)?;
    Ok((sym, mac))
}

/// TPM2B_PRIVATE content for `k` under `parent`.
pub(crate) fn wrap(parent: &KeyObject, k: &KeyObject) -> TpmResult<Vec<u8>> {
    let (sym, mac) = protection_keys(parent, &k.name)?;
    let mut enc = Writer::new();
    enc.tpm2b(&k.sens.marshal());
    let mut enc = enc.buf;
    aes_cfb(&sym, &[0u8; 16], &mut enc, true)?;
    let integrity = parent.public.name_alg.hmac(&mac, &[&enc, &k.name])?;
    let mut w = Writer::new();
    w.tpm2b(integrity.as_slice());
    w.bytes(&enc);
    Ok(w.buf)
}

/// Checks and decrypts a TPM2B_PRIVATE content made by `wrap`.
pub(crate) fn unwrap(parent: &KeyObject, name: &[u8], private: &[u8]) -> TpmResult<Sensitive> {
    let mut r = Reader::new(private);
    let integrity = r.tpm2b(MAX_DIGEST).map_err(|_| ResponseCode::INTEGRITY)?;
    let (sym, mac) = protection_keys(parent, name)?;
    let expect = parent.public.name_alg.hmac(&mac, &[r.rest(), name])?;
    if !ct_eq(expect.as_slice(), integrity) {
        return Err(ResponseCode::INTEGRITY);
    }
    let mut plain = SecretBytes::new(r.rest().to_vec());
    aes_cfb(&sym, &[0u8; 16], &mut plain, false)?;
    let mut p = Reader::new(&plain);
    let mut inner = Reader::new(p.tpm2b(MAX_PRIVATE).map_err(|_| ResponseCode::SENSITIVE)?);
    p.finish().map_err(|_| ResponseCode::SENSITIVE)?;
    let s = Sensitive::parse(&mut inner).map_err(|_| ResponseCode::SENSITIVE)?;
    inner.finish().map_err(|_| ResponseCode::SENSITIVE)?;
    Ok(s)
}

/// A child may be fixedTPM only under a fixedTPM parent (Part 1 §27.2.3).
pub(crate) fn check_against_parent(parent: &KeyObject, child: &Public) -> TpmResult<()> {
    if child.has(attr::FIXED_TPM) && !parent.public.has(attr::FIXED_TPM) {
        return Err(ResponseCode::ATTRIBUTES);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{unwrap, wrap};
    use crate::crypto::HashAlg;
    use crate::crypto::seeded_rng::SeededRng;
    use crate::object::key_material::{self as keys};
    use crate::object::{Public, Sensitive};
    use crate::state::key_store::KeyObject;
    use crate::wire::marshal::Reader;

    fn make(template: &[u8], seed: &[u8]) -> KeyObject {
        let mut p = Public::parse(&mut Reader::new(template)).unwrap();
        let mut s = Sensitive::default();
        let mut rng = SeededRng::new(HashAlg::Sha256, seed, b"ECC", &[], &[]).unwrap();
        let m = keys::generate(&mut p, &mut s, &[], &mut rng).unwrap();
        KeyObject::new(p, s, m, &[], crate::wire::handle::Handle::RH_OWNER)
    }

    const STORAGE: [u8; 26] = [
        0x00, 0x23, 0x00, 0x0B, 0x00, 0x03, 0x04, 0x72, 0x00, 0x00, 0x00, 0x06, 0x00, 0x80, 0x00, 0x43, 0x00,
        0x10, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00,
    ];
    /// ECC P-256 signing key, ECDSA-SHA256, fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|sign.
    const SIGNER: [u8; 24] = [
        0x00, 0x23, 0x00, 0x0B, 0x00, 0x04, 0x00, 0x72, 0x00, 0x00, 0x00, 0x10, 0x00, 0x18, 0x00, 0x0B, 0x00,
        0x03, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn private_blobs_round_trip_and_detect_tampering() {
        let parent = make(&STORAGE, b"parent seed");
        let child = make(&SIGNER, b"child seed");
        let blob = wrap(&parent, &child).unwrap();
        assert_eq!(unwrap(&parent, &child.name, &blob).unwrap(), child.sens);
        // Another parent, another name, or one flipped bit: TPM_RC_INTEGRITY.
        let other = make(&STORAGE, b"other seed");
        assert!(unwrap(&other, &child.name, &blob).is_err());
        assert!(unwrap(&parent, &parent.name, &blob).is_err());
        let mut bad = blob.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(
            unwrap(&parent, &child.name, &bad),
            Err(crate::wire::response_code::ResponseCode::INTEGRITY)
        );
    }
}
