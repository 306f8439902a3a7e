//! Weekly schedules, closures and the public availability built from them.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use chrono::{Duration, NaiveDate};
use mawid_domain::schedule::{self, Calendar, WeeklyTemplate};
use mawid_domain::text::Reason;
use mawid_domain::Invalid;
use mawid_persistence::appointments::local_rfc3339;
use mawid_persistence::audit::{self, Entry};
use mawid_persistence::catalogue;
use mawid_persistence::schedules::{self as store, ScheduleRow};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Admin;
use crate::error::ApiError;
use crate::json::Json;
use crate::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/offices/{id}/availability").get(availability))
        .service(
            web::resource("/admin/offices/{id}/schedules/{service_id}")
                .put(put_schedule)
                .get(get_schedule),
        )
        .service(
            web::resource("/admin/offices/{id}/closures")
                .post(add_closure)
                .get(list_closures),
        )
        .service(web::resource("/admin/offices/{id}/closures/{date}").delete(delete_closure));
}

#[derive(Deserialize)]
struct AvailabilityQuery {
    service_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
}

#[derive(Serialize)]
struct SlotView {
    start: String,
    end: String,
    remaining: i64,
}

async fn availability(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    q: web::Query<AvailabilityQuery>,
) -> Result<HttpResponse, ApiError> {
    schedule::check_range(q.from, q.to).map_err(ApiError::from)?;
    let office = catalogue::office(&state.pool, *id).await?;
    let service = catalogue::service(&state.pool, q.service_id).await?;
    let sched = store::get(&state.pool, office.id, service.id)
        .await?
        .ok_or_else(|| ApiError::from(mawid_domain::appointment::Refusal::NotOffered))?;
    let tz = office.tz();
    let closures = store::closed_days(&state.pool, office.id, q.from, q.to).await?;
    // A UTC window wide enough for any zone's local dates.
    let lo = q.from.and_time(chrono::NaiveTime::MIN).and_utc() - Duration::days(1);
    let hi = q.to.and_time(chrono::NaiveTime::MIN).and_utc() + Duration::days(2);
    let taken = store::taken(&state.pool, office.id, service.id, lo, hi).await?;
    let template = sched.template();
    let cal = Calendar {
        tz,
        template: &template,
        capacity: sched.capacity,
        closures: &closures,
        policy: service.policy(),
    };
    let slots: Vec<SlotView> = if office.active && service.active {
        cal.availability(q.from, q.to, &taken, state.now())
            .into_iter()
            .map(|s| SlotView {
                start: local_rfc3339(tz, s.start),
                end: local_rfc3339(tz, s.end),
                remaining: s.remaining,
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(HttpResponse::Ok().json(json!({
        "office_id": office.id,
        "service_id": service.id,
        "timezone": office.timezone,
        "from": q.from,
        "to": q.to,
        "slots": slots,
    })))
}

#[derive(Deserialize)]
struct ScheduleIn {
    capacity: i32,
    weekly: BTreeMap<String, Vec<[String; 2]>>,
}

const CAPACITY: std::ops::RangeInclusive<i32> = 1..=100;

fn schedule_view(row: &ScheduleRow, affected: Option<usize>) -> serde_json::Value {
    let mut v = json!({
        "office_id": row.office_id,
        "service_id": row.service_id,
        "capacity": row.capacity,
        "weekly": row.template().to_map(),
        "updated_at": row.updated_at,
    });
    if let (Some(n), Some(o)) = (affected, v.as_object_mut()) {
        o.insert("affected_bookings".into(), json!(n));
    }
    v
}

async fn put_schedule(
    admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
    body: Json<ScheduleIn>,
) -> Result<HttpResponse, ApiError> {
    let (office_id, service_id) = path.into_inner();
    let mut v = Invalid::collect();
    let template = v.check(WeeklyTemplate::parse(&body.weekly));
    v.check(mawid_domain::catalogue::check_range(
        "capacity",
        body.capacity,
        CAPACITY,
    ));
    v.finish()?;
    let Some(template) = template else {
        unreachable!("finish() returned Ok, so the template parsed");
    };
    let now = state.now();
    let mut tx = state.pool.begin().await?;
    let office = catalogue::office(&mut *tx, office_id).await?;
    let service = catalogue::service(&mut *tx, service_id).await?;
    let row = store::put(
        &mut *tx,
        office_id,
        service_id,
        body.capacity,
        &template,
        now,
    )
    .await?;
    // Bookings are never dropped: they stay valid and are only counted for the admin.
    let cal = Calendar {
        tz: office.tz(),
        template: &template,
        capacity: body.capacity,
        closures: &Default::default(),
        policy: service.policy(),
    };
    let affected = store::future_booked_starts(&mut *tx, office_id, service_id, now)
        .await?
        .into_iter()
        .filter(|s| cal.on_grid(*s).is_none())
        .count();
    audit::record(
        &mut *tx,
        Entry {
            actor_id: admin.id(),
            action: "schedule.put",
            target_type: "schedule",
            target_id: format!("{office_id}/{service_id}"),
            details: json!({
                "capacity": body.capacity,
                "weekly": template.to_map(),
                "affected_bookings": affected,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(schedule_view(&row, Some(affected))))
}

async fn get_schedule(
    _admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (office_id, service_id) = path.into_inner();
    let row = store::get(&state.pool, office_id, service_id)
        .await?
        .ok_or(ApiError::not_found())?;
    Ok(HttpResponse::Ok().json(schedule_view(&row, None)))
}

#[derive(Deserialize)]
struct ClosureIn {
    date: NaiveDate,
    reason: String,
}

async fn add_closure(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: Json<ClosureIn>,
) -> Result<HttpResponse, ApiError> {
    let reason = Reason::parse("reason", &body.reason)?.into_string();
    let now = state.now();
    let mut tx = state.pool.begin().await?;
    let office = catalogue::office(&mut *tx, *id).await?;
    let c = store::add_closure(&mut *tx, office.id, body.date, &reason).await?;
    let affected = store::future_booked_on(&mut *tx, office.id, body.date, now).await?;
    audit::record(
        &mut *tx,
        Entry {
            actor_id: admin.id(),
            action: "closure.create",
            target_type: "office",
            target_id: office.id.to_string(),
            details: json!({ "date": c.day, "reason": c.reason, "affected_bookings": affected }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(json!({
        "office_id": office.id,
        "date": c.day,
        "reason": c.reason,
        "affected_bookings": affected,
    })))
}

#[derive(Deserialize)]
struct ClosureRange {
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
}

async fn list_closures(
    _admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    q: web::Query<ClosureRange>,
) -> Result<HttpResponse, ApiError> {
    let office = catalogue::office(&state.pool, *id).await?;
    let far_past = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or_default();
    let far_future = NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or_default();
    let items: Vec<_> = store::closures(
        &state.pool,
        office.id,
        q.from.unwrap_or(far_past),
        q.to.unwrap_or(far_future),
    )
    .await?
    .into_iter()
    .map(|c| json!({ "date": c.day, "reason": c.reason }))
    .collect();
    Ok(HttpResponse::Ok().json(json!({ "office_id": office.id, "items": items })))
}

async fn delete_closure(
    admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, NaiveDate)>,
) -> Result<HttpResponse, ApiError> {
    let (office_id, day) = path.into_inner();
    let mut tx = state.pool.begin().await?;
    store::delete_closure(&mut *tx, office_id, day).await?;
    audit::record(
        &mut *tx,
        Entry {
            actor_id: admin.id(),
            action: "closure.delete",
            target_type: "office",
            target_id: office_id.to_string(),
            details: json!({ "date": day }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
