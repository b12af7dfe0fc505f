//! The LINE Messaging API webhook and the channel's settings. The webhook route needs no API
//! key: LINE signs each delivery with `X-Line-Signature`, which app checks against the raw
//! body before anything is parsed or stored (401 `invalid_signature` otherwise).

use crate::ApiState;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, Caller, blocking};
use app::line::LineChannelInput;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The header LINE signs deliveries with.
pub(crate) const SIGNATURE_HEADER: &str = "x-line-signature";

/// What one delivery did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LineWebhookResponse {
    /// Message events stored as customer messages.
    pub(crate) messages: usize,
    pub(crate) tickets_opened: usize,
    /// Redeliveries of events already handled.
    pub(crate) duplicates: usize,
    /// Events of other types (follow, unfollow, postback, …): accepted and ignored.
    pub(crate) ignored: usize,
}

/// Receives a LINE webhook delivery (LINE Messaging API format). Authenticated by
/// `X-Line-Signature` (base64 HMAC-SHA256 of the raw body with the channel secret), not by
/// an API key.
#[utoipa::path(post, path = "/api/v1/channels/line/webhook", tag = "desk",
    params(("X-Line-Signature" = String, Header, description = "base64 HMAC-SHA256 of the body with the channel secret")),
    request_body(content = String, content_type = "application/json", description = "LINE's webhook body, signed as sent"),
    responses(
        (status = 200, description = "Handled", body = LineWebhookResponse),
        (status = 401, description = "invalid_signature: missing or wrong signature, or the channel is not configured; nothing is stored", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_line_webhook_delivery(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<LineWebhookResponse>, ApiError> {
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let app = state.app.clone();
    let outcome = blocking(move || app.line_webhook(signature.as_deref(), &body)).await?;
    Ok(Json(LineWebhookResponse {
        messages: outcome.messages,
        tickets_opened: outcome.tickets_opened,
        duplicates: outcome.duplicates,
        ignored: outcome.ignored,
    }))
}

/// `PUT /channels/line`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LineChannelBody {
    /// The channel secret (verifies webhook signatures). Never shown again.
    pub(crate) channel_secret: String,
    /// The channel access token (authorises replies and pushes). Never shown again.
    pub(crate) access_token: String,
    /// Default `https://api.line.me`.
    pub(crate) api_base_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LineChannelResponse {
    pub(crate) api_base_url: String,
    pub(crate) updated_at: String,
}

/// Stores the LINE channel's secret, access token and API base URL.
#[utoipa::path(put, path = "/api/v1/channels/line", tag = "desk",
    request_body = LineChannelBody,
    responses((status = 200, description = "Stored", body = LineChannelResponse)))]
pub(crate) async fn replace_line_channel(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiJson(body): ApiJson<LineChannelBody>,
) -> Result<Json<LineChannelResponse>, ApiError> {
    let input = LineChannelInput {
        channel_secret: body.channel_secret,
        access_token: body.access_token,
        api_base_url: body.api_base_url,
    };
    let app = state.app.clone();
    let view = blocking(move || app.put_line_channel(&who, &input)).await?;
    Ok(Json(LineChannelResponse {
        api_base_url: view.api_base_url,
        updated_at: view.updated_at.to_string(),
    }))
}
