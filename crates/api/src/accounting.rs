//! Loyalty accounting (IFRS 15) over HTTP: breakage estimates per cohort (versioned, who and
//! when), the contract liability's roll-forward, the liability by expiry bucket and the
//! journal as CSV. Readers are admins, managers and analysts ([`ACCOUNTING_ROLES`]); setting
//! an estimate configures the programme (admins and managers). Amounts are minor units.

use crate::ApiState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery, Caller, blocking};
use app::accounting::{EstimateView, ExpiryReport, RollForwardReport};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use domain::access::Role;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Who may read the accounting reports.
pub(crate) const ACCOUNTING_ROLES: &[Role] = &[Role::Admin, Role::Manager, Role::Analyst];

/// One version of a cohort's breakage estimate.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EstimateResponse {
    /// The earning month, `YYYY-MM` in the programme's time zone.
    pub(crate) cohort: String,
    pub(crate) version: i64,
    /// Share of the cohort's points expected ever to be redeemed, parts per million.
    pub(crate) expected_redemption_ppm: i64,
    /// The key (or operator) that set it.
    pub(crate) set_by: String,
    /// RFC 3339, UTC.
    pub(crate) set_at: String,
    pub(crate) reason: String,
}

impl From<EstimateView> for EstimateResponse {
    fn from(e: EstimateView) -> Self {
        EstimateResponse {
            cohort: e.cohort,
            version: e.version,
            expected_redemption_ppm: e.expected_redemption_ppm,
            set_by: e.set_by,
            set_at: e.set_at.to_string(),
            reason: e.reason,
        }
    }
}

/// Estimate versions.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EstimatesResponse {
    pub(crate) estimates: Vec<EstimateResponse>,
}

/// `PUT /loyalty/accounting/breakage`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EstimateBody {
    /// The earning month, `YYYY-MM` in the programme's time zone.
    pub(crate) cohort: String,
    /// 1 to 1,000,000: share of the cohort's points expected to be redeemed (950000 = 95 %).
    pub(crate) expected_redemption_ppm: i64,
    /// Why (1 to 500 characters), kept with the version.
    pub(crate) reason: String,
}

/// Every cohort's breakage estimate versions, by cohort then version.
#[utoipa::path(get, path = "/api/v1/loyalty/accounting/breakage", tag = "loyalty",
    responses((status = 200, description = "The estimates", body = EstimatesResponse)))]
pub(crate) async fn list_breakage_estimates(
    State(state): State<ApiState>,
) -> Result<Json<EstimatesResponse>, ApiError> {
    let app = state.app.clone();
    let estimates = blocking(move || app.breakage_estimates()).await?;
    Ok(Json(EstimatesResponse {
        estimates: estimates.into_iter().map(Into::into).collect(),
    }))
}

/// Stores a new version of a cohort's breakage estimate (audited); revenue catches up
/// cumulatively from the period it is set in. Answers the cohort's versions.
#[utoipa::path(put, path = "/api/v1/loyalty/accounting/breakage", tag = "loyalty",
    request_body = EstimateBody,
    responses(
        (status = 200, description = "The cohort's versions, the new one last", body = EstimatesResponse),
        (status = 422, description = "invalid_field", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn replace_breakage_estimate(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiJson(body): ApiJson<EstimateBody>,
) -> Result<Json<EstimatesResponse>, ApiError> {
    let app = state.app.clone();
    let estimates = blocking(move || {
        app.set_breakage_estimate(
            &who,
            &body.cohort,
            body.expected_redemption_ppm,
            &body.reason,
        )
    })
    .await?;
    Ok(Json(EstimatesResponse {
        estimates: estimates.into_iter().map(Into::into).collect(),
    }))
}

/// The range of a report.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PeriodQuery {
    /// First day, `YYYY-MM-DD` in the programme's time zone (default: 1 January of `to`'s year).
    pub(crate) from: Option<String>,
    /// Last day, `YYYY-MM-DD` (default: today).
    pub(crate) to: Option<String>,
    /// `month` (default), `quarter` or `year`; periods are clipped to the range.
    pub(crate) period: Option<String>,
}

/// One period of the roll-forward: opening + allocated − reversed − recognised = closing.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RollForwardPeriodResponse {
    /// First and last day, `YYYY-MM-DD`.
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) opening_minor: i64,
    /// Price allocated to points earned with purchases in the period.
    pub(crate) allocated_minor: i64,
    /// Allocation reversed by returns in the period.
    pub(crate) reversed_minor: i64,
    /// Points revenue recognised in the period (redemptions, breakage, estimate catch-ups).
    pub(crate) recognised_minor: i64,
    pub(crate) closing_minor: i64,
}

