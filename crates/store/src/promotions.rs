//! Promotion rows: every version of every promotion (kept forever), what each purchase lot got
//! from each promotion, the budget counter, and the revision that keys the rule-set cache.
//! Definitions are stored in their text forms; `app::promotions` parses them into domain types.

use crate::sql::{Arg, Tx};
use crate::{args, instant};
use anyhow::{Context, Result};

/// The first promotion id: promotion rule ids never meet the base rule (1) or the tier rule
/// (65535) in a lot's `lines` rules.
pub const PROMOTION_ID_FIRST: i64 = 100_001;

/// One version of a promotion's definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionVersionRow {
    pub promotion_id: i64,
    pub version: i64,
    pub name: String,
    pub priority: i64,
    /// Programme-local `YYYY-MM-DDTHH:MM:SS`, both or neither.
    pub starts_at_local: Option<String>,
    pub ends_at_local: Option<String>,
    /// `all`, `sku:<sku>` or `category:<category>`.
    pub target: String,
    /// `multiplier:<bp>` or `points_per_unit:<points>`.
    pub effect: String,
    /// Comma-separated tier codes; empty for every member.
    pub tiers: String,
    pub minimum_spend_minor: i64,
    pub member_cap_points: Option<i64>,
    /// `day`, `month` or `lifetime`.
    pub member_cap_period: Option<String>,
    pub budget_points: Option<i64>,
    pub created_at: jiff::Timestamp,
    pub created_by: String,
}

/// A promotion's latest version with its life and usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionRow {
    pub latest: PromotionVersionRow,
    pub created_at: jiff::Timestamp,
    pub ended_at: Option<jiff::Timestamp>,
    /// Points granted under a version with a budget (what the budget counts).
    pub budget_used: i64,
}

const VERSION_COLUMNS: &str = "v.promotion_id, v.version, v.name, v.priority, v.starts_at_local,
     v.ends_at_local, v.target, v.effect, v.tiers, v.minimum_spend_minor, v.member_cap_points,
     v.member_cap_period, v.budget_points, v.created_at, v.created_by";

fn version_from(r: &crate::sql::Row, at: usize) -> Result<PromotionVersionRow> {
    Ok(PromotionVersionRow {
        promotion_id: r.int(at)?,
        version: r.int(at + 1)?,
        name: r.text(at + 2)?.to_owned(),
        priority: r.int(at + 3)?,
        starts_at_local: r.opt_text(at + 4)?.map(str::to_owned),
        ends_at_local: r.opt_text(at + 5)?.map(str::to_owned),
        target: r.text(at + 6)?.to_owned(),
        effect: r.text(at + 7)?.to_owned(),
        tiers: r.text(at + 8)?.to_owned(),
        minimum_spend_minor: r.int(at + 9)?,
        member_cap_points: r.opt_int(at + 10)?,
        member_cap_period: r.opt_text(at + 11)?.map(str::to_owned),
        budget_points: r.opt_int(at + 12)?,
        created_at: instant(r.int(at + 13)?)?,
        created_by: r.text(at + 14)?.to_owned(),
    })
}

/// The revision every promotion change bumps (the rule-set cache's key).
pub fn revision(tx: &mut Tx<'_>) -> Result<i64> {
    tx.query_one("SELECT revision FROM promotion_revision WHERE id = 1", &[])?
        .int(0)
}

/// Bumps the revision and returns it. Its row lock (PostgreSQL) serialises promotion changes
/// until the transaction ends, so checks against the promotions in force see every change
/// committed before.
pub fn bump_revision(tx: &mut Tx<'_>) -> Result<i64> {
    tx.query_one(
        "UPDATE promotion_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision",
        &[],
    )?
    .int(0)
}

/// What the loyalty programme's cache is keyed by, read in one statement: the programme
/// version, base rule `base_rule_id`'s version and the promotion revision.
pub fn rules_fingerprint(tx: &mut Tx<'_>, base_rule_id: i64) -> Result<(i64, i64, i64)> {
    let r = tx.query_one(
        "SELECT (SELECT MAX(version) FROM loyalty_programmes),
                (SELECT MAX(version) FROM loyalty_rules WHERE rule_id = $1),
                (SELECT revision FROM promotion_revision WHERE id = 1)",
        args![base_rule_id],
    )?;
    Ok((
        r.opt_int(0)?.unwrap_or(0),
        r.opt_int(1)?.unwrap_or(0),
        r.int(2)?,
    ))
}

