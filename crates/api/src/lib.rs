//! Patron's HTTP surface: an axum router over [`app::App`], with our own extractors, one
//! error envelope (RFC 9457 problem details), bearer-key authentication checked against one
//! route table, `Idempotency-Key` replay, per-request tracing, Prometheus metrics and an
//! OpenAPI 3.1 document generated from the same types. Never touches SQL.

mod accounting;
mod analytics;
mod bonus;
mod customers;
mod desk;
mod desk_ops;
mod desk_teams;
mod email;
mod error;
mod extract;
mod idempotency;
mod line;
mod loyalty;
mod metrics;
mod observe;
mod openapi;
mod orders;
mod page;
mod points;
mod promotions;
mod rewards;
mod routes;
mod system;
mod tiers;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;

pub use metrics::Metrics;

/// Largest request body any route accepts, in bytes; a larger one answers 413.
pub const REQUEST_BODY_BYTES_MAX: usize = 256 * 1024;
/// Largest page any list route returns.
pub const PAGE_SIZE_MAX: u32 = 100;
/// Page size when a list request names none.
pub const PAGE_SIZE_DEFAULT: u32 = 50;

/// Switches for optional routes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApiOptions {
    /// Serve `POST /api/v1/bench/scratch`, the benchmark's reference endpoint.
    pub bench_scratch: bool,
}

/// What every handler and middleware shares.
#[derive(Clone)]
pub(crate) struct ApiState {
    pub(crate) app: app::App,
    /// Gathers concurrent order placements into one transaction (group commit).
    pub(crate) orders: app::coalesce::OrderCoalescer,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) idempotency: Arc<idempotency::InFlight>,
    pub(crate) request_ids: Arc<observe::RequestIds>,
}

/// The OpenAPI 3.1 document served at `/api/v1/openapi.json`.
pub fn openapi_json() -> String {
    openapi::document_json()
}

/// The router, with its own per-process [`Metrics`].
pub fn router(app: app::App, options: ApiOptions) -> axum::Router {
    router_with_metrics(app, options, Arc::new(Metrics::default()))
}

/// The router, counting into `metrics` (so the caller can read them too).
pub fn router_with_metrics(
    app: app::App,
    options: ApiOptions,
    metrics: Arc<Metrics>,
) -> axum::Router {
    let state = ApiState {
        orders: app::coalesce::OrderCoalescer::start(app.clone()),
        app,
        metrics,
        idempotency: Arc::default(),
        request_ids: Arc::default(),
    };
    routes::build(state, options)
}

/// Serves the API on `listener` until `shutdown` completes, then finishes requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: app::App,
    options: ApiOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let router = router(app, options);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| anyhow::anyhow!("serving HTTP: {e}"))
}
