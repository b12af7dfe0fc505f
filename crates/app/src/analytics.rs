//! Retention analytics on the store: refit BG/NBD + Gamma-Gamma on every customer's orders,
//! record the fit (version, data window, parameters, log-likelihood, convergence) and write
//! per-customer predictions; read predictions, RFM segments, cohorts and period KPIs back.
//!
//! The models read each order net of its refunds and cancellations; an order they wholly
//! refund is no purchase (`store::predictions::orders_of_customers`).
//!
//! Orders are read in pages of [`REFIT_PAGE_CUSTOMERS`] customer ids, so memory grows with
//! the number of customers (one small summary each), never with the number of orders;
//! predictions are made and written [`PREDICTION_WRITE_ROWS`] customers at a time. The
//! numerics live in `analytics::pipeline`, which takes and returns integers: nothing here
//! handles floats. Refits run from the CLI (`patron analytics refit`) or as the durable job
//! [`REFIT_JOB`].

use crate::{App, AppError, AppResult, Principal};
use analytics::pipeline::{self, CohortBuilder, Order};
use domain::FieldError;
use store::predictions::{self, FitRow, NewFit, OrderRow, PredictionRow, SegmentRow};

/// Job kind of a refit.
pub const REFIT_JOB: &str = "analytics.refit";
/// Customer ids per page of orders read.
pub const REFIT_PAGE_CUSTOMERS: i64 = 10_000;
/// Predictions written per transaction.
pub const PREDICTION_WRITE_ROWS: usize = 5_000;
/// Longest KPI period accepted, in days.
pub const KPI_PERIOD_DAYS_MAX: i64 = 3_660;

/// What a refit recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefitOutcome {
    pub version: i64,
    pub customers: i64,
    pub orders: i64,
    /// First and last order days, `YYYY-MM-DD`.
    pub data_from: String,
    pub data_to: String,
    pub purchase_params: String,
    pub purchase_log_likelihood: String,
    pub spend_params: String,
    pub converged: bool,
    pub predictions: i64,
    pub warnings: Vec<String>,
}

/// A customer's predictions with the fit that made them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerPredictions {
    pub prediction: PredictionRow,
    pub fit: FitRow,
}

/// KPIs of a period, with cart abandonment from cart events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodKpis {
    pub from_day: String,
    pub to_day: String,
    pub figures: pipeline::KpiFigures,
    pub carts: i64,
    pub checkouts: i64,
    /// 1 − checkouts / carts in ppm; `None` without carts.
    pub cart_abandonment_ppm: Option<i64>,
}

fn to_order(o: &OrderRow) -> Order {
    Order {
        customer: o.customer_id as u64,
        occurred_at_micros: o.occurred_at,
        amount_minor: o.amount_minor,
    }
}

impl App {
    /// Reads every customer's orders placed at or before `until`, one page of customer ids
    /// at a time, handing each page (whole customers, ordered by customer and instant) to `f`.
    fn for_each_order_page(
        &self,
        window: &predictions::OrderWindow,
        until: i64,
        mut f: impl FnMut(&[OrderRow]),
    ) -> AppResult<()> {
        let mut after = window.customer_id_min - 1;
        while after < window.customer_id_max {
            let through = after.saturating_add(REFIT_PAGE_CUSTOMERS);
            let page = self
                .store
                .read(|tx| predictions::orders_of_customers(tx, after, through, until))?;
            f(&page);
            after = through;
        }
        Ok(())
    }

