//! The store-facing pipeline: integers in, integers out, so that the callers (the app's
//! refit use case and the API) never handle floats. Orders arrive as (customer id,
//! microsecond instant, amount in minor units); the outputs are scaled integers with the
//! unit in the name (`p_alive_ppm`, `expected_purchases_90d_milli`, `clv_12m_minor`,
//! rates in parts per million).
//!
//! Conventions: days are UTC days, purchases on one day merge, time is measured in weeks
//! (lifetimes' `freq="D", freq_multiplier=7`, as in CDNOW); CLV is 12 lifetimes-compatible
//! months (4.345 weeks each) discounted at 1 % a month. Churn risk is flagged when
//! P(alive) < [`CHURN_RISK_P_ALIVE_MAX`] for a repeat buyer, or when a one-time buyer
//! (for whom BG/NBD says P(alive) = 1 by construction) has an RFM recency score ≤ 2.

use crate::calendar::civil_from_days;
use crate::clv::{self, ClvOptions};
use crate::cohort::CohortRow;
use crate::models::bgnbd::{self, BgNbdParams};
use crate::models::gamma_gamma::{self, GammaGammaParams, SpendRow};
use crate::models::{FitError, FitOptions, FitReport, ModelParams, PurchaseModel};
use crate::rfm;
use crate::summary::{self, CustomerSummary, TimeScale, Transaction};

/// Microseconds in a day.
pub const DAY_MICROS: i64 = 86_400_000_000;
/// Horizon of the expected-purchases prediction, in days.
pub const EXPECTED_PURCHASES_HORIZON_DAYS: i64 = 90;
/// CLV horizon in months.
pub const CLV_MONTHS: u32 = 12;
/// Monthly CLV discount rate, in parts per million (1 %).
pub const CLV_DISCOUNT_RATE_PPM: i64 = 10_000;
/// A repeat buyer with P(alive) below this is flagged as a churn risk.
pub const CHURN_RISK_P_ALIVE_MAX: f64 = 0.5;
/// One, in parts per million.
pub const PPM: i64 = 1_000_000;

/// One order as the store holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    pub customer: u64,
    pub occurred_at_micros: i64,
    pub amount_minor: i64,
}

/// The UTC day number of an instant.
pub fn day_of_micros(micros: i64) -> i32 {
    micros
        .div_euclid(DAY_MICROS)
        .clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// `YYYY-MM-DD` of a day number.
pub fn format_day(day: i32) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

fn transactions(orders: &[Order]) -> Vec<Transaction> {
    orders
        .iter()
        .map(|o| Transaction {
            customer: o.customer,
            day: day_of_micros(o.occurred_at_micros),
            amount: o.amount_minor as f64,
        })
        .collect()
}

/// Weekly summaries of complete customers' orders up to `observation_end_day`
/// (callers stream the store customer by customer and append the results).
pub fn summarize_orders(orders: &[Order], observation_end_day: i32) -> Vec<CustomerSummary> {
    // DAYS_IN_WEEKS is valid and amounts are integers, so summarize cannot fail.
    summary::summarize(
        &transactions(orders),
        &TimeScale::DAYS_IN_WEEKS,
        observation_end_day,
    )
    .unwrap_or_default()
}

/// One customer's predictions, scaled to integers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prediction {
    pub customer: u64,
    pub p_alive_ppm: i64,
    pub expected_purchases_90d_milli: i64,
    /// `None` when the spend model is unavailable (no repeat buyers, or q ≤ 1).
    pub clv_12m_minor: Option<i64>,
    pub rfm_recency: u8,
    pub rfm_frequency: u8,
    pub rfm_monetary: u8,
    pub rfm_segment: &'static str,
    pub churn_risk: bool,
}

/// A refit: both models' reports as text, and every customer's predictions.
#[derive(Debug, Clone, PartialEq)]
pub struct Refit {
    /// `{"r":…,"alpha":…,"a":…,"b":…}` (alpha in weeks).
    pub purchase_params_json: String,
    pub purchase_log_likelihood: String,
    pub purchase_converged: bool,
    /// `{"p":…,"q":…,"gamma":…}` in minor units, or `None` when Gamma-Gamma could not be fitted.
    pub spend_params_json: Option<String>,
    pub spend_log_likelihood: Option<String>,
    pub warnings: Vec<String>,
    pub predictions: Vec<Prediction>,
}

fn params_json<P: ModelParams>(params: &P) -> String {
    let fields: Vec<String> = P::NAMES
        .iter()
        .zip(params.to_vec())
        .map(|(n, v)| format!("\"{n}\":{v}"))
        .collect();
    format!("{{{}}}", fields.join(","))
}

fn to_scaled(value: f64, scale: f64) -> i64 {
    let v = (value * scale).round();
    if v.is_finite() {
        v.clamp(i64::MIN as f64, i64::MAX as f64) as i64
    } else {
        0
    }
}

