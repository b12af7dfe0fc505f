//! One span per request (method, matched route, request id), the response's status and
//! latency logged at info when it is sent, and the request counted in [`crate::Metrics`].
//! Bodies, keys and personal data are never logged.

use crate::ApiState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use std::sync::atomic::{AtomicU64, Ordering};
use tracing::Instrument;

/// The request id header, read from the client when sensible and always answered.
pub(crate) const REQUEST_ID: &str = "x-request-id";
/// Longest client-chosen request id kept, in bytes.
pub(crate) const REQUEST_ID_BYTES_MAX: usize = 64;

/// Numbers requests that come without an id (no clock or randomness needed).
#[derive(Debug, Default)]
pub(crate) struct RequestIds(AtomicU64);

fn client_request_id(value: Option<&HeaderValue>) -> Option<String> {
    let bytes = value?.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= REQUEST_ID_BYTES_MAX
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b));
    ok.then(|| String::from_utf8_lossy(bytes).into_owned())
}

pub(crate) async fn layer(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let stopwatch = app::sys::Stopwatch::start();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let request_id = client_request_id(req.headers().get(REQUEST_ID)).unwrap_or_else(|| {
        format!(
            "req-{}",
            state.request_ids.0.fetch_add(1, Ordering::Relaxed) + 1
        )
    });
    let span =
        tracing::info_span!("request", method = %method, route = %route, request_id = %request_id);
    let mut response = next.run(req).instrument(span.clone()).await;
    let elapsed = stopwatch.elapsed();
    let status = response.status().as_u16();
    state
        .metrics
        .observe_request(&method, &route, status, elapsed);
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "response"
        );
    });
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, v);
    }
    response
}
