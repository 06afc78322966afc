//! The KBS handshake over HTTP against an in-process verifier: auth → attest → resource, the secret
//! decrypted with the tee-pubkey's private key and with no other; one-use challenges; tokens bound to
//! their session; a policy the reported TCB does not meet.

use crate::support::{Client, REFERENCE_ID, SECRET, SECRET_PATH, STRICT_PATH, attested, start};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use warden_verifier::jwe::RecipientKey;
use warden_verifier::protocol::Response;

fn jwe(body: &Value) -> Response {
    serde_json::from_value(body.clone()).expect("a JWE in the flattened JSON serialisation")
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[test]
fn the_attested_guest_decrypts_its_secret_and_no_other_key_can() {
    let verifier = start(300);
    let mut client = Client::new(&verifier);
    let (guest, token) = attested(&mut client, RecipientKey::generate_p384());

    let claims = claims(&token);
    assert_eq!(claims["verdict"], "pass");
    assert_eq!(claims["iss"], "warden-verifier");
    assert_eq!(claims["measurement"], "4d".repeat(48));
    assert_eq!(claims["policy"], "0x30000");
    assert_eq!(claims["reference-values"], serde_json::json!([REFERENCE_ID]));
    assert_eq!(claims["tee-pubkey"], serde_json::to_value(guest.key.public_jwk()).unwrap());
    assert_eq!(claims["debug"], false);
    assert_eq!(claims["vmpl"], 0);
    assert_eq!(claims["reported-tcb"]["snp"], 22);
    assert!(claims["ek"].as_str().unwrap().len() > 100, "the manifest's EK: {claims}");

    // The cookie alone carries the session's token.
    let answer = client.resource(SECRET_PATH, None);
    assert_eq!(answer.status, 200, "{answer:?}");
    let released = jwe(&answer.body);
    assert_eq!(guest.key.decrypt(&released).unwrap().as_slice(), SECRET);
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&released.protected).unwrap()).unwrap();
    assert_eq!((header["alg"].as_str(), header["enc"].as_str()), (Some("ECDH-ES+A256KW"), Some("A256GCM")));
    assert!(RecipientKey::generate_p384().decrypt(&released).is_err(), "another P-384 key decrypted it");

    // A bearer token without a cookie works too.
    let mut bare = Client::new(&verifier);
    let answer = bare.resource(SECRET_PATH, Some(&token));
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(guest.key.decrypt(&jwe(&answer.body)).unwrap().as_slice(), SECRET);
}

#[test]
fn a_p256_tee_key_works_too() {
    let verifier = start(300);
    let mut client = Client::new(&verifier);
    let (guest, _) = attested(&mut client, RecipientKey::generate_p256());
    let answer = client.resource(SECRET_PATH, None);
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(guest.key.decrypt(&jwe(&answer.body)).unwrap().as_slice(), SECRET);
}

#[test]
fn a_replayed_challenge_is_refused() {
    let verifier = start(300);
    let mut client = Client::new(&verifier);
    let guest = crate::support::prepare(&mut client, RecipientKey::generate_p384(), |_| {});
    let challenge_cookie = client.cookie.clone();
    assert_eq!(client.attest(&guest.attestation).status, 200);

    // The same attestation again, with the cookie that carried the (now used) challenge: the one-use
    // check in the store refuses it even though the cookie itself is still validly signed.
    client.cookie = challenge_cookie;
    let answer = client.attest(&guest.attestation);
    assert_eq!((answer.status, answer.reason()), (401, "challenge-replayed"), "{answer:?}");
    // And again on the session cookie that already holds a token.
    let mut after = Client::new(&verifier);
    let (guest, _) = attested(&mut after, RecipientKey::generate_p384());
    let answer = after.attest(&guest.attestation);
    assert_eq!((answer.status, answer.reason()), (401, "challenge-replayed"), "{answer:?}");
}

#[test]
fn a_token_from_another_session_is_refused() {
    let verifier = start(300);
    let mut alice = Client::new(&verifier);
    let (_, alice_token) = attested(&mut alice, RecipientKey::generate_p384());
    let mut bob = Client::new(&verifier);
    let (bob_guest, _) = attested(&mut bob, RecipientKey::generate_p384());

    let answer = bob.resource(SECRET_PATH, Some(&alice_token));
    assert_eq!((answer.status, answer.reason()), (401, "token-session-mismatch"), "{answer:?}");
    // Bob's own session still works: the refusal changed nothing.
    let answer = bob.resource(SECRET_PATH, None);
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(bob_guest.key.decrypt(&jwe(&answer.body)).unwrap().as_slice(), SECRET);
}

#[test]
fn a_policy_with_a_newer_minimum_tcb_refuses() {
    let verifier = start(300);
    let mut client = Client::new(&verifier);
    attested(&mut client, RecipientKey::generate_p384());
    let answer = client.resource(STRICT_PATH, None);
    assert_eq!((answer.status, answer.reason()), (403, "policy-not-satisfied"), "{answer:?}");
    assert!(answer.body["detail"].as_str().unwrap().contains("minimum"), "{answer:?}");
    let answer = client.resource("default/key/absent", None);
    assert_eq!((answer.status, answer.reason()), (404, "resource-not-found"), "{answer:?}");
}