/// The fitted models of a refit and every customer's RFM score: predictions are made
/// a slice of customers at a time ([`FittedRefit::predict`]), so a caller writing them
/// in batches never holds them all.
#[derive(Debug, Clone)]
pub struct FittedRefit {
    /// `{"r":…,"alpha":…,"a":…,"b":…}` (alpha in weeks).
    pub purchase_params_json: String,
    pub purchase_log_likelihood: String,
    pub purchase_converged: bool,
    /// `{"p":…,"q":…,"gamma":…}` in minor units, or `None` when Gamma-Gamma could not be fitted.
    pub spend_params_json: Option<String>,
    pub spend_log_likelihood: Option<String>,
    pub warnings: Vec<String>,
    purchase: BgNbdParams,
    spend: Option<GammaGammaParams>,
    scores: Vec<rfm::RfmScore>,
}

/// Fits BG/NBD (and Gamma-Gamma when it can) on `summaries` and scores RFM.
/// A BG/NBD failure is an error; a Gamma-Gamma failure is a warning and leaves CLV empty.
pub fn fit_refit(summaries: &[CustomerSummary]) -> Result<FittedRefit, FitError> {
    // bgnbd::fit on the rows, compressed straight from the summaries.
    let purchase: FitReport<BgNbdParams> = bgnbd::fit_weighted(
        &crate::models::compress_by(summaries, CustomerSummary::row),
        &FitOptions::default(),
    )?;
    let mut warnings: Vec<String> = purchase.warnings.iter().map(|w| format!("{w:?}")).collect();
    let spend_rows: Vec<SpendRow> = summaries
        .iter()
        .filter(|s| s.frequency > 0 && s.monetary_value > 0.0)
        .map(|s| SpendRow {
            frequency: s.frequency,
            monetary_value: s.monetary_value,
        })
        .collect();
    let spend: Option<FitReport<GammaGammaParams>> =
        match gamma_gamma::fit(&spend_rows, &FitOptions::default()) {
            Ok(report) => {
                warnings.extend(report.warnings.iter().map(|w| format!("{w:?}")));
                Some(report)
            }
            Err(e) => {
                warnings.push(format!("Gamma-Gamma: {e}; no CLV"));
                None
            }
        };
    drop(spend_rows);
    let scores = rfm::score_summaries(summaries);
    Ok(FittedRefit {
        purchase_params_json: params_json(&purchase.params),
        purchase_log_likelihood: format!("{:.4}", purchase.log_likelihood),
        purchase_converged: purchase.converged,
        spend_params_json: spend.as_ref().map(|g| params_json(&g.params)),
        spend_log_likelihood: spend.as_ref().map(|g| format!("{:.4}", g.log_likelihood)),
        warnings,
        purchase: purchase.params,
        spend: spend.map(|g| g.params),
        scores,
    })
}

impl FittedRefit {
    /// Predictions of `summaries`, the customers `first..first + summaries.len()` of the
    /// slice the models were fitted on (their RFM scores are looked up by position).
    pub fn predict(&self, summaries: &[CustomerSummary], first: usize) -> Vec<Prediction> {
        let horizon_weeks = EXPECTED_PURCHASES_HORIZON_DAYS as f64 / 7.0;
        let clv_options = ClvOptions::lifetimes_compatible(
            CLV_MONTHS,
            clv::MONTH_WEEKS_LIFETIMES,
            CLV_DISCOUNT_RATE_PPM as f64 / PPM as f64,
        );
        let p = &self.purchase;
        let scores = self.scores.get(first..).unwrap_or_default();
        summaries
            .iter()
            .zip(scores)
            .map(|(s, score)| {
                let row = s.row();
                let alive = p.probability_alive(&row).clamp(0.0, 1.0);
                let expected = p.conditional_expected_purchases(&row, horizon_weeks);
                let clv = self.spend.as_ref().and_then(|g| {
                    clv::customer_lifetime_value(p, g, s, &clv_options)
                        .ok()
                        .map(|v| to_scaled(v, 1.0))
                });
                let churn_risk = if s.frequency > 0 {
                    alive < CHURN_RISK_P_ALIVE_MAX
                } else {
                    score.recency <= 2
                };
                Prediction {
                    customer: s.customer,
                    p_alive_ppm: to_scaled(alive, PPM as f64),
                    expected_purchases_90d_milli: to_scaled(expected, 1000.0).max(0),
                    clv_12m_minor: clv,
                    rfm_recency: score.recency,
                    rfm_frequency: score.frequency,
                    rfm_monetary: score.monetary,
                    rfm_segment: score.segment.name(),
                    churn_risk,
                }
            })
            .collect()
    }
}

/// Fits BG/NBD (and Gamma-Gamma when it can) on `summaries` and predicts for each
/// ([`fit_refit`], then [`FittedRefit::predict`] over all of them).
pub fn refit(summaries: &[CustomerSummary]) -> Result<Refit, FitError> {
    let fitted = fit_refit(summaries)?;
    let predictions = fitted.predict(summaries, 0);
    Ok(Refit {
        purchase_params_json: fitted.purchase_params_json,
        purchase_log_likelihood: fitted.purchase_log_likelihood,
        purchase_converged: fitted.purchase_converged,
        spend_params_json: fitted.spend_params_json,
        spend_log_likelihood: fitted.spend_log_likelihood,
        warnings: fitted.warnings,
        predictions,
    })
}

