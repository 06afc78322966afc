//! ECDAA signing (Part 3 §19.2 TPM2_Commit, §20.2 TPM2_Sign with TPM_ALG_ECDAA; Part 1 annex C):
//! each commitment signs once, and every signature satisfies [s]G = E + [T]Q with
//! T = H(nonceK || digest) mod n, checked here with the `p256`/`p384` crates.

use crate::common::{B, R, RH_NULL, RH_OWNER, params_of, pw, rc_h, rc_p, run, started};
use crate::key_helpers::ecc_signer;
use p256::elliptic_curve::PrimeField;
use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use sha2::{Digest, Sha256, Sha384};
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;

/// A sign-only ECC key with the ECDAA scheme (hash, count 0): fixedTPM|fixedParent|
/// sensitiveDataOrigin|userWithAuth|sign.
fn ecdaa_template(curve: u16, hash: u16) -> Vec<u8> {
    B::new()
        .u16(0x23)
        .u16(0x000B)
        .u32(0x0004_0072)
        .tpm2b(&[])
        .u16(0x10)
        .u16(0x1A)
        .u16(hash)
        .u16(0)
        .u16(curve)
        .u16(0x10)
        .tpm2b(&[])
        .tpm2b(&[])
        .0
}

/// CreatePrimary; (handle, Q as SEC1 with `n`-byte coordinates).
fn primary(t: &mut Tpm, template: &[u8], n: usize) -> (u32, Vec<u8>) {
    let p = B::new().tpm2b(&B::new().tpm2b(&[]).tpm2b(&[]).0).tpm2b(template).tpm2b(&[]).u32(0).0;
    let r = run(t, CommandCode::CREATE_PRIMARY, &[RH_OWNER], Some(&pw(b"")), &p);
    let mut rd = r.ok().reader();
    let h = rd.u32();
    rd.u32();
    let public = rd.tpm2b().to_vec();
    let mut pr = R(&public[public.len() - 4 - 2 * n..]);
    let (x, y) = (pr.tpm2b().to_vec(), pr.tpm2b().to_vec());
    (h, [vec![4u8], x, y].concat())
}

fn point_2b(sec1: Option<&[u8]>) -> Vec<u8> {
    match sec1 {
        None => B::new().u16(0).u16(0).0,
        Some(p) => {
            let n = (p.len() - 1) / 2;
            B::new().tpm2b(&p[1..1 + n]).tpm2b(&p[1 + n..]).0
        }
    }
}

/// TPM2_Commit's answer: K, L, E as SEC1 (empty when not computed) and the counter.
type Commitment = (Vec<u8>, Vec<u8>, Vec<u8>, u16);

/// TPM2_Commit; the commitment or the response code.
fn commit(t: &mut Tpm, h: u32, p1: Option<&[u8]>, s2: &[u8], y2: &[u8]) -> Result<Commitment, u32> {
    let p = B::new().tpm2b(&point_2b(p1)).tpm2b(s2).tpm2b(y2).0;
    let r = run(t, CommandCode::COMMIT, &[h], Some(&pw(b"")), &p);
    if r.rc != 0 {
        return Err(r.rc);
    }
    let body = params_of(&r, false);
    let mut rd = R(&body);
    let mut point = || {
        let inner = rd.tpm2b().to_vec();
        let mut ir = R(&inner);
        let (x, y) = (ir.tpm2b().to_vec(), ir.tpm2b().to_vec());
        if x.is_empty() { Vec::new() } else { [vec![4u8], x, y].concat() }
    };
    let (k, l, e) = (point(), point(), point());
    Ok((k, l, e, rd.u16()))
}

/// TPM2_Sign with ECDAA at commit `count`; (rc, nonceK, s).
fn sign(t: &mut Tpm, h: u32, digest: &[u8], hash: u16, count: u16) -> Result<(Vec<u8>, Vec<u8>), u32> {
    let p = B::new().tpm2b(digest).u16(0x1A).u16(hash).u16(count).u16(0x8024).u32(RH_NULL).tpm2b(&[]).0;
    let r = run(t, CommandCode::SIGN, &[h], Some(&pw(b"")), &p);
    if r.rc != 0 {
        return Err(r.rc);
    }
    let body = params_of(&r, false);
    let mut rd = R(&body);
    assert_eq!((rd.u16(), rd.u16()), (0x1A, hash));
    Ok((rd.tpm2b().to_vec(), rd.tpm2b().to_vec()))
}

/// [s]G == E + [T]Q on P-256, T = SHA-256(nonceK || digest) mod n.
fn p256_holds(q: &[u8], e: &[u8], nonce_k: &[u8], digest: &[u8], s: &[u8]) -> bool {
    use p256::elliptic_curve::ops::Reduce;
    let pt = |b: &[u8]| {
        p256::ProjectivePoint::from(
            p256::AffinePoint::from_encoded_point(&p256::EncodedPoint::from_bytes(b).unwrap()).unwrap(),
        )
    };
    let t = <p256::Scalar as Reduce<p256::U256>>::reduce_bytes(
        &Sha256::new().chain_update(nonce_k).chain_update(digest).finalize(),
    );
    let mut bytes = p256::FieldBytes::default();
    bytes.copy_from_slice(s);
    let s = p256::Scalar::from_repr(bytes).unwrap();
    p256::ProjectivePoint::GENERATOR * s == pt(e) + pt(q) * t
}

