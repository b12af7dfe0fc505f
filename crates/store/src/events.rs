//! The intake log: one row per event, unique per (source, external_id).

use crate::sql::{Row, Tx};
use crate::{args, instant};
use anyhow::{Result, anyhow};
use domain::EventKind;

#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub source: &'a str,
    pub external_id: &'a str,
    pub kind: EventKind,
    pub customer_id: Option<i64>,
    pub order_event_id: Option<i64>,
    pub occurred_at_micros: i64,
    pub recorded_at_micros: i64,
    pub currency: Option<&'a str>,
    pub amount_minor: Option<i64>,
    pub content_hash: &'a [u8],
    /// The event's content as canonical JSON.
    pub body: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub id: i64,
    pub source: String,
    pub external_id: String,
    pub kind: EventKind,
    pub customer_id: Option<i64>,
    pub order_event_id: Option<i64>,
    pub occurred_at: jiff::Timestamp,
    pub recorded_at: jiff::Timestamp,
    pub currency: Option<String>,
    pub amount_minor: Option<i64>,
    pub content_hash: Vec<u8>,
    pub body: String,
}

const COLUMNS: &str = "id, source, external_id, kind, customer_id, order_event_id, occurred_at, \
                       recorded_at, currency, amount_minor, content_hash, body";

fn from_row(r: &Row) -> Result<EventRow> {
    Ok(EventRow {
        id: r.int(0)?,
        source: r.text(1)?.to_owned(),
        external_id: r.text(2)?.to_owned(),
        kind: EventKind::parse(r.text(3)?).ok_or_else(|| anyhow!("unknown event kind"))?,
        customer_id: r.opt_int(4)?,
        order_event_id: r.opt_int(5)?,
        occurred_at: instant(r.int(6)?)?,
        recorded_at: instant(r.int(7)?)?,
        currency: r.opt_text(8)?.map(str::to_owned),
        amount_minor: r.opt_int(9)?,
        content_hash: r.blob(10)?.to_vec(),
        body: r.text(11)?.to_owned(),
    })
}

/// Inserts the event; `None` when (source, external_id) is already stored.
pub fn insert(tx: &mut Tx<'_>, e: &NewEvent<'_>) -> Result<Option<i64>> {
    let row = tx.query_opt(
        "INSERT INTO events (source, external_id, kind, customer_id, order_event_id, occurred_at,
                             recorded_at, currency, amount_minor, content_hash, body)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (source, external_id) DO NOTHING
         RETURNING id",
        args![
            e.source,
            e.external_id,
            e.kind.as_str(),
            e.customer_id,
            e.order_event_id,
            e.occurred_at_micros,
            e.recorded_at_micros,
            e.currency,
            e.amount_minor,
            e.content_hash,
            e.body
        ],
    )?;
    row.map(|r| r.int(0)).transpose()
}

pub fn find(tx: &mut Tx<'_>, source: &str, external_id: &str) -> Result<Option<EventRow>> {
    tx.query_opt(
        &format!("SELECT {COLUMNS} FROM events WHERE source = $1 AND external_id = $2"),
        args![source, external_id],
    )?
    .map(|r| from_row(&r))
    .transpose()
}

pub fn get(tx: &mut Tx<'_>, id: i64) -> Result<Option<EventRow>> {
    tx.query_opt(
        &format!("SELECT {COLUMNS} FROM events WHERE id = $1"),
        args![id],
    )?
    .map(|r| from_row(&r))
    .transpose()
}

/// Refunds and cancellations recorded against an order, oldest first.
pub fn of_order(tx: &mut Tx<'_>, order_event_id: i64) -> Result<Vec<EventRow>> {
    tx.query(
        &format!("SELECT {COLUMNS} FROM events WHERE order_event_id = $1 ORDER BY id"),
        args![order_event_id],
    )?
    .iter()
    .map(from_row)
    .collect()
}

/// Counts by kind, for reports and tests.
pub fn count_by_kind(tx: &mut Tx<'_>, kind: EventKind) -> Result<i64> {
    tx.query_one(
        "SELECT COUNT(*) FROM events WHERE kind = $1",
        args![kind.as_str()],
    )?
    .int(0)
}

/// Rows per multi-row statement in the batch functions (a power of two).
pub const BATCH_STATEMENT_ROWS: usize = 256;

