//! `Idempotency-Key` on POST: the first response to a key (of one API key) is stored with a
//! SHA-256 of the request (method, path, body); a retry with the same request gets the stored
//! response back with `Idempotent-Replayed: true`, and the same key with another request
//! answers 422 `idempotency_key_reused`. Responses that say nothing final about the request
//! (401, 403, 429, 5xx) are not stored, so a retry runs again. A request claims its key in the
//! database before it runs, so while it holds the key — in this process or in another sharing
//! the database — another request with that key answers 409 `idempotency_key_in_flight`
//! (or 422 when its body differs). A claim whose process died is taken over after
//! [`app::IDEMPOTENCY_CLAIM_ABANDONED_AFTER_SECONDS`].

use crate::ApiState;
use crate::error::{ApiError, ErrorCode, PROBLEM_JSON};
use crate::extract::blocking;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use store::idempotency::{Begin, StoredResponse};

/// The request header.
pub(crate) const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The response header on a replayed response.
pub(crate) const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";
/// Longest accepted key, in bytes.
pub(crate) const IDEMPOTENCY_KEY_BYTES_MAX: usize = 255;

/// Keys with a request running in this process.
#[derive(Debug, Default)]
pub(crate) struct InFlight(Mutex<HashSet<(i64, String)>>);

/// Releases a key when the request holding it ends, however it ends.
struct Claim {
    set: Arc<InFlight>,
    key: (i64, String),
}

impl InFlight {
    fn claim(set: &Arc<InFlight>, key_id: i64, key: &str) -> Option<Claim> {
        let key = (key_id, key.to_owned());
        let mut held = set.0.lock().unwrap_or_else(|p| p.into_inner());
        held.insert(key.clone()).then(|| Claim {
            set: Arc::clone(set),
            key,
        })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.set
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

fn parse_key(value: &HeaderValue) -> Result<String, ApiError> {
    let bytes = value.as_bytes();
    if bytes.is_empty()
        || bytes.len() > IDEMPOTENCY_KEY_BYTES_MAX
        || !bytes.iter().all(|b| (0x20..=0x7e).contains(b))
    {
        return Err(ApiError::with_detail(
            ErrorCode::InvalidIdempotencyKey,
            format!("must be 1 to {IDEMPOTENCY_KEY_BYTES_MAX} printable ASCII characters"),
        ));
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// What a key's stored response is compared by.
pub(crate) fn request_hash(method: &Method, path_and_query: &str, body: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(method.as_str().as_bytes());
    h.update(b"\n");
    h.update(path_and_query.as_bytes());
    h.update(b"\n");
    h.update(body);
    h.finalize().to_vec()
}

/// Whether a response is final for its request, and so is kept for replays.
fn storable(status: StatusCode) -> bool {
    (status.is_success() || status.is_client_error())
        && !matches!(
            status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS
        )
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let content_type = if status.is_success() {
        "application/json"
    } else {
        PROBLEM_JSON
    };
    let mut response = (status, stored.response).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}

/// The middleware; runs after authorisation, so the principal is known.
pub(crate) async fn layer(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(value) = req.headers().get(IDEMPOTENCY_KEY) else {
        return next.run(req).await;
    };
    let key = match parse_key(value) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let Some(key_id) = req
        .extensions()
        .get::<app::Principal>()
        .and_then(|p| p.key_id)
    else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    let bytes = match read_body(body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), |p| p.as_str());
    let hash = request_hash(&parts.method, path, &bytes);
    let Some(_claim) = InFlight::claim(&state.idempotency, key_id, &key) else {
        return ApiError::new(ErrorCode::IdempotencyKeyInFlight).into_response();
    };
    let app = state.app.clone();
    let (begin_key, begin_hash) = (key.clone(), hash.clone());
    let claimed_at_micros =
        match blocking(move || app.idempotency_begin(key_id, &begin_key, &begin_hash)).await {
            Err(e) => return e.into_response(),
            Ok(Begin::Stored(stored)) if stored.request_hash == hash => return replay(stored),
            Ok(Begin::Stored(_)) => {
                return ApiError::new(ErrorCode::IdempotencyKeyReused).into_response();
            }
            Ok(Begin::InFlight { request_hash }) if request_hash == hash => {
                return ApiError::new(ErrorCode::IdempotencyKeyInFlight).into_response();
            }
            Ok(Begin::InFlight { .. }) => {
                return ApiError::new(ErrorCode::IdempotencyKeyReused).into_response();
            }
            Ok(Begin::Claimed { claimed_at_micros }) => claimed_at_micros,
        };
    let mut held = Held {
        app: Some(state.app.clone()),
        key_id,
        key,
        claimed_at_micros,
    };
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if !storable(response.status()) {
        held.release();
        return response;
    }
    let (response_parts, body) = response.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            held.release();
            return ApiError::internal(anyhow::anyhow!("reading a response: {e}")).into_response();
        }
    };
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        held.release();
        return Response::from_parts(response_parts, Body::from(body));
    };
    let stored = StoredResponse {
        request_hash: hash,
        status: response_parts.status.as_u16(),
        response: text,
    };
    if let Some(app) = held.app.take() {
        let key = std::mem::take(&mut held.key);
        match blocking(move || {
            app.idempotency_finish(key_id, &key, claimed_at_micros, Some(&stored))
        })
        .await
        {
            Ok(true) => {}
            // The claim outlived the abandonment limit and a retry took it over; ours stands,
            // as the request's effects are exactly-once by (source, external_id) anyway.
            Ok(false) => {
                tracing::warn!("idempotency key taken over before its response was stored")
            }
            Err(e) => tracing::warn!(code = e.problem().code, "idempotency response not stored"),
        }
    }
    Response::from_parts(response_parts, Body::from(body))
}

/// A key claimed in the database; released (so that a retry runs again) when the request
/// ends without a response to keep — including when the client goes away mid-request and
/// the request's future is dropped.
struct Held {
    app: Option<app::App>,
    key_id: i64,
    key: String,
    claimed_at_micros: i64,
}

impl Held {
    fn release(&mut self) {
        let Some(app) = self.app.take() else {
            return;
        };
        let (key_id, key, at) = (
            self.key_id,
            std::mem::take(&mut self.key),
            self.claimed_at_micros,
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn_blocking(move || {
                if let Err(e) = app.idempotency_finish(key_id, &key, at, None) {
                    tracing::warn!(error = %e, "idempotency claim not released");
                }
            });
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.release();
    }
}

async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    let limited = http_body_util::Limited::new(body, crate::REQUEST_BODY_BYTES_MAX);
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::with_detail(
            ErrorCode::PayloadTooLarge,
            format!(
                "the body may be at most {} bytes",
                crate::REQUEST_BODY_BYTES_MAX
            ),
        )),
        Err(_) => Err(ApiError::with_detail(
            ErrorCode::MalformedJson,
            "the body could not be read",
        )),
    }
}