/// The revision and the latest version of every promotion not ended, in one statement (one
/// snapshot), by id.
pub fn in_force(tx: &mut Tx<'_>) -> Result<(i64, Vec<PromotionVersionRow>)> {
    let rows = tx.query(
        &format!(
            "SELECT r.revision, {VERSION_COLUMNS}
             FROM promotion_revision r
             LEFT JOIN promotions p ON p.ended_at IS NULL
             LEFT JOIN promotion_versions v ON v.promotion_id = p.id
                 AND v.version = (SELECT MAX(version) FROM promotion_versions
                                  WHERE promotion_id = p.id)
             WHERE r.id = 1
             ORDER BY v.promotion_id"
        ),
        &[],
    )?;
    let revision = match rows.first() {
        Some(r) => r.int(0)?,
        None => return Ok((0, Vec::new())),
    };
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        if r.opt_int(1)?.is_some() {
            out.push(version_from(r, 1)?);
        }
    }
    Ok((revision, out))
}

/// The id the next promotion gets. Call after [`bump_revision`], whose lock keeps it free.
pub fn next_promotion_id(tx: &mut Tx<'_>) -> Result<i64> {
    let last = tx
        .query_one("SELECT MAX(id) FROM promotions", &[])?
        .opt_int(0)?;
    Ok(last.map_or(PROMOTION_ID_FIRST, |l| l + 1))
}

/// Stores promotion `id` (from [`next_promotion_id`]) with its first version
/// (`row.promotion_id` and `row.version` are ignored).
pub fn insert_promotion(tx: &mut Tx<'_>, id: i64, row: &PromotionVersionRow) -> Result<()> {
    tx.execute(
        "INSERT INTO promotions (id, created_at, created_by, budget_points) VALUES ($1, $2, $3, $4)",
        args![
            id,
            row.created_at.as_microsecond(),
            row.created_by.as_str(),
            row.budget_points
        ],
    )?;
    insert_version_numbered(tx, id, 1, row)?;
    Ok(())
}

/// Stores a new version of promotion `id` and makes its budget the one in force; returns the
/// version. `budget_used` starts from the points the promotion already granted when a budget
/// is set where there was none, so a budget counts every point the promotion gave.
pub fn insert_version(tx: &mut Tx<'_>, id: i64, row: &PromotionVersionRow) -> Result<i64> {
    let version = tx
        .query_one(
            "SELECT CAST(COALESCE(MAX(version), 0) + 1 AS BIGINT) FROM promotion_versions
             WHERE promotion_id = $1",
            args![id],
        )?
        .int(0)?;
    insert_version_numbered(tx, id, version, row)?;
    tx.execute(
        "UPDATE promotions SET
             budget_used = CASE WHEN budget_points IS NULL
                 THEN (SELECT CAST(COALESCE(SUM(points), 0) AS BIGINT) FROM promotion_grants
                       WHERE promotion_id = $1)
                 ELSE budget_used END,
             budget_points = $2
         WHERE id = $1",
        args![id, row.budget_points],
    )?;
    Ok(version)
}

fn insert_version_numbered(
    tx: &mut Tx<'_>,
    id: i64,
    version: i64,
    row: &PromotionVersionRow,
) -> Result<()> {
    tx.execute(
        "INSERT INTO promotion_versions (promotion_id, version, name, priority, starts_at_local,
             ends_at_local, target, effect, tiers, minimum_spend_minor, member_cap_points,
             member_cap_period, budget_points, created_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        args![
            id,
            version,
            row.name.as_str(),
            row.priority,
            row.starts_at_local.as_deref(),
            row.ends_at_local.as_deref(),
            row.target.as_str(),
            row.effect.as_str(),
            row.tiers.as_str(),
            row.minimum_spend_minor,
            row.member_cap_points,
            row.member_cap_period.as_deref(),
            row.budget_points,
            row.created_at.as_microsecond(),
            row.created_by.as_str()
        ],
    )?;
    Ok(())
}

/// Ends promotion `id` (once): it applies to no order placed from now on. Returns whether it
/// was still running.
pub fn end_promotion(tx: &mut Tx<'_>, id: i64, actor: &str, now_micros: i64) -> Result<bool> {
    Ok(tx.execute(
        "UPDATE promotions SET ended_at = $2, ended_by = $3 WHERE id = $1 AND ended_at IS NULL",
        args![id, now_micros, actor],
    )? == 1)
}

