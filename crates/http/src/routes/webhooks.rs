//! Webhook endpoints of the ministry's systems, registered by admins, with their deliveries.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use mawid_domain::webhook::Registration;
use mawid_persistence::webhooks::{self as store, Delivery, DeliveryRow, WebhookRow};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::auth::Admin;
use crate::error::ApiError;
use crate::json::Json;
use crate::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/webhooks").post(create).get(list))
        .service(web::resource("/admin/webhooks/{id}").delete(delete))
        .service(web::resource("/admin/webhooks/{id}/deliveries").get(deliveries))
        .service(
            web::resource("/admin/webhooks/{id}/deliveries/{delivery_id}/replay").post(replay),
        );
}

#[derive(Deserialize)]
struct WebhookIn {
    url: String,
    secret: String,
    events: Vec<String>,
}

/// The secret is never answered back: whoever holds a list must not be able to forge events.
#[derive(Serialize)]
struct WebhookView {
    id: Uuid,
    url: String,
    events: Vec<String>,
    created_at: DateTime<Utc>,
}

impl From<WebhookRow> for WebhookView {
    fn from(r: WebhookRow) -> Self {
        Self {
            id: r.id,
            url: r.url,
            events: r.events,
            created_at: r.created_at,
        }
    }
}

#[derive(Serialize)]
struct AttemptView {
    at: DateTime<Utc>,
    status_code: Option<i32>,
    error: Option<String>,
}

#[derive(Serialize)]
struct DeliveryView {
    id: Uuid,
    event: String,
    status: String,
    payload: Value,
    next_attempt_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
    attempts: Vec<AttemptView>,
}

impl DeliveryView {
    fn new(d: DeliveryRow, attempts: Vec<AttemptView>) -> Self {
        Self {
            id: d.id,
            event: d.event,
            status: d.status,
            payload: d.payload,
            next_attempt_at: d.next_attempt_at,
            created_at: d.created_at,
            delivered_at: d.delivered_at,
            attempts,
        }
    }
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        let attempts = d
            .attempts
            .into_iter()
            .map(|a| AttemptView {
                at: a.at,
                status_code: a.status_code,
                error: a.error,
            })
            .collect();
        Self::new(d.delivery, attempts)
    }
}

async fn create(
    admin: Admin,
    state: web::Data<AppState>,
    body: Json<WebhookIn>,
) -> Result<HttpResponse, ApiError> {
    let r = Registration::parse(&body.url, &body.secret, &body.events)?;
    let row = store::create(&state.pool, admin.id(), &r, state.now()).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/admin/webhooks/{}", row.id)))
        .json(WebhookView::from(row)))
}

async fn list(_admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let items: Vec<WebhookView> = store::list(&state.pool)
        .await?
        .into_iter()
        .map(WebhookView::from)
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

async fn delete(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    store::delete(&state.pool, admin.id(), *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn deliveries(
    _admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let items: Vec<DeliveryView> = store::deliveries(&state.pool, *id)
        .await?
        .into_iter()
        .map(DeliveryView::from)
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

async fn replay(
    admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (id, delivery_id) = path.into_inner();
    let row = store::replay(&state.pool, admin.id(), id, delivery_id, state.now()).await?;
    Ok(HttpResponse::Accepted().json(DeliveryView::new(row, Vec::new())))
}
