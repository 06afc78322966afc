//! The HTTP tests' harness: a verifier served in-process on 127.0.0.1:0 over a temporary SQLite store
//! seeded with one INSECURE TEST image's reference values, its policies and secrets; evidence for it signed by
//! `warden-evidence`'s test hierarchy (included from that crate's tests, so both test suites build
//! reports one way); and a plain HTTP client that carries the session cookie by hand.
#![allow(dead_code, reason = "each test binary uses part of the support")]

#[path = "../../../evidence/tests/support/mod.rs"]
pub mod evidence_fixture;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use serde_json::{Value, json};
use sha2::{Digest, Sha512};
use warden_evidence::manifest;
use warden_verifier::jwe::RecipientKey;
use warden_verifier::policy::ResourcePolicy;
use warden_verifier::protocol::{Attestation, RuntimeData, SvsmEvidence, Tcb};
use warden_verifier::server::{Config, Server};
use warden_verifier::session::SessionKey;
use warden_verifier::store::{Store, StoreKey, StoredReferenceValues};
use warden_verifier::token::TokenKey;

use evidence_fixture::ReportFields;

/// The id the test image's reference values are stored under.
pub const REFERENCE_ID: &str = "warden-test-image:sha256:4d4d";
/// A secret under the `default` policy (the test image, the test chip's TCB, no debugging).
pub const SECRET_PATH: &str = "default/key/disk";
pub const SECRET: &[u8] = b"the disk encryption key";
/// A secret whose policy wants a newer SNP firmware than the test chip reports.
pub const STRICT_PATH: &str = "default/key/strict";

/// The test chip's TCB as a policy's minimum.
pub fn chip_tcb() -> Tcb {
    let tcb = evidence_fixture::TCB;
    Tcb { bootloader: tcb.bootloader, tee: tcb.tee, snp: tcb.snp, microcode: tcb.microcode }
}

/// A running verifier and its store.
pub struct Verifier {
    pub url: String,
    pub store: Arc<dyn Store>,
    /// The server's runtime, for reaching the store from a test.
    pub runtime: tokio::runtime::Handle,
}

/// Starts a verifier whose challenges and tokens live `session_seconds`.
pub fn start(session_seconds: u64) -> Verifier {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let url = format!("sqlite://{}", scratch_dir("store").join("store.db").display());
    let store: Arc<dyn Store> =
        runtime.block_on(warden_verifier::store::open(&url, StoreKey::new([0x5A; 32]))).unwrap();
    runtime.block_on(seed(store.as_ref()));
    let config = Config {
        store: store.clone(),
        roots: evidence_fixture::test_roots(),
        token_key: TokenKey::generate(),
        session_key: SessionKey::derived_from(&StoreKey::new([0x5A; 32])),
        session_seconds,
    };
    let handle = runtime.handle().clone();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        runtime.block_on(async {
            let server = Server::bind("127.0.0.1:0".parse().unwrap(), config).await.unwrap();
            sender.send(server.local_addr().unwrap()).unwrap();
            // Serves until the test binary exits.
            server.serve(std::future::pending()).await.unwrap();
        })
    });
    let addr = receiver.recv().unwrap();
    Verifier { url: format!("http://{addr}"), store, runtime: handle }
}

/// A fresh directory under the system's temporary directory, unique within this test run.
pub fn scratch_dir(name: &str) -> std::path::PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("warden-verifier-http-{}-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The test image's reference values, a default and a strict policy, and a secret under each.
pub async fn seed(store: &dyn Store) {
    let values = StoredReferenceValues {
        id: REFERENCE_ID.into(),
        image: "warden-test-image".into(),
        measurements: vec![evidence_fixture::MEASUREMENT],
        policy: evidence_fixture::POLICY,
        payload: b"{}".to_vec(),
    };
    store.add_reference_values(values).await.unwrap();
    let default = ResourcePolicy {
        reference_values: vec![REFERENCE_ID.into()],
        minimum_tcb: chip_tcb(),
        allow_debug: false,
    };
    let strict =
        ResourcePolicy { minimum_tcb: Tcb { snp: chip_tcb().snp + 1, ..chip_tcb() }, ..default.clone() };
    store.set_policy("default", &default).await.unwrap();
    store.set_policy("strict", &strict).await.unwrap();
    store.put_resource(&SECRET_PATH.parse().unwrap(), SECRET, "default").await.unwrap();
    store.put_resource(&STRICT_PATH.parse().unwrap(), b"strict", "strict").await.unwrap();
}

/// Evidence of the test image bound to `runtime` (REPORT_DATA = SHA-512(SHA-512(JCS) ‖ manifest)),
/// with `tweak` applied to the report before it is signed.
pub fn evidence_for(runtime: &RuntimeData, tweak: impl FnOnce(&mut ReportFields)) -> SvsmEvidence {
    let nonce = runtime.svsm_nonce().unwrap();
    let manifest = manifest::single_vtpm_manifest(&evidence_fixture::ek(0xC5));
    let binding: [u8; 64] = Sha512::new().chain_update(nonce).chain_update(&manifest).finalize().into();
    let evidence = evidence_fixture::evidence(|fields| {
        fields.report_data = binding;
        tweak(fields);
    });
    SvsmEvidence::encode(&evidence.report, &evidence.manifest, &evidence.cert_table)
}

/// An HTTP answer: status, JSON body (Null if none), and the session cookie it set.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub cookie: Option<String>,
}

