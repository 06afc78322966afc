//! Ephemeral EC keys (Part 3 ch. 19): TPM2_Commit (§19.2), the first phase of an ECDAA signature, and
//! TPM2_EC_Ephemeral (§19.3). The arithmetic is in `object::ecdaa`, the counter (shared by the two, as
//! ms-tpm-20-ref's `gr.commitCounter` is) and the outstanding commitments in `state::commit`.

use p256::elliptic_curve::sec1::ToEncodedPoint;
use zeroize::Zeroize;

use crate::Tpm;
use crate::engine::command::Cmd;
use crate::object::MAX_ECC_BYTES;
use crate::object::curve;
use crate::object::ecdaa;
use crate::object::key_material::{Material, left_pad};
use crate::wire::alg_id::AlgId;
use crate::wire::handle::Handle;
use crate::wire::marshal::{Reader, Writer};
use crate::wire::response_code::{At, ResponseCode, TpmResult};

/// MAX_SYM_DATA: the largest TPM2B_SENSITIVE_DATA (Part 2 Table 187).
const MAX_SENSITIVE_DATA: usize = 128;

/// Reads a TPM2B_ECC_POINT; None for an empty one (size 0, or two empty coordinates: size 4).
fn read_point(r: &mut Reader<'_>, n: usize) -> TpmResult<Option<alloc::vec::Vec<u8>>> {
    let mut p = Reader::new(r.tpm2b(4 + 2 * MAX_ECC_BYTES)?);
    if p.remaining() == 0 {
        return Ok(None);
    }
    let x = p.tpm2b(MAX_ECC_BYTES)?;
    let y = p.tpm2b(MAX_ECC_BYTES)?;
    p.finish()?;
    if x.is_empty() && y.is_empty() {
        return Ok(None);
    }
    let (Some(x), Some(y)) = (left_pad(x, n), left_pad(y, n)) else { return Err(ResponseCode::ECC_POINT) };
    Ok(Some([&[4u8][..], &x, &y].concat()))
}

fn write_point(w: &mut Writer, p: &ecdaa::Point) {
    let mut inner = Writer::new();
    inner.tpm2b(&p.0);
    inner.tpm2b(&p.1);
    w.tpm2b(&inner.buf);
}

/// TPM2_Commit (Part 3 §19.2): K, L and E for a sign-only ECC key with the ECDAA scheme, and the
/// counter value its signature must name.
pub(crate) fn commit(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let k = tpm.key(c.handles[0]).ok_or(ResponseCode::HANDLE.handle(1))?;
    if k.public.kind != AlgId::ECC {
        return Err(ResponseCode::KEY.handle(1));
    }
    // Only a key with an anonymous scheme commits (ms-tpm-20-ref CryptIsSchemeAnonymous).
    if k.public.scheme.alg != AlgId::ECDAA {
        return Err(ResponseCode::SCHEME.handle(1));
    }
    let n = k.public.unique.len().max(k.public.unique_y.len()).clamp(32, MAX_ECC_BYTES);
    let p1 = read_point(&mut c.params, n).p(1)?;
    let s2 = c.params.tpm2b(MAX_SENSITIVE_DATA).p(2)?;
    let y2 = c.params.tpm2b(MAX_ECC_BYTES).p(3)?;
    c.params.finish()?;
    // P2 needs both its parts.
    if s2.is_empty() != y2.is_empty() {
        return Err(ResponseCode::SIZE.param(3));
    }
    if matches!(k.material, Material::PublicOnly) {
        return Err(ResponseCode::KEY.handle(1));
    }
    let p2 = if s2.is_empty() {
        None
    } else {
        Some(ecdaa::p2_point(&k.material, k.public.name_alg, s2, y2).p(2)?)
    };
    if let Some(p) = &p1 {
        let on_curve = match k.material {
            Material::P256(_) => p256::PublicKey::from_sec1_bytes(p).is_ok(),
            _ => p384::PublicKey::from_sec1_bytes(p).is_ok(),
        };
        if !on_curve {
            return Err(ResponseCode::ECC_POINT.param(1));
        }
    }
    let name = k.name.clone();
    if !tpm.commit.has_nonce() {
        let mut nonce = [0u8; 32];
        tpm.random(&mut nonce);
        tpm.commit.set_nonce(nonce);
        nonce.zeroize();
    }
    let k = tpm.key(c.handles[0]).ok_or(ResponseCode::HANDLE.handle(1))?;
    let mut stream = tpm.commit.peek(&name)?;
    let points = ecdaa::commit(&k.material, &mut stream, p1.as_deref(), p2.as_deref())?;
    let counter = tpm.commit.commit();
    write_point(&mut c.out, &points.k);
    write_point(&mut c.out, &points.l);
    write_point(&mut c.out, &points.e);
    c.out.u16(counter);
    Ok(())
}

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
    let (counter, mut rng) = tpm.commit.ephemeral(null_seed)?;
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
