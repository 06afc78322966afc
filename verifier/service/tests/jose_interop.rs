//! Vectors made by an independent JOSE implementation (Python's `jwcrypto` 1.5, generated once with
//! throwaway keys that protect nothing): a JWE with alg ECDH-ES+A256KW / enc A256GCM for a P-384 and
//! a P-256 key, which [`RecipientKey::decrypt`] must open, and an ES384 JWT with this service's claims,
//! which [`token::verify`] must accept. They pin the wire formats to RFC 7516/7518 as another
//! implementation reads them, not only to this crate's own encoder.
use p384::pkcs8::DecodePublicKey;
use warden_verifier::jwe::RecipientKey;
use warden_verifier::protocol::Response;
use warden_verifier::token::{self, TokenError};

const P384_KEY: &str = r#"{"crv": "P-384", "d": "ESEE8hzaLkGuvkSo9JpanM1t_UQs6VIh6Yyb2pqEvev7oNck852hx3zXAfQOgrXv", "kty": "EC", "x": "G7462PLpT2B_aaeTgSAN4bou06vhnkGsl83E18jiH3td5WBlPZTginivE_sadRdt", "y": "_R1GYvUZObKIBfoq2CYab35uiuxazasOYWur1uGd8gFG1cohtsRRVOrCLU8f2sDb"}"#;
const P256_KEY: &str = r#"{"crv": "P-256", "d": "3vt30TCAhWI9FXF5ro3pgh-tSLPPTVPNzKnldhfL6OI", "kty": "EC", "x": "WxuT24ehclZj4n7Lr2Xr9Kmy4pi_S3xrTwVt6hwK0Oo", "y": "AvbcezcfMG7opuzmwSa_0Qsq0SZkyx1NYduHujQIpCc"}"#;
const JWT: &str = "eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCJ9.eyJkZWJ1ZyI6ZmFsc2UsImVrIjoiMDAiLCJleHAiOjQwMDAwMDAwMDAsImlhdCI6MSwiaXNzIjoid2FyZGVuLXZlcmlmaWVyIiwianRpIjoiaiIsIm1lYXN1cmVtZW50IjoiMDAiLCJwb2xpY3kiOiIweDMwMDAwIiwicmVmZXJlbmNlLXZhbHVlcyI6W10sInJlcG9ydGVkLXRjYiI6eyJib290bG9hZGVyIjowLCJtaWNyb2NvZGUiOjAsInNucCI6MCwidGVlIjowfSwic2Vzc2lvbiI6InMiLCJ0ZWUtcHVia2V5Ijp7ImNydiI6IlAtMzg0Iiwia3R5IjoiRUMiLCJ4IjoieCIsInkiOiJ5In0sInZlcmRpY3QiOiJwYXNzIiwidm1wbCI6MH0.ahVfMZGWyjumKFnu-EWejVvTscPwojitj1nnVWvgqaGaRJvTgkC8x8dMr7yWa4u8ii8KdVV3Lq6i62FMiYmExiR97YCxvGdcath9m_ZGwzNBfw1lApsADi8yRwtjQkWL";
const JWT_KEY: &str = "-----BEGIN PUBLIC KEY-----\nMHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE08w+GbZ7vGe7HYlxIUS/xLzXb6TzamXH\nNLboI5jB2k+wYZJlFskB/ixLLNHa7BxA8NxJuwF7XyRf4+vZ3DK5C/v8y/dfmE7C\ncQMssNARDR/APbYBkcn8UUndFzCf8z8y\n-----END PUBLIC KEY-----\n";

fn p384_jwe() -> Response {
    Response {
        protected: "eyJhbGciOiJFQ0RILUVTK0EyNTZLVyIsImVuYyI6IkEyNTZHQ00iLCJlcGsiOnsiY3J2IjoiUC0zODQiLCJrdHkiOiJFQyIsIngiOiI4dDRKWjhZcUtEMnRSbE9QdlkycDRPMmN5YTVrdEVsVFV3OWNNdmxTcFpFcV9TV2FWVGZFOU5xWkRjTDNMWHAyIiwieSI6InB4RnZEOVllOHRaYzQzT0lZSmpDSHUtNGcwOE9LUkVUX3NXTEMyZF9hYW9odkV2ZlQzWG0zV2JFNDJXaW93S3IifX0".into(),
        encrypted_key: "bqpWbhUyLxhSJT18sfDaZcsa0umx-VljWYr9z3UfRxNzRnSZw_2P1g".into(),
        iv: "Bu0zTKayv-JFTdg8".into(),
        ciphertext: "Z-7zmxd4TaRJVT8TLJr3UA-RrkY".into(),
        tag: "VYD2O2D571zglC-I329puA".into(),
    }
}

fn p256_jwe() -> Response {
    Response {
        protected: "eyJhbGciOiJFQ0RILUVTK0EyNTZLVyIsImVuYyI6IkEyNTZHQ00iLCJlcGsiOnsiY3J2IjoiUC0yNTYiLCJrdHkiOiJFQyIsIngiOiJwa0I4NGhYZWFWUE03czk5a3RTX1BUWVFmOW03cVNEOXh1dUhTdllKX3NnIiwieSI6IkRCWFhxanlzb3dhQUluTXExQVJiWUE2SEJYTGlKUEV1SUd2NzNYV0VhTEUifX0".into(),
        encrypted_key: "OCK438TUhXFqcVEHRl6rZB2awsxDYELV6bmqAyVpB-IqcEZx6OoEnQ".into(),
        iv: "ZInMSC1kJWluVd7q".into(),
        ciphertext: "-CXOtFCqCDCsbcqMLehZcvbq2o4".into(),
        tag: "ZsfEyXHq253A_-5sdP30pg".into(),
    }
}

#[test]
fn jwcrypto_jwes_decrypt() {
    let p384 = RecipientKey::P384(p384::SecretKey::from_jwk_str(P384_KEY).unwrap());
    assert_eq!(p384.decrypt(&p384_jwe()).unwrap().as_slice(), b"released by jwcrypto");
    let p256 = RecipientKey::P256(p256::SecretKey::from_jwk_str(P256_KEY).unwrap());
    assert_eq!(p256.decrypt(&p256_jwe()).unwrap().as_slice(), b"released by jwcrypto");
    assert!(RecipientKey::generate_p384().decrypt(&p384_jwe()).is_err());
}

#[test]
fn a_jwcrypto_es384_jwt_verifies() {
    let key = p384::ecdsa::VerifyingKey::from_public_key_pem(JWT_KEY).unwrap();
    let claims = token::verify(JWT, &key, 1_000).unwrap();
    assert_eq!((claims.jti.as_str(), claims.session.as_str()), ("j", "s"));
    assert_eq!(token::verify(JWT, &key, 4_000_000_000), Err(TokenError::Expired));
    let other = p384::ecdsa::SigningKey::from_slice(&[7; 48]).unwrap();
    assert_eq!(token::verify(JWT, other.verifying_key(), 1_000), Err(TokenError::Invalid));
}