    /// Refits the models on all orders and writes every customer's predictions.
    #[tracing::instrument(skip_all)]
    pub fn refit_analytics(&self, principal: &Principal) -> AppResult<RefitOutcome> {
        let now = self.now_micros();
        let Some(window) = self.store.read(predictions::order_window)? else {
            return Err(AppError::Invalid(FieldError::new(
                "orders",
                "the store holds no orders to fit",
            )));
        };
        // Observe up to today, or the last order if the clock is behind the data.
        let observation_end_day = pipeline::day_of_micros(now.max(window.last_at));
        let mut summaries = Vec::with_capacity(window.customers.max(0) as usize);
        self.for_each_order_page(&window, i64::MAX, |page| {
            let orders: Vec<Order> = page.iter().map(to_order).collect();
            summaries.extend(pipeline::summarize_orders(&orders, observation_end_day));
        })?;
        let refit = pipeline::fit_refit(&summaries).map_err(|e| {
            AppError::Invalid(FieldError::new("orders", format!("BG/NBD fit failed: {e}")))
        })?;
        let warnings = refit.warnings.join("\n");
        let version = self.store.write(|tx| {
            predictions::insert_fit(
                tx,
                &NewFit {
                    created_at: now,
                    data_from: window.first_at,
                    data_to: window.last_at,
                    observation_end_day: i64::from(observation_end_day),
                    customers: summaries.len() as i64,
                    orders: window.orders,
                    purchase_model: "bgnbd",
                    purchase_params: &refit.purchase_params_json,
                    purchase_log_likelihood: &refit.purchase_log_likelihood,
                    converged: refit.purchase_converged,
                    spend_params: refit.spend_params_json.as_deref(),
                    spend_log_likelihood: refit.spend_log_likelihood.as_deref(),
                    warnings: &warnings,
                },
            )
        })?;
        // Predicted and written one batch at a time: never all predictions at once.
        for (k, batch) in summaries.chunks(PREDICTION_WRITE_ROWS).enumerate() {
            let rows: Vec<PredictionRow> = refit
                .predict(batch, k * PREDICTION_WRITE_ROWS)
                .iter()
                .map(|p| PredictionRow {
                    customer_id: p.customer as i64,
                    fit_version: version,
                    p_alive_ppm: p.p_alive_ppm,
                    expected_purchases_90d_milli: p.expected_purchases_90d_milli,
                    clv_12m_minor: p.clv_12m_minor,
                    rfm_recency: i64::from(p.rfm_recency),
                    rfm_frequency: i64::from(p.rfm_frequency),
                    rfm_monetary: i64::from(p.rfm_monetary),
                    rfm_segment: p.rfm_segment.to_owned(),
                    churn_risk: p.churn_risk,
                })
                .collect();
            self.store
                .write(|tx| predictions::upsert_predictions(tx, &rows))?;
        }
        tracing::info!(
            version,
            customers = summaries.len(),
            orders = window.orders,
            actor = %principal.actor,
            "analytics refit recorded"
        );
        Ok(RefitOutcome {
            version,
            customers: summaries.len() as i64,
            orders: window.orders,
            data_from: pipeline::format_day(pipeline::day_of_micros(window.first_at)),
            data_to: pipeline::format_day(pipeline::day_of_micros(window.last_at)),
            purchase_params: refit.purchase_params_json,
            purchase_log_likelihood: refit.purchase_log_likelihood,
            spend_params: refit.spend_params_json.unwrap_or_default(),
            converged: refit.purchase_converged,
            predictions: summaries.len() as i64,
            warnings: refit.warnings,
        })
    }