impl Answer {
    /// The error reason (`type`) of an error answer.
    pub fn reason(&self) -> &str {
        self.body["type"].as_str().unwrap_or("<no type>")
    }
}

/// A client that keeps its session cookie, as a browser would.
#[derive(Clone, Debug)]
pub struct Client {
    pub url: String,
    pub cookie: Option<String>,
}

impl Client {
    pub fn new(verifier: &Verifier) -> Self {
        Self::at(&verifier.url)
    }

    /// A client of the verifier at `url` (`http://addr`).
    pub fn at(url: &str) -> Self {
        Self { url: url.to_owned(), cookie: None }
    }

    /// Sends a request and keeps any cookie the answer sets.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Answer {
        let mut request = ureq::request(method, &format!("{}{path}", self.url));
        if let Some(cookie) = &self.cookie {
            request = request.set("Cookie", cookie);
        }
        for (name, value) in headers {
            request = request.set(name, value);
        }
        let sent = match body {
            Some(body) => request.send_bytes(body),
            None => request.call(),
        };
        let response = match sent {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = response.status();
        let cookie = response.header("set-cookie").map(|c| c.split(';').next().unwrap().to_owned());
        let text = response.into_string().unwrap();
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() };
        if cookie.is_some() {
            self.cookie.clone_from(&cookie);
        }
        Answer { status, body, cookie }
    }

    pub fn post_json(&mut self, path: &str, body: &Value) -> Answer {
        let bytes = serde_json::to_vec(body).unwrap();
        self.send("POST", path, &[("Content-Type", "application/json")], Some(&bytes))
    }

    /// `POST /kbs/v0/auth`; returns the challenge nonce.
    pub fn auth(&mut self) -> String {
        let answer =
            self.post_json("/kbs/v0/auth", &json!({"version": "0.4.0", "tee": "svsm", "extra-params": ""}));
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.body["nonce"].as_str().unwrap().to_owned()
    }

    /// `POST /kbs/v0/attest` with `attestation`.
    pub fn attest(&mut self, attestation: &Attestation) -> Answer {
        self.post_json("/kbs/v0/attest", &serde_json::to_value(attestation).unwrap())
    }

    /// `GET /kbs/v0/resource/<path>`, with a bearer token if given.
    pub fn resource(&mut self, path: &str, bearer: Option<&str>) -> Answer {
        let authorization = bearer.map(|token| format!("Bearer {token}"));
        let headers: Vec<(&str, &str)> =
            authorization.iter().map(|a| ("Authorization", a.as_str())).collect();
        self.send("GET", &format!("/kbs/v0/resource/{path}"), &headers, None)
    }
}

/// A guest's side of one handshake: its key, its runtime data, and its attestation.
pub struct Guest {
    pub key: RecipientKey,
    pub attestation: Attestation,
}

/// Auth, then the runtime data and matching evidence (with `tweak` applied to the report).
pub fn prepare(client: &mut Client, key: RecipientKey, tweak: impl FnOnce(&mut ReportFields)) -> Guest {
    let nonce = client.auth();
    let runtime_data = RuntimeData { nonce, tee_pubkey: key.public_jwk() };
    let tee_evidence = evidence_for(&runtime_data, tweak);
    Guest { key, attestation: Attestation { runtime_data, tee_evidence } }
}

/// A full handshake that must pass; returns the token.
pub fn attested(client: &mut Client, key: RecipientKey) -> (Guest, String) {
    let guest = prepare(client, key, |_| {});
    let answer = client.attest(&guest.attestation);
    assert_eq!(answer.status, 200, "{answer:?}");
    let token = answer.body["token"].as_str().unwrap().to_owned();
    (guest, token)
}