const PROMOTION_COLUMNS: &str = "p.created_at, p.ended_at, p.budget_used";

fn promotion_from(r: &crate::sql::Row) -> Result<PromotionRow> {
    Ok(PromotionRow {
        created_at: instant(r.int(0)?)?,
        ended_at: r.opt_int(1)?.map(instant).transpose()?,
        budget_used: r.int(2)?,
        latest: version_from(r, 3)?,
    })
}

/// Promotion `id` with its latest version.
pub fn promotion(tx: &mut Tx<'_>, id: i64) -> Result<Option<PromotionRow>> {
    tx.query_opt(
        &format!(
            "SELECT {PROMOTION_COLUMNS}, {VERSION_COLUMNS} FROM promotions p
             JOIN promotion_versions v ON v.promotion_id = p.id
             WHERE p.id = $1
               AND v.version = (SELECT MAX(version) FROM promotion_versions WHERE promotion_id = p.id)"
        ),
        args![id],
    )?
    .map(|r| promotion_from(&r))
    .transpose()
}

/// Promotions with their latest versions, newest first, at most `limit`.
pub fn list(tx: &mut Tx<'_>, limit: i64) -> Result<Vec<PromotionRow>> {
    tx.query(
        &format!(
            "SELECT {PROMOTION_COLUMNS}, {VERSION_COLUMNS} FROM promotions p
             JOIN promotion_versions v ON v.promotion_id = p.id
             WHERE v.version = (SELECT MAX(version) FROM promotion_versions
                                WHERE promotion_id = p.id)
             ORDER BY p.id DESC LIMIT $1"
        ),
        args![limit],
    )?
    .iter()
    .map(promotion_from)
    .collect()
}

/// Every version of promotion `id` (or of every promotion), newest first, at most `limit`.
pub fn versions(tx: &mut Tx<'_>, id: Option<i64>, limit: i64) -> Result<Vec<PromotionVersionRow>> {
    let order = "ORDER BY v.created_at DESC, v.promotion_id DESC, v.version DESC";
    match id {
        Some(id) => tx.query(
            &format!(
                "SELECT {VERSION_COLUMNS} FROM promotion_versions v WHERE v.promotion_id = $1
                 {order} LIMIT $2"
            ),
            args![id, limit],
        )?,
        None => tx.query(
            &format!("SELECT {VERSION_COLUMNS} FROM promotion_versions v {order} LIMIT $1"),
            args![limit],
        )?,
    }
    .iter()
    .map(|r| version_from(r, 0))
    .collect()
}

/// One version of a base earning rule, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleVersionRow {
    pub rule_id: i64,
    pub version: i64,
    pub points: i64,
    pub per_minor: i64,
    pub minimum_spend_minor: i64,
    pub excluded_categories: Vec<String>,
    pub created_at: jiff::Timestamp,
}

/// Every version of the earning rules in `loyalty_rules`, newest first, at most `limit`.
pub fn base_rule_versions(tx: &mut Tx<'_>, limit: i64) -> Result<Vec<RuleVersionRow>> {
    tx.query(
        "SELECT rule_id, version, points, per_minor, minimum_spend_minor, created_at,
                excluded_categories
         FROM loyalty_rules ORDER BY created_at DESC, rule_id DESC, version DESC LIMIT $1",
        args![limit],
    )?
    .iter()
    .map(|r| {
        Ok(RuleVersionRow {
            rule_id: r.int(0)?,
            version: r.int(1)?,
            points: r.int(2)?,
            per_minor: r.int(3)?,
            minimum_spend_minor: r.int(4)?,
            excluded_categories: crate::loyalty::parse_categories(r.text(6)?)?,
            created_at: instant(r.int(5)?)?,
        })
    })
    .collect()
}

/// Points promotion `id` granted in total (every version).
pub fn granted(tx: &mut Tx<'_>, id: i64) -> Result<i64> {
    tx.query_one(
        "SELECT CAST(COALESCE(SUM(points), 0) AS BIGINT) FROM promotion_grants
         WHERE promotion_id = $1",
        args![id],
    )?
    .int(0)
}

/// A promotion's budget counter: (id, budget_used, budget_points in force).
pub type Budget = (i64, i64, Option<i64>);

