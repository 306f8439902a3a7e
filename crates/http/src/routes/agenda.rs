//! Staff: the day's agenda of an office, the appointment lifecycle and the audit log.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use mawid_domain::appointment::{Cancellation, CheckIn, StaffStep};
use mawid_domain::page::Page;
use mawid_domain::Invalid;
use mawid_persistence::appointments::{self as store, Agenda, AgendaEntry};
use mawid_persistence::audit::{self, AuditRow};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::{Admin, Staff};
use crate::error::ApiError;
use crate::json::{Json, OptionalJson};
use crate::routes::appointments::AppointmentView;
use crate::AppState;

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

#[derive(Serialize)]
struct AgendaView {
    office_id: Uuid,
    date: NaiveDate,
    timezone: &'static str,
    items: Vec<AgendaItemView>,
}

#[derive(Serialize)]
struct AgendaItemView {
    #[serde(flatten)]
    appointment: AppointmentView,
    citizen_id: Uuid,
    on_schedule: bool,
}

impl From<&Agenda> for AgendaView {
    fn from(a: &Agenda) -> Self {
        Self {
            office_id: a.office_id,
            date: a.date,
            timezone: a.timezone.name(),
            items: a.items.iter().map(AgendaItemView::from).collect(),
        }
    }
}

impl From<&AgendaEntry> for AgendaItemView {
    fn from(e: &AgendaEntry) -> Self {
        Self {
            appointment: AppointmentView::from(&e.appointment),
            citizen_id: e.appointment.citizen_id,
            on_schedule: e.on_schedule,
        }
    }
}

async fn agenda(
    _staff: Staff,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    q: web::Query<AgendaQuery>,
) -> Result<HttpResponse, ApiError> {
    let day = store::agenda(&state.pool, *id, q.date).await?;
    Ok(HttpResponse::Ok().json(AgendaView::from(&day)))
}

async fn step(
    staff: Staff,
    state: web::Data<AppState>,
    id: Uuid,
    step: StaffStep,
) -> Result<HttpResponse, ApiError> {
    let a = store::step(&state.pool, id, step, staff.id(), state.now()).await?;
    Ok(HttpResponse::Ok().json(AppointmentView::from(&a)))
}

/// The officer may record the applicant's date of birth from the passport at the desk; the
/// document request opened for a documentary service needs it for public tracking.
#[derive(Deserialize, Default)]
struct CheckInIn {
    applicant_date_of_birth: Option<NaiveDate>,
}

#[derive(Serialize)]
struct CheckedInView {
    #[serde(flatten)]
    appointment: AppointmentView,
    document_request: Option<OpenedRequestView>,
}

#[derive(Serialize)]
struct OpenedRequestView {
    id: Uuid,
    tracking_number: String,
}

async fn check_in(
    staff: Staff,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: OptionalJson<CheckInIn>,
) -> Result<HttpResponse, ApiError> {
    let dob = body.into_inner().unwrap_or_default();
    let desk = CheckIn::new(dob.applicant_date_of_birth, state.now().date_naive())?;
    let (a, request) = store::check_in(&state.pool, *id, staff.id(), desk, state.now()).await?;
    Ok(HttpResponse::Ok().json(CheckedInView {
        appointment: AppointmentView::from(&a),
        document_request: request.map(|r| OpenedRequestView {
            id: r.id,
            tracking_number: r.tracking_number,
        }),
    }))
}

async fn complete(
    staff: Staff,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    step(staff, state, *id, StaffStep::Complete).await
}

async fn no_show(
    staff: Staff,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    step(staff, state, *id, StaffStep::NoShow).await
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
    let c = Cancellation::by_staff(staff.id(), &body.reason)?;
    let a = store::cancel(&state.pool, *id, &c, state.now()).await?;
    metrics::counter!("mawid_cancellations_total", "by" => c.by().code()).increment(1);
    Ok(HttpResponse::Ok().json(AppointmentView::from(&a)))
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

impl AuditQuery {
    fn into_domain(self) -> Result<(audit::Filter, Page), Invalid> {
        let page = mawid_domain::audit::parse_page(self.page, self.per_page)?;
        let filter = audit::Filter {
            action: self.action,
            actor_id: self.actor_id,
            target_type: self.target_type,
            from: self.from.map(|t| t.with_timezone(&Utc)),
            to: self.to.map(|t| t.with_timezone(&Utc)),
        };
        Ok((filter, page))
    }
}

#[derive(Serialize)]
struct AuditPageView {
    items: Vec<AuditEntryView>,
    page: i64,
    per_page: i64,
    total: i64,
}

#[derive(Serialize)]
struct AuditEntryView {
    id: i64,
    actor_id: Option<Uuid>,
    action: String,
    target_type: String,
    target_id: String,
    details: serde_json::Value,
    at: DateTime<Utc>,
}

impl From<AuditRow> for AuditEntryView {
    fn from(r: AuditRow) -> Self {
        Self {
            id: r.id,
            actor_id: r.actor_id,
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            details: r.details,
            at: r.at,
        }
    }
}

async fn audit_log(
    _admin: Admin,
    state: web::Data<AppState>,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let (filter, page) = q.into_inner().into_domain()?;
    let found = audit::list(&state.pool, &filter, page).await?;
    Ok(HttpResponse::Ok().json(AuditPageView {
        items: found.items.into_iter().map(AuditEntryView::from).collect(),
        page: page.page,
        per_page: page.per_page,
        total: found.total,
    }))
}
