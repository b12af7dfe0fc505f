//! Non-purchase points and referrals: the versioned bonus rule sets, referral codes and
//! referrals, and the customer look-ups of the daily birthday and anniversary run.

use crate::args;
use crate::sql::{Row, Tx};
use anyhow::Result;

/// One kind's points in a rule set; `code` names a custom event (`""` for other kinds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BonusRuleRow {
    pub kind: String,
    pub code: String,
    pub points: i64,
}

/// A stored version of the non-purchase rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSetRow {
    pub version: i64,
    /// `feb28` or `mar1`.
    pub leap_day_fallback: String,
    pub referrer_points: i64,
    pub referee_points: i64,
    pub referral_minimum_order_minor: i64,
    pub referral_cap: i64,
    /// `day`, `month` or `lifetime`.
    pub referral_cap_period: String,
    pub created_by: String,
    pub created_at: i64,
    pub rules: Vec<BonusRuleRow>,
}

/// The rule set in force (the highest version), with its rules.
/// The referral minimum spend of rule set `version` (minor units), if that version exists.
pub fn referral_minimum_of(tx: &mut Tx<'_>, version: i64) -> Result<Option<i64>> {
    tx.query_opt(
        "SELECT referral_minimum_order_minor FROM bonus_rule_sets WHERE version = $1",
        args![version],
    )?
    .map(|r| r.int(0))
    .transpose()
}

