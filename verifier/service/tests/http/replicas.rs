//! Two `warden-verifier serve` processes on one PostgreSQL database serve one client's handshake across
//! them: the challenge from replica A, the attestation to replica B, the secret from A again. They share
//! nothing but the database and the operator's key files (store key, from which the session-cookie key
//! derives, and token key), which is what lets any replica continue any session. The replay check is
//! shared too: the challenge B consumed is refused on A.

#[path = "../harness/postgres.rs"]
mod postgres;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use warden_verifier::jwe::RecipientKey;
use warden_verifier::protocol::Response;
use warden_verifier::store::{self, StoreKey};

use crate::support::{self, Client, SECRET, SECRET_PATH, evidence_fixture, prepare};

const STORE_KEY: [u8; 32] = [0x3C; 32];

/// A `serve` process, killed when dropped.
struct Replica {
    child: Child,
    url: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve` on `store` and waits for its "listening" line.
fn replica(store: &str, dir: &Path) -> Replica {
    let mut child = Command::new(env!("CARGO_BIN_EXE_warden-verifier"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store", store])
        .arg("--store-key")
        .arg(dir.join("store.key"))
        .arg("--token-key")
        .arg(dir.join("token.pem"))
        .arg("--ark")
        .arg(dir.join("ark.pem"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap()).read_line(&mut line).unwrap();
    let Some(url) = line.trim().strip_prefix("warden-verifier: listening on ") else {
        let _ = child.kill();
        panic!("serve did not start: {line:?}");
    };
    Replica { url: url.to_owned(), child }
}

/// The test image's reference values, policies and secrets, written straight into the shared store.
fn seed(url: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = store::open(url, StoreKey::new(STORE_KEY)).await.unwrap();
        support::seed(store.as_ref()).await;
    });
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("warden-verifier-replicas-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn two_replicas_on_one_postgres_serve_one_handshake() {
    let Some(server) = postgres::Postgres::start("replicas") else { return };
    let url = server.database("replicas");
    let dir = scratch();
    std::fs::write(dir.join("store.key"), STORE_KEY).unwrap();
    std::fs::write(dir.join("ark.pem"), evidence_fixture::pem(&evidence_fixture::hierarchy().ark)).unwrap();
    seed(&url);
    // A first: it writes the token key that B then reads (an operator would hand both the same file).
    let a = replica(&url, &dir);
    let b = replica(&url, &dir);
    assert_ne!(a.url, b.url);

    let mut client = Client::at(&a.url);
    let guest = prepare(&mut client, RecipientKey::generate_p384(), |_| {});
    let challenge_cookie = client.cookie.clone();
    client.url.clone_from(&b.url);
    let answer = client.attest(&guest.attestation);
    assert_eq!(answer.status, 200, "attest on B with A's challenge: {answer:?}");
    client.url.clone_from(&a.url);
    let answer = client.resource(SECRET_PATH, None);
    assert_eq!(answer.status, 200, "resource on A with B's token: {answer:?}");
    let released: Response = serde_json::from_value(answer.body).unwrap();
    assert_eq!(guest.key.decrypt(&released).unwrap().as_slice(), SECRET);

    // The challenge B consumed cannot be answered again on A.
    let mut replay = Client::at(&a.url);
    replay.cookie = challenge_cookie;
    let answer = replay.attest(&guest.attestation);
    assert_eq!((answer.status, answer.reason()), (401, "challenge-replayed"), "{answer:?}");

    drop((a, b));
    std::fs::remove_dir_all(dir).unwrap();
}
