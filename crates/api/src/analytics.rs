//! Retention analytics over HTTP: a customer's predictions from the latest refit, period
//! KPIs, RFM segments and the cohort retention matrix. Readers are analysts, managers and
//! admins (see [`ANALYTICS_ROLES`]). Figures are scaled integers with the unit in the name:
//! `_ppm` (parts per million), `_milli` (thousandths), `_minor` (currency minor units).

use crate::ApiState;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery, blocking};
use app::analytics::CustomerPredictions;
use axum::Json;
use axum::extract::State;
use domain::access::Role;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Who may read analytics: the domain has no analytics action yet, so roles are listed.
pub(crate) const ANALYTICS_ROLES: &[Role] = &[Role::Admin, Role::Manager, Role::Analyst];

/// The refit a figure comes from.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FitResponse {
    pub(crate) version: i64,
    /// RFC 3339, UTC.
    pub(crate) created_at: String,
    /// First and last order instants the fit saw, RFC 3339.
    pub(crate) data_from: String,
    pub(crate) data_to: String,
    pub(crate) customers: i64,
    pub(crate) orders: i64,
    /// `bgnbd`.
    pub(crate) purchase_model: String,
    /// The model's parameters as a JSON object (time in weeks).
    pub(crate) purchase_params: String,
    pub(crate) purchase_log_likelihood: String,
    pub(crate) converged: bool,
    /// Gamma-Gamma parameters as a JSON object; `null` when spend could not be modelled.
    pub(crate) spend_params: Option<String>,
}

fn instant(micros: i64) -> String {
    store::instant(micros).map_or_else(|_| micros.to_string(), |t| t.to_string())
}

impl From<store::predictions::FitRow> for FitResponse {
    fn from(f: store::predictions::FitRow) -> Self {
        FitResponse {
            version: f.version,
            created_at: instant(f.created_at),
            data_from: instant(f.data_from),
            data_to: instant(f.data_to),
            customers: f.customers,
            orders: f.orders,
            purchase_model: f.purchase_model,
            purchase_params: f.purchase_params,
            purchase_log_likelihood: f.purchase_log_likelihood,
            converged: f.converged,
            spend_params: f.spend_params,
        }
    }
}

/// A customer's predictions.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PredictionsResponse {
    pub(crate) customer_id: i64,
    /// `false` until a refit (`patron analytics refit` or the `analytics.refit` job) covers the customer.
    pub(crate) available: bool,
    /// Probability the customer is still active, in parts per million.
    pub(crate) p_alive_ppm: Option<i64>,
    /// Expected purchases in the next 90 days, in thousandths.
    pub(crate) expected_purchases_90d_milli: Option<i64>,
    /// Discounted 12-month customer lifetime value in minor units.
    pub(crate) clv_12m_minor: Option<i64>,
    /// R, F and M quintile scores, 1–5.
    pub(crate) rfm_recency: Option<i64>,
    pub(crate) rfm_frequency: Option<i64>,
    pub(crate) rfm_monetary: Option<i64>,
    pub(crate) rfm_segment: Option<String>,
    pub(crate) churn_risk: Option<bool>,
    pub(crate) fit: Option<FitResponse>,
}

fn predictions_response(customer_id: i64, p: Option<CustomerPredictions>) -> PredictionsResponse {
    match p {
        None => PredictionsResponse {
            customer_id,
            available: false,
            p_alive_ppm: None,
            expected_purchases_90d_milli: None,
            clv_12m_minor: None,
            rfm_recency: None,
            rfm_frequency: None,
            rfm_monetary: None,
            rfm_segment: None,
            churn_risk: None,
            fit: None,
        },
        Some(CustomerPredictions { prediction: p, fit }) => PredictionsResponse {
            customer_id,
            available: true,
            p_alive_ppm: Some(p.p_alive_ppm),
            expected_purchases_90d_milli: Some(p.expected_purchases_90d_milli),
            clv_12m_minor: p.clv_12m_minor,
            rfm_recency: Some(p.rfm_recency),
            rfm_frequency: Some(p.rfm_frequency),
            rfm_monetary: Some(p.rfm_monetary),
            rfm_segment: Some(p.rfm_segment),
            churn_risk: Some(p.churn_risk),
            fit: Some(fit.into()),
        },
    }
}

/// A customer's churn and value predictions from the latest refit.
#[utoipa::path(get, path = "/api/v1/customers/{id}/predictions", tag = "analytics",
    params(("id" = i64, Path, description = "Patron's customer id")),
    responses((status = 200, description = "The customer's predictions", body = PredictionsResponse)))]
pub(crate) async fn get_customer_predictions(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<PredictionsResponse>, ApiError> {
    let app = state.app.clone();
    let p = blocking(move || app.customer_predictions(id)).await?;
    Ok(Json(predictions_response(id, p)))
}

/// The period of `GET /analytics/kpis`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct KpiQuery {
    /// First day, `YYYY-MM-DD` (UTC; default: 29 days before `to`).
    pub(crate) from: Option<String>,
    /// Last day, `YYYY-MM-DD` (UTC; default: today).
    pub(crate) to: Option<String>,
}

