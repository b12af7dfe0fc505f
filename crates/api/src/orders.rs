//! Intake: orders, refunds and other customer events, each exactly once by
//! `(source, external_id)`. A duplicate answers like the first arrival (same status, same
//! body) with `Patron-Replayed: true`; the same pair with other content answers 409 naming
//! the fields that differ. Every intake request is counted in `patron_events_total`.

use crate::ApiState;
use crate::customers::CustomerRefBody;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath, Caller, blocking};
use crate::metrics::EventResult;
use app::intake::{
    EventInput, Intake, LineInput, OrderInput, OrderOutcome, RefundInput, RefundOutcome,
};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::EventKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// The response header on an intake duplicate.
pub(crate) const PATRON_REPLAYED: &str = "patron-replayed";

/// An optional RFC 3339 instant from a body field.
fn instant(field: &str, value: Option<&str>) -> Result<Option<jiff::Timestamp>, ApiError> {
    value
        .map(|s| {
            s.parse::<jiff::Timestamp>()
                .map_err(|_| ApiError::field(field, "must be an RFC 3339 instant with an offset"))
        })
        .transpose()
}

/// 201 with the outcome; a duplicate adds `Patron-Replayed: true`.
pub(crate) fn created<T: Serialize>(body: T, replayed: bool) -> Response {
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if replayed {
        response
            .headers_mut()
            .insert(PATRON_REPLAYED, HeaderValue::from_static("true"));
    }
    response
}

/// Counts the request's outcome, then answers it.
fn answer<T, R: Serialize>(
    state: &ApiState,
    kind: EventKind,
    outcome: Result<Intake<T>, ApiError>,
    view: impl FnOnce(T) -> R,
) -> Result<Response, ApiError> {
    let (result, response) = match outcome {
        Ok(Intake::Accepted(t)) => (EventResult::Accepted, Ok(created(view(t), false))),
        Ok(Intake::Duplicate(t)) => (EventResult::Duplicate, Ok(created(view(t), true))),
        Ok(Intake::Rejected(e)) => (EventResult::Rejected, Err(e.into())),
        Err(e) => (EventResult::Rejected, Err(e)),
    };
    state.metrics.observe_event(kind.as_str(), result);
    response
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LineBody {
    pub(crate) sku: String,
    pub(crate) category: Option<String>,
    /// Units, 1 to 1,000,000.
    pub(crate) quantity: i64,
    /// Price of one unit in minor units of the currency (an integer).
    pub(crate) unit_price_minor: i64,
}

/// `POST /orders`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrderBody {
    /// Where the order comes from (`shopify`, `pos-taipei-1`).
    pub(crate) source: String,
    /// The order's id at the source; with `source`, unique.
    pub(crate) external_id: String,
    pub(crate) customer: CustomerRefBody,
    /// RFC 3339; the arrival instant when absent.
    pub(crate) occurred_at: Option<String>,
    /// ISO 4217; the programme currency (TWD) when absent.
    pub(crate) currency: Option<String>,
    pub(crate) lines: Vec<LineBody>,
}

impl OrderBody {
    fn input(self) -> Result<OrderInput, ApiError> {
        Ok(OrderInput {
            customer: self.customer.reference("customer")?,
            occurred_at: instant("occurred_at", self.occurred_at.as_deref())?,
            source: self.source,
            external_id: self.external_id,
            currency: self.currency.unwrap_or_else(|| "TWD".to_owned()),
            lines: self
                .lines
                .into_iter()
                .map(|l| LineInput {
                    sku: l.sku,
                    category: l.category,
                    quantity: l.quantity,
                    unit_price_minor: l.unit_price_minor,
                })
                .collect(),
        })
    }
}

/// An accepted order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct OrderResponse {
    pub(crate) order_id: i64,
    pub(crate) source: String,
    pub(crate) external_id: String,
    pub(crate) customer_id: i64,
    pub(crate) total_minor: i64,
    pub(crate) currency: String,
    pub(crate) points_earned: i64,
    /// RFC 3339, UTC.
    pub(crate) occurred_at: String,
}

impl From<OrderOutcome> for OrderResponse {
    fn from(o: OrderOutcome) -> Self {
        OrderResponse {
            order_id: o.order_id,
            source: o.source,
            external_id: o.external_id,
            customer_id: o.customer_id,
            total_minor: o.total_minor,
            currency: o.currency,
            points_earned: o.points_earned,
            occurred_at: o.occurred_at.to_string(),
        }
    }
}

