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
