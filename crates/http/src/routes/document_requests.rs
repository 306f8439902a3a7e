//! Document requests: the citizen's own cases and the staff work queue.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use mawid_domain::document::{Actor, Applicant, DocumentStatus};
use mawid_domain::Invalid;
use mawid_persistence::document_requests::{
    self as store, DocumentRequestRow, EventRow, NewDocumentRequest, Page, QueueFilter, Transition,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::auth::{Citizen, Staff};
use crate::error::ApiError;
use crate::json::Json;
use crate::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/document-requests")
            .post(create)
            .get(list_own),
    )
    .service(web::resource("/document-requests/{id}").get(get_own))
    .service(web::resource("/document-requests/{id}/cancel").post(cancel))
    .service(web::resource("/admin/document-requests").get(queue))
    .service(web::resource("/admin/document-requests/{id}").get(staff_detail))
    .service(web::resource("/admin/document-requests/{id}/transition").post(transition));
}

const MAX_PER_PAGE: i64 = 100;
const DEFAULT_PER_PAGE: i64 = 20;
const MAX_NOTE_CHARS: usize = 2000;

#[derive(Deserialize)]
struct PageQuery {
    page: Option<i64>,
    per_page: Option<i64>,
}

impl PageQuery {
    fn parse(&self) -> Result<Page, Invalid> {
        let mut v = Invalid::collect();
        let page = v.check(match self.page.unwrap_or(1) {
            p if p >= 1 => Ok(p),
            _ => Err(Invalid::new("page", "1 or more")),
        });
        let per_page = v.check(match self.per_page.unwrap_or(DEFAULT_PER_PAGE) {
            n if (1..=MAX_PER_PAGE).contains(&n) => Ok(n),
            _ => Err(Invalid::new("per_page", format!("1 to {MAX_PER_PAGE}"))),
        });
        v.finish()?;
        Ok(Page {
            page: page.unwrap_or(1),
            per_page: per_page.unwrap_or(DEFAULT_PER_PAGE),
        })
    }
}

#[derive(Serialize)]
struct Names {
    ar: String,
    ru: String,
    en: String,
}

#[derive(Serialize)]
struct CatalogueRef {
    id: Uuid,
    code: String,
    name: Names,
}

#[derive(Serialize)]
struct ApplicantView {
    full_name: String,
    date_of_birth: Option<NaiveDate>,
    passport_number: Option<String>,
}

/// What a citizen and staff both see of a request.
#[derive(Serialize)]
struct RequestView {
    id: Uuid,
    tracking_number: String,
    status: String,
    status_changed_at: String,
    created_at: String,
    office: CatalogueRef,
    service: CatalogueRef,
    appointment_id: Option<Uuid>,
    applicant: ApplicantView,
}

impl From<&DocumentRequestRow> for RequestView {
    fn from(r: &DocumentRequestRow) -> Self {
        Self {
            id: r.id,
            tracking_number: r.tracking_number.clone(),
            status: r.status.clone(),
            status_changed_at: r.local(r.status_changed_at),
            created_at: r.local(r.created_at),
            office: CatalogueRef {
                id: r.office_id,
                code: r.office_code.clone(),
                name: Names {
                    ar: r.office_name_ar.clone(),
                    ru: r.office_name_ru.clone(),
                    en: r.office_name_en.clone(),
                },
            },
            service: CatalogueRef {
                id: r.service_id,
                code: r.service_code.clone(),
                name: Names {
                    ar: r.service_name_ar.clone(),
                    ru: r.service_name_ru.clone(),
                    en: r.service_name_en.clone(),
                },
            },
            appointment_id: r.appointment_id,
            applicant: ApplicantView {
                full_name: r.applicant_full_name.clone(),
                date_of_birth: r.applicant_date_of_birth,
                passport_number: r.applicant_passport.clone(),
            },
        }
    }
}

#[derive(Serialize)]
struct CitizenRequestView {
    #[serde(flatten)]
    request: RequestView,
    can_cancel: bool,
}

