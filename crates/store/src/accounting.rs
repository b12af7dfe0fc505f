//! Loyalty accounting rows (IFRS 15): the revenue each purchase lot took of its order's price
//! (columns of the lot's transfer row), the versioned breakage estimates per cohort
//! (`breakage_estimates`), and the as-of aggregates the roll-forward, the liability by expiry
//! and the journal are computed from. A cohort's lots are its purchase lots and the `restore`
//! lots naming them (points given back by a cancelled redemption stay in the cohort they were
//! earned in).

use crate::args;
use crate::sql::Tx;
use anyhow::Result;

/// What one purchase lot took of its order's price. The lot's points are its transfer's
/// amount, and it was recorded when the transfer was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LotRevenue {
    /// `YYYY-MM`, programme-local month the lot was recorded in.
    pub cohort: String,
    pub price_minor: i64,
    pub points_ssp_minor: i64,
    pub allocated_minor: i64,
    /// The expected redemption rate the points' SSP was computed with.
    pub rate_ppm: i64,
}

/// The revenue of one lot, if it has any.
pub fn lot_revenue(tx: &mut Tx<'_>, lot: (i64, i64)) -> Result<Option<LotRevenue>> {
    tx.query_opt(
        "SELECT cohort, price_minor, points_ssp_minor, allocated_minor, rate_ppm
         FROM transfers WHERE event_id = $1 AND seq = $2 AND cohort IS NOT NULL",
        args![lot.0, lot.1],
    )?
    .map(|r| {
        Ok(LotRevenue {
            cohort: r.text(0)?.to_owned(),
            price_minor: r.int(1)?,
            points_ssp_minor: r.int(2)?,
            allocated_minor: r.int(3)?,
            rate_ppm: r.int(4)?,
        })
    })
    .transpose()
}

/// One version of a cohort's breakage estimate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EstimateRow {
    pub cohort: String,
    pub version: i64,
    pub rate_ppm: i64,
    pub set_by: String,
    pub set_at_micros: i64,
    pub reason: String,
}

/// Every estimate version, by cohort then version (a few rows per month of operation).
pub fn estimates(tx: &mut Tx<'_>) -> Result<Vec<EstimateRow>> {
    tx.query(
        "SELECT cohort, version, rate_ppm, set_by, set_at, reason
         FROM breakage_estimates ORDER BY cohort, version",
        &[],
    )?
    .iter()
    .map(|r| {
        Ok(EstimateRow {
            cohort: r.text(0)?.to_owned(),
            version: r.int(1)?,
            rate_ppm: r.int(2)?,
            set_by: r.text(3)?.to_owned(),
            set_at_micros: r.int(4)?,
            reason: r.text(5)?.to_owned(),
        })
    })
    .collect()
}

/// Stores the next version of `row.cohort`'s estimate (`row.version` is ignored); returns it.
pub fn insert_estimate(tx: &mut Tx<'_>, row: &EstimateRow) -> Result<i64> {
    let version = tx
        .query_one(
            "SELECT CAST(COALESCE(MAX(version), 0) + 1 AS BIGINT)
             FROM breakage_estimates WHERE cohort = $1",
            args![row.cohort.as_str()],
        )?
        .int(0)?;
    tx.execute(
        "INSERT INTO breakage_estimates (cohort, version, rate_ppm, set_by, set_at, reason)
         VALUES ($1, $2, $3, $4, $5, $6)",
        args![
            row.cohort.as_str(),
            version,
            row.rate_ppm,
            row.set_by.as_str(),
            row.set_at_micros,
            row.reason.as_str()
        ],
    )?;
    Ok(version)
}

/// A cohort's movements up to an instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CohortTotals {
    pub cohort: String,
    /// Points of the cohort's purchase lots.
    pub issued: i64,
    /// The order prices those lots were earned with.
    pub price_minor: i64,
    /// Revenue allocated to those lots' points at sale.
    pub allocated_minor: i64,
    /// Points of restore lots (given back by cancelled redemptions).
    pub restored: i64,
    /// Points of the cohort's lots consumed by redemptions.
    pub redeemed: i64,
    /// Points taken back by returns (at once, or later by `settle` transfers of a debt).
    pub reversed: i64,
    /// Points consumed by anything (redemptions, returns, expiry, corrections).
    pub consumed: i64,
}

/// A cohort's lots: its purchase lots and every restore lot descending from them. A restore
/// names the lot it gives points back to, which may itself be a restore (a redemption that
/// spent restored points, cancelled in turn), so the chain is followed to its purchase lot:
/// restored points keep the revenue share of the purchase that earned them.
const COHORT_LOTS: &str = "WITH RECURSIVE lots (cohort, event_id, seq, restored) AS (
        SELECT r.cohort, r.event_id, r.seq, 0
        FROM transfers r WHERE r.cohort IS NOT NULL AND r.created_at <= $1
        UNION ALL
        SELECT l.cohort, rl.event_id, rl.seq, 1
        FROM lots l
        JOIN transfers rl ON rl.lot_event_id = l.event_id AND rl.lot_seq = l.seq
        WHERE rl.kind = 'restore' AND rl.created_at <= $1
    )";

