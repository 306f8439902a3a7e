//! What operators see of each request: an `X-Request-Id`, a `request` span that every log line
//! of the request sits in, and Prometheus counters and latency histograms by route template.
//!
//! Only the route *template* (`/api/v1/appointments/{id}`) is ever logged or used as a label:
//! raw paths and query strings can carry tracking numbers and dates of birth, and raw ids would
//! give one time series per appointment.

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;
use uuid::Uuid;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-supplied request id kept; anything longer or with other characters is replaced.
pub const MAX_REQUEST_ID_LEN: usize = 64;

/// Label for requests that matched no route, so probes of random paths share one series.
pub const UNMATCHED_ROUTE: &str = "unmatched";

pub const HTTP_REQUESTS_TOTAL: &str = "mawid_http_requests_total";
pub const HTTP_REQUEST_DURATION: &str = "mawid_http_request_duration_seconds";

/// (name, labels, help)
pub type BusinessCounter = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
);

/// Business counters emitted by the resources that own them (shared contract in the brief).
/// Declared here so they are described, and present at zero from the first scrape.
pub const BUSINESS_COUNTERS: &[BusinessCounter] = &[
    ("mawid_bookings_total", &[], "appointments booked"),
    (
        "mawid_cancellations_total",
        &[("by", "citizen")],
        "appointments cancelled, by who cancelled",
    ),
    (
        "mawid_cancellations_total",
        &[("by", "staff")],
        "appointments cancelled, by who cancelled",
    ),
    (
        "mawid_emails_sent_total",
        &[],
        "emails handed to the mail transport",
    ),
    (
        "mawid_email_failures_total",
        &[],
        "failed email delivery attempts (each is retried with backoff)",
    ),
];

/// Seconds; from a fast cached read to a slow argon2 login under load.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The request id of the current request, for handlers that want to mention it.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// The process-wide Prometheus recorder. The `metrics` facade takes one global recorder per
/// process, and tests build many apps in one process, so it is installed once, on first use.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(HTTP_REQUEST_DURATION.to_owned()),
                LATENCY_BUCKETS,
            )
            .expect("latency buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!(
                "a metrics recorder was already installed; /metrics will miss what it records"
            );
        }
        metrics::describe_counter!(HTTP_REQUESTS_TOTAL, "HTTP requests answered");
        metrics::describe_histogram!(
            HTTP_REQUEST_DURATION,
            metrics::Unit::Seconds,
            "time to answer an HTTP request"
        );
        for (name, labels, help) in BUSINESS_COUNTERS {
            metrics::describe_counter!(*name, *help);
            let labels: Vec<metrics::Label> = labels
                .iter()
                .map(|(k, v)| metrics::Label::new(*k, *v))
                .collect();
            metrics::counter!(*name, labels).increment(0);
        }
        handle
    })
}

/// Clients may send any method token; only the standard ones become label values.
fn method_label(method: &Method) -> String {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
        Method::TRACE,
        Method::CONNECT,
    ];
    if KNOWN.contains(method) {
        method.to_string()
    } else {
        "OTHER".to_owned()
    }
}

fn accepted_request_id(value: &HeaderValue) -> Option<String> {
    let id = value.to_str().ok()?;
    let ok = !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    ok.then(|| id.to_owned())
}

/// Outermost middleware: sees every answer, including the router's 404 and extractor errors.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(accepted_request_id)
        .unwrap_or_else(|| Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = method_label(req.method());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        route = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    let started = Instant::now();

    // Handler and extractor errors arrive here as responses already (the ErrorHandlers layer
    // inside makes them problem+json); an `Err` would be a failure of actix itself.
    let mut res = match next.call(req).instrument(span.clone()).await {
        Ok(res) => res,
        Err(e) => {
            span.in_scope(|| tracing::error!(error = %e, "request failed in the framework"));
            return Err(e);
        }
    };

    let elapsed = started.elapsed();
    let status = res.status();
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| UNMATCHED_ROUTE.to_owned());
    let labels = [
        ("method", method),
        ("route", route.clone()),
        ("status", status.as_u16().to_string()),
    ];
    metrics::counter!(HTTP_REQUESTS_TOTAL, &labels).increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION, &labels).record(elapsed.as_secs_f64());

    span.record("route", route.as_str());
    span.record("status", status.as_u16());
    span.in_scope(|| {
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        if status.is_server_error() {
            tracing::warn!(latency_ms, "request failed");
        } else {
            tracing::info!(latency_ms, "request completed");
        }
    });

    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "OTHER");
    }

    #[test]
    fn request_ids_are_kept_only_when_short_and_plain() {
        let ok = |s: &str| accepted_request_id(&HeaderValue::from_str(s).unwrap());
        assert_eq!(ok("abc-123_X.y").as_deref(), Some("abc-123_X.y"));
        assert_eq!(
            ok(&"a".repeat(MAX_REQUEST_ID_LEN)).map(|s| s.len()),
            Some(64)
        );
        assert_eq!(ok(&"a".repeat(MAX_REQUEST_ID_LEN + 1)), None);
        assert_eq!(ok(""), None);
        assert_eq!(ok("a b"), None);
        assert_eq!(ok("a\"b"), None);
        assert_eq!(ok("ab/c"), None);
    }
}
