//! Citizens' appointments: book, list, read, cancel and reschedule their own.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, FixedOffset, Utc};
use mawid_domain::account::FullName;
use mawid_domain::appointment::{Applicant, PassportNo, Relation};
use mawid_domain::text::Reason;
use mawid_domain::Invalid;
use mawid_persistence::appointments::{
    self as store, AppointmentRow, Booked, CancelledBy, NewBooking,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::auth::Citizen;
use crate::error::ApiError;
use crate::json::Json;
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
    status: String,
    sequence: i32,
    office_id: Uuid,
    office_code: String,
    service_id: Uuid,
    service_code: String,
    service_name: mawid_domain::catalogue::Localized,
    start: String,
    end: String,
    timezone: String,
    applicant: ApplicantView,
    cancelled_by: Option<String>,
    cancel_reason: Option<String>,
    /// With the office's offset, like every instant in the API.
    created_at: String,
}

#[derive(Serialize)]
struct ApplicantView {
    full_name: String,
    relation: String,
    passport_number: Option<String>,
}

impl From<&AppointmentRow> for AppointmentView {
    fn from(a: &AppointmentRow) -> Self {
        Self {
            id: a.id,
            reference: a.reference.clone(),
            status: a.status.clone(),
            sequence: a.sequence,
            office_id: a.office_id,
            office_code: a.office_code.clone(),
            service_id: a.service_id,
            service_code: a.service_code.clone(),
            service_name: mawid_domain::catalogue::Localized {
                ar: a.service_name_ar.clone(),
                ru: a.service_name_ru.clone(),
                en: a.service_name_en.clone(),
            },
            start: a.local(a.slot_start),
            end: a.local(a.slot_end),
            timezone: a.timezone.clone(),
            applicant: ApplicantView {
                full_name: a.applicant_name.clone(),
                relation: a.applicant_relation.clone(),
                passport_number: a.passport_number.clone(),
            },
            cancelled_by: a.cancelled_by.clone(),
            cancel_reason: a.cancel_reason.clone(),
            created_at: a.local(a.created_at),
        }
    }
}

pub fn view(a: &AppointmentRow) -> Value {
    serde_json::to_value(AppointmentView::from(a)).unwrap_or(Value::Null)
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

/// `applicant` absent or with relation `self` books for the citizen, optionally with their
/// passport number; a family member needs a name and a relation.
fn parse_applicant(
    raw: Option<&ApplicantIn>,
) -> Result<(Option<Applicant>, Option<PassportNo>), Invalid> {
    let Some(a) = raw else {
        return Ok((None, None));
    };
    let mut v = Invalid::collect();
    let passport = v.check(
        a.passport_number
            .as_deref()
            .map(PassportNo::parse)
            .transpose(),
    );
    let relation = v.check(Relation::parse(a.relation.as_deref().unwrap_or("self")));
    if relation == Some(Relation::Myself) && a.full_name.is_none() {
        v.finish()?;
        return Ok((None, passport.flatten()));
    }
    let name = v.check(FullName::parse(
        "applicant.full_name",
        a.full_name.as_deref().unwrap_or(""),
    ));
    v.finish()?;
    match (name, relation, passport) {
        (Some(full_name), Some(relation), Some(passport)) => Ok((
            Some(Applicant {
                full_name,
                relation,
                passport,
            }),
            None,
        )),
        _ => unreachable!("finish() returned Ok, so every field parsed"),
    }
}

const IDEMPOTENCY_KEY_MAX: usize = 255;

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(raw) = req.headers().get("Idempotency-Key") else {
        return Ok(None);
    };
    let key = raw.to_str().map(str::trim).unwrap_or("");
    if key.is_empty()
        || key.len() > IDEMPOTENCY_KEY_MAX
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(Invalid::new(
            "Idempotency-Key",
            format!("1 to {IDEMPOTENCY_KEY_MAX} visible ASCII characters"),
        )
        .into());
    }
    Ok(Some(key.to_owned()))
}

async fn book(
    citizen: Citizen,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<BookingIn>,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let (applicant, self_passport) = parse_applicant(body.applicant.as_ref())?;
    // The key is bound to the request as parsed, so formatting differences in the JSON do not
    // matter but any change of meaning does.
    let hash = hex::encode(Sha256::digest(
        serde_json::to_vec(&*body).map_err(ApiError::internal)?,
    ));
    let booked = store::book(
        &state.pool,
        NewBooking {
            citizen_id: citizen.id(),
            office_id: body.office_id,
            service_id: body.service_id,
            start: body.start.with_timezone(&Utc),
            applicant,
            self_passport,
            idempotency: key.map(|k| (k, hash)),
            now: state.now(),
        },
    )
    .await?;
    Ok(match booked {
        Booked::Created(a) => {
            metrics::counter!("mawid_bookings_total").increment(1);
            HttpResponse::Created().json(view(&a))
        }
        Booked::Replayed(a) => HttpResponse::Created()
            .insert_header(("Idempotent-Replayed", "true"))
            .json(view(&a)),
    })
}

async fn list(citizen: Citizen, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let items: Vec<Value> = store::list_own(&state.pool, citizen.id())
        .await?
        .iter()
        .map(view)
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

async fn detail(
    citizen: Citizen,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let a = store::own(&state.pool, citizen.id(), *id).await?;
    Ok(HttpResponse::Ok().json(view(&a)))
}

#[derive(Deserialize, Default)]
struct CancelIn {
    reason: Option<String>,
}

async fn cancel(
    citizen: Citizen,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: Option<Json<CancelIn>>,
) -> Result<HttpResponse, ApiError> {
    let reason = match body.and_then(|b| b.into_inner().reason) {
        Some(r) if !r.trim().is_empty() => Some(Reason::parse("reason", &r)?.into_string()),
        _ => None,
    };
    let a = store::cancel(
        &state.pool,
        *id,
        Some(citizen.id()),
        CancelledBy::Citizen,
        reason.as_deref(),
        state.now(),
    )
    .await?;
    metrics::counter!("mawid_cancellations_total", "by" => "citizen").increment(1);
    Ok(HttpResponse::Ok().json(view(&a)))
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
    let a = store::reschedule(
        &state.pool,
        *id,
        citizen.id(),
        body.start.with_timezone(&Utc),
        state.now(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(view(&a)))
}