pub fn current_rule_set(tx: &mut Tx<'_>) -> Result<Option<RuleSetRow>> {
    let Some(r) = tx.query_opt(
        "SELECT version, leap_day_fallback, referrer_points, referee_points,
                referral_minimum_order_minor, referral_cap, referral_cap_period, created_by,
                created_at
         FROM bonus_rule_sets ORDER BY version DESC LIMIT 1",
        &[],
    )?
    else {
        return Ok(None);
    };
    let version = r.int(0)?;
    let rules = tx
        .query(
            "SELECT kind, code, points FROM bonus_rules WHERE version = $1 ORDER BY kind, code",
            args![version],
        )?
        .iter()
        .map(|r| {
            Ok(BonusRuleRow {
                kind: r.text(0)?.to_owned(),
                code: r.text(1)?.to_owned(),
                points: r.int(2)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(RuleSetRow {
        version,
        leap_day_fallback: r.text(1)?.to_owned(),
        referrer_points: r.int(2)?,
        referee_points: r.int(3)?,
        referral_minimum_order_minor: r.int(4)?,
        referral_cap: r.int(5)?,
        referral_cap_period: r.text(6)?.to_owned(),
        created_by: r.text(7)?.to_owned(),
        created_at: r.int(8)?,
        rules,
    }))
}

/// Stores a new rule set version (`row.version` is ignored) and returns its number.
pub fn insert_rule_set(tx: &mut Tx<'_>, row: &RuleSetRow) -> Result<i64> {
    let version = tx
        .query_one(
            "SELECT CAST(COALESCE(MAX(version), 0) + 1 AS BIGINT) FROM bonus_rule_sets",
            &[],
        )?
        .int(0)?;
    tx.execute(
        "INSERT INTO bonus_rule_sets (version, leap_day_fallback, referrer_points, referee_points,
                                      referral_minimum_order_minor, referral_cap,
                                      referral_cap_period, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        args![
            version,
            row.leap_day_fallback.as_str(),
            row.referrer_points,
            row.referee_points,
            row.referral_minimum_order_minor,
            row.referral_cap,
            row.referral_cap_period.as_str(),
            row.created_by.as_str(),
            row.created_at
        ],
    )?;
    for rule in &row.rules {
        tx.execute(
            "INSERT INTO bonus_rules (version, kind, code, points) VALUES ($1, $2, $3, $4)",
            args![version, rule.kind.as_str(), rule.code.as_str(), rule.points],
        )?;
    }
    Ok(version)
}

/// The referral code of a member, if one was generated.
pub fn referral_code_of(tx: &mut Tx<'_>, customer_id: i64) -> Result<Option<String>> {
    tx.query_opt(
        "SELECT code FROM referral_codes WHERE customer_id = $1",
        args![customer_id],
    )?
    .map(|r| Ok(r.text(0)?.to_owned()))
    .transpose()
}

/// Stores a member's referral code; `false` when the member or the code already has one
/// (the caller reads which).
pub fn insert_referral_code(
    tx: &mut Tx<'_>,
    customer_id: i64,
    code: &str,
    now_micros: i64,
) -> Result<bool> {
    Ok(tx.execute(
        "INSERT INTO referral_codes (customer_id, code, created_at) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
        args![customer_id, code, now_micros],
    )? == 1)
}

/// The member a referral code belongs to.
pub fn referral_code_owner(tx: &mut Tx<'_>, code: &str) -> Result<Option<i64>> {
    tx.query_opt(
        "SELECT customer_id FROM referral_codes WHERE code = $1",
        args![code],
    )?
    .map(|r| r.int(0))
    .transpose()
}

/// One referral: who referred whom, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralRow {
    pub referee_id: i64,
    pub referrer_id: i64,
    pub code: String,
    /// `pending`, `rewarded`, `refused` or `reversed`.
    pub state: String,
    /// Why it was refused, or what reversed it (`order_refunded`, `order_cancelled`).
    pub reason: Option<String>,
    pub order_event_id: Option<i64>,
    pub rule_version: Option<i64>,
    pub created_at: i64,
    pub settled_at: Option<i64>,
    /// When its rewards were clawed back.
    pub reversed_at: Option<i64>,
}

const REFERRAL_COLUMNS: &str = "referee_id, referrer_id, code, state, reason, order_event_id, \
                                rule_version, created_at, settled_at, reversed_at";

fn referral(r: &Row) -> Result<ReferralRow> {
    Ok(ReferralRow {
        referee_id: r.int(0)?,
        referrer_id: r.int(1)?,
        code: r.text(2)?.to_owned(),
        state: r.text(3)?.to_owned(),
        reason: r.opt_text(4)?.map(str::to_owned),
        order_event_id: r.opt_int(5)?,
        rule_version: r.opt_int(6)?,
        created_at: r.int(7)?,
        settled_at: r.opt_int(8)?,
        reversed_at: r.opt_int(9)?,
    })
}

/// Records a referral; `false` when the referee already has one.
pub fn insert_referral(tx: &mut Tx<'_>, row: &ReferralRow) -> Result<bool> {
    Ok(tx.execute(
        "INSERT INTO referrals (referee_id, referrer_id, code, state, reason, order_event_id,
                                rule_version, created_at, settled_at, reversed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT DO NOTHING",
        args![
            row.referee_id,
            row.referrer_id,
            row.code.as_str(),
            row.state.as_str(),
            row.reason.as_deref(),
            row.order_event_id,
            row.rule_version,
            row.created_at,
            row.settled_at,
            row.reversed_at
        ],
    )? == 1)
}

/// The referral of a referee (who referred them).
pub fn referral_of(tx: &mut Tx<'_>, referee_id: i64) -> Result<Option<ReferralRow>> {
    tx.query_opt(
        &format!("SELECT {REFERRAL_COLUMNS} FROM referrals WHERE referee_id = $1"),
        args![referee_id],
    )?
    .map(|r| referral(&r))
    .transpose()
}

/// The referee's referral row, locked for update on PostgreSQL (SQLite has one writer).
pub fn referral_for_update(tx: &mut Tx<'_>, referee_id: i64) -> Result<Option<ReferralRow>> {
    let lock = if tx.is_postgres() { " FOR UPDATE" } else { "" };
    tx.query_opt(
        &format!("SELECT {REFERRAL_COLUMNS} FROM referrals WHERE referee_id = $1{lock}"),
        args![referee_id],
    )?
    .map(|r| referral(&r))
    .transpose()
}

/// The referrals a member made, oldest first (at most `limit`).
pub fn referrals_by(tx: &mut Tx<'_>, referrer_id: i64, limit: i64) -> Result<Vec<ReferralRow>> {
    tx.query(
        &format!(
            "SELECT {REFERRAL_COLUMNS} FROM referrals WHERE referrer_id = $1
             ORDER BY created_at, referee_id LIMIT $2"
        ),
        args![referrer_id, limit],
    )?
    .iter()
    .map(referral)
    .collect()
}

/// Of `customer_ids`, the referees whose referral is still pending.
pub fn pending_referees(tx: &mut Tx<'_>, customer_ids: &[i64]) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    for chunk in crate::events::statement_chunks(customer_ids, 512) {
        let list = crate::events::param_list(chunk.len(), 1);
        let params: Vec<crate::sql::Arg<'_>> =
            chunk.iter().map(|&c| crate::sql::Arg::Int(c)).collect();
        for r in tx.query(
            &format!(
                "SELECT referee_id FROM referrals WHERE state = 'pending' AND referee_id IN ({list})"
            ),
            &params,
        )? {
            out.push(r.int(0)?);
        }
    }
    Ok(out)
}

/// Settles a pending referral as `rewarded` or `refused`; `false` when it was not pending.
pub fn settle_referral(tx: &mut Tx<'_>, settled: &ReferralRow) -> Result<bool> {
    Ok(tx.execute(
        "UPDATE referrals SET state = $2, reason = $3, order_event_id = $4, rule_version = $5,
                              settled_at = $6
         WHERE referee_id = $1 AND state = 'pending'",
        args![
            settled.referee_id,
            settled.state.as_str(),
            settled.reason.as_deref(),
            settled.order_event_id,
            settled.rule_version,
            settled.settled_at
        ],
    )? == 1)
}

/// Marks a rewarded referral `reversed` (its rewards clawed back) for `reason` at `at` micros;
/// `false` when it was not rewarded.
pub fn reverse_referral(tx: &mut Tx<'_>, referee_id: i64, reason: &str, at: i64) -> Result<bool> {
    Ok(tx.execute(
        "UPDATE referrals SET state = 'reversed', reason = $2, reversed_at = $3
         WHERE referee_id = $1 AND state = 'rewarded'",
        args![referee_id, reason, at],
    )? == 1)
}

/// Referrals of `referrer_id` rewarded at or after `since` (the cap's period); reversed ones
/// gave nothing in the end and do not count.
pub fn rewarded_since(tx: &mut Tx<'_>, referrer_id: i64, since: i64) -> Result<i64> {
    tx.query_one(
        "SELECT COUNT(*) FROM referrals
         WHERE referrer_id = $1 AND state = 'rewarded' AND settled_at >= $2",
        args![referrer_id, since],
    )?
    .int(0)
}

/// Whether the customer has any order.
pub fn has_orders(tx: &mut Tx<'_>, customer_id: i64) -> Result<bool> {
    Ok(tx
        .query_opt(
            "SELECT 1 FROM events WHERE customer_id = $1 AND kind = 'order_placed' LIMIT 1",
            args![customer_id],
        )?
        .is_some())
}

/// The customer's first order in `currency` not cancelled whose amount after its refunds is
/// still at least `minimum_minor` (and above zero): `(event id, that net amount)`.
pub fn first_order_at_least(
    tx: &mut Tx<'_>,
    customer_id: i64,
    currency: &str,
    minimum_minor: i64,
) -> Result<Option<(i64, i64)>> {
    tx.query_opt(
        "SELECT id, net FROM (
            SELECT e.id,
                   e.amount_minor - (SELECT CAST(COALESCE(SUM(r.amount_minor), 0) AS BIGINT)
                                       FROM events r
                                      WHERE r.order_event_id = e.id
                                        AND r.kind = 'order_refunded') AS net
              FROM events e
             WHERE e.customer_id = $1 AND e.kind = 'order_placed' AND e.currency = $2
               AND e.amount_minor >= $3
               AND NOT EXISTS (SELECT 1 FROM events c
                               WHERE c.order_event_id = e.id AND c.kind = 'order_cancelled')
         ) AS o
         WHERE net > 0 AND net >= $3
         ORDER BY id LIMIT 1",
        args![customer_id, currency, minimum_minor],
    )?
    .map(|r| Ok((r.int(0)?, r.int(1)?)))
    .transpose()
}

