//! The one concrete store: SQLite (the embedded default) or PostgreSQL behind an internal enum,
//! with migrations per backend and the queries Patron's use cases need, grouped by table.
//!
//! Everything here is blocking: SQLite is an in-process library and the PostgreSQL client used
//! is the synchronous one. The async surface (`api`) calls in through `spawn_blocking`, so a slow
//! query never stalls the reactor. Statements are written once, in PostgreSQL's `$1` style.

pub mod sql;

pub mod accounting;
pub mod audit;
pub mod bonus;
pub mod customers;
pub mod desk;
pub mod desk_ops;
pub mod desk_teams;
pub mod desk_triage;
pub mod email;
pub mod events;
pub mod idempotency;
pub mod jobs;
pub mod keys;
pub mod ledger;
pub mod loyalty;
pub mod member_tiers;
pub mod outbox;
pub mod predictions;
pub mod promotions;
pub mod rewards;
pub mod scratch;

mod migrate;
mod postgres_backend;
pub use postgres_backend::TRANSIENT_ATTEMPTS_MAX;
mod sqlite_backend;

use anyhow::{Context, Result, bail};
use sql::Tx;
use std::sync::Arc;

pub use migrate::{Migration, known as known_migrations};

/// Which database a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite { path: String },
    Postgres { url: String },
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<DatabaseUrl> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                bail!("sqlite:// URL has no path");
            }
            Ok(DatabaseUrl::Sqlite {
                path: path.to_owned(),
            })
        } else if let Some(path) = url.strip_prefix("sqlite:") {
            Ok(DatabaseUrl::Sqlite {
                path: path.to_owned(),
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseUrl::Postgres {
                url: url.to_owned(),
            })
        } else {
            bail!("database URL must start with sqlite:// or postgres://")
        }
    }
}

/// Options for opening a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// PostgreSQL connections kept open (SQLite always has one writer and this many readers).
    pub pool_size: usize,
    /// PostgreSQL schema to use (created if missing); tests use one per test.
    pub pg_schema: Option<String>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            pool_size: 8,
            pg_schema: None,
        }
    }
}

/// The store. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Store {
    backend: Arc<Backend>,
}

enum Backend {
    Sqlite(Box<sqlite_backend::Sqlite>),
    Postgres(Box<postgres_backend::Postgres>),
}

/// Which backend a store runs on; for the few places that must differ (benchmarks, COPY).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Sqlite,
    Postgres,
}

impl Store {
    /// Opens the database and applies pending migrations.
    pub fn open(url: &DatabaseUrl, options: &StoreOptions) -> Result<Store> {
        let store = Store::open_unmigrated(url, options)?;
        store.migrate()?;
        Ok(store)
    }

    /// Opens without migrating (`patron migrate` then migrates and reports; upgrade tests
    /// migrate an older schema step by step).
    pub fn open_unmigrated(url: &DatabaseUrl, options: &StoreOptions) -> Result<Store> {
        let backend = match url {
            DatabaseUrl::Sqlite { path } => Backend::Sqlite(Box::new(
                sqlite_backend::Sqlite::open(path, options.pool_size)?,
            )),
            DatabaseUrl::Postgres { url } => {
                Backend::Postgres(Box::new(postgres_backend::Postgres::open(
                    url,
                    options.pool_size,
                    options.pg_schema.as_deref(),
                )?))
            }
        };
        Ok(Store {
            backend: Arc::new(backend),
        })
    }

    pub fn kind(&self) -> BackendKind {
        match *self.backend {
            Backend::Sqlite(_) => BackendKind::Sqlite,
            Backend::Postgres(_) => BackendKind::Postgres,
        }
    }

    /// Applies every pending migration; returns those applied now.
    pub fn migrate(&self) -> Result<Vec<Migration>> {
        migrate::apply(self, i64::MAX).context("applying migrations")
    }

    /// Applies the pending migrations up to and including `version`: the schema of an older
    /// build, for tests of what a later migration does to its data.
    pub fn migrate_through(&self, version: i64) -> Result<Vec<Migration>> {
        migrate::apply(self, version).context("applying migrations")
    }

    /// Runs `f` in a write transaction: committed when `f` returns `Ok`, rolled back otherwise.
    /// On SQLite writes are serialised through the one writer connection, which meets no
    /// deadlocks. On PostgreSQL, where several instances and connections write at once, a
    /// transaction the database failed as a deadlock's victim or on a serialization failure
    /// was rolled back whole, and `f` runs again (up to [`TRANSIENT_ATTEMPTS_MAX`] attempts in
    /// all): `f` must therefore build its outcome only from what it reads and writes in `tx`,
    /// never from state it changed outside it.
    pub fn write<T, E>(&self, f: impl FnMut(&mut Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<anyhow::Error>,
    {
        match &*self.backend {
            Backend::Sqlite(db) => db.write(f),
            Backend::Postgres(db) => db.transaction_retrying(f),
        }
    }

    /// Runs `f` in a read transaction (a consistent snapshot).
    pub fn read<T, E>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<anyhow::Error>,
    {
        match &*self.backend {
            Backend::Sqlite(db) => db.read(f),
            Backend::Postgres(db) => db.transaction(f),
        }
    }

    /// Refreshes PostgreSQL's planner statistics of the tables an order intake grows
    /// (`ANALYZE`). A bulk load into a young database outruns autovacuum: until a table is first
    /// analysed the planner guesses its selectivities, and may read a whole table where one
    /// index probe per row would do. SQLite's planner needs no statistics to prefer an index,
    /// so there this does nothing.
    pub fn refresh_intake_statistics(&self) -> Result<()> {
        match &*self.backend {
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(db) => db.transaction(|tx| {
                tx.batch(
                    "ANALYZE events, customers, customer_identities, accounts, transfers,
                             promotion_grants, member_tiers",
                )
            }),
        }
    }

    /// Drops the PostgreSQL schema this store was opened on (tests clean up after themselves).
    pub fn drop_schema(&self) -> Result<()> {
        match &*self.backend {
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(db) => db.drop_schema(),
        }
    }
}

/// Microseconds since the Unix epoch: how instants are stored in both backends.
pub fn micros(ts: jiff::Timestamp) -> i64 {
    ts.as_microsecond()
}

/// The instant stored as `micros`.
pub fn instant(micros: i64) -> Result<jiff::Timestamp> {
    jiff::Timestamp::from_microsecond(micros).context("stored instant out of range")
}
