//! The loyalty engine's rows: programme settings and earning rules (every version kept),
//! per-line provenance of purchase lots, lot activation and expiry, and redemption holds.
//! Lots themselves are earn transfers (see `ledger`); this module only adds what they need.

use crate::ledger::{COLUMNS, TransferRow, from_row};
use crate::sql::Tx;
use crate::{args, instant};
use anyhow::{Context, Result};

/// One version of the programme's settings. Policies are stored in their text form; `app`
/// parses them into domain types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgrammeRow {
    pub version: i64,
    pub time_zone: String,
    pub currency: String,
    pub point_value_minor: i64,
    pub pending_days: i64,
    pub expiry: String,
    pub tiers: String,
    /// What a cancelled redemption does with points of a lot that expired meanwhile:
    /// `forfeit` or `reinstate:<days>`.
    pub expired_restore: String,
    /// Days before a lot's last valid day its `points.expiring` reminder is written; 0: none.
    pub reminder_days: i64,
    /// `free` (reward points) or `paid` (stored value, never expires).
    pub wallet_kind: String,
    /// `debt` or `negative_balance`: what a return after the points were spent leaves.
    pub shortfall: String,
    pub created_at: jiff::Timestamp,
}

/// The programme version in force (the highest), if one was ever stored.
pub fn current_programme(tx: &mut Tx<'_>) -> Result<Option<ProgrammeRow>> {
    tx.query_opt(
        "SELECT version, time_zone, currency, point_value_minor, pending_days, expiry, tiers,
                created_at, expired_restore, reminder_days, wallet_kind, shortfall
         FROM loyalty_programmes ORDER BY version DESC LIMIT 1",
        &[],
    )?
    .map(|r| {
        Ok(ProgrammeRow {
            version: r.int(0)?,
            time_zone: r.text(1)?.to_owned(),
            currency: r.text(2)?.to_owned(),
            point_value_minor: r.int(3)?,
            pending_days: r.int(4)?,
            expiry: r.text(5)?.to_owned(),
            tiers: r.text(6)?.to_owned(),
            created_at: instant(r.int(7)?)?,
            expired_restore: r.text(8)?.to_owned(),
            reminder_days: r.int(9)?,
            wallet_kind: r.text(10)?.to_owned(),
            shortfall: r.text(11)?.to_owned(),
        })
    })
    .transpose()
}

/// Stores a new programme version (`row.version` is ignored) and returns its number.
pub fn insert_programme(tx: &mut Tx<'_>, row: &ProgrammeRow) -> Result<i64> {
    let version = tx
        .query_one(
            "SELECT CAST(COALESCE(MAX(version), 0) + 1 AS BIGINT) FROM loyalty_programmes",
            &[],
        )?
        .int(0)?;
    tx.execute(
        "INSERT INTO loyalty_programmes (version, time_zone, currency, point_value_minor,
                                         pending_days, expiry, tiers, created_at,
                                         expired_restore, reminder_days, wallet_kind,
                                         shortfall)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        args![
            version,
            row.time_zone.as_str(),
            row.currency.as_str(),
            row.point_value_minor,
            row.pending_days,
            row.expiry.as_str(),
            row.tiers.as_str(),
            row.created_at.as_microsecond(),
            row.expired_restore.as_str(),
            row.reminder_days,
            row.wallet_kind.as_str(),
            row.shortfall.as_str()
        ],
    )?;
    Ok(version)
}

/// One version of a base earning rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRow {
    pub rule_id: i64,
    pub version: i64,
    pub points: i64,
    pub per_minor: i64,
    pub minimum_spend_minor: i64,
    /// Categories whose lines earn nothing from this rule.
    pub excluded_categories: Vec<String>,
}

/// `loyalty_rules.excluded_categories`: a JSON array of names.
pub(crate) fn categories_text(categories: &[String]) -> String {
    serde_json::Value::from(categories.to_vec()).to_string()
}

pub(crate) fn parse_categories(text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).context("stored excluded categories")
}

