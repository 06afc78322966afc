//! Signing a message with a loaded key: the scheme the key and the caller agree on, and a blinding
//! stream from the DRBG (shared by TPM2_Sign and the attestation commands).

use crate::Tpm;
use crate::crypto::HashAlg;
use crate::crypto::seeded_rng::SeededRng;
use crate::object::attr;
use crate::object::key_material::{self as keys};
use crate::wire::alg_id::AlgId;
use crate::wire::handle::Handle;
use crate::wire::marshal::Writer;
use crate::wire::response_code::{ResponseCode, TpmResult};

/// The hash an HMAC key MACs with (TPM2_HMAC and TPM2_HMAC_Start, Part 3 §15.5 and §17.2): the key at
/// handle 1 must be an unrestricted keyed-hash signing key; the hash is its scheme's, or `asked`
/// (parameter 2) when the key has none.
pub(crate) fn hmac_key_hash(public: &crate::object::Public, asked: AlgId) -> TpmResult<HashAlg> {
    if public.kind != AlgId::KEYEDHASH {
        return Err(ResponseCode::TYPE.handle(1));
    }
    if public.has(attr::RESTRICTED) || !public.has(attr::SIGN) {
        return Err(ResponseCode::ATTRIBUTES.handle(1));
    }
    let hash = match (public.scheme.alg, asked) {
        (AlgId::NULL, a) => a,
        (_, a) if a == AlgId::NULL || a == public.scheme.hash => public.scheme.hash,
        _ => return Err(ResponseCode::SCHEME.param(2)),
    };
    HashAlg::from_id(hash).ok_or(ResponseCode::HASH.param(2))
}

/// A blinding / salt stream from the DRBG.
pub(crate) fn fresh_rng(tpm: &mut Tpm) -> TpmResult<SeededRng> {
    let mut seed = [0u8; 32];
    tpm.random(&mut seed);
    SeededRng::new(HashAlg::Sha256, &seed, b"SIGN", &[], &[])
}

/// Signs `digest_of(hash)` with the key at `h` (handle number `n`) under the scheme the key and the
/// caller agree on, writing the TPMT_SIGNATURE to `w`.
pub(crate) fn sign_message(
    tpm: &mut Tpm,
    h: Handle,
    n: u32,
    asked: (AlgId, AlgId),
    message: &[u8],
    w: &mut Writer,
) -> TpmResult<()> {
    let mut rng = fresh_rng(tpm)?;
    let k = tpm.key(h).ok_or(ResponseCode::HANDLE.handle(n))?;
    if !k.public.has(attr::SIGN) {
        return Err(ResponseCode::KEY.handle(n));
    }
    let scheme = keys::pick_scheme(&k.public, asked)?;
    let digest = scheme.1.digest(&[message]);
    keys::sign(&k.material, &k.sens, scheme, digest.as_slice(), &mut rng, w)
}