/// KPIs of a period; rates in parts per million, `null` when their denominator is 0.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KpiResponse {
    pub(crate) from: String,
    pub(crate) to: String,
    /// Customers who bought in the preceding period of the same length.
    pub(crate) customers_at_start: i64,
    /// Customers who bought in the period.
    pub(crate) customers_at_end: i64,
    /// Customers whose first order is in the period.
    pub(crate) new_customers: i64,
    pub(crate) retained_customers: i64,
    pub(crate) orders: i64,
    pub(crate) revenue_minor: i64,
    /// (customers at end − new customers) / customers at start.
    pub(crate) retention_rate_ppm: Option<i64>,
    pub(crate) churn_rate_ppm: Option<i64>,
    /// Share of active customers who ordered on two or more days.
    pub(crate) repeat_purchase_rate_ppm: Option<i64>,
    /// Orders per active customer, in thousandths.
    pub(crate) purchase_frequency_milli: Option<i64>,
    pub(crate) average_order_value_minor: Option<i64>,
    /// Customers with a cart event in the period, and those of them who ordered.
    pub(crate) carts: i64,
    pub(crate) checkouts: i64,
    /// 1 − checkouts / carts.
    pub(crate) cart_abandonment_ppm: Option<i64>,
}

/// Retention, churn, repeat rate, frequency, order value and cart abandonment over a period.
#[utoipa::path(get, path = "/api/v1/analytics/kpis", tag = "analytics",
    params(KpiQuery),
    responses((status = 200, description = "The period's KPIs", body = KpiResponse)))]
pub(crate) async fn get_kpis(
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<KpiQuery>,
) -> Result<Json<KpiResponse>, ApiError> {
    let app = state.app.clone();
    let k = blocking(move || {
        let today = app.now().strftime("%Y-%m-%d").to_string();
        let to = query.to.unwrap_or(today);
        let from = match query.from {
            Some(f) => f,
            None => app.kpi_default_from(&to)?,
        };
        app.period_kpis(&from, &to)
    })
    .await?;
    let f = k.figures;
    Ok(Json(KpiResponse {
        from: k.from_day,
        to: k.to_day,
        customers_at_start: f.customers_at_start,
        customers_at_end: f.customers_at_end,
        new_customers: f.new_customers,
        retained_customers: f.retained_customers,
        orders: f.orders,
        revenue_minor: f.revenue_minor,
        retention_rate_ppm: f.retention_rate_ppm,
        churn_rate_ppm: f.churn_rate_ppm,
        repeat_purchase_rate_ppm: f.repeat_purchase_rate_ppm,
        purchase_frequency_milli: f.purchase_frequency_milli,
        average_order_value_minor: f.average_order_value_minor,
        carts: k.carts,
        checkouts: k.checkouts,
        cart_abandonment_ppm: k.cart_abandonment_ppm,
    }))
}

/// One RFM segment.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SegmentResponse {
    /// Champions, Loyal, Potential loyalist, New, At risk, Can't lose them, Hibernating or Lost.
    pub(crate) segment: String,
    pub(crate) customers: i64,
    pub(crate) churn_risk_customers: i64,
    pub(crate) clv_12m_minor_total: i64,
}

/// RFM segments of the latest predictions.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RfmResponse {
    /// The latest refit; `null` (and no segments) before the first.
    pub(crate) fit: Option<FitResponse>,
    pub(crate) segments: Vec<SegmentResponse>,
}

/// Customers per RFM segment, with churn risks and CLV.
#[utoipa::path(get, path = "/api/v1/analytics/rfm", tag = "analytics",
    responses((status = 200, description = "RFM segments", body = RfmResponse)))]
pub(crate) async fn get_rfm(State(state): State<ApiState>) -> Result<Json<RfmResponse>, ApiError> {
    let app = state.app.clone();
    let (fit, segments) = blocking(move || app.rfm_segments()).await?;
    Ok(Json(RfmResponse {
        fit: fit.map(Into::into),
        segments: segments
            .into_iter()
            .map(|s| SegmentResponse {
                segment: s.segment,
                customers: s.customers,
                churn_risk_customers: s.churn_risk_customers,
                clv_12m_minor_total: s.clv_12m_minor_total,
            })
            .collect(),
    }))
}

/// One cohort: customers whose first order fell in a month.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CohortResponse {
    /// `YYYY-MM`.
    pub(crate) cohort: String,
    pub(crate) customers: i64,
    /// `active[k]`: cohort customers who ordered k months after their first month.
    pub(crate) active: Vec<i64>,
    /// `active[k] / customers` in parts per million.
    pub(crate) retention_ppm: Vec<i64>,
}

/// The cohort retention matrix.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CohortsResponse {
    pub(crate) cohorts: Vec<CohortResponse>,
}

/// Cohort retention by first-order month, over all orders.
#[utoipa::path(get, path = "/api/v1/analytics/cohorts", tag = "analytics",
    responses((status = 200, description = "Cohort retention", body = CohortsResponse)))]
pub(crate) async fn get_cohorts(
    State(state): State<ApiState>,
) -> Result<Json<CohortsResponse>, ApiError> {
    let app = state.app.clone();
    let cohorts = blocking(move || app.cohorts()).await?;
    Ok(Json(CohortsResponse {
        cohorts: cohorts
            .into_iter()
            .map(|c| CohortResponse {
                cohort: c.cohort,
                customers: c.customers,
                active: c.active,
                retention_ppm: c.retention_ppm,
            })
            .collect(),
    }))
}