/// Customers born on one of `month_days` (`MM-DD`), by id after `after_id`: `(id, birthday)`.
pub fn customers_born_on(
    tx: &mut Tx<'_>,
    month_days: &[&str],
    after_id: i64,
    limit: i64,
) -> Result<Vec<(i64, String)>> {
    let mut out = Vec::new();
    for md in month_days {
        for r in tx.query(
            "SELECT id, birthday FROM customers
             WHERE birthday IS NOT NULL AND substr(birthday, 6) = $1 AND id > $2
             ORDER BY id LIMIT $3",
            args![*md, after_id, limit],
        )? {
            out.push((r.int(0)?, r.text(1)?.to_owned()));
        }
    }
    out.sort_unstable();
    out.truncate(usize::try_from(limit)?);
    Ok(out)
}

/// Customers created in `[from, to)` (micros), by id after `after_id`.
pub fn customers_created_between(
    tx: &mut Tx<'_>,
    from: i64,
    to: i64,
    after_id: i64,
    limit: i64,
) -> Result<Vec<i64>> {
    tx.query(
        "SELECT id FROM customers WHERE created_at >= $1 AND created_at < $2 AND id > $3
         ORDER BY id LIMIT $4",
        args![from, to, after_id, limit],
    )?
    .iter()
    .map(|r| r.int(0))
    .collect()
}

/// The earliest customer creation instant (micros).
pub fn first_customer_created_at(tx: &mut Tx<'_>) -> Result<Option<i64>> {
    tx.query_one("SELECT CAST(MIN(created_at) AS BIGINT) FROM customers", &[])?
        .opt_int(0)
}