#[test]
fn each_commitment_signs_once_and_the_signature_verifies() {
    let mut t = started();
    let (h, q) = primary(&mut t, &ecdaa_template(3, 0x0B), 32);
    // Without points: K and L are empty and E = [r]G; the counter counts the commitments.
    let (k, l, e0, c0) = commit(&mut t, h, None, &[], &[]).unwrap();
    assert_eq!((k.len(), l.len(), e0.len(), c0), (0, 0, 65, 0));
    let (_, _, e1, c1) = commit(&mut t, h, None, &[], &[]).unwrap();
    assert_eq!(c1, 1);
    assert_ne!(e0, e1, "a new r for each commitment");
    let digest = Sha256::digest(b"anonymously signed");
    let (nk, s) = sign(&mut t, h, &digest, 0x0B, 1).unwrap();
    assert!(p256_holds(&q, &e1, &nk, &digest, &s));
    // Commitment 1 is spent; commitment 0 still signs (in either order, as tpm2-tools does).
    assert_eq!(sign(&mut t, h, &digest, 0x0B, 1), Err(rc_p(ResponseCode::VALUE, 2)));
    let (nk, s) = sign(&mut t, h, &digest, 0x0B, 0).unwrap();
    assert!(p256_holds(&q, &e0, &nk, &digest, &s));
    assert_eq!(sign(&mut t, h, &digest, 0x0B, 7), Err(rc_p(ResponseCode::VALUE, 2)));
    // With P1 = G, E = [r]G too; the key's scheme is fixed (no ECDSA with it).
    let g = p256::ProjectivePoint::GENERATOR.to_affine().to_encoded_point(false);
    let (_, _, e2, c2) = commit(&mut t, h, Some(g.as_bytes()), &[], &[]).unwrap();
    let (nk, s) = sign(&mut t, h, &digest, 0x0B, c2).unwrap();
    assert!(p256_holds(&q, &e2, &nk, &digest, &s));
    let ecdsa = B::new().tpm2b(&digest).u16(0x18).u16(0x0B).u16(0x8024).u32(RH_NULL).tpm2b(&[]).0;
    assert_eq!(
        run(&mut t, CommandCode::SIGN, &[h], Some(&pw(b"")), &ecdsa).rc,
        rc_p(ResponseCode::SCHEME, 2)
    );
}

#[test]
fn commit_refuses_bad_keys_and_points() {
    let mut t = started();
    let (ecdsa, _) = primary(&mut t, &ecc_signer(3), 32);
    assert_eq!(commit(&mut t, ecdsa, None, &[], &[]), Err(rc_h(ResponseCode::SCHEME, 1)));
    let (h, q) = primary(&mut t, &ecdaa_template(3, 0x0B), 32);
    // s2 without y2; a P1 off the curve; a P2 off the curve.
    assert_eq!(commit(&mut t, h, None, b"s2", &[]), Err(rc_p(ResponseCode::SIZE, 3)));
    let mut off = q.clone();
    off[64] ^= 1;
    assert_eq!(commit(&mut t, h, Some(&off), &[], &[]), Err(rc_p(ResponseCode::ECC_POINT, 1)));
    assert_eq!(commit(&mut t, h, None, b"s2", &[1; 32]), Err(rc_p(ResponseCode::ECC_POINT, 2)));
    // A failed commit takes no counter value.
    assert_eq!(commit(&mut t, h, None, &[], &[]).unwrap().3, 0);
}

#[test]
fn p384_ecdaa_keys_sign_with_sha384() {
    use p256::elliptic_curve::ops::Reduce;
    let mut t = started();
    let (h, q) = primary(&mut t, &ecdaa_template(4, 0x0C), 48);
    let (_, _, e, c) = commit(&mut t, h, None, &[], &[]).unwrap();
    let digest = Sha384::digest(b"P-384");
    let (nk, s) = sign(&mut t, h, &digest, 0x0C, c).unwrap();
    let pt = |b: &[u8]| {
        p384::ProjectivePoint::from(
            p384::AffinePoint::from_encoded_point(&p384::EncodedPoint::from_bytes(b).unwrap()).unwrap(),
        )
    };
    let tt = <p384::Scalar as Reduce<p384::U384>>::reduce_bytes(
        &Sha384::new().chain_update(&nk).chain_update(digest).finalize(),
    );
    let mut bytes = p384::FieldBytes::default();
    bytes.copy_from_slice(&s);
    let s = p384::Scalar::from_repr(bytes).unwrap();
    assert!(p384::ProjectivePoint::GENERATOR * s == pt(&e) + pt(&q) * tt);
}