/// Splits `rows` into chunks of at most `max` rows (a power of two) whose sizes are powers of
/// two: 1000 rows go as 256, 256, 256, 128, 64, 32, 8. A multi-row statement then has one of
/// a few texts, so after the first batches it is always found in SQLite's statement cache and
/// among PostgreSQL's prepared statements (a new text there costs a round trip to prepare).
pub(crate) fn statement_chunks<T>(rows: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    debug_assert!(max.is_power_of_two());
    let mut rest = rows;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = rest.len().min(max);
        let (chunk, tail) = rest.split_at(1 << n.ilog2());
        rest = tail;
        Some(chunk)
    })
}

/// `$first, $first+1, …`: `count` parameters for an `IN (…)` list.
pub(crate) fn param_list(count: usize, first: usize) -> String {
    let mut s = String::with_capacity(count * 7);
    for i in 0..count {
        if i > 0 {
            s.push_str(", ");
        }
        push_param(&mut s, first + i);
    }
    s
}

/// Placeholders `($1, $2, …), (…)` for `rows` rows of `width` columns, numbered from `first`.
pub(crate) fn placeholders(rows: usize, width: usize, first: usize) -> String {
    let mut s = String::with_capacity(rows * (width * 7 + 4));
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..width {
            if c > 0 {
                s.push_str(", ");
            }
            push_param(&mut s, first + r * width + c);
        }
        s.push(')');
    }
    s
}

/// Appends `$n` without an intermediate string.
fn push_param(s: &mut String, n: usize) {
    use std::fmt::Write;
    s.push('$');
    let _ = write!(s, "{n}");
}

/// The stored events of `source` among `external_ids`.
pub fn find_many(tx: &mut Tx<'_>, source: &str, external_ids: &[&str]) -> Result<Vec<EventRow>> {
    // Each id once: the join below would return an event once per mention.
    let mut ids = external_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut out = Vec::new();
    for chunk in statement_chunks(&ids, BATCH_STATEMENT_ROWS * 2) {
        // The ids are joined as a VALUES list rather than tested with IN: before a table's
        // first ANALYZE, PostgreSQL rates a long IN list as unselective and reads every event
        // of the source, while a join probes the unique index once per id either way.
        let sql = format!(
            "WITH wanted (wanted_id) AS (VALUES {})
             SELECT {COLUMNS} FROM wanted JOIN events ON source = $1 AND external_id = wanted_id",
            placeholders(chunk.len(), 1, 2)
        );
        let mut params = Vec::with_capacity(chunk.len() + 1);
        params.push(crate::sql::Arg::Text(source));
        params.extend(chunk.iter().map(|e| crate::sql::Arg::Text(e)));
        for r in tx.query(&sql, &params)? {
            out.push(from_row(&r)?);
        }
    }
    Ok(out)
}

/// Inserts events, skipping any whose (source, external_id) is already stored; returns
/// `(id, source, external_id)` of those inserted, in no particular order.
pub fn insert_many(tx: &mut Tx<'_>, events: &[NewEvent<'_>]) -> Result<Vec<(i64, String, String)>> {
    let mut out = Vec::with_capacity(events.len());
    for chunk in statement_chunks(events, BATCH_STATEMENT_ROWS) {
        let sql = format!(
            "INSERT INTO events (source, external_id, kind, customer_id, order_event_id, occurred_at,
                                 recorded_at, currency, amount_minor, content_hash, body)
             VALUES {}
             ON CONFLICT (source, external_id) DO NOTHING
             RETURNING id, source, external_id",
            placeholders(chunk.len(), 11, 1)
        );
        let mut params = Vec::with_capacity(chunk.len() * 11);
        for e in chunk {
            params.extend_from_slice(args![
                e.source,
                e.external_id,
                e.kind.as_str(),
                e.customer_id,
                e.order_event_id,
                e.occurred_at_micros,
                e.recorded_at_micros,
                e.currency,
                e.amount_minor,
                e.content_hash,
                e.body
            ]);
        }
        for r in tx.query(&sql, &params)? {
            out.push((r.int(0)?, r.text(1)?.to_owned(), r.text(2)?.to_owned()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::statement_chunks;

    #[test]
    fn statement_chunks_are_powers_of_two_in_order() {
        let rows: Vec<usize> = (0..1000).collect();
        let sizes: Vec<usize> = statement_chunks(&rows, 256).map(<[usize]>::len).collect();
        assert_eq!(sizes, [256, 256, 256, 128, 64, 32, 8]);
        let joined: Vec<usize> = statement_chunks(&rows, 256).flatten().copied().collect();
        assert_eq!(joined, rows);
        assert_eq!(statement_chunks(&rows[..0], 256).count(), 0);
        assert_eq!(statement_chunks(&rows[..1], 256).count(), 1);
    }
}
