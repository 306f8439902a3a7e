//! Staff: the day's agenda of an office, the appointment lifecycle and the audit log.

use actix_web::http::header::{self, Accept};
use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use mawid_domain::appointment::{Cancellation, CheckIn, ContactFields, StaffBookingFor, StaffStep};
use mawid_domain::dates::{Day, Instant};
use mawid_domain::page::Page;
use mawid_domain::text::Reason;
use mawid_domain::Invalid;
use mawid_persistence::appointments::{
    self as store, Agenda, AgendaEntry, AgendaForm, StaffBooking,
};
use mawid_persistence::audit::{self, AuditRow};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::{Admin, Staff};
use crate::error::ApiError;
use crate::json::{Json, OptionalJson};
use crate::routes::appointments::{places_of, AppointmentView};
use crate::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/offices/{id}/agenda").get(agenda))
        .service(web::resource("/admin/appointments").post(staff_book))
        .service(web::resource("/admin/appointments/{id}").get(staff_view))
        .service(web::resource("/admin/appointments/{id}/check-in").post(check_in))
        .service(web::resource("/admin/appointments/{id}/complete").post(complete))
        .service(web::resource("/admin/appointments/{id}/no-show").post(no_show))
        .service(web::resource("/admin/appointments/{id}/cancel").post(staff_cancel))
        .service(web::resource("/admin/audit-log").get(audit_log));
}

#[derive(Deserialize)]
struct AgendaQuery {
    date: Day,
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
    /// `None` for a walk-in without an account.
    citizen_id: Option<Uuid>,
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
    staff: Staff,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    q: web::Query<AgendaQuery>,
    accept: Option<web::Header<Accept>>,
) -> Result<HttpResponse, ApiError> {
    let csv = accept.is_some_and(|a| wants_csv(&a));
    let form = if csv {
        AgendaForm::Csv
    } else {
        AgendaForm::Screen
    };
    let day = store::agenda(&state.pool, *id, q.date.date(), staff.reader(), form).await?;
    if csv {
        let filename = format!("agenda-{}.csv", day.date);
        return Ok(HttpResponse::Ok()
            .content_type(CSV)
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ))
            .body(agenda_csv(&day)?));
    }
    Ok(HttpResponse::Ok().json(AgendaView::from(&day)))
}

#[derive(Serialize)]
struct StaffAppointmentView {
    #[serde(flatten)]
    appointment: AppointmentView,
    /// `None` for a walk-in without an account.
    citizen_id: Option<Uuid>,
}

async fn staff_view(
    staff: Staff,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let a = store::staff_view(&state.pool, *id, staff.reader()).await?;
    Ok(HttpResponse::Ok().json(StaffAppointmentView {
        appointment: AppointmentView::from(&a),
        citizen_id: a.citizen_id,
    }))
}

const CSV: &str = "text/csv; charset=utf-8";

/// CSV only when the client ranks it above JSON: a browser's `*/*` still gets JSON.
fn wants_csv(accept: &Accept) -> bool {
    accept
        .ranked()
        .into_iter()
        .find(|m| {
            (m.type_() == "text" && m.subtype() == "csv")
                || (m.type_() == "application" && m.subtype() == "json")
        })
        .is_some_and(|m| m.subtype() == "csv")
}

/// The day for printing at the counter: UTF-8 with a byte-order mark, so spreadsheet programs
/// read Arabic and Cyrillic names right; times are the office's local wall clock.
fn agenda_csv(day: &Agenda) -> Result<Vec<u8>, ApiError> {
    let mut out = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    out.write_record([
        "time",
        "reference",
        "service",
        "applicant",
        "identity_number",
        "phone",
        "status",
    ])
    .map_err(ApiError::internal)?;
    for e in &day.items {
        let a = &e.appointment;
        let time = a
            .slot_start
            .with_timezone(&day.timezone)
            .format("%H:%M")
            .to_string();
        out.write_record([
            time.as_str(),
            &a.reference,
            &a.service_code,
            &a.applicant_name,
            a.passport_number
                .as_deref()
                .or(a.national_number.as_deref())
                .unwrap_or(""),
            e.phone.as_deref().unwrap_or(""),
            a.status.code(),
        ])
        .map_err(ApiError::internal)?;
    }
    out.into_inner().map_err(ApiError::internal)
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
    applicant_date_of_birth: Option<Day>,
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
    let desk = CheckIn::new(
        dob.applicant_date_of_birth.map(Day::date),
        state.now().date_naive(),
    )?;
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
    from: Option<Instant>,
    to: Option<Instant>,
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
            from: self.from.map(Instant::utc),
            to: self.to.map(Instant::utc),
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

#[derive(Deserialize)]
struct StaffBookingIn {
    office_id: Uuid,
    service_id: Uuid,
    start: Instant,
    reason: String,
    citizen_id: Option<Uuid>,
    applicant: Option<StaffApplicantIn>,
}

/// A citizen booking's applicant, and for a walk-in without an account their contact.
#[derive(Deserialize)]
struct StaffApplicantIn {
    #[serde(flatten)]
    applicant: crate::routes::appointments::ApplicantIn,
    phone: Option<String>,
    email: Option<String>,
    preferred_language: Option<String>,
}

impl StaffApplicantIn {
    fn contact(&self) -> ContactFields<'_> {
        ContactFields {
            phone: self.phone.as_deref(),
            email: self.email.as_deref(),
            preferred_language: self.preferred_language.as_deref(),
        }
    }
}

/// Staff book for a citizen (an urgent case or a phone call) or for a walk-in without an
/// account; reserved desks may be used.
async fn staff_book(
    staff: Staff,
    state: web::Data<AppState>,
    body: Json<StaffBookingIn>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let reason = Reason::parse("reason", &b.reason)?;
    let applicant = StaffBookingFor::parse(
        b.citizen_id,
        b.applicant.as_ref().map(|a| a.applicant.fields()),
        b.applicant
            .as_ref()
            .map(StaffApplicantIn::contact)
            .unwrap_or_default(),
    )?;
    let a = store::book_by_staff(
        &state.pool,
        StaffBooking {
            actor_id: staff.id(),
            office_id: b.office_id,
            service_id: b.service_id,
            start: b.start.utc(),
            applicant,
            reason,
            now: state.now(),
        },
    )
    .await?;
    metrics::counter!("mawid_bookings_total").increment(1);
    Ok(places_of(&a).on(HttpResponse::Created().json(AppointmentView::from(&a))))
}
