//! The materialised tier state: one `member_tiers` row per member, read by primary key (a
//! batch of orders reads its members' rows with one statement) and written in the transaction
//! of the event that moved it. Also the qualifying history the `loyalty.tiers` review
//! recomputes a member's values from.

use crate::args;
use crate::events::{BATCH_STATEMENT_ROWS, placeholders, statement_chunks};
use crate::sql::{Arg, Row, Tx};
use anyhow::Result;

/// One member's stored tier state; instants are microseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberTierRow {
    pub customer_id: i64,
    /// The tier earned by qualification (a code of the programme's tier group).
    pub tier: String,
    pub since: i64,
    /// The first instant the member was seen (the anniversary of anniversary periods).
    pub joined_at: i64,
    pub period_start: i64,
    pub value_current: i64,
    pub value_previous: i64,
    pub downgrade_to: Option<String>,
    pub downgrade_notify_at: Option<i64>,
    pub downgrade_at: Option<i64>,
    /// The `downgrade_at` of the last downgrade notice written.
    pub notice_sent_for: Option<i64>,
    pub override_tier: Option<String>,
    pub override_ends_at: Option<i64>,
    pub membership_tier: Option<String>,
    pub membership_ends_at: Option<i64>,
    /// False once the membership was cancelled (it stays until `membership_ends_at`).
    pub membership_renews: bool,
    /// The next instant the review must look at the member; `None`: only new events.
    pub review_at: Option<i64>,
    pub updated_at: i64,
}

const COLUMNS: &str = "customer_id, tier, since, joined_at, period_start, value_current,
    value_previous, downgrade_to, downgrade_notify_at, downgrade_at, notice_sent_for,
    override_tier, override_ends_at, membership_tier, membership_ends_at, membership_renews,
    review_at, updated_at";
const WIDTH: usize = 18;

fn from_row(r: &Row) -> Result<MemberTierRow> {
    Ok(MemberTierRow {
        customer_id: r.int(0)?,
        tier: r.text(1)?.to_owned(),
        since: r.int(2)?,
        joined_at: r.int(3)?,
        period_start: r.int(4)?,
        value_current: r.int(5)?,
        value_previous: r.int(6)?,
        downgrade_to: r.opt_text(7)?.map(str::to_owned),
        downgrade_notify_at: r.opt_int(8)?,
        downgrade_at: r.opt_int(9)?,
        notice_sent_for: r.opt_int(10)?,
        override_tier: r.opt_text(11)?.map(str::to_owned),
        override_ends_at: r.opt_int(12)?,
        membership_tier: r.opt_text(13)?.map(str::to_owned),
        membership_ends_at: r.opt_int(14)?,
        membership_renews: r.int(15)? != 0,
        review_at: r.opt_int(16)?,
        updated_at: r.int(17)?,
    })
}

fn push_args<'a>(params: &mut Vec<Arg<'a>>, m: &'a MemberTierRow) {
    params.extend_from_slice(args![
        m.customer_id,
        m.tier.as_str(),
        m.since,
        m.joined_at,
        m.period_start,
        m.value_current,
        m.value_previous,
        m.downgrade_to.as_deref(),
        m.downgrade_notify_at,
        m.downgrade_at,
        m.notice_sent_for,
        m.override_tier.as_deref(),
        m.override_ends_at,
        m.membership_tier.as_deref(),
        m.membership_ends_at,
        i64::from(m.membership_renews),
        m.review_at,
        m.updated_at
    ]);
}

/// The rows of `customer_ids` that have one: one primary-key statement per 512 members. With
/// `lock`, PostgreSQL locks them for the rest of the transaction (`FOR UPDATE`, in customer
/// order); SQLite's one writer needs no lock.
pub fn get_many(tx: &mut Tx<'_>, customer_ids: &[i64], lock: bool) -> Result<Vec<MemberTierRow>> {
    let lock = if lock && tx.is_postgres() {
        " FOR UPDATE"
    } else {
        ""
    };
    let mut out = Vec::with_capacity(customer_ids.len());
    for chunk in statement_chunks(customer_ids, 512) {
        let list = crate::events::param_list(chunk.len(), 1);
        let sql = format!(
            "SELECT {COLUMNS} FROM member_tiers WHERE customer_id IN ({list})
             ORDER BY customer_id{lock}"
        );
        let params: Vec<Arg<'_>> = chunk.iter().map(|&c| Arg::Int(c)).collect();
        for r in tx.query(&sql, &params)? {
            out.push(from_row(&r)?);
        }
    }
    Ok(out)
}

/// One member's row, locked on PostgreSQL when `lock`.
pub fn get(tx: &mut Tx<'_>, customer_id: i64, lock: bool) -> Result<Option<MemberTierRow>> {
    Ok(get_many(tx, &[customer_id], lock)?.pop())
}

