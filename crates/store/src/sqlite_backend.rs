//! SQLite: one writer connection (SQLite allows one writer at a time anyway) and a small
//! pool of readers, all in WAL mode with foreign keys on and a busy timeout so that a second
//! process (an import beside a running server) waits instead of failing.

use crate::sql::{ConnCache, Tx, TxInner};
use anyhow::{Context, Result};
use rusqlite::{Connection, TransactionBehavior};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
// Multi-row statements differ by row count (1–64 rows a chunk) for each of order intake's
// batch statements, so the group commit's varying batch sizes need several hundred entries.
const STATEMENT_CACHE_CAPACITY: usize = 1024;

pub(crate) struct Sqlite {
    writer: Mutex<(Connection, ConnCache)>,
    readers: Mutex<Vec<(Connection, ConnCache)>>,
    reader_returned: Condvar,
    checkpointer: Checkpointer,
}

fn connect(path: &str) -> Result<Connection> {
    let conn = Connection::open(path).with_context(|| format!("opening SQLite database {path}"))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -65536;",
    )
    .context("setting SQLite pragmas")?;
    Ok(conn)
}

// WAL checkpoints. SQLite's own (after the commit that takes the WAL past 1,000 pages, in the
// committing thread) cost an order import about a fifth of its time at 1M rows: copying pages
// back and syncing the file. Instead the writer's WAL hook records the WAL's length, and past
// `CHECKPOINT_FRAMES` the writer wakes a thread of the store's that checkpoints (PASSIVE, so
// it never blocks the writer or readers) while the writer goes on. 16,384 pages (64 MiB):
// an order batch dirties index pages all over the customer-keyed indexes, and a longer WAL
// writes each such page back once for several batches. Should the checkpointer fall behind,
// the writer checkpoints itself past `CHECKPOINT_FRAMES_MAX`.
const CHECKPOINT_FRAMES: i32 = 16_384;
const CHECKPOINT_FRAMES_MAX: i32 = 4 * CHECKPOINT_FRAMES;

thread_local! {
    /// Pages in the WAL after this thread's last commit: the writer's WAL hook, which SQLite
    /// calls inside the commit on the committing thread, sets it.
    static WAL_FRAMES: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
}

fn note_wal_frames(_: &rusqlite::hooks::Wal, frames: std::ffi::c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.set(frames);
    Ok(())
}

fn checkpoint(conn: &Connection) {
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::warn!(error = %e, "SQLite WAL checkpoint failed");
    }
}

#[derive(Default)]
struct Wake {
    pending: bool,
    stop: bool,
    /// Checkpoints run so far (the tests wait on it).
    done: u64,
}

/// The store's checkpointing thread, on its own connection; stopped when the store is dropped.
struct Checkpointer {
    wake: Arc<(Mutex<Wake>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(path: &str) -> Result<Checkpointer> {
        let conn = connect(path)?;
        let wake = Arc::new((Mutex::new(Wake::default()), Condvar::new()));
        let shared = wake.clone();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".to_owned())
            .spawn(move || {
                loop {
                    {
                        let (lock, woken) = &*shared;
                        let mut w = lock.lock().unwrap_or_else(|p| p.into_inner());
                        while !w.pending && !w.stop {
                            w = woken.wait(w).unwrap_or_else(|p| p.into_inner());
                        }
                        if w.stop {
                            return;
                        }
                        w.pending = false;
                    }
                    checkpoint(&conn);
                    let (lock, woken) = &*shared;
                    lock.lock().unwrap_or_else(|p| p.into_inner()).done += 1;
                    woken.notify_all();
                }
            })
            .context("starting the SQLite checkpoint thread")?;
        Ok(Checkpointer {
            wake,
            thread: Some(thread),
        })
    }

    fn kick(&self) {
        let (lock, woken) = &*self.wake;
        lock.lock().unwrap_or_else(|p| p.into_inner()).pending = true;
        woken.notify_all();
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (lock, woken) = &*self.wake;
        lock.lock().unwrap_or_else(|p| p.into_inner()).stop = true;
        woken.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Sqlite {
    pub(crate) fn open(path: &str, readers: usize) -> Result<Sqlite> {
        let writer = (connect(path)?, ConnCache::default());
        // Replaces SQLite's automatic checkpoints on this connection (see CHECKPOINT_FRAMES).
        writer.0.wal_hook(Some(note_wal_frames));
        let readers = (0..readers.max(1))
            .map(|_| Ok((connect(path)?, ConnCache::default())))
            .collect::<Result<Vec<_>>>()?;
        Ok(Sqlite {
            writer: Mutex::new(writer),
            readers: Mutex::new(readers),
            reader_returned: Condvar::new(),
            checkpointer: Checkpointer::start(path)?,
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
        WAL_FRAMES.set(0);
        let result = run(conn, cache, TransactionBehavior::Immediate, f);
        match WAL_FRAMES.get() {
            n if n >= CHECKPOINT_FRAMES_MAX => checkpoint(conn),
            n if n >= CHECKPOINT_FRAMES => self.checkpointer.kick(),
            _ => {}
        }
        result
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_wal_is_checkpointed_off_the_writer_and_then_restarts() {
        let dir = std::env::temp_dir().join(format!("patron-wal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("wal.db").display().to_string();
        let db = Sqlite::open(&path, 1).unwrap();
        let frames = |db: &Sqlite, blob: usize| {
            db.write(|tx| {
                tx.execute(
                    "INSERT INTO t (b) VALUES (zeroblob($1))",
                    crate::args![blob as i64],
                )
            })
            .unwrap();
            WAL_FRAMES.get()
        };
        db.write(|tx| tx.batch("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)"))
            .unwrap();
        // 1 MiB a commit: past CHECKPOINT_FRAMES pages the writer wakes the checkpointer
        // instead of checkpointing itself, so the WAL only grows meanwhile.
        let mut last = 0;
        while last < CHECKPOINT_FRAMES {
            let now = frames(&db, 1 << 20);
            assert!(now > last, "the writer checkpointed itself at {now} pages");
            last = now;
        }
        let (lock, woken) = &*db.checkpointer.wake;
        let mut w = lock.lock().unwrap();
        while w.done == 0 {
            w = woken.wait(w).unwrap();
        }
        drop(w);
        // Everything was copied back, so the next commit starts the WAL again.
        let after = frames(&db, 1);
        assert!(after < 16, "the WAL holds {after} pages after a checkpoint");
        drop(db);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
