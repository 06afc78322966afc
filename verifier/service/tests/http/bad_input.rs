//! Every bad input of the KBS endpoints gets an HTTP error whose JSON `type` names the reason (for
//! evidence, the failed check) and changes nothing: after each refusal the same session's challenge
//! still attests, and the store's resources are as they were.

use crate::support::{Client, SECRET_PATH, Verifier, attested, evidence_fixture, prepare, start};
use serde_json::json;
use warden_verifier::jwe::RecipientKey;
use warden_verifier::protocol::SvsmEvidence;

const AUTH: &str = "/kbs/v0/auth";
const ATTEST: &str = "/kbs/v0/attest";

fn resources(verifier: &Verifier) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let listed = runtime.block_on(verifier.store.list_resources()).unwrap();
    listed.into_iter().map(|(path, policy)| format!("{path} {policy}")).collect()
}

#[test]
fn auth_refuses_wrong_content_type_malformed_json_and_other_tees() {
    let verifier = start(300);
    let mut client = Client::new(&verifier);
    let body = br#"{"version":"0.4.0","tee":"svsm","extra-params":""}"#;
    let answer = client.send("POST", AUTH, &[("Content-Type", "text/plain")], Some(body));
    assert_eq!((answer.status, answer.reason()), (415, "unsupported-media-type"), "{answer:?}");
    let answer = client.send("POST", AUTH, &[("Content-Type", "application/json")], Some(b"{\"version\":"));
    assert_eq!((answer.status, answer.reason()), (400, "malformed-json"), "{answer:?}");
    let answer = client.post_json(AUTH, &json!({"version": "0.4.0", "tee": "snp", "extra-params": ""}));
    assert_eq!((answer.status, answer.reason()), (400, "unsupported-tee"), "{answer:?}");
    let answer = client.post_json(AUTH, &json!({"version": "0.1.0", "tee": "svsm", "extra-params": ""}));
    assert_eq!((answer.status, answer.reason()), (400, "protocol-version"), "{answer:?}");
    assert!(client.cookie.is_none(), "a refused auth set a cookie");
    let answer = client.send("GET", "/kbs/v0/nothing", &[], None);
    assert_eq!((answer.status, answer.reason()), (404, "not-found"), "{answer:?}");
    let answer = client.send("GET", AUTH, &[], None);
    assert_eq!((answer.status, answer.reason()), (405, "method-not-allowed"), "{answer:?}");
}

#[test]
fn attest_refuses_bad_requests_and_leaves_the_challenge_usable() {
    let verifier = start(300);
    let before = resources(&verifier);
    let mut client = Client::new(&verifier);
    let guest = prepare(&mut client, RecipientKey::generate_p384(), |_| {});
    let body = serde_json::to_value(&guest.attestation).unwrap();
    let good = serde_json::to_vec(&body).unwrap();

    let answer =
        client.send("POST", ATTEST, &[("Content-Type", "application/x-www-form-urlencoded")], Some(&good));
    assert_eq!((answer.status, answer.reason()), (415, "unsupported-media-type"), "{answer:?}");
    let oversized = vec![b' '; warden_verifier::server::BODY_LIMIT + 1];
    let answer = client.send("POST", ATTEST, &[("Content-Type", "application/json")], Some(&oversized));
    assert_eq!((answer.status, answer.reason()), (413, "payload-too-large"), "{answer:?}");
    let answer =
        client.send("POST", ATTEST, &[("Content-Type", "application/json")], Some(&good[..good.len() / 2]));
    assert_eq!((answer.status, answer.reason()), (400, "malformed-json"), "{answer:?}");

    let mut changed = body.clone();
    changed["runtime-data"]["nonce"] = json!("AAAA");
    assert_eq!(client.post_json(ATTEST, &changed).reason(), "nonce-mismatch");
    let mut changed = body.clone();
    changed["runtime-data"]["tee-pubkey"]["y"] = changed["runtime-data"]["tee-pubkey"]["x"].clone();
    assert_eq!(client.post_json(ATTEST, &changed).reason(), "invalid-tee-pubkey");
    let mut changed = body.clone();
    changed["runtime-data"]["extra"] = json!(1);
    assert_eq!(client.post_json(ATTEST, &changed).reason(), "malformed-json");
    let mut changed = body.clone();
    changed["tee-evidence"]["report"] = json!("not base64!");
    assert_eq!(client.post_json(ATTEST, &changed).reason(), "invalid-evidence-encoding");
    let mut changed = body.clone();
    changed["tee-evidence"]["report"] = json!("AAAA");
    assert_eq!(client.post_json(ATTEST, &changed).reason(), "report-format");

    // Without the cookie, or with one the service did not sign.
    let cookie = client.cookie.take();
    let answer = client.post_json(ATTEST, &body);
    assert_eq!((answer.status, answer.reason()), (401, "session-missing"), "{answer:?}");
    client.cookie = Some(format!("{}x", cookie.clone().unwrap()));
    let answer = client.post_json(ATTEST, &body);
    assert_eq!((answer.status, answer.reason()), (401, "invalid-session"), "{answer:?}");

    // Nothing above used the challenge: the good attestation still passes.
    client.cookie = cookie;
    let answer = client.post_json(ATTEST, &body);
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(resources(&verifier), before);
}

