//! The two SQL backends behind [`super::sql::SqlStore`]: an embedded SQLite file (one verifier, nothing to
//! start) or a PostgreSQL server (several replicas). Connecting and migrating differ; the queries are
//! the same text on both (sqlx binds `$1`-style parameters on SQLite too).
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use super::StoreError;

/// The SQLite schema; `migrations/postgres` has the same tables in PostgreSQL's type names.
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
/// The PostgreSQL schema.
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// How long a replica waits for a connection (or, on SQLite, for another writer's lock) before the
/// request fails instead of hanging.
const WAIT: Duration = Duration::from_secs(10);

/// A connection pool to one of the backends.
#[derive(Clone, Debug)]
pub enum Pool {
    /// `sqlite://PATH`.
    Sqlite(SqlitePool),
    /// `postgres://...` or `postgresql://...`.
    Postgres(PgPool),
}

/// Runs the same sqlx expression on whichever pool `pool` holds: `$p` is bound to the concrete pool in
/// each arm, so the one query text is type-checked against both drivers.
macro_rules! on_pool {
    ($pool:expr, |$p:ident| $body:expr) => {
        match $pool {
            $crate::store::backend::Pool::Sqlite($p) => $body,
            $crate::store::backend::Pool::Postgres($p) => $body,
        }
    };
}
pub(crate) use on_pool;

impl Pool {
    /// Connects to the store `url` names and brings its schema up to date. Replicas starting together
    /// on PostgreSQL are safe: sqlx takes an advisory lock around migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = if url.starts_with("sqlite://") || url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(database)?
                .create_if_missing(true)
                // Readers do not block the writer; several processes may share the file.
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(WAIT);
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .acquire_timeout(WAIT)
                .connect_with(options)
                .await
                .map_err(database)?;
            Self::Sqlite(pool)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(WAIT)
                .connect(url)
                .await
                .map_err(database)?;
            Self::Postgres(pool)
        } else {
            return Err(StoreError::UnsupportedUrl(url.chars().take(64).collect()));
        };
        match &pool {
            Self::Sqlite(p) => SQLITE_MIGRATIONS.run(p).await,
            Self::Postgres(p) => POSTGRES_MIGRATIONS.run(p).await,
        }
        .map_err(|e| StoreError::Database(format!("migrating the schema: {e}")))?;
        Ok(pool)
    }

    /// Closes every connection (tests and CLI commands end cleanly with it).
    pub async fn close(&self) {
        on_pool!(self, |p| p.close().await)
    }
}

/// A database error as a [`StoreError`]. The message is sqlx's, which names no row contents.
pub fn database(error: impl std::fmt::Display) -> StoreError {
    StoreError::Database(error.to_string())
}
