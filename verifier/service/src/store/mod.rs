//! Where the service keeps what outlives a request: resources (encrypted at rest), signed reference
//! values, resource policies, and the used challenges (the replay check every replica shares).
//!
//! One object-safe async trait, [`Store`], so the HTTP layer does not know whether it runs on an
//! embedded SQLite file or on a PostgreSQL server shared by several replicas; [`open`] picks one from
//! the URL. [`memory::MemoryStore`] is for unit tests and keeps nothing.
mod backend;
pub mod memory;
mod sealed;
pub mod sql;

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use zeroize::Zeroizing;

use crate::policy::ResourcePolicy;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store URL names no supported backend.
    #[error("unsupported store URL {0:?} (expected sqlite://PATH or postgres://...)")]
    UnsupportedUrl(String),
    /// The database itself failed.
    #[error("database: {0}")]
    Database(String),
    /// A stored resource does not decrypt under the store key (a wrong key, or tampering).
    #[error("resource {0} does not decrypt under the store key (wrong --store-key?)")]
    WrongKey(String),
    /// The store key file is unreadable or not 32 bytes.
    #[error("store key: {0}")]
    Key(String),
    /// A stored value does not parse.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
}

/// The 256-bit key resources are encrypted under at rest (AES-256-GCM, the resource path as AAD).
#[derive(Clone)]
pub struct StoreKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoreKey(..)")
    }
}

impl StoreKey {
    /// A key from its bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Reads a key file: 32 raw bytes, or 64 hex digits (surrounding whitespace ignored).
    pub fn from_file(path: &Path) -> Result<Self, StoreError> {
        let raw = Zeroizing::new(
            std::fs::read(path).map_err(|e| StoreError::Key(format!("{}: {e}", path.display())))?,
        );
        let mut key = [0u8; 32];
        if raw.len() == 32 {
            key.copy_from_slice(&raw);
        } else {
            let text = std::str::from_utf8(&raw).map(str::trim).unwrap_or("");
            hex::decode_to_slice(text, &mut key).map_err(|_| {
                StoreError::Key(format!("{}: not 32 bytes nor 64 hex digits", path.display()))
            })?;
        }
        Ok(Self::new(key))
    }

    /// The key bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// A resource's path, `<repo>/<type>/<tag>`: each part `[A-Za-z0-9._-]+` and not `.` or `..`, so a path
/// never escapes or aliases another when a store or a log uses it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourcePath {
    repo: String,
    kind: String,
    tag: String,
}

/// A resource path part that is empty, `.`/`..` or has another character than `[A-Za-z0-9._-]`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid resource path part {0:?} (expected [A-Za-z0-9._-]+, not . or ..)")]
pub struct InvalidResourcePath(pub String);

impl ResourcePath {
    /// A path from its three parts, validated.
    pub fn new(repo: &str, kind: &str, tag: &str) -> Result<Self, InvalidResourcePath> {
        for part in [repo, kind, tag] {
            let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
            if part.is_empty() || part == "." || part == ".." || !part.chars().all(allowed) {
                return Err(InvalidResourcePath(part.chars().take(64).collect()));
            }
        }
        Ok(Self { repo: repo.into(), kind: kind.into(), tag: tag.into() })
    }

    /// The repository part.
    pub fn repo(&self) -> &str {
        &self.repo
    }

    /// The type part.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The tag part.
    pub fn tag(&self) -> &str {
        &self.tag
    }
}

impl fmt::Display for ResourcePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.repo, self.kind, self.tag)
    }
}

impl FromStr for ResourcePath {
    type Err = InvalidResourcePath;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut parts = text.split('/');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(repo), Some(kind), Some(tag), None) => Self::new(repo, kind, tag),
            _ => Err(InvalidResourcePath(text.chars().take(64).collect())),
        }
    }
}

/// A resource as read back: the decrypted secret and the name of the policy that guards it.
#[derive(Clone, Debug)]
pub struct StoredResource {
    /// The plaintext secret (wiped when dropped).
    pub secret: Zeroizing<Vec<u8>>,
    /// The [`ResourcePolicy`] it is released under.
    pub policy_name: String,
}

/// Reference values whose DSSE signature was checked before they were stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredReferenceValues {
    /// Deterministic id: the image name and the SHA-256 of the signed payload.
    pub id: String,
    /// The image name the payload names.
    pub image: String,
    /// The accepted launch measurements (SEV-SNP MEASUREMENT, 48 bytes each).
    pub measurements: Vec<[u8; 48]>,
    /// The guest policy the image was signed with.
    pub policy: u64,
    /// The signed payload (the in-toto statement), kept for audit.
    pub payload: Vec<u8>,
}

/// The service's storage; every method is one transaction.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// Stores (or replaces) a secret, encrypted under the store key, guarded by `policy_name`.
    async fn put_resource(
        &self,
        path: &ResourcePath,
        secret: &[u8],
        policy_name: &str,
    ) -> Result<(), StoreError>;
    /// The decrypted resource at `path`, if any; [`StoreError::WrongKey`] if it does not decrypt.
    async fn resource(&self, path: &ResourcePath) -> Result<Option<StoredResource>, StoreError>;
    /// Every resource's path and policy name, in path order.
    async fn list_resources(&self) -> Result<Vec<(ResourcePath, String)>, StoreError>;
    /// Removes a resource; false if there was none.
    async fn remove_resource(&self, path: &ResourcePath) -> Result<bool, StoreError>;
    /// Stores (or replaces, by id) checked reference values.
    async fn add_reference_values(&self, values: StoredReferenceValues) -> Result<(), StoreError>;
    /// Every stored reference value, in id order.
    async fn reference_values(&self) -> Result<Vec<StoredReferenceValues>, StoreError>;
    /// Stores (or replaces) a named policy.
    async fn set_policy(&self, name: &str, policy: &ResourcePolicy) -> Result<(), StoreError>;
    /// The named policy, if any.
    async fn policy(&self, name: &str) -> Result<Option<ResourcePolicy>, StoreError>;
    /// Marks a challenge used: true the first time, false if any replica already consumed it (the
    /// replay check). `expires_at` (Unix seconds) lets the store forget it once it could not be used.
    async fn consume_challenge(&self, session_id: &str, expires_at: u64) -> Result<bool, StoreError>;
}

/// Opens the store a URL names: `sqlite://PATH` (created if missing), `postgres://...`, or `memory:`
/// (nothing kept; for tests).
pub async fn open(url: &str, key: StoreKey) -> Result<Arc<dyn Store>, StoreError> {
    if url == "memory:" {
        return Ok(Arc::new(memory::MemoryStore::new()));
    }
    Ok(Arc::new(sql::SqlStore::open(url, &key).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_paths_are_validated() {
        let path: ResourcePath = "default/key/disk-1.v2_a".parse().unwrap();
        assert_eq!(path.to_string(), "default/key/disk-1.v2_a");
        for bad in ["a/b", "a/b/c/d", "a/../c", "a/./c", "a//c", "a/b/c d", "a/b/ü", "/a/b"] {
            assert!(bad.parse::<ResourcePath>().is_err(), "{bad}");
        }
    }
}
