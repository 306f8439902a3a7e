//! The counter's lookups for staff: search across citizens, appointments and document requests,
//! and a citizen's file.

use actix_web::{web, HttpResponse};
use mawid_domain::appointment::{Refusal, Status};
use mawid_domain::search::SearchTerms;
use mawid_persistence::appointments::local_rfc3339;
use mawid_persistence::{citizens, search, stats as store_stats};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::auth::{Admin, Staff};
use crate::error::ApiError;
use crate::routes::accounts::UserView;
use crate::routes::appointments::AppointmentView;
use crate::routes::document_requests::RequestView;
use crate::routes::waitlist::EntryView;
use crate::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/search").get(search))
        .service(web::resource("/admin/citizens/{id}").get(citizen_file))
        .service(web::resource("/admin/stats").get(stats));
}

#[derive(Deserialize)]
struct SearchQuery {
    q: String,
}

async fn search(
    staff: Staff,
    state: web::Data<AppState>,
    q: web::Query<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    let terms = SearchTerms::parse(&q.q)?;
    let found = search::search(&state.pool, &terms, staff.reader()).await?;
    let citizens: Vec<_> = found
        .citizens
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "email": c.email,
                "full_name": c.full_name,
                "phone": c.phone,
                "preferred_language": c.preferred_language,
                "created_at": c.created_at,
            })
        })
        .collect();
    let mut appointments = Vec::with_capacity(found.appointments.len());
    for a in &found.appointments {
        let tz: chrono_tz::Tz = a.timezone.parse().map_err(ApiError::internal)?;
        appointments.push(json!({
            "id": a.id,
            "reference": a.reference,
            "citizen_id": a.citizen_id,
            "office_id": a.office_id,
            "service_id": a.service_id,
            "start": local_rfc3339(tz, a.slot_start),
            "status": a.status,
            "applicant": {
                "full_name": a.applicant_name,
                "passport_number": a.passport_number,
                "national_number": a.national_number,
            },
        }));
    }
    let document_requests: Vec<_> = found
        .document_requests
        .iter()
        .map(|d| {
            json!({
                "id": d.id,
                "tracking_number": d.tracking_number,
                "citizen_id": d.citizen_id,
                "office_id": d.office_id,
                "service_id": d.service_id,
                "status": d.status,
                "applicant": {
                    "full_name": d.applicant_full_name,
                    "passport_number": d.applicant_passport,
                },
                "created_at": d.created_at,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "citizens": citizens,
        "appointments": appointments,
        "document_requests": document_requests,
    })))
}

async fn citizen_file(
    staff: Staff,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let file = citizens::file(&state.pool, *id, staff.reader()).await?;
    // The no-show rule's booking suspension follows from the appointments, as at booking.
    let no_shows: Vec<_> = file
        .appointments
        .iter()
        .filter(|a| a.status == Status::NoShow)
        .map(|a| a.slot_start)
        .collect();
    let booking_suspended_until = match state.no_shows.check(&no_shows, state.now()) {
        Err(Refusal::Suspended { until }) => Some(until),
        _ => None,
    };
    let waitlist: Vec<EntryView> = file.waitlist.iter().map(EntryView::from).collect();
    let appointments: Vec<AppointmentView> = file
        .appointments
        .iter()
        .map(AppointmentView::from)
        .collect();
    let requests: Vec<RequestView> = file
        .document_requests
        .iter()
        .map(RequestView::from)
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "citizen": UserView::from(file.user),
        "appointments": appointments,
        "document_requests": requests,
        "document_requests_total": file.document_requests_total,
        "waitlist": waitlist,
        "suspension": {
            "suspended": file.suspension.is_some(),
            "suspended_at": file.suspension.as_ref().map(|s| s.since),
            "reason": file.suspension.as_ref().and_then(|s| s.reason.as_deref()),
            "booking_suspended_until": booking_suspended_until,
        },
    })))
}

#[derive(Deserialize)]
struct StatsQuery {
    office_id: Uuid,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
}

async fn stats(
    _admin: Admin,
    state: web::Data<AppState>,
    q: web::Query<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    let dates = mawid_domain::stats::check_range(q.from, q.to)?;
    let found = store_stats::office_stats(&state.pool, q.office_id, &dates).await?;
    let days: Vec<_> = found
        .days
        .iter()
        .map(|d| {
            json!({
                "date": d.date,
                "service_id": d.service_id,
                "desks_offered": d.tally.desks_offered,
                "booked": d.tally.booked,
                "completed": d.tally.completed,
                "no_shows": d.tally.no_shows,
                "cancellations": d.tally.cancellations,
                "waitlist_waiting": d.tally.waitlist_waiting,
            })
        })
        .collect();
    let documents: Vec<_> = found
        .documents
        .iter()
        .map(|d| {
            json!({
                "service_id": d.service_id,
                "by_status": d.by_status,
                "median_days_to_ready_for_pickup": d.median_days_to_ready,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "office_id": q.office_id,
        "from": q.from,
        "to": q.to,
        "timezone": found.timezone,
        "days": days,
        "document_requests": documents,
    })))
}