    /// The job body of [`REFIT_JOB`] (the payload is ignored).
    pub fn run_refit_job(&self, _payload: &str) -> Result<(), String> {
        self.refit_analytics(&Principal::cli())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Enqueues a refit due now; at most one per UTC day (dedupe key).
    pub fn enqueue_refit(&self) -> AppResult<Option<i64>> {
        let now = self.now_micros();
        let key = format!("{REFIT_JOB}:{}", pipeline::day_of_micros(now));
        Ok(self.store.write(|tx| {
            store::jobs::enqueue(
                tx,
                &store::jobs::NewJob {
                    kind: REFIT_JOB,
                    payload: "{}",
                    due_at_micros: now,
                    max_attempts: self.settings.job_attempts_max,
                    dedupe_key: Some(&key),
                    now_micros: now,
                },
            )
        })?)
    }

    /// A customer's latest predictions; `None` before a refit has covered them.
    pub fn customer_predictions(&self, customer_id: i64) -> AppResult<Option<CustomerPredictions>> {
        self.store.read(|tx| {
            if !store::customers::exists(tx, customer_id)? {
                return Err(AppError::UnknownCustomer);
            }
            let Some(prediction) = predictions::prediction(tx, customer_id)? else {
                return Ok(None);
            };
            let fit = predictions::fit(tx, prediction.fit_version)?
                .ok_or_else(|| anyhow::anyhow!("prediction names a missing fit"))?;
            Ok(Some(CustomerPredictions { prediction, fit }))
        })
    }

    /// RFM segments of the latest predictions, with the fit they come from.
    pub fn rfm_segments(&self) -> AppResult<(Option<FitRow>, Vec<SegmentRow>)> {
        Ok(self.store.read(|tx| {
            Ok::<_, anyhow::Error>((predictions::latest_fit(tx)?, predictions::segments(tx)?))
        })?)
    }

    /// Cohort retention by first-purchase month over all orders.
    pub fn cohorts(&self) -> AppResult<Vec<pipeline::CohortFigures>> {
        let Some(window) = self.store.read(predictions::order_window)? else {
            return Ok(Vec::new());
        };
        let mut builder = CohortBuilder::default();
        self.for_each_order_page(&window, i64::MAX, |page| {
            for customer in page.chunk_by(|a, b| a.customer_id == b.customer_id) {
                let instants: Vec<i64> = customer.iter().map(|o| o.occurred_at).collect();
                builder.add_customer(&instants);
            }
        })?;
        Ok(builder.finish(pipeline::month_of_micros(window.last_at)))
    }

    /// The default first day of a KPI period ending on `to_day`: 30 days in all.
    pub fn kpi_default_from(&self, to_day: &str) -> AppResult<String> {
        let to = analytics::parse::parse_date(to_day).ok_or_else(|| {
            AppError::Invalid(FieldError::new("to", "expected a date as YYYY-MM-DD"))
        })?;
        Ok(pipeline::format_day(to - 29))
    }

    /// KPIs of the days `from_day..=to_day` (`YYYY-MM-DD`, UTC) compared with the period
    /// of the same length before it.
    pub fn period_kpis(&self, from_day: &str, to_day: &str) -> AppResult<PeriodKpis> {
        let parse = |field: &str, text: &str| {
            analytics::parse::parse_date(text).ok_or_else(|| {
                AppError::Invalid(FieldError::new(field, "expected a date as YYYY-MM-DD"))
            })
        };
        let (from, to) = (parse("from", from_day)?, parse("to", to_day)?);
        if from > to {
            return Err(AppError::Invalid(FieldError::new(
                "from",
                "must be on or before to",
            )));
        }
        if i64::from(to - from) >= KPI_PERIOD_DAYS_MAX {
            return Err(AppError::Invalid(FieldError::new(
                "from",
                format!("a period spans at most {KPI_PERIOD_DAYS_MAX} days"),
            )));
        }
        // The period is (start, end] in days; instants below are their microsecond bounds.
        let (start, end) = (from - 1, to);
        let length = end - start;
        let period_start = (i64::from(start) + 1) * pipeline::DAY_MICROS;
        let previous_start = (i64::from(start - length) + 1) * pipeline::DAY_MICROS;
        let end_micros = (i64::from(end) + 1) * pipeline::DAY_MICROS - 1;
        let mut kept: Vec<Order> = Vec::new();
        if let Some(window) = self.store.read(predictions::order_window)? {
            self.for_each_order_page(&window, end_micros, |page| {
                for customer in page.chunk_by(|a, b| a.customer_id == b.customer_id) {
                    // The first order sets "new customer"; the rest matter inside the periods.
                    kept.push(to_order(&customer[0]));
                    kept.extend(
                        customer[1..]
                            .iter()
                            .filter(|o| o.occurred_at >= previous_start)
                            .map(to_order),
                    );
                }
            })?;
        }
        let figures = pipeline::kpis(&kept, start, end);
        let (carts, checkouts) = self
            .store
            .read(|tx| predictions::cart_counts(tx, period_start - 1, end_micros))?;
        Ok(PeriodKpis {
            from_day: pipeline::format_day(from),
            to_day: pipeline::format_day(to),
            figures,
            carts,
            checkouts,
            cart_abandonment_ppm: (carts > 0)
                .then(|| pipeline::PPM - pipeline::ratio_ppm(checkouts, carts)),
        })
    }
}