/// The newest version of rule `rule_id`.
pub fn current_rule(tx: &mut Tx<'_>, rule_id: i64) -> Result<Option<RuleRow>> {
    tx.query_opt(
        "SELECT rule_id, version, points, per_minor, minimum_spend_minor, excluded_categories
         FROM loyalty_rules
         WHERE rule_id = $1 ORDER BY version DESC LIMIT 1",
        args![rule_id],
    )?
    .map(|r| {
        Ok(RuleRow {
            rule_id: r.int(0)?,
            version: r.int(1)?,
            points: r.int(2)?,
            per_minor: r.int(3)?,
            minimum_spend_minor: r.int(4)?,
            excluded_categories: parse_categories(r.text(5)?)?,
        })
    })
    .transpose()
}

/// Stores a new version of rule `rule.rule_id` (`rule.version` is ignored); returns it.
pub fn insert_rule_version(tx: &mut Tx<'_>, rule: &RuleRow, now_micros: i64) -> Result<i64> {
    let version = tx
        .query_one(
            "SELECT CAST(COALESCE(MAX(version), 0) + 1 AS BIGINT) FROM loyalty_rules
             WHERE rule_id = $1",
            args![rule.rule_id],
        )?
        .int(0)?;
    tx.execute(
        "INSERT INTO loyalty_rules (rule_id, version, points, per_minor, minimum_spend_minor,
                                    excluded_categories, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        args![
            rule.rule_id,
            version,
            rule.points,
            rule.per_minor,
            rule.minimum_spend_minor,
            categories_text(&rule.excluded_categories).as_str(),
            now_micros
        ],
    )?;
    Ok(version)
}

/// What one order line earned into a lot, with the rule versions (`id:version,…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LotLine {
    pub line: i64,
    pub quantity: i64,
    pub points: i64,
    pub rules: String,
}

/// A lot's lines as stored in `transfers.lines`: a JSON array of
/// `[line, quantity, points, rules]`; `None` when the lot has none.
pub(crate) fn lines_text(lines: &[LotLine]) -> Option<String> {
    if lines.is_empty() {
        return None;
    }
    let rows: Vec<(i64, i64, i64, &str)> = lines
        .iter()
        .map(|l| (l.line, l.quantity, l.points, l.rules.as_str()))
        .collect();
    Some(serde_json::to_string(&rows).expect("integers and strings serialise"))
}

/// The lines of lot `lot`, by line index (none for a lot of no order line, or no lot).
pub fn lot_lines(tx: &mut Tx<'_>, lot: (i64, i64)) -> Result<Vec<LotLine>> {
    let Some(row) = tx.query_opt(
        "SELECT lines FROM transfers WHERE event_id = $1 AND seq = $2",
        args![lot.0, lot.1],
    )?
    else {
        return Ok(Vec::new());
    };
    match row.opt_text(0)? {
        Some(text) => parse_lines(lot, text),
        None => Ok(Vec::new()),
    }
}

fn parse_lines(lot: (i64, i64), text: &str) -> Result<Vec<LotLine>> {
    let rows: Vec<(i64, i64, i64, String)> =
        serde_json::from_str(text).with_context(|| format!("lines of lot {}/{}", lot.0, lot.1))?;
    let mut lines: Vec<LotLine> = rows
        .into_iter()
        .map(|(line, quantity, points, rules)| LotLine {
            line,
            quantity,
            points,
            rules,
        })
        .collect();
    lines.sort_by_key(|l| l.line);
    Ok(lines)
}

/// Adds each `(account_id, delta)` to its account's pending points, sorted by account id so
/// concurrent writers lock in one order.
pub fn add_to_pendings(tx: &mut Tx<'_>, deltas: &[(i64, i64)]) -> Result<()> {
    let mut sorted = deltas.to_vec();
    sorted.sort_unstable();
    for (account, delta) in sorted {
        let changed = tx.execute(
            "UPDATE accounts SET pending = pending + $2 WHERE id = $1",
            args![account, delta],
        )?;
        anyhow::ensure!(changed == 1, "account {account} does not exist");
    }
    Ok(())
}

/// A lot the activation or expiry job acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueLot {
    pub lot: (i64, i64),
    pub account_id: i64,
    pub remaining: i64,
}