/// Inserts rows for members that had none, skipping any a concurrent writer stored first;
/// returns the customer ids inserted.
pub fn insert_absent(tx: &mut Tx<'_>, rows: &[MemberTierRow]) -> Result<Vec<i64>> {
    let mut out = Vec::with_capacity(rows.len());
    for chunk in statement_chunks(rows, BATCH_STATEMENT_ROWS) {
        let sql = format!(
            "INSERT INTO member_tiers ({COLUMNS}) VALUES {}
             ON CONFLICT (customer_id) DO NOTHING RETURNING customer_id",
            placeholders(chunk.len(), WIDTH, 1)
        );
        let mut params = Vec::with_capacity(chunk.len() * WIDTH);
        for m in chunk {
            push_args(&mut params, m);
        }
        for r in tx.query(&sql, &params)? {
            out.push(r.int(0)?);
        }
    }
    Ok(out)
}

/// Writes whole rows (inserted or replacing what is stored) with multi-row statements. The
/// caller read and, on PostgreSQL, locked the rows it replaces.
pub fn upsert_many(tx: &mut Tx<'_>, rows: &[MemberTierRow]) -> Result<()> {
    let set = COLUMNS
        .split(',')
        .map(str::trim)
        .filter(|c| *c != "customer_id")
        .map(|c| format!("{c} = excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    for chunk in statement_chunks(rows, BATCH_STATEMENT_ROWS) {
        let sql = format!(
            "INSERT INTO member_tiers ({COLUMNS}) VALUES {}
             ON CONFLICT (customer_id) DO UPDATE SET {set}",
            placeholders(chunk.len(), WIDTH, 1)
        );
        let mut params = Vec::with_capacity(chunk.len() * WIDTH);
        for m in chunk {
            push_args(&mut params, m);
        }
        tx.execute(&sql, &params)?;
    }
    Ok(())
}

/// Members whose review is due at `now`, soonest first.
pub fn due(tx: &mut Tx<'_>, now: i64, limit: i64) -> Result<Vec<i64>> {
    tx.query(
        "SELECT customer_id FROM member_tiers WHERE review_at IS NOT NULL AND review_at <= $1
         ORDER BY review_at, customer_id LIMIT $2",
        args![now, limit],
    )?
    .iter()
    .map(|r| r.int(0))
    .collect()
}

/// The earliest review instant ahead.
pub fn next_review(tx: &mut Tx<'_>) -> Result<Option<i64>> {
    tx.query_one(
        "SELECT CAST(MIN(review_at) AS BIGINT) FROM member_tiers WHERE review_at IS NOT NULL",
        &[],
    )?
    .opt_int(0)
}

/// A movement of qualifying value: `(order event id, counts_at, points, spend_minor)`, returns
/// negative and dated (and identified) by their order.
pub type QualifyingRow = (i64, i64, i64, i64);

/// The member's qualifying history counting at or after `from`: each order's earned points
/// (its `earn` transfer, at its recording instant) and spend in `currency`, and each return's
/// reversed points (its `reverse` transfer plus what it left owing under the `debt` shortfall
/// policy, so the whole reversal, as intake counts it) and refunded amount, dated at the
/// order's recording instant.
pub fn qualifying_history(
    tx: &mut Tx<'_>,
    customer_id: i64,
    currency: &str,
    from: i64,
) -> Result<Vec<QualifyingRow>> {
    tx.query(
        "SELECT o.id, o.recorded_at,
                CAST(COALESCE((SELECT SUM(t.amount) FROM transfers t
                               WHERE t.event_id = o.id AND t.kind = 'earn'), 0) AS BIGINT),
                CAST(CASE WHEN o.currency = $2 THEN COALESCE(o.amount_minor, 0) ELSE 0 END
                     AS BIGINT)
         FROM events o
         WHERE o.customer_id = $1 AND o.kind = 'order_placed' AND o.recorded_at >= $3
         UNION ALL
         SELECT o.id, o.recorded_at,
                CAST(-COALESCE((SELECT SUM(t.amount) FROM transfers t
                                WHERE t.event_id = r.id AND t.kind = 'reverse'), 0)
                     - COALESCE((SELECT d.amount FROM points_debts d
                                 WHERE d.event_id = r.id AND d.kind = 'debt'), 0) AS BIGINT),
                CAST(CASE WHEN r.currency = $2 THEN -COALESCE(r.amount_minor, 0) ELSE 0 END
                     AS BIGINT)
         FROM events r JOIN events o ON o.id = r.order_event_id
         WHERE r.customer_id = $1 AND r.kind IN ('order_refunded', 'order_cancelled')
           AND o.recorded_at >= $3",
        args![customer_id, currency, from],
    )?
    .iter()
    .map(|r| Ok((r.int(0)?, r.int(1)?, r.int(2)?, r.int(3)?)))
    .collect()
}

/// Up to `limit` customers with purchase points earned at or after `from` and no tier row
/// (members who earned before tier state was materialised).
pub fn unadopted(tx: &mut Tx<'_>, from: i64, limit: i64) -> Result<Vec<i64>> {
    tx.query(
        "SELECT DISTINCT a.customer_id FROM transfers t
         JOIN accounts a ON a.id = t.credit_account_id
         WHERE t.kind = 'earn' AND t.created_at >= $1 AND a.customer_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM member_tiers m WHERE m.customer_id = a.customer_id)
         ORDER BY a.customer_id LIMIT $2",
        args![from, limit],
    )?
    .iter()
    .map(|r| r.int(0))
    .collect()
}
