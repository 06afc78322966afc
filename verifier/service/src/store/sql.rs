//! [`Store`] on SQL with sqlx: the one implementation for SQLite and PostgreSQL ([`Pool`]). Every method
//! is one statement (or one read), so it is atomic on its own; the replay check relies on the primary
//! key of `used_challenges`, which every replica on a shared database sees.
use async_trait::async_trait;

use super::backend::{Pool, database, on_pool};
use super::sealed::Sealer;
use super::{ResourcePath, Store, StoreError, StoreKey, StoredReferenceValues, StoredResource};
use crate::policy::ResourcePolicy;

/// The `store_meta` row that tells whether the store key is this store's.
const KEY_CHECK_ROW: &str = "store-key-check";
/// The length of one stored launch measurement.
const MEASUREMENT_LEN: usize = 48;

/// The SQL store.
#[derive(Debug)]
pub struct SqlStore {
    pool: Pool,
    sealer: Sealer,
}

impl SqlStore {
    /// Connects, migrates, and checks the key: the first opener records a key-check row sealed under
    /// its key, and every later opener with another key is refused here, before it serves or writes.
    pub async fn open(url: &str, key: &StoreKey) -> Result<Self, StoreError> {
        let store = Self { pool: Pool::connect(url).await?, sealer: Sealer::new(key) };
        let check = store.sealer.seal_check()?;
        // Two replicas opening a new store at once: one insert wins, both then compare with the winner's.
        on_pool!(&store.pool, |p| {
            sqlx::query("INSERT INTO store_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                .bind(KEY_CHECK_ROW)
                .bind(&check)
                .execute(p)
                .await
                .map_err(database)?;
        });
        let recorded: Vec<u8> = on_pool!(&store.pool, |p| {
            sqlx::query_scalar("SELECT value FROM store_meta WHERE name = $1")
                .bind(KEY_CHECK_ROW)
                .fetch_one(p)
                .await
                .map_err(database)?
        });
        if !store.sealer.opens_check(&recorded) {
            store.pool.close().await;
            return Err(StoreError::WrongKey("the store (its key-check row)".into()));
        }
        Ok(store)
    }

    /// Closes the connections.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn put_resource(
        &self,
        path: &ResourcePath,
        secret: &[u8],
        policy_name: &str,
    ) -> Result<(), StoreError> {
        let sealed = self.sealer.seal(path, policy_name, secret)?;
        on_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO resources (path, policy_name, sealed) VALUES ($1, $2, $3) \
                 ON CONFLICT (path) DO UPDATE SET policy_name = excluded.policy_name, sealed = excluded.sealed",
            )
            .bind(path.to_string())
            .bind(policy_name)
            .bind(&sealed)
            .execute(p)
            .await
            .map_err(database)?;
        });
        Ok(())
    }

    async fn resource(&self, path: &ResourcePath) -> Result<Option<StoredResource>, StoreError> {
        let row: Option<(String, Vec<u8>)> = on_pool!(&self.pool, |p| {
            sqlx::query_as("SELECT policy_name, sealed FROM resources WHERE path = $1")
                .bind(path.to_string())
                .fetch_optional(p)
                .await
                .map_err(database)?
        });
        let Some((policy_name, sealed)) = row else { return Ok(None) };
        let secret = self.sealer.open(path, &policy_name, &sealed)?;
        Ok(Some(StoredResource { secret, policy_name }))
    }

    async fn list_resources(&self) -> Result<Vec<(ResourcePath, String)>, StoreError> {
        let rows: Vec<(String, String)> = on_pool!(&self.pool, |p| {
            sqlx::query_as("SELECT path, policy_name FROM resources ORDER BY path")
                .fetch_all(p)
                .await
                .map_err(database)?
        });
        rows.into_iter()
            .map(|(path, policy)| Ok((path.parse().map_err(|_| corrupt("a resource path"))?, policy)))
            .collect()
    }

    async fn remove_resource(&self, path: &ResourcePath) -> Result<bool, StoreError> {
        let removed = on_pool!(&self.pool, |p| {
            sqlx::query("DELETE FROM resources WHERE path = $1")
                .bind(path.to_string())
                .execute(p)
                .await
                .map_err(database)?
                .rows_affected()
        });
        Ok(removed > 0)
    }

    async fn add_reference_values(&self, values: StoredReferenceValues) -> Result<(), StoreError> {
        let measurements = values.measurements.concat();
        on_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO reference_values (id, image, measurements, policy, payload) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET image = excluded.image, \
                 measurements = excluded.measurements, policy = excluded.policy, payload = excluded.payload",
            )
            .bind(&values.id)
            .bind(&values.image)
            .bind(&measurements)
            .bind(format!("{:#x}", values.policy))
            .bind(&values.payload)
            .execute(p)
            .await
            .map_err(database)?;
        });
        Ok(())
    }

    async fn reference_values(&self) -> Result<Vec<StoredReferenceValues>, StoreError> {
        type Row = (String, String, Vec<u8>, String, Vec<u8>);
        let rows: Vec<Row> = on_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT id, image, measurements, policy, payload FROM reference_values ORDER BY id",
            )
            .fetch_all(p)
            .await
            .map_err(database)?
        });
        rows.into_iter()
            .map(|(id, image, measurements, policy, payload)| {
                if measurements.len() % MEASUREMENT_LEN != 0 {
                    return Err(corrupt("reference-value measurements"));
                }
                let measurements = measurements
                    .chunks_exact(MEASUREMENT_LEN)
                    .map(|m| <[u8; MEASUREMENT_LEN]>::try_from(m).map_err(|_| corrupt("a measurement")))
                    .collect::<Result<_, _>>()?;
                let policy = policy
                    .strip_prefix("0x")
                    .and_then(|hex| u64::from_str_radix(hex, 16).ok())
                    .ok_or_else(|| corrupt("a reference-value policy"))?;
                Ok(StoredReferenceValues { id, image, measurements, policy, payload })
            })
            .collect()
    }

    async fn set_policy(&self, name: &str, policy: &ResourcePolicy) -> Result<(), StoreError> {
        let json = serde_json::to_string(policy).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        on_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO policies (name, policy) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET policy = excluded.policy",
            )
            .bind(name)
            .bind(&json)
            .execute(p)
            .await
            .map_err(database)?;
        });
        Ok(())
    }

    async fn policy(&self, name: &str) -> Result<Option<ResourcePolicy>, StoreError> {
        let json: Option<String> = on_pool!(&self.pool, |p| {
            sqlx::query_scalar("SELECT policy FROM policies WHERE name = $1")
                .bind(name)
                .fetch_optional(p)
                .await
                .map_err(database)?
        });
        json.map(|json| serde_json::from_str(&json).map_err(|_| corrupt("a policy"))).transpose()
    }

    async fn consume_challenge(&self, session_id: &str, expires_at: u64) -> Result<bool, StoreError> {
        let now = to_sql_time(crate::now());
        // A row may go once its challenge has expired: the session cookie itself is refused after that,
        // so forgetting it cannot let a replay through.
        on_pool!(&self.pool, |p| {
            sqlx::query("DELETE FROM used_challenges WHERE expires_at < $1")
                .bind(now)
                .execute(p)
                .await
                .map_err(database)?;
        });
        // The primary key decides, in the database: of two replicas inserting the same id, one inserts.
        let inserted = on_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO used_challenges (session_id, expires_at) VALUES ($1, $2) \
                 ON CONFLICT (session_id) DO NOTHING",
            )
            .bind(session_id)
            .bind(to_sql_time(expires_at))
            .execute(p)
            .await
            .map_err(database)?
            .rows_affected()
        });
        Ok(inserted == 1)
    }
}

/// Unix seconds as SQL's signed 64-bit integer (saturating: a time past 2^63 s is "never expires").
fn to_sql_time(seconds: u64) -> i64 {
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} in the database does not parse"))
}
