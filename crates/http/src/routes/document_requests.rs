//! Document requests: the citizen's own cases and the staff work queue.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use mawid_domain::document::{
    latest_date_anywhere, Actor, Applicant, Author, DocumentStatus, Move, QueueFilter,
};
use mawid_domain::limit::LimitName;
use mawid_domain::page::Page;
use mawid_domain::Invalid;
use mawid_persistence::document_requests::{
    self as store, Detail, DocumentRequestRow, EventRow, NewDocumentRequest, StaffTransition,
};
use serde::{Deserialize, Serialize};
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

#[derive(Deserialize)]
struct PageQuery {
    page: Option<i64>,
    per_page: Option<i64>,
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
pub(crate) struct RequestView {
    id: Uuid,
    tracking_number: String,
    status: DocumentStatus,
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
            status: r.status,
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
            can_cancel: r.status.is_movable_by(Actor::Citizen),
        }
    }
}

/// A history entry as the citizen sees it: no internal note, no staff identity.
#[derive(Serialize)]
struct PublicEventView {
    from: Option<DocumentStatus>,
    to: DocumentStatus,
    at: String,
    by: Author,
    public_note: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct CitizenDetailView {
    #[serde(flatten)]
    request: CitizenRequestView,
    history: Vec<PublicEventView>,
}

impl CitizenDetailView {
    fn new(row: &DocumentRequestRow, history: &[EventRow]) -> Self {
        Self {
            request: row.into(),
            history: history
                .iter()
                .map(|e| PublicEventView {
                    from: e.from_status,
                    to: e.to_status,
                    at: row.local(e.at),
                    by: e.actor_role,
                    public_note: e.public_note.clone(),
                })
                .collect(),
        }
    }
}

impl From<&Detail> for CitizenDetailView {
    fn from(d: &Detail) -> Self {
        Self::new(&d.request, &d.history)
    }
}

#[derive(Serialize)]
struct StaffEventView {
    from: Option<DocumentStatus>,
    to: DocumentStatus,
    at: String,
    by: Author,
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
    allowed_transitions: &'static [DocumentStatus],
}

impl StaffRequestView {
    fn new(r: &DocumentRequestRow, now: DateTime<Utc>) -> Self {
        Self {
            request: r.into(),
            citizen_id: r.citizen_id,
            days_in_status: r.dwell().days(now),
            overdue: r.dwell().is_overdue(now),
            allowed_transitions: r.status.allowed_targets(Actor::Staff),
        }
    }
}

#[derive(Serialize)]
struct StaffDetailView {
    #[serde(flatten)]
    request: StaffRequestView,
    history: Vec<StaffEventView>,
}

impl StaffDetailView {
    fn new(d: &Detail, now: DateTime<Utc>) -> Self {
        let row = &d.request;
        Self {
            request: StaffRequestView::new(row, now),
            history: d
                .history
                .iter()
                .map(|e| StaffEventView {
                    from: e.from_status,
                    to: e.to_status,
                    at: row.local(e.at),
                    by: e.actor_role,
                    actor_id: e.actor_id,
                    public_note: e.public_note.clone(),
                    internal_note: e.internal_note.clone(),
                })
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

impl<T> Paginated<T> {
    fn new(items: Vec<T>, page: Page, total: i64) -> Self {
        Self {
            items,
            page: page.page,
            per_page: page.per_page,
            total,
        }
    }
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

impl ApplicantBody {
    fn to_domain(&self, now: DateTime<Utc>) -> Result<Applicant, Invalid> {
        Applicant::parse(
            &self.full_name,
            &self.date_of_birth,
            self.passport_number.as_deref(),
            latest_date_anywhere(now),
        )
    }
}

async fn create(
    citizen: Citizen,
    state: web::Data<AppState>,
    body: Json<NewRequestBody>,
) -> Result<HttpResponse, ApiError> {
    state
        .limit(LimitName::DocumentRequest, &citizen.id().to_string())
        .await?;
    let now = state.now();
    let applicant = body.applicant.to_domain(now)?;
    let new = NewDocumentRequest {
        citizen_id: citizen.id(),
        office_id: body.office_id,
        service_id: body.service_id,
        appointment_id: body.appointment_id,
        applicant: &applicant,
        now,
    };
    let created = store::create(&state.pool, new).await?;
    let location = format!("/api/v1/document-requests/{}", created.request.id);
    Ok(HttpResponse::Created()
        .insert_header(("Location", location))
        .json(CitizenDetailView::from(&created)))
}

async fn list_own(
    citizen: Citizen,
    state: web::Data<AppState>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = Page::parse(q.page, q.per_page)?;
    let (rows, total) = store::list_own(&state.pool, citizen.id(), &page).await?;
    let items = rows.iter().map(CitizenRequestView::from).collect();
    Ok(HttpResponse::Ok().json(Paginated::new(items, page, total)))
}

async fn get_own(
    citizen: Citizen,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let detail = store::own_detail(&state.pool, *id, citizen.id())
        .await?
        .ok_or(ApiError::not_found())?;
    Ok(HttpResponse::Ok().json(CitizenDetailView::from(&detail)))
}

async fn cancel(
    citizen: Citizen,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let detail = store::cancel(&state.pool, *id, citizen.id(), state.now()).await?;
    Ok(HttpResponse::Ok().json(CitizenDetailView::from(&detail)))
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

impl QueueQuery {
    /// The filter and the page, with every failure of both reported at once.
    fn to_domain(&self) -> Result<(QueueFilter, Page), Invalid> {
        let mut v = Invalid::collect();
        let filter = v.check(QueueFilter::parse(
            self.status.as_deref(),
            self.office_id,
            self.service_id,
            self.overdue,
        ));
        let page = v.check(Page::parse(self.page, self.per_page));
        v.finish()?;
        match (filter, page) {
            (Some(filter), Some(page)) => Ok((filter, page)),
            _ => unreachable!("finish() returned Ok, so every field parsed"),
        }
    }
}

async fn queue(
    _staff: Staff,
    state: web::Data<AppState>,
    q: web::Query<QueueQuery>,
) -> Result<HttpResponse, ApiError> {
    let (filter, page) = q.to_domain()?;
    let now = state.now();
    let (rows, total) = store::queue(&state.pool, &filter, &page, now).await?;
    let items = rows.iter().map(|r| StaffRequestView::new(r, now)).collect();
    Ok(HttpResponse::Ok().json(Paginated::new(items, page, total)))
}

async fn staff_detail(
    staff: Staff,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let detail = store::staff_detail(&state.pool, *id, staff.reader())
        .await?
        .ok_or(ApiError::not_found())?;
    Ok(HttpResponse::Ok().json(StaffDetailView::new(&detail, state.now())))
}

#[derive(Deserialize)]
struct TransitionBody {
    to: String,
    public_note: Option<String>,
    internal_note: Option<String>,
}

impl TransitionBody {
    fn to_domain(&self) -> Result<Move, Invalid> {
        Move::parse(
            &self.to,
            self.public_note.as_deref(),
            self.internal_note.as_deref(),
        )
    }
}

async fn transition(
    staff: Staff,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: Json<TransitionBody>,
) -> Result<HttpResponse, ApiError> {
    let now = state.now();
    let change = StaffTransition {
        request_id: *id,
        staff_id: staff.id(),
        change: body.to_domain()?,
        now,
    };
    let detail = store::transition(&state.pool, change).await?;
    Ok(HttpResponse::Ok().json(StaffDetailView::new(&detail, now)))
}