impl From<&DocumentRequestRow> for CitizenRequestView {
    fn from(r: &DocumentRequestRow) -> Self {
        Self {
            request: r.into(),
            can_cancel: !r.status().allowed_targets(Actor::Citizen).is_empty(),
        }
    }
}

/// A history entry as the citizen sees it: no internal note, no staff identity.
#[derive(Serialize)]
struct PublicEventView {
    from: Option<String>,
    to: String,
    at: String,
    by: String,
    public_note: Option<String>,
}

#[derive(Serialize)]
struct StaffEventView {
    from: Option<String>,
    to: String,
    at: String,
    by: String,
    actor_id: Option<Uuid>,
    public_note: Option<String>,
    internal_note: Option<String>,
}

#[derive(Serialize)]
struct StaffRequestView {
    #[serde(flatten)]
    request: RequestView,
    citizen_id: Uuid,
    days_in_status: i64,
    overdue: bool,
    allowed_transitions: Vec<&'static str>,
}

impl StaffRequestView {
    fn new(r: &DocumentRequestRow, now: DateTime<Utc>) -> Self {
        Self {
            request: r.into(),
            citizen_id: r.citizen_id,
            days_in_status: r.days_in_status(now),
            overdue: r.is_overdue(now),
            allowed_transitions: r
                .status()
                .allowed_targets(Actor::Staff)
                .iter()
                .map(|s| s.code())
                .collect(),
        }
    }
}

#[derive(Serialize)]
struct Paginated<T> {
    items: Vec<T>,
    page: i64,
    per_page: i64,
    total: i64,
}

#[derive(Deserialize)]
struct NewRequestBody {
    office_id: Uuid,
    service_id: Uuid,
    appointment_id: Option<Uuid>,
    applicant: ApplicantBody,
}

#[derive(Deserialize)]
struct ApplicantBody {
    full_name: String,
    date_of_birth: String,
    passport_number: Option<String>,
}

async fn create(
    citizen: Citizen,
    state: web::Data<AppState>,
    body: Json<NewRequestBody>,
) -> Result<HttpResponse, ApiError> {
    let now = state.now();
    // The latest calendar date anywhere on Earth, so a child born today in any office's zone is
    // accepted; the office is not known to be valid yet.
    let today = (now + Duration::hours(14)).date_naive();
    let a = &body.applicant;
    let applicant = Applicant::parse(
        &a.full_name,
        &a.date_of_birth,
        a.passport_number.as_deref(),
        today,
    )?;
    let row = store::create(
        &state.pool,
        NewDocumentRequest {
            citizen_id: citizen.id(),
            office_id: body.office_id,
            service_id: body.service_id,
            appointment_id: body.appointment_id,
            applicant: &applicant,
            now,
        },
    )
    .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/document-requests/{}", row.id)))
        .json(citizen_detail(&row, Vec::new())))
}

fn citizen_detail(row: &DocumentRequestRow, history: Vec<EventRow>) -> serde_json::Value {
    let history: Vec<PublicEventView> = history
        .into_iter()
        .map(|e| PublicEventView {
            from: e.from_status,
            to: e.to_status,
            at: row.local(e.at),
            by: e.actor_role,
            public_note: e.public_note,
        })
        .collect();
    let mut v = serde_json::to_value(CitizenRequestView::from(row)).unwrap_or_default();
    v["history"] = json!(history);
    v
}

async fn list_own(
    citizen: Citizen,
    state: web::Data<AppState>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = q.parse()?;
    let (rows, total) = store::list_own(&state.pool, citizen.id(), &page).await?;
    Ok(HttpResponse::Ok().json(Paginated {
        items: rows.iter().map(CitizenRequestView::from).collect(),
        page: page.page,
        per_page: page.per_page,
        total,
    }))
}

async fn get_own(
    citizen: Citizen,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = store::own_by_id(&state.pool, *id, citizen.id())
        .await?
        .ok_or(ApiError::not_found())?;
    let history = store::history(&state.pool, row.id, false).await?;
    Ok(HttpResponse::Ok().json(citizen_detail(&row, history)))
}