/// Every cohort's totals as recorded at or before `at_micros`, by cohort.
pub fn cohort_totals(tx: &mut Tx<'_>, at_micros: i64) -> Result<Vec<CohortTotals>> {
    let mut out: Vec<CohortTotals> = tx
        .query(
            "SELECT cohort, CAST(SUM(amount) AS BIGINT), CAST(SUM(price_minor) AS BIGINT),
                    CAST(SUM(allocated_minor) AS BIGINT)
             FROM transfers WHERE cohort IS NOT NULL AND created_at <= $1
             GROUP BY cohort ORDER BY cohort",
            args![at_micros],
        )?
        .iter()
        .map(|r| {
            Ok(CohortTotals {
                cohort: r.text(0)?.to_owned(),
                issued: r.int(1)?,
                price_minor: r.int(2)?,
                allocated_minor: r.int(3)?,
                ..CohortTotals::default()
            })
        })
        .collect::<Result<_>>()?;
    let restored = tx.query(
        &format!(
            "{COHORT_LOTS}
             SELECT l.cohort, CAST(SUM(t.amount) AS BIGINT)
             FROM lots l
             JOIN transfers t ON t.event_id = l.event_id AND t.seq = l.seq
             WHERE l.restored = 1
             GROUP BY l.cohort"
        ),
        args![at_micros],
    )?;
    for r in &restored {
        if let Some(c) = out.iter_mut().find(|c| c.cohort == r.text(0).unwrap_or("")) {
            c.restored = r.int(1)?;
        }
    }
    let consumed = tx.query(
        &format!(
            "{COHORT_LOTS}
             SELECT l.cohort,
                    CAST(SUM(CASE WHEN t.kind = 'redeem' THEN c.amount ELSE 0 END) AS BIGINT),
                    CAST(SUM(CASE WHEN t.kind IN ('reverse', 'settle') THEN c.amount ELSE 0 END) AS BIGINT),
                    CAST(SUM(c.amount) AS BIGINT)
             FROM lots l
             JOIN lot_consumptions c ON c.lot_event_id = l.event_id AND c.lot_seq = l.seq
             JOIN transfers t ON t.event_id = c.event_id AND t.seq = c.seq
             WHERE t.created_at <= $1
             GROUP BY l.cohort"
        ),
        args![at_micros],
    )?;
    for r in &consumed {
        if let Some(c) = out.iter_mut().find(|c| c.cohort == r.text(0).unwrap_or("")) {
            c.redeemed = r.int(1)?;
            c.reversed = r.int(2)?;
            c.consumed = r.int(3)?;
        }
    }
    Ok(out)
}

/// An order whose purchase lot carries revenue, with what was refunded of it by `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundedOrder {
    pub order_event_id: i64,
    pub cohort: String,
    pub price_minor: i64,
    pub allocated_minor: i64,
    pub refunded_minor: i64,
}

/// Orders with lot revenue that refunds or cancellations recorded by `at_micros` named.
pub fn refunded_orders(tx: &mut Tx<'_>, at_micros: i64) -> Result<Vec<RefundedOrder>> {
    tx.query(
        "SELECT r.event_id, r.cohort, r.price_minor, r.allocated_minor,
                CAST(SUM(e.amount_minor) AS BIGINT)
         FROM transfers r
         JOIN events e ON e.order_event_id = r.event_id
         WHERE r.seq = 0 AND r.cohort IS NOT NULL
           AND e.kind IN ('order_refunded', 'order_cancelled')
           AND e.recorded_at <= $1 AND r.created_at <= $1
         GROUP BY r.event_id, r.cohort, r.price_minor, r.allocated_minor
         ORDER BY r.event_id",
        args![at_micros],
    )?
    .iter()
    .map(|r| {
        Ok(RefundedOrder {
            order_event_id: r.int(0)?,
            cohort: r.text(1)?.to_owned(),
            price_minor: r.int(2)?,
            allocated_minor: r.int(3)?,
            refunded_minor: r.opt_int(4)?.unwrap_or(0),
        })
    })
    .collect()
}

/// Points of a cohort still outstanding, by expiry instant (`None`: never expires).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutstandingRow {
    pub cohort: String,
    pub expires_at_micros: Option<i64>,
    pub points: i64,
}

/// Outstanding points of every cohort now (pending lots included), by expiry instant.
pub fn outstanding_by_expiry(tx: &mut Tx<'_>, now_micros: i64) -> Result<Vec<OutstandingRow>> {
    tx.query(
        &format!(
            "{COHORT_LOTS}
             SELECT l.cohort, t.expires_at, CAST(SUM(t.remaining) AS BIGINT)
             FROM lots l
             JOIN transfers t ON t.event_id = l.event_id AND t.seq = l.seq
             WHERE t.remaining > 0
             GROUP BY l.cohort, t.expires_at
             ORDER BY l.cohort, t.expires_at"
        ),
        args![now_micros],
    )?
    .iter()
    .map(|r| {
        Ok(OutstandingRow {
            cohort: r.text(0)?.to_owned(),
            expires_at_micros: r.opt_int(1)?,
            points: r.int(2)?,
        })
    })
    .collect()
}
