//! Liveness, readiness, metrics and the served contract, outside `/api/v1`.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::error::ApiError;
use crate::{AppState, OPENAPI_YAML};
use mawid_domain::Code;

/// `metrics`: whether `/metrics` is served here (not when it has its own listener).
pub fn routes(cfg: &mut web::ServiceConfig, metrics: bool) {
    cfg.service(web::resource("/healthz").get(healthz))
        .service(web::resource("/readyz").get(readyz))
        .service(web::resource("/openapi.yaml").get(openapi));
    if metrics {
        cfg.service(web::resource("/metrics").get(self::metrics));
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    mawid_persistence::ping(&state.pool).await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        ApiError::new(Code::DatabaseUnavailable, "the database is not reachable")
    })?;
    Ok(HttpResponse::Ok().json(json!({ "status": "ready" })))
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/yaml")
        .body(OPENAPI_YAML)
}

/// Prometheus text exposition format, version 0.0.4.
pub async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::observe::prometheus().render())
}
