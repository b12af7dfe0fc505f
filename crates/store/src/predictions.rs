//! Retention analytics tables: the orders the models read (net of their refunds and
//! cancellations, paged by customer id so a refit holds one page of orders at a time), the record of each refit (`analytics_fits`,
//! versioned) and per-customer predictions (`customer_predictions`, one row per customer,
//! replaced by each refit). Figures are scaled integers; the store holds no floats.

use crate::args;
use crate::sql::{Row, Tx};
use anyhow::Result;

/// Prediction rows per multi-row upsert (11 arguments each, under SQLite's 32,766).
pub const PREDICTION_BATCH_ROWS_MAX: usize = 1_000;

/// What the store holds of orders: their span and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderWindow {
    pub first_at: i64,
    pub last_at: i64,
    pub orders: i64,
    pub customers: i64,
    pub customer_id_min: i64,
    pub customer_id_max: i64,
}

/// The orders the models read: placed, with a customer id in (`$1`, `$2`], at or before
/// `$3`, each with its amount less the refunds and cancellations recorded by `$3`; an order
/// they wholly refund is no purchase and is left out. Refunds are summed per order by a
/// correlated subquery on `events_by_order`, so a page of orders reads only its own.
const NET_ORDERS: &str =
    "SELECT customer_id, occurred_at, amount_minor - COALESCE(refunded, 0) AS amount_minor
    FROM (SELECT o.customer_id, o.occurred_at, COALESCE(o.amount_minor, 0) AS amount_minor,
                 (SELECT CAST(SUM(COALESCE(r.amount_minor, 0)) AS BIGINT) FROM events r
                  WHERE r.order_event_id = o.id
                    AND r.kind IN ('order_refunded', 'order_cancelled')
                    AND r.occurred_at <= $3) AS refunded
          FROM events o
          WHERE o.kind = 'order_placed' AND o.customer_id > $1 AND o.customer_id <= $2
            AND o.occurred_at <= $3) n
    WHERE refunded IS NULL OR refunded < amount_minor";

/// Span and counts of the orders the models read (see [`orders_of_customers`]); `None`
/// without any.
pub fn order_window(tx: &mut Tx<'_>) -> Result<Option<OrderWindow>> {
    let row = tx.query_one(
        &format!(
            "SELECT MIN(occurred_at), MAX(occurred_at), COUNT(*), COUNT(DISTINCT customer_id),
                    MIN(customer_id), MAX(customer_id)
             FROM ({NET_ORDERS}) w"
        ),
        args![i64::MIN, i64::MAX, i64::MAX],
    )?;
    let Some(first_at) = row.opt_int(0)? else {
        return Ok(None);
    };
    Ok(Some(OrderWindow {
        first_at,
        last_at: row.int(1)?,
        orders: row.int(2)?,
        customers: row.int(3)?,
        customer_id_min: row.int(4)?,
        customer_id_max: row.int(5)?,
    }))
}

/// One order as the models read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderRow {
    pub customer_id: i64,
    pub occurred_at: i64,
    pub amount_minor: i64,
}

/// Orders of customers with `after_customer < id <= through_customer`, placed at or before
/// `until`, ordered by customer then instant (a page of whole customers). Each amount is
/// the order's less its refunds and cancellations recorded by `until`; an order they
/// wholly refund is left out.
pub fn orders_of_customers(
    tx: &mut Tx<'_>,
    after_customer: i64,
    through_customer: i64,
    until: i64,
) -> Result<Vec<OrderRow>> {
    tx.query(
        &format!("{NET_ORDERS} ORDER BY customer_id, occurred_at"),
        args![after_customer, through_customer, until],
    )?
    .iter()
    .map(|r| {
        Ok(OrderRow {
            customer_id: r.int(0)?,
            occurred_at: r.int(1)?,
            amount_minor: r.int(2)?,
        })
    })
    .collect()
}

