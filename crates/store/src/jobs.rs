//! Durable jobs: a due instant, leases, attempts and a dead-letter state.
//!
//! A worker claims due jobs by taking a lease (on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so
//! instances sharing a database never claim the same job), then completes a job in the same
//! transaction as the job's own writes, checking that it still holds the lease. A job whose
//! lease ran out is claimed again; its first holder's completion then fails and rolls back,
//! so a job's database effects happen exactly once.

use crate::sql::Tx;
use crate::{args, instant};
use anyhow::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub due_at: jiff::Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    pub kind: &'a str,
    pub payload: &'a str,
    pub due_at_micros: i64,
    pub max_attempts: i64,
    /// Enqueuing twice with the same key is a no-op.
    pub dedupe_key: Option<&'a str>,
    pub now_micros: i64,
}

/// Enqueues a job; `None` when its dedupe key already exists.
pub fn enqueue(tx: &mut Tx<'_>, j: &NewJob<'_>) -> Result<Option<i64>> {
    tx.query_opt(
        "INSERT INTO jobs (kind, payload, due_at, state, max_attempts, created_at, dedupe_key)
         VALUES ($1, $2, $3, 'pending', $4, $5, $6)
         ON CONFLICT DO NOTHING RETURNING id",
        args![
            j.kind,
            j.payload,
            j.due_at_micros,
            j.max_attempts,
            j.now_micros,
            j.dedupe_key
        ],
    )?
    .map(|r| r.int(0))
    .transpose()
}

/// Enqueues jobs with multi-row statements; a job whose dedupe key exists is skipped.
pub fn enqueue_many(tx: &mut Tx<'_>, jobs: &[NewJob<'_>]) -> Result<()> {
    for chunk in crate::events::statement_chunks(jobs, crate::events::BATCH_STATEMENT_ROWS) {
        let sql = format!(
            "INSERT INTO jobs (kind, payload, due_at, state, max_attempts, created_at, dedupe_key)
             VALUES {} ON CONFLICT DO NOTHING",
            pending_rows(chunk.len())
        );
        let mut params: Vec<crate::sql::Arg<'_>> = Vec::with_capacity(chunk.len() * 6);
        for j in chunk {
            params.extend_from_slice(args![
                j.kind,
                j.payload,
                j.due_at_micros,
                j.max_attempts,
                j.now_micros,
                j.dedupe_key
            ]);
        }
        tx.execute(&sql, &params)?;
    }
    Ok(())
}

/// `($1, $2, $3, 'pending', $4, $5, $6), …` for `rows` jobs.
fn pending_rows(rows: usize) -> String {
    (0..rows)
        .map(|r| {
            let p = r * 6;
            format!(
                "(${}, ${}, ${}, 'pending', ${}, ${}, ${})",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5,
                p + 6
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Leases up to `limit` due jobs (pending and due, or running with an expired lease), soonest
/// due first. The statement reads only the due part of the `jobs_due` index: it names the
/// index's own condition, and a running job was due when it was claimed and its lease ends
/// after that (`lease_until_micros` must not be before `now_micros`), so an expired lease
/// implies a due instant before now. (Without that, the `OR` hid the index and each claim read
/// and sorted every job, done ones too: about 20 ms a claim with 100,000 pending SLA timers.)
pub fn claim(
    tx: &mut Tx<'_>,
    owner: &str,
    now_micros: i64,
    lease_until_micros: i64,
    limit: i64,
) -> Result<Vec<JobRow>> {
    anyhow::ensure!(
        lease_until_micros >= now_micros,
        "a lease ending before now ({lease_until_micros} < {now_micros})"
    );
    let lock = if tx.is_postgres() {
        "FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until = $2,
                         attempts = attempts + 1
         WHERE id IN (
             SELECT id FROM jobs
             WHERE state IN ('pending', 'running') AND due_at <= $3
               AND (state = 'pending' OR lease_until < $3)
             ORDER BY due_at, id LIMIT $4 {lock})
         RETURNING id, kind, payload, attempts, max_attempts, due_at"
    );
    let mut jobs = tx
        .query(&sql, args![owner, lease_until_micros, now_micros, limit])?
        .iter()
        .map(|r| {
            Ok(JobRow {
                id: r.int(0)?,
                kind: r.text(1)?.to_owned(),
                payload: r.text(2)?.to_owned(),
                attempts: r.int(3)?,
                max_attempts: r.int(4)?,
                due_at: instant(r.int(5)?)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    jobs.sort_by_key(|j| (j.due_at, j.id));
    Ok(jobs)
}

/// Marks a job done if `owner` still holds it; false when the lease was lost.
pub fn complete(tx: &mut Tx<'_>, id: i64, owner: &str, now_micros: i64) -> Result<bool> {
    Ok(tx.execute(
        "UPDATE jobs SET state = 'done', finished_at = $3, lease_owner = NULL, lease_until = NULL
         WHERE id = $1 AND state = 'running' AND lease_owner = $2",
        args![id, owner, now_micros],
    )? == 1)
}

/// Records a failed attempt: back to pending at `retry_at`, or dead when `retry_at` is `None`.
pub fn fail(
    tx: &mut Tx<'_>,
    id: i64,
    owner: &str,
    error: &str,
    retry_at_micros: Option<i64>,
    now_micros: i64,
) -> Result<bool> {
    let n = match retry_at_micros {
        Some(retry_at) => tx.execute(
            "UPDATE jobs SET state = 'pending', due_at = $4, last_error = $3,
                             lease_owner = NULL, lease_until = NULL
             WHERE id = $1 AND state = 'running' AND lease_owner = $2",
            args![id, owner, error, retry_at],
        )?,
        None => tx.execute(
            "UPDATE jobs SET state = 'dead', last_error = $3, finished_at = $4,
                             lease_owner = NULL, lease_until = NULL
             WHERE id = $1 AND state = 'running' AND lease_owner = $2",
            args![id, owner, error, now_micros],
        )?,
    };
    Ok(n == 1)
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobCounts {
    pub pending: i64,
    pub running: i64,
    pub done: i64,
    pub dead: i64,
}

pub fn counts(tx: &mut Tx<'_>) -> Result<JobCounts> {
    let mut c = JobCounts::default();
    for r in tx.query("SELECT state, COUNT(*) FROM jobs GROUP BY state", &[])? {
        let n = r.int(1)?;
        match r.text(0)? {
            "pending" => c.pending = n,
            "running" => c.running = n,
            "done" => c.done = n,
            _ => c.dead = n,
        }
    }
    Ok(c)
}

/// Jobs of one kind with their state, for tests and the admin view.
pub fn states_of_kind(tx: &mut Tx<'_>, kind: &str) -> Result<Vec<(i64, String, i64)>> {
    tx.query(
        "SELECT id, state, attempts FROM jobs WHERE kind = $1 ORDER BY id",
        args![kind],
    )?
    .iter()
    .map(|r| Ok((r.int(0)?, r.text(1)?.to_owned(), r.int(2)?)))
    .collect()
}
