//! Citizens' appointments: book, list, read, cancel and reschedule their own.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use mawid_domain::appointment::{
    ApplicantFields, BookingFor, Cancellation, CancelledBy, Idempotency, IdempotencyKey,
    NoShowPolicy, Relation, Status,
};
use mawid_domain::catalogue::Localized;
use mawid_domain::dates::Instant;
use mawid_domain::limit::LimitName;
use mawid_domain::Invalid;
use mawid_persistence::appointments::{self as store, AppointmentRow, Booked, NewBooking};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::auth::Citizen;
use crate::availability::PlacesChanged;
use crate::error::ApiError;
use crate::json::{Json, OptionalJson};
use crate::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/appointments").post(book).get(list))
        .service(web::resource("/appointments/{id}").get(detail))
        .service(web::resource("/appointments/{id}/cancel").post(cancel))
        .service(web::resource("/appointments/{id}/reschedule").post(reschedule))
        .service(web::resource("/appointments/{id}/confirm").post(confirm));
}

#[derive(Serialize)]
pub struct AppointmentView {
    id: Uuid,
    reference: String,
    status: Status,
    sequence: u32,
    reschedules: i32,
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
    /// The re-confirmation window (nulls when the service has no such rule).
    confirm_from: Option<String>,
    confirm_until: Option<String>,
    confirmed_at: Option<String>,
}

#[derive(Serialize)]
struct ApplicantView {
    full_name: String,
    relation: Relation,
    passport_number: Option<String>,
    national_number: Option<String>,
}

impl From<&AppointmentRow> for AppointmentView {
    fn from(a: &AppointmentRow) -> Self {
        Self {
            id: a.id,
            reference: a.reference.clone(),
            status: a.status,
            sequence: a.sequence,
            reschedules: a.reschedules,
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
                national_number: a.national_number.clone(),
            },
            cancelled_by: a.cancelled_by,
            cancel_reason: a.cancel_reason.clone(),
            created_at: a.local(a.created_at),
            confirm_from: a.confirmation.map(|(from, _)| a.local(from)),
            confirm_until: a.confirmation.map(|(_, until)| a.local(until)),
            confirmed_at: a.confirmed_at.map(|t| a.local(t)),
        }
    }
}

#[derive(Serialize)]
struct ListView {
    items: Vec<AppointmentView>,
}

#[derive(Deserialize, Serialize)]
pub(crate) struct ApplicantIn {
    full_name: Option<String>,
    relation: Option<String>,
    passport_number: Option<String>,
    national_number: Option<String>,
}

impl ApplicantIn {
    pub(crate) fn fields(&self) -> ApplicantFields<'_> {
        ApplicantFields {
            full_name: self.full_name.as_deref(),
            relation: self.relation.as_deref(),
            passport_number: self.passport_number.as_deref(),
            national_number: self.national_number.as_deref(),
        }
    }
}

#[derive(Deserialize, Serialize)]
struct BookingIn {
    office_id: Uuid,
    service_id: Uuid,
    start: Instant,
    applicant: Option<ApplicantIn>,
}

impl BookingIn {
    fn into_domain(
        self,
        citizen_id: Uuid,
        idempotency: Option<Idempotency>,
        no_shows: NoShowPolicy,
        now: DateTime<Utc>,
    ) -> Result<NewBooking, Invalid> {
        let applicant = BookingFor::parse(self.applicant.as_ref().map(ApplicantIn::fields))?;
        Ok(NewBooking {
            citizen_id,
            office_id: self.office_id,
            service_id: self.service_id,
            start: self.start.utc(),
            applicant,
            idempotency,
            no_shows,
            now,
        })
    }
}

/// What a booking, move or cancellation of `a` changed in the public availability.
pub(crate) fn places_of(a: &AppointmentRow) -> PlacesChanged {
    PlacesChanged {
        office: a.office_id,
        service: a.service_id,
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
    let booking =
        body.into_inner()
            .into_domain(citizen.id(), idempotency, state.no_shows, state.now())?;
    Ok(match store::book(&state.pool, booking).await? {
        Booked::Created(a) => {
            metrics::counter!("mawid_bookings_total").increment(1);
            places_of(&a).on(HttpResponse::Created().json(AppointmentView::from(&*a)))
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
    Ok(places_of(&a).on(HttpResponse::Ok().json(AppointmentView::from(&a))))
}

#[derive(Deserialize)]
struct RescheduleIn {
    start: Instant,
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
    let start = body.start.utc();
    let a = store::reschedule(&state.pool, *id, citizen.id(), start, state.now()).await?;
    Ok(places_of(&a).on(HttpResponse::Ok().json(AppointmentView::from(&a))))
}

/// Confirms attendance, for a service that asks for it, inside its window.
async fn confirm(
    citizen: Citizen,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let a = store::confirm(&state.pool, citizen.id(), *id, state.now()).await?;
    Ok(HttpResponse::Ok().json(AppointmentView::from(&a)))
}
