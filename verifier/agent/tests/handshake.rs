//! The agent against an in-process `warden-verifier` over HTTP, with evidence captured once from the
//! emulated SNP machine (`tests/evidence/`, `cargo xtask attest` output for the test image): re-signed
//! for each challenge by the emulated PSP's INSECURE TEST VCEK it passes every check and the secret is
//! released; as captured (another nonce) it is refused on the binding check; a token's secret does not
//! open without the handshake's private key; and the re-signing key is the captured chain's VCEK.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use warden_evidence::{Report, TrustAnchors};
use warden_kbs_agent::{
    AgentError, Attester, KbsClient, ResourcePath, Step, fetch, insecure_test_psp, tee_key,
};
use warden_verifier::jwe::{JweError, RecipientKey};
use warden_verifier::policy::ResourcePolicy;
use warden_verifier::server::{Config, Server};
use warden_verifier::session::SessionKey;
use warden_verifier::store::memory::MemoryStore;
use warden_verifier::store::{Store, StoredReferenceValues};
use warden_verifier::token::TokenKey;

const SECRET: &[u8] = b"the test guest's disk key";
const RESOURCE: &str = "default/disk/key";

fn captured() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/evidence")
}

/// A verifier on 127.0.0.1 whose store accepts the captured report's measurement and policy.
async fn verifier() -> SocketAddr {
    let dir = captured();
    let report_bytes = std::fs::read(dir.join("report.bin")).unwrap();
    let report = Report::parse(&report_bytes).unwrap();
    let store = Arc::new(MemoryStore::new());
    let values = StoredReferenceValues {
        id: "warden-snp-guest.igvm@captured".into(),
        image: "warden-snp-guest.igvm".into(),
        measurements: vec![*report.measurement()],
        policy: report.policy(),
        payload: Vec::new(),
    };
    store.add_reference_values(values.clone()).await.unwrap();
    let policy = ResourcePolicy { reference_values: vec![values.id.clone()], ..ResourcePolicy::default() };
    store.set_policy("captured-image", &policy).await.unwrap();
    store.put_resource(&RESOURCE.parse().unwrap(), SECRET, "captured-image").await.unwrap();
    let config = Config {
        store,
        roots: TrustAnchors::only(&std::fs::read(dir.join("ark.pem")).unwrap()).unwrap(),
        token_key: TokenKey::generate(),
        session_key: SessionKey::new(vec![7; 32]).unwrap(),
        session_seconds: 60,
    };
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), config).await.unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve(std::future::pending()));
    addr
}

/// Runs the blocking agent beside the server.
async fn agent<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_bound_to_the_challenge_gets_the_secret() {
    let url = format!("http://{}", verifier().await);
    let released = agent(move || {
        let path: ResourcePath = RESOURCE.parse().unwrap();
        fetch(&url, &path, &Attester::InsecureRebound(captured()))
    })
    .await
    .unwrap();
    assert_eq!(released.secret.as_slice(), SECRET);
    assert_eq!(released.token.split('.').count(), 3, "a compact JWS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_for_another_nonce_is_refused_on_the_binding_check() {
    let url = format!("http://{}", verifier().await);
    let refused = agent(move || {
        let path: ResourcePath = RESOURCE.parse().unwrap();
        fetch(&url, &path, &Attester::Dir(captured()))
    })
    .await;
    match refused {
        Err(AgentError::Refused { step: Step::Attest, status: 401, reason, .. }) => {
            assert_eq!(reason, "report-data-binds-nonce-and-manifest");
        }
        other => panic!("not refused on the binding: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_released_secret_needs_the_handshakes_private_key() {
    let url = format!("http://{}", verifier().await);
    let (sealed, right) = agent(move || {
        let mut client = KbsClient::new(&url);
        let key = tee_key::fresh();
        let runtime = tee_key::runtime_data(&client.auth().unwrap(), &key);
        let evidence = Attester::InsecureRebound(captured()).attest(&runtime.svsm_nonce().unwrap()).unwrap();
        client.attest(&runtime, &evidence).unwrap();
        (client.resource(&RESOURCE.parse().unwrap()).unwrap(), key)
    })
    .await;
    assert_eq!(RecipientKey::generate_p384().decrypt(&sealed).unwrap_err(), JweError::Decrypt);
    assert_eq!(right.decrypt(&sealed).unwrap().as_slice(), SECRET);
}

#[test]
fn the_rebinding_key_is_the_captured_chains_vcek() {
    use warden_evidence::{cert_table, chain, vcek};
    let table = std::fs::read(captured().join("certs.bin")).unwrap();
    let der = cert_table::find(&table, &cert_table::VCEK_GUID).unwrap().expect("the table has the VCEK");
    let certified = vcek::public_key(&chain::parse_der(der).unwrap()).unwrap();
    assert_eq!(*insecure_test_psp::vcek().verifying_key(), certified);
}