/// The loyalty contract liability's roll-forward.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RollForwardResponse {
    pub(crate) currency: String,
    pub(crate) time_zone: String,
    pub(crate) periods: Vec<RollForwardPeriodResponse>,
}

impl From<RollForwardReport> for RollForwardResponse {
    fn from(r: RollForwardReport) -> Self {
        RollForwardResponse {
            currency: r.currency,
            time_zone: r.time_zone,
            periods: r
                .periods
                .into_iter()
                .map(|p| RollForwardPeriodResponse {
                    from: p.from.to_string(),
                    to: p.to.to_string(),
                    opening_minor: p.opening_minor,
                    allocated_minor: p.allocated_minor,
                    reversed_minor: p.reversed_minor,
                    recognised_minor: p.recognised_minor,
                    closing_minor: p.closing_minor,
                })
                .collect(),
        }
    }
}

/// The contract liability per period: opening, allocated at sale, reversed by returns,
/// recognised as revenue, closing.
#[utoipa::path(get, path = "/api/v1/loyalty/accounting/rollforward", tag = "loyalty",
    params(PeriodQuery),
    responses(
        (status = 200, description = "The roll-forward", body = RollForwardResponse),
        (status = 422, description = "invalid_field", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn get_liability_rollforward(
    State(state): State<ApiState>,
    ApiQuery(q): ApiQuery<PeriodQuery>,
) -> Result<Json<RollForwardResponse>, ApiError> {
    let app = state.app.clone();
    let report = blocking(move || {
        app.liability_rollforward(q.from.as_deref(), q.to.as_deref(), q.period.as_deref())
    })
    .await?;
    Ok(Json(report.into()))
}

/// The buckets of `GET …/liability-by-expiry`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct BucketQuery {
    /// Bucket edges in days, strictly increasing, comma-separated (default `30,90,180,365`).
    pub(crate) buckets: Option<String>,
}

/// One expiry bucket.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ExpiryBucketResponse {
    /// Points expiring within this many days (after the previous bucket); `null` for the
    /// "later" and "never" buckets.
    pub(crate) within_days: Option<i64>,
    /// The bucket of points that never expire.
    pub(crate) never: bool,
    pub(crate) points: i64,
    pub(crate) liability_minor: i64,
}

/// The contract liability now by when its points expire.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ExpiryReportResponse {
    pub(crate) currency: String,
    /// RFC 3339, UTC.
    pub(crate) as_of: String,
    pub(crate) liability_minor: i64,
    pub(crate) buckets: Vec<ExpiryBucketResponse>,
}

impl From<ExpiryReport> for ExpiryReportResponse {
    fn from(r: ExpiryReport) -> Self {
        ExpiryReportResponse {
            currency: r.currency,
            as_of: r.as_of.to_string(),
            liability_minor: r.liability_minor,
            buckets: r
                .buckets
                .into_iter()
                .map(|b| ExpiryBucketResponse {
                    within_days: b.within_days,
                    never: b.never,
                    points: b.points,
                    liability_minor: b.liability_minor,
                })
                .collect(),
        }
    }
}

/// The contract liability now, split by expiry bucket in proportion to outstanding points.
#[utoipa::path(get, path = "/api/v1/loyalty/accounting/liability-by-expiry", tag = "loyalty",
    params(BucketQuery),
    responses(
        (status = 200, description = "The buckets", body = ExpiryReportResponse),
        (status = 422, description = "invalid_field", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn get_liability_by_expiry(
    State(state): State<ApiState>,
    ApiQuery(q): ApiQuery<BucketQuery>,
) -> Result<Json<ExpiryReportResponse>, ApiError> {
    let app = state.app.clone();
    let report = blocking(move || app.liability_by_expiry(q.buckets.as_deref())).await?;
    Ok(Json(report.into()))
}

/// The loyalty journal as CSV (`period_from,period_to,entry,cohort,account,debit_minor,
/// credit_minor,currency`): sales, returns and points revenue per period and cohort.
#[utoipa::path(get, path = "/api/v1/loyalty/accounting/journal.csv", tag = "loyalty",
    params(PeriodQuery),
    responses(
        (status = 200, description = "Dr/Cr lines", content_type = "text/csv"),
        (status = 422, description = "invalid_field", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn get_loyalty_journal(
    State(state): State<ApiState>,
    ApiQuery(q): ApiQuery<PeriodQuery>,
) -> Result<Response, ApiError> {
    let app = state.app.clone();
    let csv = blocking(move || {
        app.loyalty_journal_csv(q.from.as_deref(), q.to.as_deref(), q.period.as_deref())
    })
    .await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"loyalty-journal.csv\""),
            ),
        ],
        csv,
    )
        .into_response())
}