/// An order line as stored.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub(crate) struct LineView {
    pub(crate) sku: String,
    pub(crate) category: Option<String>,
    pub(crate) quantity: i64,
    pub(crate) unit_price_minor: i64,
}

/// An order with its lines.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct OrderView {
    #[serde(flatten)]
    pub(crate) order: OrderResponse,
    pub(crate) lines: Vec<LineView>,
}

/// Places an order and earns its points, exactly once.
#[utoipa::path(post, path = "/api/v1/orders", tag = "intake",
    request_body = OrderBody,
    responses(
        (status = 201, description = "Accepted, or a duplicate (then with `Patron-Replayed: true`)", body = OrderResponse),
        (status = 409, description = "conflicting_duplicate or identity_conflict", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_order(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiJson(body): ApiJson<OrderBody>,
) -> Result<Response, ApiError> {
    let outcome = match body.input() {
        Ok(input) => {
            // The order thread answers through a channel: no thread waits for the batch.
            let (reply, answer) = tokio::sync::oneshot::channel();
            match state.orders.submit(&who, input, move |r| {
                let _ = reply.send(r);
            }) {
                Ok(()) => match answer.await {
                    Ok(r) => r.map_err(ApiError::from),
                    Err(_) => Err(ApiError::internal(anyhow::anyhow!(
                        "the order thread dropped a request"
                    ))),
                },
                Err(e) => Err(ApiError::from(e)),
            }
        }
        Err(e) => Err(e),
    };
    answer(&state, EventKind::OrderPlaced, outcome, OrderResponse::from)
}

/// One order.
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "intake",
    params(("id" = i64, Path, description = "Patron's order id")),
    responses((status = 200, description = "The order", body = OrderView)))]
pub(crate) async fn get_order(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<OrderView>, ApiError> {
    let app = state.app.clone();
    let (order, body) = blocking(move || app.order(id)).await?;
    let lines = serde_json::from_value(body.get("lines").cloned().unwrap_or(Value::Null))
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored order {id} lines: {e}")))?;
    Ok(Json(OrderView {
        order: order.into(),
        lines,
    }))
}

/// Which order a refund is for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrderRefBody {
    /// The order's source; the refund's own `source` when absent.
    pub(crate) source: Option<String>,
    pub(crate) external_id: String,
}

/// Units of one order line to refund.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefundLineBody {
    /// 0-based index of the line in the order.
    pub(crate) line: usize,
    pub(crate) quantity: i64,
}

/// `POST /refunds`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefundBody {
    pub(crate) source: String,
    pub(crate) external_id: String,
    pub(crate) order: OrderRefBody,
    /// The lines to refund; everything not yet refunded when absent.
    pub(crate) lines: Option<Vec<RefundLineBody>>,
    pub(crate) occurred_at: Option<String>,
}

/// An accepted refund.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct RefundResponse {
    pub(crate) refund_id: i64,
    pub(crate) order_id: i64,
    pub(crate) customer_id: i64,
    pub(crate) amount_minor: i64,
    pub(crate) points_reversed: i64,
}

impl From<RefundOutcome> for RefundResponse {
    fn from(r: RefundOutcome) -> Self {
        RefundResponse {
            refund_id: r.refund_id,
            order_id: r.order_id,
            customer_id: r.customer_id,
            amount_minor: r.amount_minor,
            points_reversed: r.points_reversed,
        }
    }
}

