//! A [`Store`] in process memory, for unit and HTTP tests that need no database. Nothing is kept
//! across restarts and nothing is shared between processes, so it is not for serving replicas; the
//! secrets are not encrypted because they never reach a disk.
use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use zeroize::Zeroizing;

use super::{ResourcePath, Store, StoreError, StoredReferenceValues, StoredResource};
use crate::policy::ResourcePolicy;

/// Everything a [`MemoryStore`] holds, behind one lock.
#[derive(Debug, Default)]
struct Tables {
    resources: BTreeMap<ResourcePath, (Zeroizing<Vec<u8>>, String)>,
    reference_values: BTreeMap<String, StoredReferenceValues>,
    policies: BTreeMap<String, ResourcePolicy>,
    /// Used challenges: session id → expiry (Unix seconds).
    challenges: BTreeMap<String, u64>,
}

/// The in-memory store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn tables(&self) -> Result<std::sync::MutexGuard<'_, Tables>, StoreError> {
        self.tables.lock().map_err(|_| StoreError::Database("memory store lock poisoned".into()))
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn put_resource(
        &self,
        path: &ResourcePath,
        secret: &[u8],
        policy_name: &str,
    ) -> Result<(), StoreError> {
        let value = (Zeroizing::new(secret.to_vec()), policy_name.to_owned());
        self.tables()?.resources.insert(path.clone(), value);
        Ok(())
    }

    async fn resource(&self, path: &ResourcePath) -> Result<Option<StoredResource>, StoreError> {
        Ok(self.tables()?.resources.get(path).map(|(secret, policy_name)| StoredResource {
            secret: secret.clone(),
            policy_name: policy_name.clone(),
        }))
    }

    async fn list_resources(&self) -> Result<Vec<(ResourcePath, String)>, StoreError> {
        Ok(self
            .tables()?
            .resources
            .iter()
            .map(|(path, (_, policy))| (path.clone(), policy.clone()))
            .collect())
    }

    async fn remove_resource(&self, path: &ResourcePath) -> Result<bool, StoreError> {
        Ok(self.tables()?.resources.remove(path).is_some())
    }

    async fn add_reference_values(&self, values: StoredReferenceValues) -> Result<(), StoreError> {
        self.tables()?.reference_values.insert(values.id.clone(), values);
        Ok(())
    }

    async fn reference_values(&self) -> Result<Vec<StoredReferenceValues>, StoreError> {
        Ok(self.tables()?.reference_values.values().cloned().collect())
    }

    async fn set_policy(&self, name: &str, policy: &ResourcePolicy) -> Result<(), StoreError> {
        self.tables()?.policies.insert(name.to_owned(), policy.clone());
        Ok(())
    }

    async fn policy(&self, name: &str) -> Result<Option<ResourcePolicy>, StoreError> {
        Ok(self.tables()?.policies.get(name).cloned())
    }

    async fn consume_challenge(&self, session_id: &str, expires_at: u64) -> Result<bool, StoreError> {
        let now = crate::now();
        let mut tables = self.tables()?;
        tables.challenges.retain(|_, expiry| *expiry >= now);
        if tables.challenges.contains_key(session_id) {
            return Ok(false);
        }
        tables.challenges.insert(session_id.to_owned(), expires_at);
        Ok(true)
    }
}