/// Evidence that fails one check, on a fresh session; the answer names the check.
fn refused_evidence(
    verifier: &Verifier,
    tweak: impl FnOnce(&mut evidence_fixture::ReportFields),
) -> (u16, String) {
    let mut client = Client::new(verifier);
    let mut guest = prepare(&mut client, RecipientKey::generate_p384(), tweak);
    let answer = client.attest(&guest.attestation);
    let outcome = (answer.status, answer.reason().to_owned());
    // The refusal did not spend the challenge: the untouched evidence still attests.
    guest.attestation.tee_evidence = crate::support::evidence_for(&guest.attestation.runtime_data, |_| {});
    assert_eq!(client.attest(&guest.attestation).status, 200);
    outcome
}

#[test]
fn evidence_failing_a_check_is_refused_with_the_checks_name() {
    let verifier = start(300);
    let expect = |reason: &str| (401, reason.to_owned());
    assert_eq!(
        refused_evidence(&verifier, |f| f.report_data = [0; 64]),
        expect("report-data-binds-nonce-and-manifest")
    );
    assert_eq!(refused_evidence(&verifier, |f| f.measurement[0] ^= 1), expect("measurement-referenced"));
    assert_eq!(
        refused_evidence(&verifier, |f| f.policy |= evidence_fixture::POLICY_DEBUG),
        expect("policy-as-signed")
    );
    assert_eq!(refused_evidence(&verifier, |f| f.vmpl = 1), expect("vmpl-0"));
    assert_eq!(refused_evidence(&verifier, |f| f.chip_id[0] ^= 1), expect("vcek-chip-id-matches-report"));

    // Evidence whose certificate table is missing the chain.
    let mut client = Client::new(&verifier);
    let mut guest = prepare(&mut client, RecipientKey::generate_p384(), |_| {});
    let SvsmEvidence { report, manifest, .. } = guest.attestation.tee_evidence.clone();
    guest.attestation.tee_evidence = SvsmEvidence { report, manifest, ..SvsmEvidence::default() };
    let answer = client.attest(&guest.attestation);
    assert_eq!((answer.status, answer.reason()), (401, "ask-signed-by-ark"), "{answer:?}");
}

#[test]
fn expired_challenges_sessions_and_tokens_are_refused() {
    // The handshake below must fit in the lifetime: build the slow RSA hierarchy before the clock runs.
    evidence_fixture::hierarchy();
    let verifier = start(3);
    let mut late = Client::new(&verifier);
    let guest = prepare(&mut late, RecipientKey::generate_p384(), |_| {});
    let mut client = Client::new(&verifier);
    let (_, token) = attested(&mut client, RecipientKey::generate_p384());
    std::thread::sleep(std::time::Duration::from_millis(3100));

    let answer = late.attest(&guest.attestation);
    assert_eq!((answer.status, answer.reason()), (401, "challenge-expired"), "{answer:?}");
    let answer = client.resource(SECRET_PATH, None);
    assert_eq!((answer.status, answer.reason()), (401, "session-expired"), "{answer:?}");
    let answer = Client::new(&verifier).resource(SECRET_PATH, Some(&token));
    assert_eq!((answer.status, answer.reason()), (401, "token-expired"), "{answer:?}");
}

#[test]
fn resources_need_a_valid_token_and_a_valid_path() {
    let verifier = start(300);
    let before = resources(&verifier);
    let mut client = Client::new(&verifier);
    let answer = client.resource(SECRET_PATH, None);
    assert_eq!((answer.status, answer.reason()), (401, "token-missing"), "{answer:?}");
    client.auth();
    let answer = client.resource(SECRET_PATH, None);
    assert_eq!((answer.status, answer.reason()), (401, "token-missing"), "{answer:?}");
    let answer = client.resource(SECRET_PATH, Some("e30.e30.AAAA"));
    assert_eq!((answer.status, answer.reason()), (401, "invalid-token"), "{answer:?}");

    let (_, token) = attested(&mut client, RecipientKey::generate_p384());
    // A token with its claims changed (a longer expiry) no longer verifies.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1].insert(0, 'e');
    let answer = client.resource(SECRET_PATH, Some(&parts.join(".")));
    assert_eq!((answer.status, answer.reason()), (401, "invalid-token"), "{answer:?}");
    for path in ["default/k%3Bey/x", "default/key/a%20b", "default/%2E%2E%2Fkey/x"] {
        let answer = client.resource(path, None);
        assert_eq!((answer.status, answer.reason()), (400, "invalid-resource-path"), "{path}: {answer:?}");
    }
    assert_eq!(resources(&verifier), before);
}