/// Refunds (part of) an order and reverses the points it earned, exactly once.
#[utoipa::path(post, path = "/api/v1/refunds", tag = "intake",
    request_body = RefundBody,
    responses(
        (status = 201, description = "Accepted, or a duplicate (then with `Patron-Replayed: true`)", body = RefundResponse),
        (status = 409, description = "conflicting_duplicate", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_refund(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiJson(body): ApiJson<RefundBody>,
) -> Result<Response, ApiError> {
    let outcome = match instant("occurred_at", body.occurred_at.as_deref()) {
        Ok(occurred_at) => {
            let input = RefundInput {
                source: body.source,
                external_id: body.external_id,
                order_source: body.order.source,
                order_external_id: body.order.external_id,
                lines: body
                    .lines
                    .map(|l| l.into_iter().map(|l| (l.line, l.quantity)).collect()),
                occurred_at,
                kind: EventKind::OrderRefunded,
            };
            let app = state.app.clone();
            blocking(move || app.refund_order(&who, &input)).await
        }
        Err(e) => Err(e),
    };
    answer(
        &state,
        EventKind::OrderRefunded,
        outcome,
        RefundResponse::from,
    )
}

/// Kinds `POST /events` takes; orders and refunds have their own routes.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum EventKindBody {
    ProfileChanged,
    CartUpdated,
    OrderCancelled,
}

impl EventKindBody {
    fn kind(self) -> EventKind {
        match self {
            EventKindBody::ProfileChanged => EventKind::ProfileChanged,
            EventKindBody::CartUpdated => EventKind::CartUpdated,
            EventKindBody::OrderCancelled => EventKind::OrderCancelled,
        }
    }
}

/// `POST /events`. `data` by kind: `profile_changed` the new `name`, `birthday`, `locale`,
/// `time_zone`; `cart_updated` `value_minor` and `currency`; `order_cancelled`
/// `order_external_id` and optionally `order_source` (then `customer` may be left out).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventBody {
    pub(crate) source: String,
    pub(crate) external_id: String,
    pub(crate) kind: EventKindBody,
    pub(crate) customer: Option<CustomerRefBody>,
    pub(crate) occurred_at: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub(crate) data: serde_json::Map<String, Value>,
}

/// A recorded event; a cancellation also tells what it refunded.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct EventResponse {
    pub(crate) event_id: i64,
    pub(crate) kind: String,
    pub(crate) customer_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) order_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) amount_minor: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) points_reversed: Option<i64>,
}

fn cancellation(body: EventBody) -> Result<RefundInput, ApiError> {
    let text = |k: &str| -> Result<Option<String>, ApiError> {
        match body.data.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::field(format!("data.{k}"), "must be a string")),
        }
    };
    if let Some(k) = body
        .data
        .keys()
        .find(|k| !["order_external_id", "order_source"].contains(&k.as_str()))
    {
        return Err(ApiError::field(
            format!("data.{k}"),
            "unknown field of an order_cancelled event",
        ));
    }
    if body.customer.is_some() {
        return Err(ApiError::field(
            "customer",
            "the order names the customer of a cancellation",
        ));
    }
    Ok(RefundInput {
        order_external_id: text("order_external_id")?
            .ok_or_else(|| ApiError::field("data.order_external_id", "is required"))?,
        order_source: text("order_source")?,
        occurred_at: instant("occurred_at", body.occurred_at.as_deref())?,
        source: body.source,
        external_id: body.external_id,
        lines: None,
        kind: EventKind::OrderCancelled,
    })
}

/// Records another customer event exactly once; `order_cancelled` refunds the whole order.
#[utoipa::path(post, path = "/api/v1/events", tag = "intake",
    request_body = EventBody,
    responses(
        (status = 201, description = "Accepted, or a duplicate (then with `Patron-Replayed: true`)", body = EventResponse),
        (status = 409, description = "conflicting_duplicate", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_event(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiJson(body): ApiJson<EventBody>,
) -> Result<Response, ApiError> {
    let kind = body.kind.kind();
    let app = state.app.clone();
    if kind == EventKind::OrderCancelled {
        let outcome = match cancellation(body) {
            Ok(input) => blocking(move || app.refund_order(&who, &input)).await,
            Err(e) => Err(e),
        };
        return answer(&state, kind, outcome, |r| EventResponse {
            event_id: r.refund_id,
            kind: kind.as_str().to_owned(),
            customer_id: r.customer_id,
            order_id: Some(r.order_id),
            amount_minor: Some(r.amount_minor),
            points_reversed: Some(r.points_reversed),
        });
    }
    let input = (|| {
        let customer = body
            .customer
            .as_ref()
            .ok_or_else(|| ApiError::field("customer", "is required"))?
            .reference("customer")?;
        Ok(EventInput {
            customer,
            occurred_at: instant("occurred_at", body.occurred_at.as_deref())?,
            source: body.source,
            external_id: body.external_id,
            kind,
            data: body.data,
        })
    })();
    let outcome = match input {
        Ok(input) => blocking(move || app.record_event(&who, &input)).await,
        Err(e) => Err(e),
    };
    answer(&state, kind, outcome, |e| EventResponse {
        event_id: e.event_id,
        kind: e.kind.as_str().to_owned(),
        customer_id: e.customer_id,
        order_id: None,
        amount_minor: None,
        points_reversed: None,
    })
}
