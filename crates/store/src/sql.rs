//! The thin SQL layer both backends share: borrowed arguments, owned rows, and a
//! transaction handle whose statements are written once in PostgreSQL's `$1` style.
//! SQLite reads the same text with `$n` rewritten to `?n`.

use anyhow::{Context, Result, anyhow, bail};
use std::collections::HashMap;

/// One statement argument, borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}
impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(v)
    }
}
impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(v)
    }
}
impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(v: &'a [u8]) -> Self {
        Arg::Blob(v)
    }
}
impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Arg::Null, Arg::Int)
    }
}
impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        v.map_or(Arg::Null, Arg::Text)
    }
}

/// Builds a `&[Arg]` from expressions convertible into [`Arg`].
#[macro_export]
macro_rules! args {
    ($($e:expr),* $(,)?) => { &[$($crate::sql::Arg::from($e)),*][..] };
}

/// One owned column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

/// One result row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub(crate) Vec<Value>);

impl Row {
    fn get(&self, i: usize) -> Result<&Value> {
        self.0
            .get(i)
            .ok_or_else(|| anyhow!("column {i} out of range"))
    }

    pub fn int(&self, i: usize) -> Result<i64> {
        self.opt_int(i)?
            .ok_or_else(|| anyhow!("column {i} is NULL"))
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.get(i)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(*v)),
            other => bail!("column {i}: expected an integer, found {other:?}"),
        }
    }

    pub fn text(&self, i: usize) -> Result<&str> {
        self.opt_text(i)?
            .ok_or_else(|| anyhow!("column {i} is NULL"))
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<&str>> {
        match self.get(i)? {
            Value::Null => Ok(None),
            Value::Text(v) => Ok(Some(v)),
            other => bail!("column {i}: expected text, found {other:?}"),
        }
    }

    pub fn opt_blob(&self, i: usize) -> Result<Option<&[u8]>> {
        match self.get(i)? {
            Value::Null => Ok(None),
            Value::Blob(v) => Ok(Some(v)),
            other => bail!("column {i}: expected a blob, found {other:?}"),
        }
    }

    pub fn blob(&self, i: usize) -> Result<&[u8]> {
        match self.get(i)? {
            Value::Blob(v) => Ok(v),
            other => bail!("column {i}: expected a blob, found {other:?}"),
        }
    }
}

/// An open transaction on either backend. Commit happens in [`crate::Store::write`].
pub struct Tx<'c> {
    pub(crate) inner: TxInner<'c>,
    /// What this connection learnt in committed transactions.
    pub(crate) cache: &'c mut ConnCache,
    /// What this transaction learnt; kept in `cache` only once it commits.
    pub(crate) learnt: ConnCache,
    /// Whether a statement failed for a reason a second attempt may not meet (PostgreSQL chose
    /// this transaction as a deadlock's victim, or a serialization failure):
    /// [`crate::Store::write`] runs the work again.
    pub(crate) transient: bool,
}

/// Whether PostgreSQL refused a statement for a reason that passes: a deadlock it broke by
/// failing this transaction, or a serialization failure.
fn pg_transient(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    matches!(
        e.code(),
        Some(&SqlState::T_R_DEADLOCK_DETECTED | &SqlState::T_R_SERIALIZATION_FAILURE)
    )
}

/// Facts a connection may remember across transactions: only what never changes once
/// committed, since other processes may share the database. (Webhook endpoints or the loyalty
/// programme change, so they are read in each transaction.)
#[derive(Debug, Default)]
pub(crate) struct ConnCache {
    /// System account ids by code: created once, never deleted or renumbered.
    system_accounts: HashMap<String, i64>,
}

impl ConnCache {
    pub(crate) fn keep(&mut self, learnt: ConnCache) {
        self.system_accounts.extend(learnt.system_accounts);
    }
}

pub(crate) enum TxInner<'c> {
    Sqlite(rusqlite::Transaction<'c>),
    Postgres {
        tx: postgres::Transaction<'c>,
        statements: &'c mut PgStatements,
    },
}

/// Rewrites `$1` placeholders to SQLite's `?1` (the text is otherwise unchanged, so byte
/// positions map one to one). Statements are short; this is a single pass over bytes.
pub(crate) fn to_sqlite(sql: &str) -> std::borrow::Cow<'_, str> {
    if !sql.as_bytes().contains(&b'$') {
        return std::borrow::Cow::Borrowed(sql);
    }
    let mut out = sql.as_bytes().to_vec();
    let mut quoted = false;
    for i in 0..out.len() {
        match out[i] {
            b'\'' => quoted = !quoted,
            b'$' if !quoted && out.get(i + 1).is_some_and(u8::is_ascii_digit) => out[i] = b'?',
            _ => {}
        }
    }
    // Only ASCII bytes were replaced by ASCII bytes.
    std::borrow::Cow::Owned(String::from_utf8(out).expect("still UTF-8"))
}