/// Carts and checkouts in (`from`, `to`]: customers with a `cart_updated` event, and those
/// of them who also placed an order in the period.
pub fn cart_counts(tx: &mut Tx<'_>, from: i64, to: i64) -> Result<(i64, i64)> {
    let row = tx.query_one(
        "SELECT COUNT(DISTINCT c.customer_id),
                COUNT(DISTINCT CASE WHEN EXISTS (
                    SELECT 1 FROM events o
                    WHERE o.kind = 'order_placed' AND o.customer_id = c.customer_id
                      AND o.occurred_at > $1 AND o.occurred_at <= $2
                ) THEN c.customer_id END)
         FROM events c
         WHERE c.kind = 'cart_updated' AND c.customer_id IS NOT NULL
           AND c.occurred_at > $1 AND c.occurred_at <= $2",
        args![from, to],
    )?;
    Ok((row.int(0)?, row.int(1)?))
}

/// A refit to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFit<'a> {
    pub created_at: i64,
    pub data_from: i64,
    pub data_to: i64,
    pub observation_end_day: i64,
    pub customers: i64,
    pub orders: i64,
    pub purchase_model: &'a str,
    pub purchase_params: &'a str,
    pub purchase_log_likelihood: &'a str,
    pub converged: bool,
    pub spend_params: Option<&'a str>,
    pub spend_log_likelihood: Option<&'a str>,
    /// One warning per line.
    pub warnings: &'a str,
}

/// A recorded refit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FitRow {
    pub version: i64,
    pub created_at: i64,
    pub data_from: i64,
    pub data_to: i64,
    pub observation_end_day: i64,
    pub customers: i64,
    pub orders: i64,
    pub purchase_model: String,
    pub purchase_params: String,
    pub purchase_log_likelihood: String,
    pub converged: bool,
    pub spend_params: Option<String>,
    pub spend_log_likelihood: Option<String>,
    pub warnings: String,
}

/// Records a refit under the next version number, which it returns.
pub fn insert_fit(tx: &mut Tx<'_>, fit: &NewFit<'_>) -> Result<i64> {
    let version = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM analytics_fits",
            &[],
        )?
        .int(0)?;
    tx.execute(
        "INSERT INTO analytics_fits (version, created_at, data_from, data_to, observation_end_day,
             customers, orders, purchase_model, purchase_params, purchase_log_likelihood,
             converged, spend_params, spend_log_likelihood, warnings)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        args![
            version,
            fit.created_at,
            fit.data_from,
            fit.data_to,
            fit.observation_end_day,
            fit.customers,
            fit.orders,
            fit.purchase_model,
            fit.purchase_params,
            fit.purchase_log_likelihood,
            i64::from(fit.converged),
            fit.spend_params,
            fit.spend_log_likelihood,
            fit.warnings
        ],
    )?;
    Ok(version)
}

fn fit_row(r: &Row) -> Result<FitRow> {
    Ok(FitRow {
        version: r.int(0)?,
        created_at: r.int(1)?,
        data_from: r.int(2)?,
        data_to: r.int(3)?,
        observation_end_day: r.int(4)?,
        customers: r.int(5)?,
        orders: r.int(6)?,
        purchase_model: r.text(7)?.to_owned(),
        purchase_params: r.text(8)?.to_owned(),
        purchase_log_likelihood: r.text(9)?.to_owned(),
        converged: r.int(10)? != 0,
        spend_params: r.opt_text(11)?.map(str::to_owned),
        spend_log_likelihood: r.opt_text(12)?.map(str::to_owned),
        warnings: r.text(13)?.to_owned(),
    })
}

const FIT_COLUMNS: &str = "version, created_at, data_from, data_to, observation_end_day,
    customers, orders, purchase_model, purchase_params, purchase_log_likelihood, converged,
    spend_params, spend_log_likelihood, warnings";

/// The newest refit, if any.
pub fn latest_fit(tx: &mut Tx<'_>) -> Result<Option<FitRow>> {
    tx.query_opt(
        &format!("SELECT {FIT_COLUMNS} FROM analytics_fits ORDER BY version DESC LIMIT 1"),
        &[],
    )?
    .as_ref()
    .map(fit_row)
    .transpose()
}

/// The refit of a version, if recorded.
pub fn fit(tx: &mut Tx<'_>, version: i64) -> Result<Option<FitRow>> {
    tx.query_opt(
        &format!("SELECT {FIT_COLUMNS} FROM analytics_fits WHERE version = $1"),
        args![version],
    )?
    .as_ref()
    .map(fit_row)
    .transpose()
}

