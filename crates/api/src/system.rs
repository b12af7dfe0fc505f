//! Administration and operations: webhook endpoints, the audit log, the benchmark's
//! reference endpoint, the OpenAPI document, the health check and the metrics.

use crate::ApiState;
use crate::error::{ApiError, ErrorCode};
use crate::extract::{ApiJson, ApiQuery, Caller, blocking};
use crate::page::{self, PageQuery};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookBody {
    /// Where to POST; http(s), at most 2048 bytes.
    pub(crate) url: String,
    /// `order.placed`, `order.refunded`, or `*` for all.
    pub(crate) topics: Vec<String>,
}

/// A created endpoint; the signing secret is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookResponse {
    pub(crate) id: i64,
    pub(crate) url: String,
    pub(crate) topics: Vec<String>,
    /// `whsec_…`, for verifying Standard Webhooks signatures.
    pub(crate) secret: String,
}

/// Registers a webhook endpoint.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "admin",
    request_body = WebhookBody,
    responses((status = 201, description = "Created", body = WebhookResponse)))]
pub(crate) async fn create_webhook(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiJson(body): ApiJson<WebhookBody>,
) -> Result<(StatusCode, Json<WebhookResponse>), ApiError> {
    let app = state.app.clone();
    let e = blocking(move || app.create_webhook_endpoint(&who, &body.url, &body.topics)).await?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookResponse {
            id: e.id,
            url: e.url,
            topics: e.topics,
            secret: e.secret,
        }),
    ))
}

/// One audit log row. Details never hold personal data.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditEntry {
    pub(crate) id: i64,
    /// RFC 3339, UTC.
    pub(crate) at: String,
    /// `key:<prefix>` or `cli`.
    pub(crate) actor: String,
    pub(crate) action: String,
    pub(crate) target: Option<String>,
    pub(crate) detail: Option<String>,
}

/// A page of the audit log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditPage {
    pub(crate) items: Vec<AuditEntry>,
    pub(crate) next_cursor: Option<String>,
}

const AUDIT_CURSOR: &str = "audit";

/// The audit log, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "admin",
    params(PageQuery),
    responses((status = 200, description = "A page of the audit log", body = AuditPage)))]
pub(crate) async fn list_audit_entries(
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = query.limit()?;
    let [before] = query.position(AUDIT_CURSOR, [i64::MAX])?;
    let app = state.app.clone();
    let mut rows = blocking(move || app.audit_recent(before, limit + 1)).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = more
        .then(|| rows.last().map(|r| page::encode(AUDIT_CURSOR, [r.id])))
        .flatten();
    let items = rows
        .into_iter()
        .map(|r| AuditEntry {
            id: r.id,
            at: r.at.to_string(),
            actor: r.actor,
            action: r.action,
            target: r.target,
            detail: r.detail,
        })
        .collect();
    Ok(Json(AuditPage { items, next_cursor }))
}

/// `POST /bench/scratch`: the benchmark's reference row.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScratchBody {
    pub(crate) customer: String,
    pub(crate) day: i64,
    pub(crate) amount_minor: i64,
}

/// Empty JSON object.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Empty {}

/// One insert into the scratch table, through the same stack as an order (served only when
/// the server runs with the benchmark option).
#[utoipa::path(post, path = "/api/v1/bench/scratch", tag = "operations",
    request_body = ScratchBody,
    responses((status = 201, description = "Inserted", body = Empty)))]
pub(crate) async fn create_bench_scratch(
    State(state): State<ApiState>,
    ApiJson(body): ApiJson<ScratchBody>,
) -> Result<(StatusCode, Json<Empty>), ApiError> {
    let app = state.app.clone();
    blocking(move || app.bench_scratch_insert(&body.customer, body.day, body.amount_minor)).await?;
    Ok((StatusCode::CREATED, Json(Empty {})))
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub(crate) async fn get_openapi() -> Response {
    let mut response = crate::openapi::document_json().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The health check's answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok`.
    pub(crate) status: String,
}

/// 200 when the store answers a read, 503 when it does not.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses(
        (status = 200, description = "Healthy", body = Health),
        (status = 503, description = "The store does not answer", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn get_health(State(state): State<ApiState>) -> Result<Json<Health>, ApiError> {
    let app = state.app.clone();
    // The cheapest read the app offers: one customer id.
    match blocking(move || app.customer_ids(0, 1)).await {
        Ok(_) => Ok(Json(Health {
            status: "ok".to_owned(),
        })),
        Err(_) => Err(ApiError::with_detail(
            ErrorCode::Unavailable,
            "the store does not answer",
        )),
    }
}

/// Prometheus metrics of this process (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Metrics", content_type = "text/plain; version=0.0.4")))]
pub(crate) async fn get_metrics(State(state): State<ApiState>) -> Response {
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
