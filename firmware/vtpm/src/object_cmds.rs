//! Object commands: CreatePrimary, Create, Load and ReadPublic (Part 3 §12, §24.1); the others are
//! in `object_life`.
//!
//! Primaries are derived, not stored: the stream their key is drawn from is keyed by
//! `KDFa(nameAlg, hierarchy seed, "ECC"|"RSA"|"KEYEDHASH"|"SYMCIPHER", H(template), sensitive.data)`
//! (Part 1 §27.7 style), so the same template gives the same key until the seed changes. A child's
//! private area travels as `TPM2B(HMAC) || AES-CFB(TPM2B_SENSITIVE)` under keys KDFa derives from
//! the parent's seedValue (Part 1 §23.3): "STORAGE" for the AES key, "INTEGRITY" for the HMAC key.

use alloc::vec::Vec;

use crate::Tpm;
use crate::consts::{MAX_DIGEST, handle};
use crate::crypto::{HashAlg, aes_cfb, ct_eq};
use crate::dispatch::Cmd;
use crate::key_store::KeyObject;
use crate::keys::{self, SeededRng};
use crate::marshal::{Reader, Writer};
use crate::object::{Public, Sensitive, attr, ids};
use crate::pcr::{Selection, read_selection, write_selection};
use crate::primary_cache::PrimaryCache;
use crate::rc::{At, Rc, TpmResult};

/// TPM_ST_CREATION (Part 2 Table 19).
pub(crate) const ST_CREATION: u16 = 0x8021;
/// Largest TPM2B_PRIVATE accepted.
const MAX_PRIVATE: usize = 512;
/// TPM2B_DATA (outsideInfo, qualifyingData): sizeof(TPMT_HA) with SHA-512 is the usual bound.
pub const MAX_DATA: usize = 66;

/// The secret tickets are made with: the hierarchy proof, or for the null hierarchy a value derived
/// from the null seed (it changes with it).
pub(crate) fn ticket_proof(tpm: &Tpm, hierarchy: u32) -> TpmResult<Vec<u8>> {
    if let Some(p) = tpm.hier.proof(hierarchy) {
        return Ok(p.to_vec());
    }
    let seed = tpm.keys.seed(handle::RH_NULL).ok_or(Rc::FAILURE)?;
    HashAlg::Sha256.kdfa(seed, b"WARDEN NULL PROOF", &[], &[], 256)
}

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
struct CreateIn<'a> {
    auth: &'a [u8],
    data: &'a [u8],
    public: Public,
    outside: &'a [u8],
    pcrs: ([Selection; 2], usize),
}

fn read_create_in<'a>(r: &mut Reader<'a>, primary: bool) -> TpmResult<CreateIn<'a>> {
    let (auth, data) = read_sensitive_create(r).p(1)?;
    let public = Public::parse_2b(r).p(2)?;
    let outside = r.tpm2b(MAX_DATA).p(3)?;
    let pcrs = read_selection(r).p(4)?;
    r.finish()?;
    public.validate(primary).p(2)?;
    if auth.len() > public.name_alg.size() {
        return Err(Rc::SIZE.param(1));
    }
    Ok(CreateIn { auth, data, public, outside, pcrs })
}

fn label(kind: u16) -> &'static [u8] {
    match kind {
        ids::ECC => b"ECC",
        ids::RSA => b"RSA",
        ids::KEYEDHASH => b"KEYEDHASH",
        _ => b"SYMCIPHER",
    }
}

/// Writes outPublic, creationData, creationHash and creationTicket (Part 3 §12.1 / §24.1).
fn write_creation(
    tpm: &Tpm,
    w: &mut Writer,
    k: &KeyObject,
    input: &CreateIn<'_>,
    parent: (u16, &[u8], &[u8]),
    locality: u8,
) -> TpmResult<()> {
    w.tpm2b(&k.public.marshal());
    let sel = input.pcrs.0.get(..input.pcrs.1).unwrap_or_default();
    let mut values = Vec::new();
    for (bank, bits) in sel {
        for i in
            (0..crate::pcr::PCR_COUNT).filter(|i| bits.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0))
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
    cd.u16(parent.0);
    cd.tpm2b(parent.1);
    cd.tpm2b(parent.2);
    cd.tpm2b(input.outside);
    w.tpm2b(&cd.buf);
    let creation_hash = k.public.name_alg.digest(&[&cd.buf]);
    w.tpm2b(creation_hash.as_slice());
    w.u16(ST_CREATION);
    w.u32(k.hierarchy);
    let proof = ticket_proof(tpm, k.hierarchy)?;
    let t = HashAlg::Sha256.hmac(&proof, &[&ST_CREATION.to_be_bytes(), &k.name, creation_hash.as_slice()])?;
    w.tpm2b(t.as_slice());
    Ok(())
}

