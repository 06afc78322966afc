//! Ephemeral EC keys (Part 3 ch. 19): TPM2_EC_Ephemeral. TPM2_Commit belongs with ECDAA signing.

use p256::elliptic_curve::sec1::ToEncodedPoint;

use crate::Tpm;
use crate::engine::command::Cmd;
use crate::object::curve;
use crate::wire::handle::Handle;
use crate::wire::marshal::Writer;
use crate::wire::response_code::{At, ResponseCode, TpmResult};

/// TPM2_EC_Ephemeral (Part 3 §19.3): Q = [r]G for a fresh ephemeral r on `curveID`, and the commit
/// counter that identifies r (the TPM keeps no copy: r is derived again from the counter, see
/// `state::commit`). Response: TPM2B_ECC_POINT Q, UINT16 counter (the counter's low 16 bits).
pub(crate) fn ec_ephemeral(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let curve_id = c.params.u16().p(1)?;
    c.params.finish()?;
    if !matches!(curve_id, curve::NIST_P256 | curve::NIST_P384) {
        return Err(ResponseCode::CURVE.param(1));
    }
    let null_seed = tpm.keys.seed(Handle::RH_NULL).ok_or(ResponseCode::FAILURE)?;
    let (counter, mut rng) = tpm.commit.next(null_seed)?;
    // r is a secret: the SecretKey types wipe it when dropped; only Q leaves.
    let coordinates = if curve_id == curve::NIST_P256 {
        let q = p256::SecretKey::random(&mut rng).public_key().to_encoded_point(false);
        q.x().zip(q.y()).map(|(x, y)| (x.to_vec(), y.to_vec()))
    } else {
        let q = p384::SecretKey::random(&mut rng).public_key().to_encoded_point(false);
        q.x().zip(q.y()).map(|(x, y)| (x.to_vec(), y.to_vec()))
    };
    let (x, y) = coordinates.ok_or(ResponseCode::FAILURE)?;
    let mut q = Writer::new();
    q.tpm2b(&x);
    q.tpm2b(&y);
    c.out.tpm2b(&q.buf);
    c.out.u16(counter as u16);
    Ok(())
}