/// One customer's predictions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredictionRow {
    pub customer_id: i64,
    pub fit_version: i64,
    pub p_alive_ppm: i64,
    pub expected_purchases_90d_milli: i64,
    pub clv_12m_minor: Option<i64>,
    pub rfm_recency: i64,
    pub rfm_frequency: i64,
    pub rfm_monetary: i64,
    pub rfm_segment: String,
    pub churn_risk: bool,
}

/// Inserts or replaces predictions, [`PREDICTION_BATCH_ROWS_MAX`] rows per statement.
pub fn upsert_predictions(tx: &mut Tx<'_>, rows: &[PredictionRow]) -> Result<()> {
    for batch in rows.chunks(PREDICTION_BATCH_ROWS_MAX) {
        let mut sql = String::from(
            "INSERT INTO customer_predictions (customer_id, fit_version, p_alive_ppm,
                 expected_purchases_90d_milli, clv_12m_minor, rfm_recency, rfm_frequency,
                 rfm_monetary, rfm_segment, churn_risk) VALUES ",
        );
        for i in 0..batch.len() {
            let b = i * 10;
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8,
                b + 9,
                b + 10
            ));
        }
        sql.push_str(
            " ON CONFLICT (customer_id) DO UPDATE SET fit_version = excluded.fit_version,
                 p_alive_ppm = excluded.p_alive_ppm,
                 expected_purchases_90d_milli = excluded.expected_purchases_90d_milli,
                 clv_12m_minor = excluded.clv_12m_minor, rfm_recency = excluded.rfm_recency,
                 rfm_frequency = excluded.rfm_frequency, rfm_monetary = excluded.rfm_monetary,
                 rfm_segment = excluded.rfm_segment, churn_risk = excluded.churn_risk",
        );
        let mut values: Vec<crate::sql::Arg<'_>> = Vec::with_capacity(batch.len() * 10);
        for r in batch {
            values.extend_from_slice(args![
                r.customer_id,
                r.fit_version,
                r.p_alive_ppm,
                r.expected_purchases_90d_milli,
                r.clv_12m_minor,
                r.rfm_recency,
                r.rfm_frequency,
                r.rfm_monetary,
                r.rfm_segment.as_str(),
                i64::from(r.churn_risk)
            ]);
        }
        tx.execute(&sql, &values)?;
    }
    Ok(())
}

/// A customer's predictions, if a refit has covered them.
pub fn prediction(tx: &mut Tx<'_>, customer_id: i64) -> Result<Option<PredictionRow>> {
    tx.query_opt(
        "SELECT customer_id, fit_version, p_alive_ppm, expected_purchases_90d_milli,
                clv_12m_minor, rfm_recency, rfm_frequency, rfm_monetary, rfm_segment, churn_risk
         FROM customer_predictions WHERE customer_id = $1",
        args![customer_id],
    )?
    .map(|r| {
        Ok(PredictionRow {
            customer_id: r.int(0)?,
            fit_version: r.int(1)?,
            p_alive_ppm: r.int(2)?,
            expected_purchases_90d_milli: r.int(3)?,
            clv_12m_minor: r.opt_int(4)?,
            rfm_recency: r.int(5)?,
            rfm_frequency: r.int(6)?,
            rfm_monetary: r.int(7)?,
            rfm_segment: r.text(8)?.to_owned(),
            churn_risk: r.int(9)? != 0,
        })
    })
    .transpose()
}

/// Customers per RFM segment with their churn risks and summed CLV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRow {
    pub segment: String,
    pub customers: i64,
    pub churn_risk_customers: i64,
    pub clv_12m_minor_total: i64,
}

/// Every segment present in the predictions, largest first.
pub fn segments(tx: &mut Tx<'_>) -> Result<Vec<SegmentRow>> {
    tx.query(
        "SELECT rfm_segment, COUNT(*), CAST(SUM(churn_risk) AS BIGINT),
                CAST(COALESCE(SUM(clv_12m_minor), 0) AS BIGINT)
         FROM customer_predictions GROUP BY rfm_segment ORDER BY COUNT(*) DESC, rfm_segment",
        &[],
    )?
    .iter()
    .map(|r| {
        Ok(SegmentRow {
            segment: r.text(0)?.to_owned(),
            customers: r.int(1)?,
            churn_risk_customers: r.int(2)?,
            clv_12m_minor_total: r.int(3)?,
        })
    })
    .collect()
}