fn due_lots(tx: &mut Tx<'_>, sql: &str, at: i64, limit: i64) -> Result<Vec<DueLot>> {
    tx.query(sql, args![at, limit])?
        .iter()
        .map(|r| {
            Ok(DueLot {
                lot: (r.int(0)?, r.int(1)?),
                account_id: r.int(2)?,
                remaining: r.int(3)?,
            })
        })
        .collect()
}

/// Pending lots whose window ended at or before `now_micros`, oldest first.
pub fn due_pending_lots(tx: &mut Tx<'_>, now_micros: i64, limit: i64) -> Result<Vec<DueLot>> {
    due_lots(
        tx,
        "SELECT event_id, seq, credit_account_id, remaining FROM transfers
         WHERE lot_state = 'pending' AND pending_until <= $1
         ORDER BY pending_until, event_id, seq LIMIT $2",
        now_micros,
        limit,
    )
}

/// Moves a lot from pending to active; false when it was not pending (already done).
pub fn activate_lot(tx: &mut Tx<'_>, lot: (i64, i64)) -> Result<bool> {
    Ok(tx.execute(
        "UPDATE transfers SET lot_state = 'active'
         WHERE event_id = $1 AND seq = $2 AND lot_state = 'pending'",
        args![lot.0, lot.1],
    )? == 1)
}

/// The earliest `pending_until` of a pending lot.
pub fn next_pending_until(tx: &mut Tx<'_>) -> Result<Option<i64>> {
    tx.query_one(
        "SELECT CAST(MIN(pending_until) AS BIGINT) FROM transfers WHERE lot_state = 'pending'",
        &[],
    )?
    .opt_int(0)
}

/// Active lots with points left whose `expires_at` is at or before `last_valid_micros`.
pub fn due_expiring_lots(
    tx: &mut Tx<'_>,
    last_valid_micros: i64,
    limit: i64,
) -> Result<Vec<DueLot>> {
    due_lots(
        tx,
        "SELECT event_id, seq, credit_account_id, remaining FROM transfers
         WHERE remaining > 0 AND expires_at <= $1
           AND (lot_state IS NULL OR lot_state = 'active')
         ORDER BY expires_at, event_id, seq LIMIT $2",
        last_valid_micros,
        limit,
    )
}

/// Marks a lot expired (its remaining was just consumed by an expire transfer).
pub fn mark_expired(tx: &mut Tx<'_>, lot: (i64, i64)) -> Result<()> {
    tx.execute(
        "UPDATE transfers SET lot_state = 'expired' WHERE event_id = $1 AND seq = $2",
        args![lot.0, lot.1],
    )?;
    Ok(())
}

/// Expires `lots` under event `event_id`: one `expire` transfer per lot (seq = its index),
/// debited to the lot's account and credited to `issuance`, each consuming its whole lot —
/// transfers and consumptions as multi-row statements per chunk — then one keyed update per
/// lot setting `remaining` to zero and the state to `expired` (one statement per lot instead
/// of four). Each lot must still hold exactly its `remaining` (a concurrent spend makes the
/// update miss it, and the call fails so the caller's transaction rolls back and the job
/// retries).
pub fn expire_lots(
    tx: &mut Tx<'_>,
    event_id: i64,
    issuance: i64,
    now_micros: i64,
    lots: &[DueLot],
) -> Result<()> {
    let transfers: Vec<crate::ledger::NewTransfer<'_>> = lots
        .iter()
        .enumerate()
        .map(|(seq, lot)| crate::ledger::NewTransfer {
            event_id,
            seq: seq as i64,
            debit_account_id: lot.account_id,
            credit_account_id: issuance,
            amount: lot.remaining,
            kind: domain::ledger::TransferKind::Expire,
            created_at_micros: now_micros,
            remaining: None,
            pending_until_micros: None,
            expires_at_micros: None,
            lot: Some(lot.lot),
            reason: Some("expired"),
            lot_state: None,
            lines: Vec::new(),
            revenue: None,
        })
        .collect();
    crate::ledger::insert_transfers(tx, &transfers)?;
    let numbered: Vec<(i64, &DueLot)> = lots
        .iter()
        .enumerate()
        .map(|(i, l)| (i as i64, l))
        .collect();
    for chunk in crate::events::statement_chunks(&numbered, crate::events::BATCH_STATEMENT_ROWS) {
        let sql = format!(
            "INSERT INTO lot_consumptions (event_id, seq, lot_event_id, lot_seq, amount) VALUES {}",
            crate::events::placeholders(chunk.len(), 5, 1)
        );
        let mut params = Vec::with_capacity(chunk.len() * 5);
        for (seq, lot) in chunk {
            params.extend_from_slice(args![event_id, *seq, lot.lot.0, lot.lot.1, lot.remaining]);
        }
        tx.execute(&sql, &params)?;
        // One keyed update per lot: SQLite plans `UPDATE … FROM (VALUES …)` as a scan of
        // the transfers for each statement, which made a million lots ten times slower.
        for (_, lot) in chunk {
            let changed = tx.execute(
                "UPDATE transfers SET remaining = 0, lot_state = 'expired'
                 WHERE event_id = $1 AND seq = $2 AND remaining = $3",
                args![lot.lot.0, lot.lot.1, lot.remaining],
            )?;
            anyhow::ensure!(changed == 1, "lot {:?} changed since it was read", lot.lot);
        }
    }
    Ok(())
}

