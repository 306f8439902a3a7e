//! Citizens' waitlist entries: join, list, leave. The assignment runs in the background.

use actix_web::{web, HttpResponse};
use chrono::NaiveDate;
use mawid_domain::appointment::{BookingFor, Relation};
use mawid_domain::dates::Day;
use mawid_domain::limit::LimitName;
use mawid_domain::schedule::DateRange;
use mawid_domain::waitlist::Status;
use mawid_persistence::appointments::local_rfc3339;
use mawid_persistence::waitlist::{self as store, EntryRow, NewEntry};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Citizen;
use crate::error::ApiError;
use crate::json::Json;
use crate::routes::appointments::ApplicantIn;
use crate::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/waitlist").post(join).get(list))
        .service(web::resource("/waitlist/{id}").delete(leave));
}

#[derive(Serialize)]
pub(crate) struct EntryView {
    id: Uuid,
    office_id: Uuid,
    service_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
    applicant: ApplicantView,
    status: Status,
    appointment_id: Option<Uuid>,
    /// The booking an "earlier slot" entry would move.
    current_appointment_id: Option<Uuid>,
    created_at: String,
}

#[derive(Serialize)]
struct ApplicantView {
    full_name: Option<String>,
    relation: Relation,
    passport_number: Option<String>,
    national_number: Option<String>,
}

impl From<&EntryRow> for EntryView {
    fn from(e: &EntryRow) -> Self {
        Self {
            id: e.id,
            office_id: e.office_id,
            service_id: e.service_id,
            from: e.from,
            to: e.to,
            applicant: ApplicantView {
                full_name: e.applicant_name.clone(),
                relation: e.applicant_relation,
                passport_number: e.passport_number.clone(),
                national_number: e.national_number.clone(),
            },
            status: e.status,
            appointment_id: e.appointment_id,
            current_appointment_id: e.current_appointment_id,
            created_at: local_rfc3339(e.timezone, e.created_at),
        }
    }
}

#[derive(Deserialize)]
struct JoinIn {
    office_id: Uuid,
    service_id: Uuid,
    from: Day,
    to: Day,
    applicant: Option<ApplicantIn>,
}

async fn join(
    citizen: Citizen,
    state: web::Data<AppState>,
    body: Json<JoinIn>,
) -> Result<HttpResponse, ApiError> {
    state
        .limit(LimitName::Waitlist, &citizen.id().to_string())
        .await?;
    let b = body.into_inner();
    let range = DateRange::parse(b.from.date(), b.to.date())?;
    let applicant = BookingFor::parse(b.applicant.as_ref().map(ApplicantIn::fields))?;
    let entry = store::join(
        &state.pool,
        NewEntry {
            citizen_id: citizen.id(),
            office_id: b.office_id,
            service_id: b.service_id,
            range,
            applicant,
            no_shows: state.no_shows,
            now: state.now(),
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(EntryView::from(&entry)))
}

async fn list(citizen: Citizen, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let rows = store::list_own(&state.pool, citizen.id()).await?;
    let items: Vec<EntryView> = rows.iter().map(EntryView::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

async fn leave(
    citizen: Citizen,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    store::leave(&state.pool, citizen.id(), *id, state.now()).await?;
    Ok(HttpResponse::NoContent().finish())
}
