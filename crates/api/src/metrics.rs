//! Per-process Prometheus metrics: requests by method, route and status; latency by route
//! as a histogram; intake events by kind and result. Rendered in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency histogram's buckets, in seconds.
pub(crate) const DURATION_BUCKETS_SECONDS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Observations at or below each bound (not cumulative; summed when rendered).
    buckets: [u64; DURATION_BUCKETS_SECONDS.len()],
    count: u64,
    sum_seconds: f64,
}

/// What an intake request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum EventResult {
    Accepted,
    Duplicate,
    Rejected,
}

impl EventResult {
    fn as_str(self) -> &'static str {
        match self {
            EventResult::Accepted => "accepted",
            EventResult::Duplicate => "duplicate",
            EventResult::Rejected => "rejected",
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    requests: BTreeMap<(&'static str, String, u16), u64>,
    durations: BTreeMap<String, Histogram>,
    events: BTreeMap<(&'static str, EventResult), u64>,
}

/// The process's metrics; shared by every request through the router state.
#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<Counters>,
}

/// Method label values; anything else is `other`, so clients cannot grow the label set.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one answered request. `route` is the matched path template, or `unmatched`.
    pub(crate) fn observe_request(
        &self,
        method: &axum::http::Method,
        route: &str,
        status: u16,
        elapsed: Duration,
    ) {
        let seconds = elapsed.as_secs_f64();
        let mut c = self.lock();
        *c.requests
            .entry((method_label(method), route.to_owned(), status))
            .or_default() += 1;
        let h = c.durations.entry(route.to_owned()).or_default();
        if let Some(i) = DURATION_BUCKETS_SECONDS.iter().position(|b| seconds <= *b) {
            h.buckets[i] += 1;
        }
        h.count += 1;
        h.sum_seconds += seconds;
    }

    /// Counts one intake event (order, refund, cancellation or other event).
    pub(crate) fn observe_event(&self, kind: &'static str, result: EventResult) {
        *self.lock().events.entry((kind, result)).or_default() += 1;
    }

    /// The metrics in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let c = self.lock();
        let mut out = String::new();
        out.push_str("# HELP patron_http_requests_total HTTP requests answered.\n");
        out.push_str("# TYPE patron_http_requests_total counter\n");
        for ((method, route, status), n) in &c.requests {
            let route = escape(route);
            let _ = writeln!(
                out,
                "patron_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# HELP patron_http_request_duration_seconds Time to answer a request.\n");
        out.push_str("# TYPE patron_http_request_duration_seconds histogram\n");
        for (route, h) in &c.durations {
            let route = escape(route);
            let mut cumulative = 0;
            for (bound, n) in DURATION_BUCKETS_SECONDS.iter().zip(h.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "patron_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "patron_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "patron_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum_seconds
            );
            let _ = writeln!(
                out,
                "patron_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        out.push_str("# HELP patron_events_total Intake events by kind and result.\n");
        out.push_str("# TYPE patron_events_total counter\n");
        for ((kind, result), n) in &c.events {
            let result = result.as_str();
            let _ = writeln!(
                out,
                "patron_events_total{{kind=\"{kind}\",result=\"{result}\"}} {n}"
            );
        }
        out
    }
}