/// The earliest `expires_at` of an active lot with points left.
pub fn next_expiry(tx: &mut Tx<'_>) -> Result<Option<i64>> {
    tx.query_one(
        "SELECT CAST(MIN(expires_at) AS BIGINT) FROM transfers
         WHERE remaining > 0 AND expires_at IS NOT NULL
           AND (lot_state IS NULL OR lot_state = 'active')",
        &[],
    )?
    .opt_int(0)
}

/// What [`live_lots`] reads: the lots credited to an account with points left (pending and
/// active), soonest expiry first.
const LIVE_LOTS: &str = "FROM transfers
     WHERE credit_account_id = $1 AND remaining > 0
       AND (lot_state IS NULL OR lot_state <> 'expired')
     ORDER BY expires_at IS NULL, expires_at, event_id, seq";

/// Lots credited to an account with points left (pending and active), soonest expiry first.
pub fn live_lots(tx: &mut Tx<'_>, account_id: i64) -> Result<Vec<TransferRow>> {
    tx.query(&format!("SELECT {COLUMNS} {LIVE_LOTS}"), args![account_id])?
        .iter()
        .map(from_row)
        .collect()
}

/// [`live_lots`], each with its lines (none for a lot of no order line).
pub fn live_lots_with_lines(
    tx: &mut Tx<'_>,
    account_id: i64,
) -> Result<Vec<(TransferRow, Vec<LotLine>)>> {
    tx.query(
        &format!("SELECT {COLUMNS}, lines {LIVE_LOTS}"),
        args![account_id],
    )?
    .iter()
    .map(|r| {
        let t = from_row(r)?;
        let lines = match r.opt_text(14)? {
            Some(text) => parse_lines((t.event_id, t.seq), text)?,
            None => Vec::new(),
        };
        Ok((t, lines))
    })
    .collect()
}

/// Σ points earned by orders into an account in `[from, to)` (tier qualification).
pub fn earned_between(tx: &mut Tx<'_>, account_id: i64, from: i64, to: i64) -> Result<i64> {
    tx.query_one(
        "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM transfers
         WHERE credit_account_id = $1 AND kind = 'earn' AND created_at >= $2 AND created_at < $3",
        args![account_id, from, to],
    )?
    .int(0)
}