/// Whether a read takes the rows' locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locking {
    /// `FOR UPDATE` on PostgreSQL (SQLite has one writer): what is read stays exact until
    /// commit. Intake's path.
    ForUpdate,
    /// A plain read (simulation, in a read transaction).
    Unlocked,
}

/// The budget of each of promotions `ids` (one statement per 64, in id order). Under
/// [`Locking::ForUpdate`] their rows are locked: every grant of a promotion with a cap is
/// written under this lock, so what is read here, and after it, is exact.
pub fn budgets(tx: &mut Tx<'_>, ids: &[i64], locking: Locking) -> Result<Vec<Budget>> {
    let mut out = Vec::with_capacity(ids.len());
    let lock = if locking == Locking::ForUpdate && tx.is_postgres() {
        " FOR UPDATE"
    } else {
        ""
    };
    for chunk in crate::events::statement_chunks(ids, 64) {
        let list = (1..=chunk.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT id, budget_used, budget_points FROM promotions WHERE id IN ({list})
             ORDER BY id{lock}"
        );
        let params: Vec<Arg<'_>> = chunk.iter().map(|&i| Arg::Int(i)).collect();
        for r in tx.query(&sql, &params)? {
            out.push((r.int(0)?, r.int(1)?, r.opt_int(2)?));
        }
    }
    Ok(out)
}

/// One grant as read back for member caps: (promotion, customer, placed_at, points).
pub type MemberGrant = (i64, i64, i64, i64);

/// The grants of promotions `promotion_ids` to customers `customer_ids` placed at or after
/// `since` micros (one statement per 512 customers).
pub fn member_grants(
    tx: &mut Tx<'_>,
    promotion_ids: &[i64],
    customer_ids: &[i64],
    since: i64,
) -> Result<Vec<MemberGrant>> {
    let mut out = Vec::new();
    if promotion_ids.is_empty() {
        return Ok(out);
    }
    let promos = crate::events::param_list(promotion_ids.len(), 2);
    for chunk in crate::events::statement_chunks(customer_ids, 512) {
        let first = promotion_ids.len() + 2;
        let customers = (0..chunk.len())
            .map(|i| format!("${}", i + first))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT promotion_id, customer_id, placed_at, points FROM promotion_grants
             WHERE placed_at >= $1 AND promotion_id IN ({promos}) AND customer_id IN ({customers})"
        );
        let mut params: Vec<Arg<'_>> = vec![Arg::Int(since)];
        params.extend(promotion_ids.iter().map(|&i| Arg::Int(i)));
        params.extend(chunk.iter().map(|&c| Arg::Int(c)));
        for r in tx.query(&sql, &params)? {
            out.push((r.int(0)?, r.int(1)?, r.int(2)?, r.int(3)?));
        }
    }
    Ok(out)
}

/// One promotion's part of a purchase lot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGrant {
    pub lot: (i64, i64),
    pub promotion_id: i64,
    pub version: i64,
    pub customer_id: i64,
    pub placed_at: i64,
    pub points: i64,
}

/// Records the grants (multi-row inserts) and adds `budgets` (promotion, points) to the budget
/// counters; a counter that would pass its budget fails the transaction (never expected: the
/// caller decided under the lock, with the budget in force).
pub fn record_grants(tx: &mut Tx<'_>, grants: &[NewGrant], budgets: &[(i64, i64)]) -> Result<()> {
    for chunk in crate::events::statement_chunks(grants, crate::events::BATCH_STATEMENT_ROWS) {
        let sql = format!(
            "INSERT INTO promotion_grants (lot_event_id, lot_seq, promotion_id, version,
                                           customer_id, placed_at, points) VALUES {}",
            crate::events::placeholders(chunk.len(), 7, 1)
        );
        let mut params: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() * 7);
        for g in chunk {
            params.extend_from_slice(args![
                g.lot.0,
                g.lot.1,
                g.promotion_id,
                g.version,
                g.customer_id,
                g.placed_at,
                g.points
            ]);
        }
        tx.execute(&sql, &params)?;
    }
    for &(id, points) in budgets {
        let n = tx
            .execute(
                "UPDATE promotions SET budget_used = budget_used + $2
                 WHERE id = $1 AND (budget_points IS NULL OR budget_used + $2 <= budget_points)",
                args![id, points],
            )
            .context("promotion budget")?;
        anyhow::ensure!(n == 1, "promotion {id}'s budget would be overspent");
    }
    Ok(())
}
