//! Citizens' appointments: book, list, read, cancel and reschedule their own.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, FixedOffset, Utc};
use mawid_domain::appointment::{
    ApplicantFields, BookingFor, Cancellation, CancelledBy, Idempotency, IdempotencyKey, Relation,
    Status,
};
use mawid_domain::catalogue::Localized;
use mawid_domain::limit::LimitName;
use mawid_domain::Invalid;
use mawid_persistence::appointments::{self as store, AppointmentRow, Booked, NewBooking};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::auth::Citizen;
use crate::error::ApiError;
use crate::json::{Json, OptionalJson};
use crate::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/appointments").post(book).get(list))
        .service(web::resource("/appointments/{id}").get(detail))
        .service(web::resource("/appointments/{id}/cancel").post(cancel))
        .service(web::resource("/appointments/{id}/reschedule").post(reschedule));
}

#[derive(Serialize)]
pub struct AppointmentView {
    id: Uuid,
    reference: String,
    status: Status,
    sequence: u32,
    office_id: Uuid,
    office_code: String,
    service_id: Uuid,
    service_code: String,
    service_name: Localized,
    start: String,
    end: String,
    timezone: &'static str,
    applicant: ApplicantView,
    cancelled_by: Option<CancelledBy>,
    cancel_reason: Option<String>,
    /// With the office's offset, like every instant in the API.
    created_at: String,
}

#[derive(Serialize)]
struct ApplicantView {
    full_name: String,
    relation: Relation,
    passport_number: Option<String>,
}

impl From<&AppointmentRow> for AppointmentView {
    fn from(a: &AppointmentRow) -> Self {
        Self {
            id: a.id,
            reference: a.reference.clone(),
            status: a.status,
            sequence: a.sequence,
            office_id: a.office_id,
            office_code: a.office_code.clone(),
            service_id: a.service_id,
            service_code: a.service_code.clone(),
            service_name: a.service_name(),
            start: a.local(a.slot_start),
            end: a.local(a.slot_end),
            timezone: a.timezone.name(),
            applicant: ApplicantView {
                full_name: a.applicant_name.clone(),
                relation: a.applicant_relation,
                passport_number: a.passport_number.clone(),
            },
            cancelled_by: a.cancelled_by,
            cancel_reason: a.cancel_reason.clone(),
            created_at: a.local(a.created_at),
        }
    }
}

#[derive(Serialize)]
struct ListView {
    items: Vec<AppointmentView>,
}

#[derive(Deserialize, Serialize)]
struct ApplicantIn {
    full_name: Option<String>,
    relation: Option<String>,
    passport_number: Option<String>,
}

#[derive(Deserialize, Serialize)]
struct BookingIn {
    office_id: Uuid,
    service_id: Uuid,
    start: DateTime<FixedOffset>,
    applicant: Option<ApplicantIn>,
}

impl BookingIn {
    fn into_domain(
        self,
        citizen_id: Uuid,
        idempotency: Option<Idempotency>,
        now: DateTime<Utc>,
    ) -> Result<NewBooking, Invalid> {
        let applicant = BookingFor::parse(self.applicant.as_ref().map(|a| ApplicantFields {
            full_name: a.full_name.as_deref(),
            relation: a.relation.as_deref(),
            passport_number: a.passport_number.as_deref(),
        }))?;
        Ok(NewBooking {
            citizen_id,
            office_id: self.office_id,
            service_id: self.service_id,
            start: self.start.with_timezone(&Utc),
            applicant,
            idempotency,
            now,
        })
    }
}

/// The `Idempotency-Key`, bound to the request as parsed, so formatting differences in the JSON
/// do not matter but any change of meaning does.
fn idempotency(req: &HttpRequest, body: &BookingIn) -> Result<Option<Idempotency>, ApiError> {
    let Some(raw) = req.headers().get("Idempotency-Key") else {
        return Ok(None);
    };
    // A header that is not visible ASCII is refused like an empty one.
    let key = IdempotencyKey::parse(raw.to_str().unwrap_or_default())?;
    let canonical = serde_json::to_vec(body).map_err(ApiError::internal)?;
    Ok(Some(Idempotency {
        key,
        request_hash: hex::encode(Sha256::digest(canonical)),
    }))
}

async fn book(
    citizen: Citizen,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<BookingIn>,
) -> Result<HttpResponse, ApiError> {
    state
        .limit(LimitName::Booking, &citizen.id().to_string())
        .await?;
    let idempotency = idempotency(&req, &body)?;
    let booking = body
        .into_inner()
        .into_domain(citizen.id(), idempotency, state.now())?;
    Ok(match store::book(&state.pool, booking).await? {
        Booked::Created(a) => {
            metrics::counter!("mawid_bookings_total").increment(1);
            HttpResponse::Created().json(AppointmentView::from(&*a))
        }
        Booked::Replayed(a) => HttpResponse::Created()
            .insert_header(("Idempotent-Replayed", "true"))
            .json(AppointmentView::from(&*a)),
    })
}

async fn list(citizen: Citizen, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let rows = store::list_own(&state.pool, citizen.id()).await?;
    let items = rows.iter().map(AppointmentView::from).collect();
    Ok(HttpResponse::Ok().json(ListView { items }))
}

async fn detail(
    citizen: Citizen,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let a = store::own(&state.pool, citizen.id(), *id).await?;
    Ok(HttpResponse::Ok().json(AppointmentView::from(&a)))
}

#[derive(Deserialize, Default)]
struct CancelIn {
    reason: Option<String>,
}

async fn cancel(
    citizen: Citizen,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: OptionalJson<CancelIn>,
) -> Result<HttpResponse, ApiError> {
    state
        .limit(LimitName::Booking, &citizen.id().to_string())
        .await?;
    let reason = body.into_inner().and_then(|b| b.reason);
    let c = Cancellation::by_citizen(citizen.id(), reason.as_deref())?;
    let a = store::cancel(&state.pool, *id, &c, state.now()).await?;
    metrics::counter!("mawid_cancellations_total", "by" => c.by().code()).increment(1);
    Ok(HttpResponse::Ok().json(AppointmentView::from(&a)))
}

#[derive(Deserialize)]
struct RescheduleIn {
    start: DateTime<FixedOffset>,
}

async fn reschedule(
    citizen: Citizen,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: Json<RescheduleIn>,
) -> Result<HttpResponse, ApiError> {
    state
        .limit(LimitName::Booking, &citizen.id().to_string())
        .await?;
    let start = body.start.with_timezone(&Utc);
    let a = store::reschedule(&state.pool, *id, citizen.id(), start, state.now()).await?;
    Ok(HttpResponse::Ok().json(AppointmentView::from(&a)))
}