impl Tx<'_> {
    /// A system account id known from a committed transaction or learnt in this one.
    pub(crate) fn system_account_id(&self, code: &str) -> Option<i64> {
        self.cache
            .system_accounts
            .get(code)
            .or_else(|| self.learnt.system_accounts.get(code))
            .copied()
    }

    pub(crate) fn learn_system_account_id(&mut self, code: &str, id: i64) {
        self.learnt.system_accounts.insert(code.to_owned(), id);
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.inner, TxInner::Postgres { .. })
    }

    /// Runs a statement, returning the number of rows it changed.
    pub fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64> {
        match &mut self.inner {
            TxInner::Sqlite(tx) => {
                let mut stmt = tx
                    .prepare_cached(&to_sqlite(sql))
                    .with_context(|| sql.to_owned())?;
                let n = stmt
                    .execute(rusqlite::params_from_iter(args.iter()))
                    .with_context(|| sql.to_owned())?;
                Ok(n as u64)
            }
            TxInner::Postgres { tx, statements } => {
                let stmt = pg_statement(tx, statements, sql)?;
                let params: Vec<&(dyn postgres::types::ToSql + Sync)> = args
                    .iter()
                    .map(|a| a as &(dyn postgres::types::ToSql + Sync))
                    .collect();
                tx.execute(&stmt, &params)
                    .inspect_err(|e| self.transient |= pg_transient(e))
                    .with_context(|| sql.to_owned())
            }
        }
    }

    /// Runs a query, returning every row.
    pub fn query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>> {
        match &mut self.inner {
            TxInner::Sqlite(tx) => {
                let mut stmt = tx
                    .prepare_cached(&to_sqlite(sql))
                    .with_context(|| sql.to_owned())?;
                let width = stmt.column_count();
                let mut rows = stmt
                    .query(rusqlite::params_from_iter(args.iter()))
                    .with_context(|| sql.to_owned())?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    let mut values = Vec::with_capacity(width);
                    for i in 0..width {
                        values.push(match r.get_ref(i)? {
                            rusqlite::types::ValueRef::Null => Value::Null,
                            rusqlite::types::ValueRef::Integer(v) => Value::Int(v),
                            rusqlite::types::ValueRef::Real(v) => {
                                bail!("column {i}: unexpected real {v} in {sql}")
                            }
                            rusqlite::types::ValueRef::Text(t) => {
                                Value::Text(String::from_utf8_lossy(t).into_owned())
                            }
                            rusqlite::types::ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                        });
                    }
                    out.push(Row(values));
                }
                Ok(out)
            }
            TxInner::Postgres { tx, statements } => {
                let stmt = pg_statement(tx, statements, sql)?;
                let params: Vec<&(dyn postgres::types::ToSql + Sync)> = args
                    .iter()
                    .map(|a| a as &(dyn postgres::types::ToSql + Sync))
                    .collect();
                let rows = tx
                    .query(&stmt, &params)
                    .inspect_err(|e| self.transient |= pg_transient(e))
                    .with_context(|| sql.to_owned())?;
                rows.iter().map(pg_row).collect()
            }
        }
    }

    /// Runs a query, handing each row to `each` as it is read (SQLite: one row buffer reused,
    /// its text values overwritten in place, so a long result costs no allocation per row and
    /// the caller can work on early rows before the last is read).
    pub fn query_each(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        mut each: impl FnMut(&Row) -> Result<()>,
    ) -> Result<()> {
        match &mut self.inner {
            TxInner::Sqlite(tx) => {
                let mut stmt = tx
                    .prepare_cached(&to_sqlite(sql))
                    .with_context(|| sql.to_owned())?;
                let width = stmt.column_count();
                let mut rows = stmt
                    .query(rusqlite::params_from_iter(args.iter()))
                    .with_context(|| sql.to_owned())?;
                let mut row = Row(vec![Value::Null; width]);
                while let Some(r) = rows.next()? {
                    for (i, slot) in row.0.iter_mut().enumerate() {
                        match r.get_ref(i)? {
                            rusqlite::types::ValueRef::Null => *slot = Value::Null,
                            rusqlite::types::ValueRef::Integer(v) => *slot = Value::Int(v),
                            rusqlite::types::ValueRef::Real(v) => {
                                bail!("column {i}: unexpected real {v} in {sql}")
                            }
                            rusqlite::types::ValueRef::Text(t) => {
                                let t = String::from_utf8_lossy(t);
                                if let Value::Text(s) = slot {
                                    s.clear();
                                    s.push_str(&t);
                                } else {
                                    *slot = Value::Text(t.into_owned());
                                }
                            }
                            rusqlite::types::ValueRef::Blob(b) => *slot = Value::Blob(b.to_vec()),
                        }
                    }
                    each(&row)?;
                }
                Ok(())
            }
            TxInner::Postgres { .. } => {
                for row in self.query(sql, args)? {
                    each(&row)?;
                }
                Ok(())
            }
        }
    }

    pub fn query_opt(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Option<Row>> {
        let mut rows = self.query(sql, args)?;
        if rows.len() > 1 {
            bail!("expected at most one row, got {}: {sql}", rows.len());
        }
        Ok(rows.pop())
    }

    pub fn query_one(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Row> {
        self.query_opt(sql, args)?
            .ok_or_else(|| anyhow!("expected one row, got none: {sql}"))
    }

    /// Runs several statements separated by semicolons, without arguments (migrations).
    pub fn batch(&mut self, sql: &str) -> Result<()> {
        match &mut self.inner {
            TxInner::Sqlite(tx) => tx.execute_batch(sql)?,
            TxInner::Postgres { tx, .. } => tx.batch_execute(sql)?,
        }
        Ok(())
    }

    /// PostgreSQL `COPY … FROM STDIN` with text-format rows; `None` on SQLite.
    pub fn copy_in_text(&mut self, copy_sql: &str, data: &[u8]) -> Result<Option<u64>> {
        match &mut self.inner {
            TxInner::Sqlite(_) => Ok(None),
            TxInner::Postgres { tx, .. } => {
                use std::io::Write;
                let mut w = tx.copy_in(copy_sql)?;
                w.write_all(data)?;
                Ok(Some(w.finish()?))
            }
        }
    }
}

/// Executions of one prepared statement before it is prepared again. PostgreSQL plans the
/// first five executions of a prepared statement for their arguments and may then settle on a
/// generic plan; the tables grow from empty to millions of rows over a connection's life, and
/// a generic plan chosen while one was small (a sequential scan) would make each batch slower
/// than the last. Preparing again after five keeps every execution on a custom plan, while the
/// server's own cached plans (the foreign-key checks each inserted row runs) stay generic: the
/// session setting `plan_cache_mode=force_custom_plan` did the first but also re-planned every
/// foreign-key check of every row, a third of the server's time in an import.
const CUSTOM_PLAN_USES: u32 = 5;

/// A connection's prepared statements with the number of executions each has had.
pub(crate) type PgStatements = HashMap<String, (postgres::Statement, u32)>;

fn pg_statement(
    tx: &mut postgres::Transaction<'_>,
    cache: &mut PgStatements,
    sql: &str,
) -> Result<postgres::Statement> {
    if let Some((stmt, uses)) = cache.get_mut(sql)
        && *uses < CUSTOM_PLAN_USES
    {
        *uses += 1;
        return Ok(stmt.clone());
    }
    let stmt = tx.prepare(sql).with_context(|| sql.to_owned())?;
    cache.insert(sql.to_owned(), (stmt.clone(), 1));
    Ok(stmt)
}

fn pg_row(row: &postgres::Row) -> Result<Row> {
    use postgres::types::Type;
    let mut values = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let t = col.type_();
        let v = if *t == Type::INT8 {
            row.try_get::<_, Option<i64>>(i)?
                .map_or(Value::Null, Value::Int)
        } else if *t == Type::INT4 {
            row.try_get::<_, Option<i32>>(i)?
                .map_or(Value::Null, |v| Value::Int(v.into()))
        } else if *t == Type::INT2 {
            row.try_get::<_, Option<i16>>(i)?
                .map_or(Value::Null, |v| Value::Int(v.into()))
        } else if *t == Type::BOOL {
            row.try_get::<_, Option<bool>>(i)?
                .map_or(Value::Null, |v| Value::Int(v.into()))
        } else if *t == Type::BYTEA {
            row.try_get::<_, Option<Vec<u8>>>(i)?
                .map_or(Value::Null, Value::Blob)
        } else if *t == Type::TEXT || *t == Type::VARCHAR || *t == Type::NAME {
            row.try_get::<_, Option<String>>(i)?
                .map_or(Value::Null, Value::Text)
        } else {
            bail!("column {} has unsupported type {t}", col.name());
        };
        values.push(v);
    }
    Ok(Row(values))
}

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match *self {
            Arg::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Arg::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(v)),
            Arg::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Arg::Blob(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
        })
    }
}

impl postgres::types::ToSql for Arg<'_> {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::{IsNull, Type};
        match *self {
            Arg::Null => Ok(IsNull::Yes),
            Arg::Int(v) if *ty == Type::INT4 => i32::try_from(v)?.to_sql(ty, out),
            Arg::Int(v) if *ty == Type::INT2 => i16::try_from(v)?.to_sql(ty, out),
            Arg::Int(v) => v.to_sql(ty, out),
            Arg::Text(v) => v.to_sql(ty, out),
            Arg::Blob(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_rewrite_outside_quotes() {
        assert_eq!(
            super::to_sqlite("SELECT $1, '$2', $10"),
            "SELECT ?1, '$2', ?10"
        );
    }
}
