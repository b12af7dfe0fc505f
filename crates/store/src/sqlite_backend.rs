//! SQLite: one writer connection (SQLite allows one writer at a time anyway) and a small
//! pool of readers, all in WAL mode with foreign keys on and a busy timeout so that a second
//! process (an import beside a running server) waits instead of failing.

use crate::sql::{ConnCache, Tx, TxInner};
use anyhow::{Context, Result};
use rusqlite::{Connection, TransactionBehavior};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
// Multi-row statements differ by row count (1–64 rows a chunk) for each of order intake's
// batch statements, so the group commit's varying batch sizes need several hundred entries.
const STATEMENT_CACHE_CAPACITY: usize = 1024;

pub(crate) struct Sqlite {
    writer: Mutex<(Connection, ConnCache)>,
    readers: Mutex<Vec<(Connection, ConnCache)>>,
    reader_returned: Condvar,
}

// `wal_autocheckpoint` is 16,384 pages (64 MiB of WAL) rather than SQLite's 1,000: an order
// batch dirties index pages all over the customer-keyed indexes, and checkpointing less often
// writes each such page back once for several batches. A 1M-row `bench import` ran 1.22× as
// fast (11,736 / 11,920 against 9,074 / 10,255 rows/s, alternating runs).
fn connect(path: &str) -> Result<Connection> {
    let conn = Connection::open(path).with_context(|| format!("opening SQLite database {path}"))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -65536;

         PRAGMA wal_autocheckpoint = 16384;",
    )
    .context("setting SQLite pragmas")?;
    Ok(conn)
}

impl Sqlite {
    pub(crate) fn open(path: &str, readers: usize) -> Result<Sqlite> {
        let writer = (connect(path)?, ConnCache::default());
        let readers = (0..readers.max(1))
            .map(|_| Ok((connect(path)?, ConnCache::default())))
            .collect::<Result<Vec<_>>>()?;
        Ok(Sqlite {
            writer: Mutex::new(writer),
            readers: Mutex::new(readers),
            reader_returned: Condvar::new(),
        })
    }

    pub(crate) fn write<T, E>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<anyhow::Error>,
    {
        // A panic while holding the lock leaves the connection usable: the transaction
        // was dropped (and so rolled back) during unwinding.
        let mut guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let (conn, cache) = &mut *guard;
        run(conn, cache, TransactionBehavior::Immediate, f)
    }

    pub(crate) fn read<T, E>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<anyhow::Error>,
    {
        let mut conn = {
            let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if let Some(c) = pool.pop() {
                    break c;
                }
                pool = self
                    .reader_returned
                    .wait(pool)
                    .unwrap_or_else(|p| p.into_inner());
            }
        };
        let result = run(&mut conn.0, &mut conn.1, TransactionBehavior::Deferred, f);
        self.readers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
        self.reader_returned.notify_one();
        result
    }
}

fn run<T, E>(
    conn: &mut Connection,
    cache: &mut ConnCache,
    behavior: TransactionBehavior,
    f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<anyhow::Error>,
{
    let tx = conn
        .transaction_with_behavior(behavior)
        .context("beginning SQLite transaction")?;
    let mut tx = Tx {
        inner: TxInner::Sqlite(tx),
        cache,
        learnt: ConnCache::default(),
        transient: false,
    };
    let value = f(&mut tx)?;
    let Tx {
        inner: TxInner::Sqlite(sqlite),
        cache,
        learnt,
        ..
    } = tx
    else {
        unreachable!("SQLite transaction")
    };
    sqlite.commit().context("committing SQLite transaction")?;
    cache.keep(learnt);
    Ok(value)
}
