//! The email outbox as admins see it: what was sent, what is waiting, what failed, and a way to
//! send a failed one again.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use mawid_domain::Invalid;
use mawid_persistence::audit::{self, Entry};
use mawid_persistence::outbox::{self, Listed};
use mawid_persistence::StoreError;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Admin;
use crate::error::ApiError;
use crate::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/notifications").get(list))
        .service(web::resource("/admin/notifications/{id}/retry").post(retry));
}

const STATUSES: [&str; 4] = ["pending", "sent", "failed", "cancelled"];
const MAX_PER_PAGE: i64 = 100;
const DEFAULT_PER_PAGE: i64 = 20;

/// A notification without its payload: the payload of a verification or reset mail holds a
/// live token, which must not leave the outbox except in the mail itself.
#[derive(Serialize)]
struct NotificationView {
    id: Uuid,
    user_id: Option<Uuid>,
    recipient: String,
    language: String,
    kind: String,
    status: String,
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
            language: n.language,
            kind: n.kind,
            status: n.status,
            attempts: n.attempts,
            next_attempt_at: n.next_attempt_at,
            last_error: n.last_error,
            reference: n.reference,
            created_at: n.created_at,
            sent_at: n.sent_at,
        }
    }
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
}

async fn list(
    _admin: Admin,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let mut v = Invalid::collect();
    let status = v.check(match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) if STATUSES.contains(&s) => Ok(Some(s)),
        Some(_) => Err(Invalid::new(
            "status",
            format!("one of {}", STATUSES.join(", ")),
        )),
    });
    let page = v.check(match q.page.unwrap_or(1) {
        p if p >= 1 => Ok(p),
        _ => Err(Invalid::new("page", "1 or more")),
    });
    let per_page = v.check(match q.per_page.unwrap_or(DEFAULT_PER_PAGE) {
        n if (1..=MAX_PER_PAGE).contains(&n) => Ok(n),
        _ => Err(Invalid::new("per_page", format!("1-{MAX_PER_PAGE}"))),
    });
    v.finish()?;
    let (Some(status), Some(page), Some(per_page)) = (status, page, per_page) else {
        unreachable!("finish() returned Ok, so every field parsed");
    };
    let offset = (page - 1).saturating_mul(per_page);
    let (rows, total) = outbox::list(&state.pool, status, per_page, offset).await?;
    let items: Vec<NotificationView> = rows.into_iter().map(NotificationView::from).collect();
    Ok(HttpResponse::Ok().json(json!({
        "items": items,
        "page": page,
        "per_page": per_page,
        "total": total,
    })))
}

async fn retry(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let mut tx = state.pool.begin().await?;
    let row = match outbox::retry(&mut tx, id, state.now()).await {
        Ok(row) => row,
        Err(StoreError::Conflict(code)) => {
            return Err(ApiError::new(
                code,
                "only a failed notification can be sent again",
            ))
        }
        Err(e) => return Err(e.into()),
    };
    audit::record(
        &mut *tx,
        Entry {
            actor_id: admin.id(),
            action: "notification.retry",
            target_type: "notification",
            target_id: id.to_string(),
            details: json!({ "kind": row.kind, "last_error": row.last_error }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(NotificationView::from(row)))
}
