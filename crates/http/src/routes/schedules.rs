//! Weekly schedules, closures and the public availability built from them.

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono_tz::Tz;
use mawid_domain::dates::Day;
use mawid_domain::schedule::{Bookings, DateRange, Schedule, Slot};
use mawid_domain::text::Reason;
use mawid_domain::Invalid;
use mawid_persistence::appointments::local_rfc3339;
use mawid_persistence::schedules::{self as store, ScheduleRow};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::auth::{Admin, Staff};
use crate::availability::Key;
use crate::cache::{self, Freshness};
use crate::error::ApiError;
use crate::json::Json;
use crate::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/offices/{id}/availability").get(availability))
        .service(web::resource("/admin/offices/{id}/availability").get(staff_availability))
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
    from: Day,
    to: Day,
}

/// An availability answer as sent, serialized straight from its fields: a 60-day answer holds
/// about 1,200 slots, and building a `serde_json::Value` of them first, to serialize that, was
/// an allocation per key and string of every slot on each read of the calendar.
#[derive(Serialize)]
struct AvailabilityView<'a, S> {
    office_id: Uuid,
    service_id: Uuid,
    timezone: Tz,
    from: &'a Day,
    to: &'a Day,
    slots: Vec<S>,
}

#[derive(Serialize)]
struct SlotView {
    start: String,
    end: String,
    remaining: i64,
}

impl SlotView {
    fn new(tz: Tz, s: &Slot) -> Self {
        Self {
            start: local_rfc3339(tz, s.start),
            end: local_rfc3339(tz, s.end),
            remaining: s.remaining,
        }
    }
}

#[derive(Serialize)]
struct StaffSlotView {
    #[serde(flatten)]
    slot: SlotView,
    remaining_reserved: i64,
}

/// Every desk free for staff, the reserved ones apart; no notice applies.
async fn staff_availability(
    _staff: Staff,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    q: web::Query<AvailabilityQuery>,
) -> Result<HttpResponse, ApiError> {
    let range = DateRange::parse(q.from.date(), q.to.date())?;
    let found =
        store::staff_availability(&state.pool, *id, q.service_id, range, state.now()).await?;
    let tz = found.timezone;
    let slots: Vec<StaffSlotView> = found
        .slots
        .iter()
        .map(|s| StaffSlotView {
            slot: SlotView::new(tz, &s.slot),
            remaining_reserved: s.remaining_reserved,
        })
        .collect();
    Ok(HttpResponse::Ok().json(AvailabilityView {
        office_id: *id,
        service_id: q.service_id,
        timezone: tz,
        from: &q.from,
        to: &q.to,
        slots,
    }))
}

async fn availability(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    q: web::Query<AvailabilityQuery>,
) -> Result<HttpResponse, ApiError> {
    let range = DateRange::parse(q.from.date(), q.to.date())?;
    let key = Key {
        office: *id,
        service: q.service_id,
        from: q.from.date(),
        to: q.to.date(),
    };
    let (cache, pool, now) = (&state.availability, &state.calendar_pool, state.now());
    let answer = cache
        .answer(key, now, || async {
            let context = cache
                .context(key.office, key.service, || async {
                    Ok(store::availability_context(pool, key.office, key.service).await?)
                })
                .await?;
            let found = store::availability_in(pool, &context, range, now).await?;
            let tz = found.timezone;
            let slots: Vec<SlotView> = found.slots.iter().map(|s| SlotView::new(tz, s)).collect();
            cache::encode(&AvailabilityView {
                office_id: key.office,
                service_id: key.service,
                timezone: tz,
                from: &q.from,
                to: &q.to,
                slots,
            })
        })
        .await?;
    Ok(cache::respond(
        &req,
        answer.body.clone(),
        &answer.tag,
        Freshness::Availability,
    ))
}

#[derive(Deserialize)]
struct ScheduleIn {
    capacity: i32,
    #[serde(default)]
    reserved_capacity: i32,
    weekly: BTreeMap<String, Vec<[String; 2]>>,
    bookings: Option<String>,
}

impl ScheduleIn {
    fn into_domain(self) -> Result<(Schedule, Option<Bookings>), Invalid> {
        let mut v = Invalid::collect();
        let schedule = v.check(Schedule::parse_reserving(
            self.capacity,
            self.reserved_capacity,
            &self.weekly,
        ));
        let bookings = v.check(Bookings::parse(self.bookings.as_deref()));
        v.finish()?;
        let (Some(schedule), Some(bookings)) = (schedule, bookings) else {
            unreachable!("finish() returned Ok, so every field parsed");
        };
        Ok((schedule, bookings))
    }
}

fn schedule_view(row: &ScheduleRow, affected: Option<(usize, Bookings)>) -> serde_json::Value {
    let mut v = json!({
        "office_id": row.office_id,
        "service_id": row.service_id,
        "capacity": row.capacity,
        "reserved_capacity": row.reserved_capacity,
        "weekly": row.weekly.to_map(),
        "updated_at": row.updated_at,
    });
    if let (Some((n, bookings)), Some(o)) = (affected, v.as_object_mut()) {
        o.insert("affected_bookings".into(), json!(n));
        o.insert("bookings".into(), json!(bookings.code()));
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
    let (schedule, bookings) = body.into_inner().into_domain()?;
    let (pool, now, actor) = (&state.pool, state.now(), admin.id());
    let put =
        store::put_schedule(pool, actor, office_id, service_id, &schedule, bookings, now).await?;
    let outcome = (put.affected_bookings, put.bookings);
    Ok(HttpResponse::Ok().json(schedule_view(&put.schedule, Some(outcome))))
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
    date: Day,
    reason: String,
    bookings: Option<String>,
}

async fn add_closure(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: Json<ClosureIn>,
) -> Result<HttpResponse, ApiError> {
    let mut v = Invalid::collect();
    let reason = v.check(Reason::parse("reason", &body.reason));
    let bookings = v.check(Bookings::parse(body.bookings.as_deref()));
    v.finish()?;
    let (Some(reason), Some(bookings)) = (reason, bookings) else {
        unreachable!("finish() returned Ok, so every field parsed");
    };
    let (pool, now, actor) = (&state.pool, state.now(), admin.id());
    let added =
        store::add_closure(pool, actor, *id, body.date.date(), &reason, bookings, now).await?;
    Ok(HttpResponse::Created().json(json!({
        "office_id": *id,
        "date": added.closure.day,
        "reason": added.closure.reason,
        "affected_bookings": added.affected_bookings,
        "bookings": added.bookings.code(),
    })))
}

#[derive(Deserialize)]
struct ClosureRange {
    from: Option<Day>,
    to: Option<Day>,
}

async fn list_closures(
    _admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    q: web::Query<ClosureRange>,
) -> Result<HttpResponse, ApiError> {
    let items: Vec<_> =
        store::list_closures(&state.pool, *id, q.from.map(Day::date), q.to.map(Day::date))
            .await?
            .into_iter()
            .map(|c| json!({ "date": c.day, "reason": c.reason }))
            .collect();
    Ok(HttpResponse::Ok().json(json!({ "office_id": *id, "items": items })))
}

async fn delete_closure(
    admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, String)>,
) -> Result<HttpResponse, ApiError> {
    let (office_id, raw) = path.into_inner();
    let day = Day::parse("date", &raw)?.date();
    store::delete_closure(&state.pool, admin.id(), office_id, day).await?;
    Ok(HttpResponse::NoContent().finish())
}