/// TPM2_CreatePrimary (Part 3 §24.1). The handle is checked as TPMI_RH_HIERARCHY+ here.
pub(crate) fn create_primary(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let h = c.handles[0];
    if !matches!(h, handle::RH_OWNER | handle::RH_ENDORSEMENT | handle::RH_PLATFORM | handle::RH_NULL) {
        return Err(Rc::VALUE.handle(1));
    }
    if !tpm.hier.enabled(h) {
        return Err(Rc::HIERARCHY.handle(1));
    }
    let input = read_create_in(&mut c.params, true)?;
    let k = derive_primary(tpm, h, &input.public, input.auth, input.data)?;
    let handle_bytes = h.to_be_bytes();
    write_creation(
        tpm,
        &mut c.out,
        &k,
        &input,
        (crate::consts::alg::NULL, &handle_bytes, &handle_bytes),
        c.locality,
    )?;
    c.out.tpm2b(&k.name);
    c.rhandle = tpm.keys.insert(k)?;
    Ok(())
}

/// A primary object of hierarchy `h` from its template, drawn from the hierarchy seed's stream.
pub(crate) fn derive_primary(
    tpm: &Tpm,
    h: u32,
    template: &Public,
    auth: &[u8],
    data: &[u8],
) -> TpmResult<KeyObject> {
    let seed = *tpm.keys.seed(h).ok_or(Rc::FAILURE)?;
    let alg = template.name_alg;
    let digest = alg.digest(&[&template.marshal()]);
    // RSA primaries are remembered: the prime search dominates CreatePrimary (`primary_cache.rs`).
    let cache_key = (template.kind == ids::RSA)
        .then(|| PrimaryCache::key(&seed, label(template.kind), digest.as_slice(), data));
    if let Some((public, mut sens, material)) = cache_key.and_then(|key| tpm.keys.primaries().get(&key)) {
        sens.auth = auth.to_vec();
        return Ok(KeyObject::new(public, sens, material, &h.to_be_bytes(), h));
    }
    let mut rng = SeededRng::new(alg, &seed, label(template.kind), digest.as_slice(), data)?;
    let mut public = template.clone();
    let mut sens = Sensitive { auth: auth.to_vec(), ..Sensitive::default() };
    let material = keys::generate(&mut public, &mut sens, data, &mut rng).p(2)?;
    if let Some(key) = cache_key {
        tpm.keys.primaries().put(key, &public, &sens, &material);
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
    let mut sens = Sensitive { auth: auth.to_vec(), ..Sensitive::default() };
    let material = keys::generate(&mut public, &mut sens, data, &mut rng).p(2)?;
    Ok(KeyObject::new(public, sens, material, &parent.qualified, parent.hierarchy))
}

/// The storage parent at `h` (handle 1), or TPM_RC_TYPE.
pub(crate) fn storage_parent(tpm: &Tpm, h: u32) -> TpmResult<&KeyObject> {
    let p = tpm.keys.get(h).ok_or(Rc::HANDLE.handle(1))?;
    // A public key loaded alone has no seed to protect children with.
    if !p.public.is_storage() || matches!(p.material, crate::keys::Material::PublicOnly) {
        return Err(Rc::TYPE.handle(1));
    }
    Ok(p)
}

/// The (AES key, HMAC key) protecting children of `parent` named `name` (Part 1 §23.3).
fn protection_keys(parent: &KeyObject, name: &[u8]) -> TpmResult<(Vec<u8>, Vec<u8>)> {
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
fn unwrap(parent: &KeyObject, name: &[u8], private: &[u8]) -> TpmResult<Sensitive> {
    let mut r = Reader::new(private);
    let integrity = r.tpm2b(MAX_DIGEST).map_err(|_| Rc::INTEGRITY)?;
    let (sym, mac) = protection_keys(parent, name)?;
    let expect = parent.public.name_alg.hmac(&mac, &[r.rest(), name])?;
    if !ct_eq(expect.as_slice(), integrity) {
        return Err(Rc::INTEGRITY);
    }
    let mut plain = r.rest().to_vec();
    aes_cfb(&sym, &[0u8; 16], &mut plain, false)?;
    let mut p = Reader::new(&plain);
    let mut inner = Reader::new(p.tpm2b(MAX_PRIVATE).map_err(|_| crate::object::rcx::SENSITIVE)?);
    p.finish().map_err(|_| crate::object::rcx::SENSITIVE)?;
    let s = Sensitive::parse(&mut inner).map_err(|_| crate::object::rcx::SENSITIVE)?;
    inner.finish().map_err(|_| crate::object::rcx::SENSITIVE)?;
    Ok(s)
}

/// A child may be fixedTPM only under a fixedTPM parent (Part 1 §27.2.3).
fn check_against_parent(parent: &KeyObject, child: &Public) -> TpmResult<()> {
    if child.has(attr::FIXED_TPM) && !parent.public.has(attr::FIXED_TPM) {
        return Err(Rc::ATTRIBUTES);
    }
    Ok(())
}

/// TPM2_Create (Part 3 §12.1).
pub(crate) fn create(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let input = read_create_in(&mut c.params, false)?;
    let parent = storage_parent(tpm, c.handles[0])?.clone();
    let k = new_child(tpm, &parent, &input.public, input.auth, input.data)?;
    c.out.tpm2b(&wrap(&parent, &k)?);
    let qn = parent.qualified.clone();
    write_creation(
        tpm,
        &mut c.out,
        &k,
        &input,
        (parent.public.name_alg.id(), &parent.name, &qn),
        c.locality,
    )?;
    Ok(())
}

/// TPM2_Load (Part 3 §12.2).
pub(crate) fn load(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let private = c.params.tpm2b(MAX_PRIVATE).p(1)?;
    let public = Public::parse_2b(&mut c.params).p(2)?;
    c.params.finish()?;
    public.validate(false).p(2)?;
    let parent = storage_parent(tpm, c.handles[0])?.clone();
    check_against_parent(&parent, &public).p(2)?;
    let name = public.name();
    let sens = unwrap(&parent, &name, private).p(1)?;
    let material = keys::restore(&public, &sens).p(2)?;
    let k = KeyObject::new(public, sens, material, &parent.qualified, parent.hierarchy);
    c.out.tpm2b(&k.name);
    c.rhandle = tpm.keys.insert(k)?;
    Ok(())
}

/// TPM2_ReadPublic (Part 3 §12.4): key objects answer; sequence objects keep their answer.
pub(crate) fn read_public(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let Some(k) = tpm.keys.get(c.handles[0]) else { return crate::hash_seq::read_public(tpm, c) };
    c.params.finish()?;
    c.out.tpm2b(&k.public.marshal());
    c.out.tpm2b(&k.name);
    c.out.tpm2b(&k.qualified);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{unwrap, wrap};
    use crate::crypto::HashAlg;
    use crate::key_store::KeyObject;
    use crate::keys::{self, SeededRng};
    use crate::marshal::Reader;
    use crate::object::{Public, Sensitive};

    fn make(template: &[u8], seed: &[u8]) -> KeyObject {
        let mut p = Public::parse(&mut Reader::new(template)).unwrap();
        let mut s = Sensitive::default();
        let mut rng = SeededRng::new(HashAlg::Sha256, seed, b"ECC", &[], &[]).unwrap();
        let m = keys::generate(&mut p, &mut s, &[], &mut rng).unwrap();
        KeyObject::new(p, s, m, &[], crate::consts::handle::RH_OWNER)
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
        assert_eq!(unwrap(&parent, &child.name, &bad), Err(crate::rc::Rc::INTEGRITY));
    }
}