/// Points earned (`earn` transfers created in `[from, to)`) by each of `customer_ids` that has
/// any, as `(customer_id, points)`: one statement per 512 customers.
pub fn earned_between_by_customer(
    tx: &mut Tx<'_>,
    customer_ids: &[i64],
    from: i64,
    to: i64,
) -> Result<Vec<(i64, i64)>> {
    let mut out = Vec::with_capacity(customer_ids.len());
    for chunk in crate::events::statement_chunks(customer_ids, 512) {
        let list = crate::events::param_list(chunk.len(), 3);
        let sql = format!(
            "SELECT a.customer_id, CAST(SUM(t.amount) AS BIGINT) FROM accounts a
             JOIN transfers t ON t.credit_account_id = a.id
             WHERE a.customer_id IN ({list}) AND t.kind = 'earn'
               AND t.created_at >= $1 AND t.created_at < $2
             GROUP BY a.customer_id"
        );
        let mut params: Vec<crate::sql::Arg<'_>> =
            vec![crate::sql::Arg::Int(from), crate::sql::Arg::Int(to)];
        params.extend(chunk.iter().map(|&c| crate::sql::Arg::Int(c)));
        for r in tx.query(&sql, &params)? {
            out.push((r.int(0)?, r.int(1)?));
        }
    }
    Ok(out)
}

/// Appends a manual tier override for a customer (the latest is in force until `ends_at`).
pub fn insert_tier_override(
    tx: &mut Tx<'_>,
    customer_id: i64,
    tier: &str,
    ends_at: i64,
    reason: &str,
    actor: &str,
    now: i64,
) -> Result<()> {
    tx.execute(
        "INSERT INTO tier_overrides (customer_id, tier, ends_at, reason, actor, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        args![customer_id, tier, ends_at, reason, actor, now],
    )?;
    Ok(())
}

/// The tier overrides in force at `now` for `customer_ids`, as `(customer_id, tier, ends_at)`:
/// each customer's latest override, if it has not ended. One statement per 512 customers.
pub fn tier_overrides_in_force(
    tx: &mut Tx<'_>,
    customer_ids: &[i64],
    now: i64,
) -> Result<Vec<(i64, String, i64)>> {
    let mut out = Vec::new();
    for chunk in crate::events::statement_chunks(customer_ids, 512) {
        let list = crate::events::param_list(chunk.len(), 2);
        let sql = format!(
            "SELECT o.customer_id, o.tier, o.ends_at FROM tier_overrides o
             WHERE o.customer_id IN ({list}) AND o.ends_at > $1
               AND o.id = (SELECT MAX(l.id) FROM tier_overrides l WHERE l.customer_id = o.customer_id)"
        );
        let mut params: Vec<crate::sql::Arg<'_>> = vec![crate::sql::Arg::Int(now)];
        params.extend(chunk.iter().map(|&c| crate::sql::Arg::Int(c)));
        for r in tx.query(&sql, &params)? {
            out.push((r.int(0)?, r.text(1)?.to_owned(), r.int(2)?));
        }
    }
    Ok(out)
}

/// A redemption hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRow {
    pub id: i64,
    pub customer_id: i64,
    pub account_id: i64,
    pub points: i64,
    /// `held`, `committed` or `released` as stored; a held hold past `expires_at` has expired.
    pub state: String,
    pub created_at: jiff::Timestamp,
    pub expires_at: jiff::Timestamp,
    /// The redemption event of a committed hold.
    pub event_id: Option<i64>,
}

/// Stores a new held hold and returns its id.
pub fn insert_hold(
    tx: &mut Tx<'_>,
    customer_id: i64,
    account_id: i64,
    points: i64,
    created_at: i64,
    expires_at: i64,
) -> Result<i64> {
    tx.query_one(
        "INSERT INTO points_holds (customer_id, account_id, points, state, created_at, expires_at)
         VALUES ($1, $2, $3, 'held', $4, $5) RETURNING id",
        args![customer_id, account_id, points, created_at, expires_at],
    )?
    .int(0)
}

/// The hold `id` of customer `customer_id`.
pub fn hold(tx: &mut Tx<'_>, customer_id: i64, id: i64) -> Result<Option<HoldRow>> {
    tx.query_opt(
        "SELECT id, customer_id, account_id, points, state, created_at, expires_at, event_id
         FROM points_holds WHERE id = $1 AND customer_id = $2",
        args![id, customer_id],
    )?
    .map(|r| {
        Ok(HoldRow {
            id: r.int(0)?,
            customer_id: r.int(1)?,
            account_id: r.int(2)?,
            points: r.int(3)?,
            state: r.text(4)?.to_owned(),
            created_at: instant(r.int(5)?)?,
            expires_at: instant(r.int(6)?)?,
            event_id: r.opt_int(7)?,
        })
    })
    .transpose()
}

