//! The store's behaviour, written once and run on every backend: an embedded SQLite file (always) and a
//! real PostgreSQL server the test starts from Debian's package (skipped, saying so, only where it is
//! not installed). Each case gets a fresh database.
mod harness;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use warden_verifier::policy::ResourcePolicy;
use warden_verifier::store::{self, ResourcePath, Store, StoreError, StoreKey, StoredReferenceValues};

use harness::postgres::Postgres;

type Case = fn(Backend) -> Pin<Box<dyn Future<Output = ()>>>;

/// Where a case's fresh store lives.
#[derive(Clone, Debug)]
struct Backend {
    url: String,
}

impl Backend {
    async fn open(&self, key: [u8; 32]) -> Result<Arc<dyn Store>, StoreError> {
        store::open(&self.url, StoreKey::new(key)).await
    }
}

const KEY: [u8; 32] = [0x5A; 32];

fn path(text: &str) -> ResourcePath {
    text.parse().unwrap()
}

/// Every case, by name.
const CASES: &[(&str, Case)] = &[
    ("resources_round_trip", |b| Box::pin(resources_round_trip(b))),
    ("wrong_key_reads_nothing", |b| Box::pin(wrong_key_reads_nothing(b))),
    ("reference_values_round_trip", |b| Box::pin(reference_values_round_trip(b))),
    ("policies_round_trip", |b| Box::pin(policies_round_trip(b))),
    ("challenges_are_consumed_once", |b| Box::pin(challenges_are_consumed_once(b))),
    ("a_second_opener_shares_the_data", |b| Box::pin(a_second_opener_shares_the_data(b))),
];

async fn resources_round_trip(backend: Backend) {
    let store = backend.open(KEY).await.unwrap();
    assert!(store.resource(&path("r/key/one")).await.unwrap().is_none());
    store.put_resource(&path("r/key/one"), b"first secret", "p1").await.unwrap();
    store.put_resource(&path("r/key/two"), b"second", "p2").await.unwrap();
    let one = store.resource(&path("r/key/one")).await.unwrap().unwrap();
    assert_eq!((one.secret.as_slice(), one.policy_name.as_str()), (&b"first secret"[..], "p1"));
    // Put replaces, policy included.
    store.put_resource(&path("r/key/one"), b"rotated", "p3").await.unwrap();
    let one = store.resource(&path("r/key/one")).await.unwrap().unwrap();
    assert_eq!((one.secret.as_slice(), one.policy_name.as_str()), (&b"rotated"[..], "p3"));
    let listed = store.list_resources().await.unwrap();
    assert_eq!(listed, vec![(path("r/key/one"), "p3".to_owned()), (path("r/key/two"), "p2".to_owned())]);
    assert!(store.remove_resource(&path("r/key/one")).await.unwrap());
    assert!(!store.remove_resource(&path("r/key/one")).await.unwrap(), "already gone");
    assert!(store.resource(&path("r/key/one")).await.unwrap().is_none());
    assert_eq!(store.list_resources().await.unwrap().len(), 1);
}

/// A store opened with another key is refused at once, and never yields a secret.
async fn wrong_key_reads_nothing(backend: Backend) {
    let store = backend.open(KEY).await.unwrap();
    store.put_resource(&path("r/key/one"), b"secret", "p").await.unwrap();
    drop(store);
    let mut other = KEY;
    other[31] ^= 1;
    assert!(matches!(backend.open(other).await, Err(StoreError::WrongKey(_))), "a wrong key fails loudly");
    let again = backend.open(KEY).await.unwrap();
    assert_eq!(again.resource(&path("r/key/one")).await.unwrap().unwrap().secret.as_slice(), b"secret");
}

fn values(id: &str, first: u8) -> StoredReferenceValues {
    StoredReferenceValues {
        id: id.into(),
        image: "warden-snp-guest.igvm".into(),
        measurements: vec![[first; 48], [first.wrapping_add(1); 48]],
        // A policy with bit 63 set must survive the SQL integer types.
        policy: 0x8000_0000_0003_0000,
        payload: b"{\"_type\":\"statement\"}".to_vec(),
    }
}

async fn reference_values_round_trip(backend: Backend) {
    let store = backend.open(KEY).await.unwrap();
    assert!(store.reference_values().await.unwrap().is_empty());
    store.add_reference_values(values("b-image", 1)).await.unwrap();
    store.add_reference_values(values("a-image", 7)).await.unwrap();
    store.add_reference_values(values("b-image", 9)).await.unwrap();
    assert_eq!(store.reference_values().await.unwrap(), vec![values("a-image", 7), values("b-image", 9)]);
}

async fn policies_round_trip(backend: Backend) {
    let store = backend.open(KEY).await.unwrap();
    assert!(store.policy("strict").await.unwrap().is_none());
    let mut policy = ResourcePolicy { reference_values: vec!["a-image".into()], ..ResourcePolicy::default() };
    store.set_policy("strict", &policy).await.unwrap();
    assert_eq!(store.policy("strict").await.unwrap(), Some(policy.clone()));
    policy.allow_debug = true;
    store.set_policy("strict", &policy).await.unwrap();
    assert_eq!(store.policy("strict").await.unwrap(), Some(policy));
}

async fn challenges_are_consumed_once(backend: Backend) {
    let store = backend.open(KEY).await.unwrap();
    let later = warden_verifier::now() + 300;
    assert!(store.consume_challenge("session-1", later).await.unwrap());
    assert!(!store.consume_challenge("session-1", later).await.unwrap(), "a replay");
    assert!(store.consume_challenge("session-2", later).await.unwrap());
    // Ten concurrent consumers of one challenge: exactly one wins.
    let racers = (0..10).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.consume_challenge("session-3", later).await.unwrap() })
    });
    let mut winners = 0;
    for racer in racers {
        winners += usize::from(racer.await.unwrap());
    }
    assert_eq!(winners, 1);
}

/// Two stores on one database (two replicas) see each other's writes and share the replay check.
async fn a_second_opener_shares_the_data(backend: Backend) {
    let (a, b) = (backend.open(KEY).await.unwrap(), backend.open(KEY).await.unwrap());
    a.put_resource(&path("r/key/shared"), b"shared", "p").await.unwrap();
    assert_eq!(b.resource(&path("r/key/shared")).await.unwrap().unwrap().secret.as_slice(), b"shared");
    let later = warden_verifier::now() + 300;
    assert!(a.consume_challenge("session-x", later).await.unwrap());
    assert!(!b.consume_challenge("session-x", later).await.unwrap(), "replayed on the other replica");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_suite() {
    let dir = harness::scratch_dir("sqlite-suite");
    for (name, case) in CASES {
        let url = format!("sqlite://{}", dir.join(format!("{name}.db")).display());
        case(Backend { url }).await;
        println!("sqlite: {name} ok");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_suite() {
    let Some(server) = Postgres::start("store_suite") else { return };
    for (name, case) in CASES {
        case(Backend { url: server.database(name) }).await;
        println!("postgres: {name} ok");
    }
}