/// KPIs of a period with rates in parts per million and money in minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KpiFigures {
    pub customers_at_start: i64,
    pub customers_at_end: i64,
    pub new_customers: i64,
    pub retained_customers: i64,
    pub orders: i64,
    pub revenue_minor: i64,
    pub retention_rate_ppm: Option<i64>,
    pub churn_rate_ppm: Option<i64>,
    pub repeat_purchase_rate_ppm: Option<i64>,
    /// Orders per active customer, in thousandths.
    pub purchase_frequency_milli: Option<i64>,
    pub average_order_value_minor: Option<i64>,
}

/// KPIs of the days (start_day, end_day] from `orders`, which must hold every order in
/// (start − L, end] plus at least each customer's first order (see [`crate::kpi`]).
pub fn kpis(orders: &[Order], start_day: i32, end_day: i32) -> KpiFigures {
    let k = crate::kpi::period_kpis(
        &transactions(orders),
        crate::kpi::Period { start_day, end_day },
    );
    let ppm = |v: Option<f64>| v.map(|v| to_scaled(v, PPM as f64));
    KpiFigures {
        customers_at_start: i64::from(k.customers_at_start),
        customers_at_end: i64::from(k.customers_at_end),
        new_customers: i64::from(k.new_customers),
        retained_customers: i64::from(k.retained_customers),
        orders: i64::from(k.orders),
        revenue_minor: to_scaled(k.revenue, 1.0),
        retention_rate_ppm: ppm(k.retention_rate),
        churn_rate_ppm: ppm(k.churn_rate),
        repeat_purchase_rate_ppm: ppm(k.repeat_purchase_rate),
        purchase_frequency_milli: k.purchase_frequency.map(|v| to_scaled(v, 1000.0)),
        average_order_value_minor: k.average_order_value.map(|v| to_scaled(v, 1.0)),
    }
}

/// `part / whole` in parts per million (0 when `whole` is 0).
pub fn ratio_ppm(part: i64, whole: i64) -> i64 {
    if whole == 0 {
        0
    } else {
        to_scaled(part as f64 / whole as f64, PPM as f64)
    }
}

/// Builds the cohort retention matrix one customer at a time, so the store can be
/// streamed: memory grows with cohorts × months, not with orders.
#[derive(Debug, Default, Clone)]
pub struct CohortBuilder {
    /// first month → (customers, active per month offset)
    cohorts: std::collections::BTreeMap<i32, (u32, Vec<u32>)>,
}

/// One cohort with shares in parts per million.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CohortFigures {
    /// `YYYY-MM` of the first purchases.
    pub cohort: String,
    pub customers: i64,
    pub active: Vec<i64>,
    pub retention_ppm: Vec<i64>,
}

impl CohortBuilder {
    /// Adds one customer's order instants (any order, at least one).
    pub fn add_customer(&mut self, occurred_at_micros: &[i64]) {
        let mut months: Vec<i32> = occurred_at_micros
            .iter()
            .map(|&m| crate::calendar::month_index(day_of_micros(m)))
            .collect();
        months.sort_unstable();
        months.dedup();
        let Some(&first) = months.first() else {
            return;
        };
        let entry = self.cohorts.entry(first).or_insert_with(|| (0, Vec::new()));
        entry.0 += 1;
        for m in months {
            let k = (m - first) as usize;
            if entry.1.len() <= k {
                entry.1.resize(k + 1, 0);
            }
            entry.1[k] += 1;
        }
    }

    /// The matrix up to `last_month` (month ordinal, see [`crate::calendar::month_index`]).
    pub fn finish(self, last_month: i32) -> Vec<CohortFigures> {
        self.cohorts
            .into_iter()
            .map(|(first, (customers, mut active))| {
                active.resize(((last_month - first + 1).max(1)) as usize, 0);
                let row = CohortRow {
                    first_month: first,
                    customers,
                    rates: Vec::new(),
                    active,
                };
                let (year, month) = (first.div_euclid(12), first.rem_euclid(12) + 1);
                CohortFigures {
                    cohort: format!("{year:04}-{month:02}"),
                    customers: i64::from(row.customers),
                    retention_ppm: row
                        .active
                        .iter()
                        .map(|&a| ratio_ppm(i64::from(a), i64::from(customers)))
                        .collect(),
                    active: row.active.iter().map(|&a| i64::from(a)).collect(),
                }
            })
            .collect()
    }
}

/// The month ordinal of an instant.
pub fn month_of_micros(micros: i64) -> i32 {
    crate::calendar::month_index(day_of_micros(micros))
}

#[cfg(test)]
mod tests;
