//! TPM2_TestParms (Part 3 §10.5): what tpm2_testparms probes, accepted exactly when the engine would
//! take a key with those parameters, refused with the code key creation gives.

use crate::common::{B, SHA1, SHA256, SM3_256, rc_p, run, started};
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;
use warden_vtpm::{AlgId, CommandCode};

const NULL: u16 = AlgId::NULL.0;

fn test_parms(t: &mut Tpm, parms: &[u8]) -> u32 {
    run(t, CommandCode::TEST_PARMS, &[], None, parms).rc
}

/// TPMT_PUBLIC_PARMS for RSA: no symmetric, `scheme` (with `hash` unless NULL/RSAES), `bits`, `exponent`.
pub fn rsa(scheme: u16, hash: u16, bits: u16, exponent: u32) -> Vec<u8> {
    let b = B::new().u16(AlgId::RSA.0).u16(NULL).u16(scheme);
    let b = if scheme == NULL || scheme == AlgId::RSAES.0 { b } else { b.u16(hash) };
    b.u16(bits).u32(exponent).0
}

/// TPMT_PUBLIC_PARMS for ECC: no symmetric, `scheme` with `hash` unless NULL, `curve`, no KDF.
pub fn ecc(scheme: u16, hash: u16, curve: u16) -> Vec<u8> {
    let b = B::new().u16(AlgId::ECC.0).u16(NULL).u16(scheme);
    let b = if scheme == NULL { b } else { b.u16(hash) };
    b.u16(curve).u16(NULL).0
}

#[test]
fn supported_parameters_pass() {
    let mut t = started();
    for parms in [
        rsa(NULL, 0, 2048, 0),
        rsa(AlgId::RSASSA.0, SHA1, 2048, 65537),
        rsa(AlgId::RSAPSS.0, SHA256, 2048, 0),
        rsa(AlgId::OAEP.0, SHA256, 2048, 0),
        rsa(AlgId::RSAES.0, 0, 2048, 0),
        ecc(NULL, 0, 3),
        ecc(AlgId::ECDSA.0, SHA256, 4),
        ecc(AlgId::ECDH.0, SHA1, 3),
        B::new().u16(AlgId::KEYEDHASH.0).u16(AlgId::HMAC.0).u16(SHA1).0,
        B::new().u16(AlgId::KEYEDHASH.0).u16(NULL).0,
        B::new().u16(AlgId::SYMCIPHER.0).u16(AlgId::AES.0).u16(128).u16(AlgId::CFB.0).0,
        B::new().u16(AlgId::SYMCIPHER.0).u16(AlgId::AES.0).u16(256).u16(AlgId::CFB.0).0,
        // A restricted decryption key's symmetric definition inside RSA parameters.
        B::new().u16(AlgId::RSA.0).u16(AlgId::AES.0).u16(128).u16(AlgId::CFB.0).u16(NULL).u16(2048).u32(0).0,
    ] {
        assert_eq!(test_parms(&mut t, &parms), 0, "{parms:02x?}");
    }
}

#[test]
fn unsupported_parameters_get_the_creation_codes() {
    let mut t = started();
    let cases = [
        (B::new().u16(0x0099).0, ResponseCode::TYPE),
        (rsa(NULL, 0, 3072, 0), ResponseCode::KEY_SIZE),
        (rsa(NULL, 0, 2048, 3), ResponseCode::VALUE),
        (rsa(AlgId::RSASSA.0, SM3_256, 2048, 0), ResponseCode::HASH),
        (rsa(AlgId::ECDSA.0, SHA256, 2048, 0), ResponseCode::SCHEME),
        (ecc(NULL, 0, 0x0020), ResponseCode::CURVE),
        (ecc(0x001C, SHA256, 3), ResponseCode::SCHEME), // ECSCHNORR
        (
            B::new().u16(AlgId::ECC.0).u16(NULL).u16(NULL).u16(3).u16(AlgId::KDF1_SP800_108.0).0,
            ResponseCode::KDF,
        ),
        (
            B::new().u16(AlgId::SYMCIPHER.0).u16(AlgId::AES.0).u16(192).u16(AlgId::CFB.0).0,
            ResponseCode::KEY_SIZE,
        ),
        (B::new().u16(AlgId::SYMCIPHER.0).u16(0x0026).u16(128).u16(AlgId::CFB.0).0, ResponseCode::SYMMETRIC),
        (B::new().u16(AlgId::SYMCIPHER.0).u16(NULL).0, ResponseCode::SYMMETRIC),
        (B::new().u16(AlgId::KEYEDHASH.0).u16(AlgId::RSASSA.0).u16(SHA256).0, ResponseCode::SCHEME),
    ];
    for (parms, code) in cases {
        assert_eq!(test_parms(&mut t, &parms), rc_p(code, 1), "{parms:02x?}");
    }
    // Truncated and over-long parameters.
    assert_eq!(test_parms(&mut t, &rsa(NULL, 0, 2048, 0)[..6]), rc_p(ResponseCode::INSUFFICIENT, 1));
    let mut long = rsa(NULL, 0, 2048, 0);
    long.push(0);
    assert_eq!(test_parms(&mut t, &long), ResponseCode::SIZE.0);
}
