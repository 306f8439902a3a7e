//! The email outbox as admins see it: what was sent, what is waiting, what failed, and a way to
//! send a failed one again.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use mawid_domain::notification::NotificationStatus;
use mawid_domain::page::Page;
use mawid_domain::Invalid;
use mawid_persistence::outbox::{self, Listed};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Admin;
use crate::error::ApiError;
use crate::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/notifications").get(list))
        .service(web::resource("/admin/notifications/{id}/retry").post(retry));
}

/// A notification without its payload: the payload of a verification or reset mail holds a
/// live token, which must not leave the outbox except in the mail itself.
#[derive(Serialize)]
struct NotificationView {
    id: Uuid,
    user_id: Option<Uuid>,
    recipient: String,
    language: &'static str,
    kind: String,
    status: &'static str,
    attempts: i32,
    next_attempt_at: DateTime<Utc>,
    last_error: Option<String>,
    reference: Option<String>,
    created_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
}

impl From<Listed> for NotificationView {
    fn from(n: Listed) -> Self {
        Self {
            id: n.id,
            user_id: n.user_id,
            recipient: n.recipient,
            language: n.language.code(),
            kind: n.kind,
            status: n.status.code(),
            attempts: n.attempts,
            next_attempt_at: n.next_attempt_at,
            last_error: n.last_error,
            reference: n.reference,
            created_at: n.created_at,
            sent_at: n.sent_at,
        }
    }
}

#[derive(Serialize)]
struct Paginated {
    items: Vec<NotificationView>,
    page: i64,
    per_page: i64,
    total: i64,
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
}

impl ListQuery {
    /// The status filter (empty means none) and the page, every failure reported at once.
    fn to_domain(&self) -> Result<(Option<NotificationStatus>, Page), Invalid> {
        let mut v = Invalid::collect();
        let status = v.check(
            self.status
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(|s| NotificationStatus::parse("status", s))
                .transpose(),
        );
        let page = v.check(Page::parse(self.page, self.per_page));
        v.finish()?;
        match (status, page) {
            (Some(status), Some(page)) => Ok((status, page)),
            _ => unreachable!("finish() returned Ok, so every field parsed"),
        }
    }
}

async fn list(
    _admin: Admin,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let (status, page) = query.to_domain()?;
    let (rows, total) = outbox::list(&state.pool, status, &page).await?;
    Ok(HttpResponse::Ok().json(Paginated {
        items: rows.into_iter().map(NotificationView::from).collect(),
        page: page.page,
        per_page: page.per_page,
        total,
    }))
}

async fn retry(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = outbox::retry(&state.pool, *id, admin.id(), state.now()).await?;
    Ok(HttpResponse::Ok().json(NotificationView::from(row)))
}
