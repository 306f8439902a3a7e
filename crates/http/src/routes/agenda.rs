//! Staff: the day's agenda of an office, the appointment lifecycle and the audit log.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use mawid_domain::appointment::Status;
use mawid_domain::schedule::Calendar;
use mawid_persistence::appointments::{self as store, CancelledBy};
use mawid_persistence::audit;
use mawid_persistence::{catalogue, schedules};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::auth::{Admin, Staff};
use crate::error::ApiError;
use crate::json::Json;
use crate::routes::appointments::view;
use crate::AppState;
use mawid_domain::text::Reason;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/offices/{id}/agenda").get(agenda))
        .service(web::resource("/admin/appointments/{id}/check-in").post(check_in))
        .service(web::resource("/admin/appointments/{id}/complete").post(complete))
        .service(web::resource("/admin/appointments/{id}/no-show").post(no_show))
        .service(web::resource("/admin/appointments/{id}/cancel").post(staff_cancel))
        .service(web::resource("/admin/audit-log").get(audit_log));
}

#[derive(Deserialize)]
struct AgendaQuery {
    date: NaiveDate,
}

async fn agenda(
    _staff: Staff,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    q: web::Query<AgendaQuery>,
) -> Result<HttpResponse, ApiError> {
    let office = catalogue::office(&state.pool, *id).await?;
    let tz = office.tz();
    let rows = store::agenda(&state.pool, office.id, q.date).await?;
    let closed = schedules::closed_days(&state.pool, office.id, q.date, q.date).await?;
    let mut items = Vec::with_capacity(rows.len());
    // Whether each appointment still fits the current schedule, so staff see the ones a later
    // schedule change or closure left outside it (they remain valid).
    let mut grids = std::collections::HashMap::new();
    for a in &rows {
        if let std::collections::hash_map::Entry::Vacant(e) = grids.entry(a.service_id) {
            let sched = schedules::get(&state.pool, office.id, a.service_id).await?;
            let service = catalogue::service(&state.pool, a.service_id).await?;
            e.insert((sched, service));
        }
    }
    for a in &rows {
        let on_schedule = match grids.get(&a.service_id) {
            Some((Some(sched), service)) => {
                let template = sched.template();
                let cal = Calendar {
                    tz,
                    template: &template,
                    capacity: sched.capacity,
                    closures: &closed,
                    policy: service.policy(),
                };
                cal.on_schedule(a.slot_start)
            }
            _ => false,
        };
        let mut v = view(a);
        if let Some(o) = v.as_object_mut() {
            o.insert("citizen_id".into(), json!(a.citizen_id));
            o.insert("on_schedule".into(), json!(on_schedule));
        }
        items.push(v);
    }
    Ok(HttpResponse::Ok().json(json!({
        "office_id": office.id,
        "date": q.date,
        "timezone": office.timezone,
        "items": items,
    })))
}

async fn step(
    staff: Staff,
    state: web::Data<AppState>,
    id: Uuid,
    to: Status,
    action: &str,
) -> Result<HttpResponse, ApiError> {
    let a = store::transition(&state.pool, id, to, staff.id(), action, state.now()).await?;
    Ok(HttpResponse::Ok().json(view(&a)))
}

/// The officer may record the applicant's date of birth from the passport at the desk; the
/// document request opened for a documentary service needs it for public tracking.
#[derive(Deserialize, Default)]
struct CheckInIn {
    applicant_date_of_birth: Option<chrono::NaiveDate>,
}

async fn check_in(
    staff: Staff,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: Option<Json<CheckInIn>>,
) -> Result<HttpResponse, ApiError> {
    let dob = body
        .map(|b| b.into_inner())
        .unwrap_or_default()
        .applicant_date_of_birth;
    if dob.is_some_and(|d| d > state.now().date_naive()) {
        return Err(
            mawid_domain::Invalid::new("applicant_date_of_birth", "a date in the past").into(),
        );
    }
    let (a, request) = store::check_in(&state.pool, *id, staff.id(), dob, state.now()).await?;
    let mut body = view(&a);
    body["document_request"] = match request {
        Some(r) => serde_json::json!({ "id": r.id, "tracking_number": r.tracking_number }),
        None => serde_json::Value::Null,
    };
    Ok(HttpResponse::Ok().json(body))
}

async fn complete(
    staff: Staff,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    step(staff, state, *id, Status::Completed, "appointment.complete").await
}

async fn no_show(
    staff: Staff,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    step(staff, state, *id, Status::NoShow, "appointment.no_show").await
}

#[derive(Deserialize)]
struct StaffCancelIn {
    #[serde(default)]
    reason: String,
}

async fn staff_cancel(
    staff: Staff,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: Json<StaffCancelIn>,
) -> Result<HttpResponse, ApiError> {
    let reason = Reason::parse("reason", &body.reason)?.into_string();
    let a = store::cancel(
        &state.pool,
        *id,
        None,
        CancelledBy::Staff(staff.id()),
        Some(&reason),
        state.now(),
    )
    .await?;
    metrics::counter!("mawid_cancellations_total", "by" => "staff").increment(1);
    Ok(HttpResponse::Ok().json(view(&a)))
}

#[derive(Deserialize)]
struct AuditQuery {
    action: Option<String>,
    actor_id: Option<Uuid>,
    target_type: Option<String>,
    from: Option<DateTime<FixedOffset>>,
    to: Option<DateTime<FixedOffset>>,
    page: Option<i64>,
    per_page: Option<i64>,
}

const PER_PAGE_DEFAULT: i64 = 50;
const PER_PAGE_MAX: i64 = 200;

async fn audit_log(
    _admin: Admin,
    state: web::Data<AppState>,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    // Out-of-range paging is refused, not clamped: the client asked for something else.
    let page = q.page.unwrap_or(1);
    let per_page = q.per_page.unwrap_or(PER_PAGE_DEFAULT);
    let mut v = mawid_domain::Invalid::collect();
    if page < 1 {
        v.check::<()>(Err(mawid_domain::Invalid::new("page", "1 or more")));
    }
    if !(1..=PER_PAGE_MAX).contains(&per_page) {
        v.check::<()>(Err(mawid_domain::Invalid::new(
            "per_page",
            format!("1 to {PER_PAGE_MAX}"),
        )));
    }
    v.finish()?;
    let filter = audit::Filter {
        action: q.action.clone(),
        actor_id: q.actor_id,
        target_type: q.target_type.clone(),
        from: q.from.map(|t| t.with_timezone(&Utc)),
        to: q.to.map(|t| t.with_timezone(&Utc)),
    };
    let (rows, total) = audit::list(&state.pool, &filter, per_page, (page - 1) * per_page).await?;
    let items: Vec<_> = rows
        .into_iter()
        .map(|r| {
            json!({
                "id": r.id,
                "actor_id": r.actor_id,
                "action": r.action,
                "target_type": r.target_type,
                "target_id": r.target_id,
                "details": r.details,
                "at": r.at,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "items": items,
        "page": page,
        "per_page": per_page,
        "total": total,
    })))
}