async fn cancel(
    citizen: Citizen,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = store::transition(
        &state.pool,
        Transition {
            request_id: *id,
            to: DocumentStatus::Cancelled,
            actor: Actor::Citizen,
            actor_id: citizen.id(),
            public_note: None,
            internal_note: None,
            now: state.now(),
        },
    )
    .await?;
    let history = store::history(&state.pool, row.id, false).await?;
    Ok(HttpResponse::Ok().json(citizen_detail(&row, history)))
}

#[derive(Deserialize)]
struct QueueQuery {
    status: Option<String>,
    office_id: Option<Uuid>,
    service_id: Option<Uuid>,
    overdue: Option<bool>,
    page: Option<i64>,
    per_page: Option<i64>,
}

async fn queue(
    _staff: Staff,
    state: web::Data<AppState>,
    q: web::Query<QueueQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut v = Invalid::collect();
    let status = q
        .status
        .as_deref()
        .and_then(|s| v.check(DocumentStatus::parse("status", s)));
    let page = v.check(
        PageQuery {
            page: q.page,
            per_page: q.per_page,
        }
        .parse(),
    );
    v.finish()?;
    let Some(page) = page else {
        unreachable!("finish() returned Ok, so every field parsed");
    };
    let now = state.now();
    let filter = QueueFilter {
        status,
        office_id: q.office_id,
        service_id: q.service_id,
        overdue_only: q.overdue.unwrap_or(false),
        now,
    };
    let (rows, total) = store::queue(&state.pool, &filter, &page).await?;
    Ok(HttpResponse::Ok().json(Paginated {
        items: rows.iter().map(|r| StaffRequestView::new(r, now)).collect(),
        page: page.page,
        per_page: page.per_page,
        total,
    }))
}

async fn staff_view_with_history(
    state: &AppState,
    row: &DocumentRequestRow,
) -> Result<serde_json::Value, ApiError> {
    let history: Vec<StaffEventView> = store::history(&state.pool, row.id, true)
        .await?
        .into_iter()
        .map(|e| StaffEventView {
            from: e.from_status,
            to: e.to_status,
            at: row.local(e.at),
            by: e.actor_role,
            actor_id: e.actor_id,
            public_note: e.public_note,
            internal_note: e.internal_note,
        })
        .collect();
    let mut v = serde_json::to_value(StaffRequestView::new(row, state.now()))
        .map_err(ApiError::internal)?;
    v["history"] = json!(history);
    Ok(v)
}

async fn staff_detail(
    _staff: Staff,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = store::by_id(&state.pool, *id)
        .await?
        .ok_or(ApiError::not_found())?;
    Ok(HttpResponse::Ok().json(staff_view_with_history(&state, &row).await?))
}

#[derive(Deserialize)]
struct TransitionBody {
    to: String,
    public_note: Option<String>,
    internal_note: Option<String>,
}

/// A note as written, trimmed; blank is no note.
fn note(field: &str, raw: Option<&str>) -> Result<Option<String>, Invalid> {
    match raw.map(str::trim).filter(|n| !n.is_empty()) {
        None => Ok(None),
        Some(n) if n.chars().count() <= MAX_NOTE_CHARS => Ok(Some(n.to_owned())),
        Some(_) => Err(Invalid::new(
            field,
            format!("at most {MAX_NOTE_CHARS} characters"),
        )),
    }
}

async fn transition(
    staff: Staff,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: Json<TransitionBody>,
) -> Result<HttpResponse, ApiError> {
    let mut v = Invalid::collect();
    let to = v.check(DocumentStatus::parse("to", &body.to));
    let public_note = v.check(note("public_note", body.public_note.as_deref()));
    let internal_note = v.check(note("internal_note", body.internal_note.as_deref()));
    v.finish()?;
    let (Some(to), Some(public_note), Some(internal_note)) = (to, public_note, internal_note)
    else {
        unreachable!("finish() returned Ok, so every field parsed");
    };
    let row = store::transition(
        &state.pool,
        Transition {
            request_id: *id,
            to,
            actor: Actor::Staff,
            actor_id: staff.id(),
            public_note: public_note.as_deref(),
            internal_note: internal_note.as_deref(),
            now: state.now(),
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(staff_view_with_history(&state, &row).await?))
}
