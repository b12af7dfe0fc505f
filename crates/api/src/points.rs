//! A customer's points: balance, statement (cursor-paginated, oldest first) and corrections,
//! which post a compensating transfer with a reason and never change a past one.

use crate::ApiState;
use crate::error::{ApiError, ErrorCode, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, blocking};
use crate::page::{self, PageQuery};
use app::points::StatementEntry;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::limits::POSTING_POINTS_MAX;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A customer's balance.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PointsResponse {
    pub(crate) customer_id: i64,
    pub(crate) balance: i64,
}

/// One statement line, from the customer's side.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StatementEntryResponse {
    pub(crate) event_id: i64,
    pub(crate) seq: i64,
    /// `earn`, `bonus` (an award of free points), `reverse`, `correction`, `redeem`, `expire` or
    /// `restore`.
    pub(crate) kind: String,
    /// Positive when points arrived, negative when they left.
    pub(crate) points: i64,
    /// What is left of a lot (earned or credited points); `null` for debits.
    pub(crate) remaining: Option<i64>,
    pub(crate) reason: Option<String>,
    /// RFC 3339, UTC.
    pub(crate) created_at: String,
    /// For a lot: `pending` (in its return window), `active` or `expired`; `null` for debits.
    pub(crate) lot_state: Option<String>,
    /// For a pending lot: when it becomes active (RFC 3339, UTC).
    pub(crate) pending_until: Option<String>,
    /// For a lot: its last valid instant (23:59:59 programme-local time), RFC 3339 UTC;
    /// `null` when it never expires.
    pub(crate) expires_at: Option<String>,
    /// For points that left: the lots they were taken from (soonest expiry first).
    pub(crate) consumed: Vec<ConsumedLotResponse>,
}

/// Points a debit took from one lot (the lot is the statement entry with this `event_id`
/// and `seq`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConsumedLotResponse {
    pub(crate) event_id: i64,
    pub(crate) seq: i64,
    pub(crate) points: i64,
}

impl From<StatementEntry> for StatementEntryResponse {
    fn from(e: StatementEntry) -> Self {
        StatementEntryResponse {
            event_id: e.event_id,
            seq: e.seq,
            kind: e.kind.as_str().to_owned(),
            points: e.points,
            remaining: e.remaining,
            reason: e.reason,
            created_at: e.created_at.to_string(),
            lot_state: e.lot_state,
            pending_until: e.pending_until.map(|t| t.to_string()),
            expires_at: e.expires_at.map(|t| t.to_string()),
            consumed: e
                .consumed
                .into_iter()
                .map(|c| ConsumedLotResponse {
                    event_id: c.event_id,
                    seq: c.seq,
                    points: c.points,
                })
                .collect(),
        }
    }
}

/// A page of a statement.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StatementPage {
    pub(crate) entries: Vec<StatementEntryResponse>,
    /// Points a return left owed (the `debt` shortfall policy), not yet settled; each
    /// settlement appears as a `settle` entry.
    pub(crate) debt: i64,
    pub(crate) next_cursor: Option<String>,
}

/// `POST /customers/{id}/points/corrections`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CorrectionBody {
    /// Non-zero: positive credits the customer, negative debits them.
    pub(crate) points: i64,
    /// Why, for the statement and the audit log (1 to 500 characters).
    pub(crate) reason: String,
}

const STATEMENT_CURSOR: &str = "statement";

/// The customer's points balance.
#[utoipa::path(get, path = "/api/v1/customers/{id}/points", tag = "points",
    params(("id" = i64, Path, description = "Patron's customer id")),
    responses((status = 200, description = "The balance", body = PointsResponse)))]
pub(crate) async fn get_points(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<PointsResponse>, ApiError> {
    let app = state.app.clone();
    let balance = blocking(move || app.points_balance(id)).await?;
    Ok(Json(PointsResponse {
        customer_id: id,
        balance,
    }))
}

/// The customer's points statement, oldest first.
#[utoipa::path(get, path = "/api/v1/customers/{id}/points/statement", tag = "points",
    params(("id" = i64, Path, description = "Patron's customer id"), PageQuery),
    responses((status = 200, description = "A page of the statement", body = StatementPage)))]
pub(crate) async fn get_points_statement(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<StatementPage>, ApiError> {
    let limit = query.limit()?;
    let [event_id, seq] = query.position(STATEMENT_CURSOR, [0, 0])?;
    let app = state.app.clone();
    let statement = blocking(move || app.points_statement(id, (event_id, seq), limit)).await?;
    Ok(Json(StatementPage {
        entries: statement.entries.into_iter().map(Into::into).collect(),
        debt: statement.debt,
        next_cursor: statement
            .next
            .map(|(e, s)| page::encode(STATEMENT_CURSOR, [e, s])),
    }))
}

/// Corrects a customer's points with a compensating entry.
#[utoipa::path(post, path = "/api/v1/customers/{id}/points/corrections", tag = "points",
    params(("id" = i64, Path, description = "Patron's customer id")),
    request_body = CorrectionBody,
    responses(
        (status = 201, description = "The correction's statement entry", body = StatementEntryResponse),
        (status = 422, description = "invalid_field or insufficient_points", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_points_correction(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<CorrectionBody>,
) -> Result<(StatusCode, Json<StatementEntryResponse>), ApiError> {
    // Checked here too, so that no amount can reach `abs()` and overflow.
    if body.points == 0 || body.points.unsigned_abs() > POSTING_POINTS_MAX.unsigned_abs() {
        return Err(ApiError::field(
            "points",
            format!("must be non-zero and at most {POSTING_POINTS_MAX} either way"),
        ));
    }
    let app = state.app.clone();
    let entry = blocking(move || app.correct_points(&who, id, body.points, &body.reason))
        .await
        .map_err(|e| match e.code {
            // The customer is the path's resource, so an unknown one is a 404.
            ErrorCode::UnknownCustomer => ApiError::new(ErrorCode::NotFound),
            _ => e,
        })?;
    Ok((StatusCode::CREATED, Json(entry.into())))
}