/// Σ points and count of an account's holds still live at `now_micros`.
pub fn held_points(tx: &mut Tx<'_>, account_id: i64, now_micros: i64) -> Result<(i64, i64)> {
    let r = tx.query_one(
        "SELECT CAST(COALESCE(SUM(points), 0) AS BIGINT), COUNT(*) FROM points_holds
         WHERE account_id = $1 AND state = 'held' AND expires_at > $2",
        args![account_id, now_micros],
    )?;
    Ok((r.int(0)?, r.int(1)?))
}

/// Moves a live hold to `to` (`committed` or `released`); false when it was not live.
pub fn finish_hold(
    tx: &mut Tx<'_>,
    id: i64,
    to: &str,
    event_id: Option<i64>,
    now_micros: i64,
) -> Result<bool> {
    Ok(tx.execute(
        "UPDATE points_holds SET state = $2, event_id = $3
         WHERE id = $1 AND state = 'held' AND expires_at > $4",
        args![id, to, event_id, now_micros],
    )? == 1)
}

/// The lots transfer `transfer` consumed and how much of each, in lot order.
pub fn consumptions_of(tx: &mut Tx<'_>, transfer: (i64, i64)) -> Result<Vec<((i64, i64), i64)>> {
    tx.query(
        "SELECT lot_event_id, lot_seq, amount FROM lot_consumptions
         WHERE event_id = $1 AND seq = $2 ORDER BY lot_event_id, lot_seq",
        args![transfer.0, transfer.1],
    )?
    .iter()
    .map(|r| Ok(((r.int(0)?, r.int(1)?), r.int(2)?)))
    .collect()
}

/// One transfer by its key.
pub fn transfer(tx: &mut Tx<'_>, key: (i64, i64)) -> Result<Option<TransferRow>> {
    tx.query_opt(
        &format!("SELECT {COLUMNS} FROM transfers WHERE event_id = $1 AND seq = $2"),
        args![key.0, key.1],
    )?
    .map(|r| from_row(&r))
    .transpose()
}

/// An active lot with points left that expires, not yet reminded of for its expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemindLot {
    pub lot: (i64, i64),
    pub customer_id: i64,
    pub remaining: i64,
    pub expires_at: i64,
}

/// Lots still to remind of, expiring after `after_micros`, soonest expiry first.
pub fn unreminded_lots(tx: &mut Tx<'_>, after_micros: i64, limit: i64) -> Result<Vec<RemindLot>> {
    tx.query(
        "SELECT t.event_id, t.seq, a.customer_id, t.remaining, t.expires_at
         FROM transfers t JOIN accounts a ON a.id = t.credit_account_id
         WHERE t.remaining > 0 AND t.expires_at IS NOT NULL AND t.expires_at > $1
           AND (t.lot_state IS NULL OR t.lot_state = 'active') AND a.customer_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM lot_reminders r
                           WHERE r.lot_event_id = t.event_id AND r.lot_seq = t.seq
                             AND r.expires_at = t.expires_at)
         ORDER BY t.expires_at, t.event_id, t.seq LIMIT $2",
        args![after_micros, limit],
    )?
    .iter()
    .map(|r| {
        Ok(RemindLot {
            lot: (r.int(0)?, r.int(1)?),
            customer_id: r.int(2)?,
            remaining: r.int(3)?,
            expires_at: r.int(4)?,
        })
    })
    .collect()
}

/// Records the reminder of a lot for its expiry; false when it was already written.
pub fn insert_reminder(tx: &mut Tx<'_>, lot: &RemindLot, now_micros: i64) -> Result<bool> {
    Ok(tx.execute(
        "INSERT INTO lot_reminders (lot_event_id, lot_seq, expires_at, written_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        args![lot.lot.0, lot.lot.1, lot.expires_at, now_micros],
    )? == 1)
}
