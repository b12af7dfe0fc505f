//! PostgreSQL: a small pool of synchronous clients, each with its prepared-statement cache.
//! Transactions run at READ COMMITTED; exactly-once intake rests on unique constraints with
//! `ON CONFLICT DO NOTHING`, balances on row locks taken by `UPDATE … RETURNING`.

use crate::sql::{ConnCache, Tx, TxInner};
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::sync::{Condvar, Mutex};

/// Attempts of a [`Postgres::transaction_retrying`] in all.
pub const TRANSIENT_ATTEMPTS_MAX: u32 = 3;

pub(crate) struct Postgres {
    config: postgres::Config,
    schema: Option<String>,
    pool: Mutex<Pool>,
    returned: Condvar,
}

struct Pool {
    idle: Vec<Conn>,
    open: usize,
    max: usize,
}

struct Conn {
    client: postgres::Client,
    statements: crate::sql::PgStatements,
    cache: ConnCache,
}

/// Session settings for every connection: the URL's own options and the test schema. (Our
/// statements stay on custom plans by being prepared again, see `sql::CUSTOM_PLAN_USES`.)
fn connection_options(url_options: Option<&str>, schema: Option<&str>) -> String {
    let mut options = url_options.unwrap_or_default().to_owned();
    if let Some(schema) = schema {
        options.push_str(&format!(" -c search_path={schema}"));
    }
    options
}

impl Postgres {
    pub(crate) fn open(url: &str, pool_size: usize, schema: Option<&str>) -> Result<Postgres> {
        let mut config: postgres::Config = url.parse().context("parsing PostgreSQL URL")?;
        if let Some(schema) = schema {
            anyhow::ensure!(
                schema
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "schema name must be lower-case ASCII letters, digits and _"
            );
            let mut admin = config
                .connect(postgres::NoTls)
                .context("connecting to PostgreSQL")?;
            admin.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))?;
        }
        let options = connection_options(config.get_options(), schema);
        config.options(&options);
        let db = Postgres {
            config,
            schema: schema.map(str::to_owned),
            pool: Mutex::new(Pool {
                idle: Vec::new(),
                open: 0,
                max: pool_size.max(1),
            }),
            returned: Condvar::new(),
        };
        // Connect once now so a wrong URL fails at start, not at the first request.
        let conn = db.checkout()?;
        db.checkin(conn);
        Ok(db)
    }

    fn checkout(&self) -> Result<Conn> {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(c) = pool.idle.pop() {
                if !c.client.is_closed() {
                    return Ok(c);
                }
                pool.open -= 1;
                continue;
            }
            if pool.open < pool.max {
                pool.open += 1;
                drop(pool);
                return match self.config.connect(postgres::NoTls) {
                    Ok(client) => Ok(Conn {
                        client,
                        statements: HashMap::new(),
                        cache: ConnCache::default(),
                    }),
                    Err(e) => {
                        self.pool.lock().unwrap_or_else(|p| p.into_inner()).open -= 1;
                        Err(e).context("connecting to PostgreSQL")
                    }
                };
            }
            pool = self.returned.wait(pool).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn checkin(&self, conn: Conn) {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if conn.client.is_closed() {
            pool.open -= 1;
        } else {
            pool.idle.push(conn);
        }
        drop(pool);
        self.returned.notify_one();
    }

    pub(crate) fn transaction<T, E>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<anyhow::Error>,
    {
        self.attempt(f).0
    }

    /// Like [`Postgres::transaction`], running `f` again (up to [`TRANSIENT_ATTEMPTS_MAX`] times
    /// in all) when PostgreSQL failed it as a deadlock's victim or on a serialization failure:
    /// everything it wrote was rolled back, and the other transaction has gone on.
    pub(crate) fn transaction_retrying<T, E>(
        &self,
        mut f: impl FnMut(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<anyhow::Error>,
    {
        let mut attempt = 1;
        loop {
            let (result, transient) = self.attempt(&mut f);
            if result.is_ok() || !transient || attempt >= TRANSIENT_ATTEMPTS_MAX {
                return result;
            }
            tracing::warn!(
                attempt,
                "transaction failed on a deadlock or serialization failure; running it again"
            );
            attempt += 1;
        }
    }

    /// One transaction: its result, and whether a statement of it failed transiently.
    fn attempt<T, E>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>) -> (Result<T, E>, bool)
    where
        E: From<anyhow::Error>,
    {
        let mut conn = match self.checkout() {
            Ok(conn) => conn,
            Err(e) => return (Err(e.into()), false),
        };
        let mut transient = false;
        let result = (|| {
            let Conn {
                client,
                statements,
                cache,
            } = &mut conn;
            let tx = client
                .transaction()
                .context("beginning PostgreSQL transaction")?;
            let mut tx = Tx {
                inner: TxInner::Postgres { tx, statements },
                cache,
                learnt: ConnCache::default(),
                transient: false,
            };
            let value = match f(&mut tx) {
                Ok(value) => value,
                Err(e) => {
                    transient = tx.transient;
                    return Err(e);
                }
            };
            let Tx {
                inner: TxInner::Postgres { tx, .. },
                cache,
                learnt,
                ..
            } = tx
            else {
                unreachable!("PostgreSQL transaction")
            };
            tx.commit().context("committing PostgreSQL transaction")?;
            cache.keep(learnt);
            Ok(value)
        })();
        self.checkin(conn);
        (result, transient)
    }

    pub(crate) fn drop_schema(&self) -> Result<()> {
        if let Some(schema) = &self.schema {
            let mut conn = self.checkout()?;
            conn.client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))?;
            self.checkin(conn);
        }
        Ok(())
    }
}
