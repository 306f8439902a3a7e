//! The HTTP face of Mawid: app factory, routes per resource, DTOs, extractors and problem+json.

pub mod auth;
pub mod availability;
pub mod cache;
pub mod crypto;
pub mod error;
pub mod json;
pub mod limit;
pub mod observe;
pub mod routes;
pub mod slices;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{from_fn, ErrorHandlers, Next};
use actix_web::{web, App};
use mawid_domain::Clock;
use mawid_persistence::PgPool;

pub use auth::JwtKeys;
pub use availability::{AvailabilityCache, CacheSettings, PlacesChanged};
pub use crypto::Passwords;
pub use error::ApiError;
pub use limit::AbuseSettings;

/// Largest request body accepted (product.md: over 1 MiB is a 413).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// The contract as served at `/openapi.yaml`; a test keeps it in step with the routes.
pub const OPENAPI_YAML: &str = include_str!("../../../openapi.yaml");

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    /// Connections of their own for the public calendar's database reads (an availability
    /// answer not in memory): in a release storm the bookings hold every connection of `pool`
    /// for their transactions, and a calendar read queued behind them waited as long as a
    /// booking. Any pool may serve; production gives it a few connections of its own.
    pub calendar_pool: PgPool,
    pub jwt: Arc<JwtKeys>,
    pub clock: Arc<dyn Clock>,
    pub passwords: Arc<Passwords>,
    pub abuse: AbuseSettings,
    /// The no-show suspension rule (`MAWID_NO_SHOW_*`).
    pub no_shows: mawid_domain::appointment::NoShowPolicy,
    /// Availability answers kept in memory (`MAWID_AVAILABILITY_CACHE_*`).
    pub availability: AvailabilityCache,
}

impl AppState {
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }
}

/// Refuses a NUL byte in the path or query; `X-Content-Type-Options: nosniff` on every answer, and `Cache-Control: no-store` on every
/// answer to a request that carried credentials (nothing personal lands in a shared cache).
async fn safe_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let authenticated = req.headers().contains_key(header::AUTHORIZATION);
    // A NUL byte in the path or the query (`?target_type=%00x`) cannot reach PostgreSQL text.
    let nul = |s: &str| s.to_ascii_lowercase().contains("%00");
    let mut res = if nul(req.query_string()) || nul(req.path()) {
        let refusal = ApiError::from(mawid_domain::Invalid::new("query", "no NUL characters"));
        req.into_response(actix_web::ResponseError::error_response(&refusal))
            .map_into_right_body()
    } else {
        next.call(req).await?.map_into_left_body()
    };
    let headers = res.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if authenticated {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}

/// Whether a write to `path` cannot change any office's availability: a sign-in storm does not
/// empty the availability cache. Anything else written drops it.
fn beside_availability(path: &str) -> bool {
    const PREFIXES: [&str; 5] = [
        "/api/v1/auth/",
        "/api/v1/document-requests",
        "/api/v1/admin/document-requests",
        "/api/v1/admin/notifications",
        "/api/v1/admin/webhooks",
    ];
    PREFIXES.iter().any(|p| path.starts_with(p))
        || (path.starts_with("/api/v1/admin/offices/") && path.contains("/notices"))
}

/// After a write this process answered without an error, its availability cache forgets what
/// the write may have changed before the client hears back, so the client's next read sees it.
async fn forget_after_writes(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let writes = !req.method().is_safe();
    let res = next.call(req).await?;
    let path = res.request().path();
    if writes && !res.status().is_client_error() && !beside_availability(path) {
        if let Some(state) = res.request().app_data::<web::Data<AppState>>() {
            // Only the catalogue's admin routes write what availability is cut from.
            if path.starts_with("/api/v1/admin/offices")
                || path.starts_with("/api/v1/admin/services")
            {
                state.availability.forget_all();
            } else if let Some(places) = res.response().extensions().get::<PlacesChanged>() {
                state.availability.forget_answers_of(*places);
            } else {
                state.availability.forget_answers();
            }
        }
    }
    Ok(res)
}

/// The whole application, used by the server binary and by the tests alike.
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    app_serving(state, true)
}

/// The application with `/metrics` on it or not: off when the metrics have their own listener
/// (`MAWID_METRICS_BIND`), so the public port does not hand out the process's figures.
pub fn app_serving(
    state: AppState,
    metrics: bool,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    // Installed before the first request can record anything.
    observe::prometheus();
    App::new()
        .app_data(web::Data::new(state))
        .app_data(
            web::JsonConfig::default()
                .limit(BODY_LIMIT)
                .error_handler(error::json_error),
        )
        .app_data(web::PayloadConfig::default().limit(BODY_LIMIT))
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        .app_data(web::PathConfig::default().error_handler(error::path_error))
        // Innermost: the account is resolved after the NUL refusal and before any extractor.
        .wrap(from_fn(auth::resolve_account))
        .wrap(from_fn(forget_after_writes))
        .wrap(ErrorHandlers::new().default_handler(error::problem_fallback))
        .wrap(from_fn(safe_headers))
        // Wrapped last, so outermost: it sees the final answer, problem+json rewrites included.
        .wrap(from_fn(observe::observe))
        .configure(|cfg| routes::ops::routes(cfg, metrics))
        .configure(routes::docs::routes)
        .service(web::scope("/api/v1").configure(routes::api))
        .default_service(web::to(|| async {
            Err::<actix_web::HttpResponse, _>(ApiError::not_found())
        }))
}

/// Only `/metrics`, for the separate metrics listener; anything else there is a bare 404.
pub fn metrics_app() -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    observe::prometheus();
    App::new()
        .wrap(from_fn(safe_headers))
        .service(web::resource("/metrics").get(routes::ops::metrics))
}
