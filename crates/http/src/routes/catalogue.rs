//! The catalogue: offices and services, public to read and managed by admins.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono_tz::Tz;
use mawid_domain::catalogue::{
    FairAccessDraft, Localized, OfficeCode, OfficeDraft, ServiceCode, ServiceDraft,
};
use mawid_domain::notice::NoticeDraft;
use mawid_persistence::catalogue::{self as store, OfficeRow, ServiceRow};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::auth::Admin;
use crate::cache::{self, Freshness};
use crate::error::ApiError;
use crate::json::Json;
use crate::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/offices").get(list_offices))
        .service(web::resource("/offices/{id}").get(get_office))
        .service(web::resource("/services").get(list_services))
        .service(web::resource("/services/{id}").get(get_service))
        .service(web::resource("/admin/offices").post(create_office))
        .service(web::resource("/admin/offices/{id}").patch(patch_office))
        .service(web::resource("/admin/offices/{id}/notices").post(post_notice))
        .service(web::resource("/admin/offices/{id}/notices/{notice_id}").delete(delete_notice))
        .service(web::resource("/admin/services").post(create_service))
        .service(web::resource("/admin/services/{id}").patch(patch_service));
}

#[derive(Serialize)]
pub struct OfficeView {
    id: Uuid,
    code: OfficeCode,
    name: Localized,
    address: Localized,
    timezone: Tz,
    active: bool,
}

impl From<OfficeRow> for OfficeView {
    fn from(o: OfficeRow) -> Self {
        Self {
            id: o.id,
            code: o.code,
            name: o.name,
            address: o.address,
            timezone: o.timezone,
            active: o.active,
        }
    }
}

#[derive(Serialize)]
pub struct NoticeView {
    id: Uuid,
    message: Localized,
    from: chrono::NaiveDate,
    until: chrono::NaiveDate,
}

impl From<&mawid_persistence::notices::NoticeRow> for NoticeView {
    fn from(n: &mawid_persistence::notices::NoticeRow) -> Self {
        Self {
            id: n.id,
            message: n.message(),
            from: n.from_day,
            until: n.until_day,
        }
    }
}

#[derive(Deserialize)]
struct NoticeIn {
    message: Localized,
    from: chrono::NaiveDate,
    until: chrono::NaiveDate,
}

async fn post_notice(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: Json<NoticeIn>,
) -> Result<HttpResponse, ApiError> {
    let draft = NoticeDraft::parse(&body.message, body.from, body.until)?;
    let (pool, now) = (&state.pool, state.now());
    let row = mawid_persistence::notices::post(pool, admin.id(), *id, &draft, now).await?;
    let mut view = json!(NoticeView::from(&row));
    view["office_id"] = json!(row.office_id);
    Ok(HttpResponse::Created().json(view))
}

async fn delete_notice(
    admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (office_id, notice_id) = path.into_inner();
    mawid_persistence::notices::withdraw(&state.pool, admin.id(), office_id, notice_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize)]
pub struct ServiceView {
    id: Uuid,
    code: ServiceCode,
    name: Localized,
    duration_minutes: i32,
    required_documents: Vec<Localized>,
    fee_amount: String,
    fee_currency: String,
    min_notice_hours: i32,
    max_advance_days: i32,
    creates_document_request: bool,
    active: bool,
    release_cooldown_minutes: i32,
    confirmation_required: bool,
    confirm_from_hours: i32,
    confirm_until_hours: i32,
    max_reschedules: i32,
}

impl From<ServiceRow> for ServiceView {
    fn from(s: ServiceRow) -> Self {
        Self {
            id: s.id,
            code: s.code,
            name: s.name,
            duration_minutes: s.duration_minutes,
            required_documents: s.required_documents,
            fee_amount: s.fee_amount,
            fee_currency: s.fee_currency,
            min_notice_hours: s.min_notice_hours,
            max_advance_days: s.max_advance_days,
            creates_document_request: s.creates_document_request,
            active: s.active,
            release_cooldown_minutes: s.fair.release_cooldown_minutes,
            confirmation_required: s.fair.confirmation_required,
            confirm_from_hours: s.fair.confirm_from_hours,
            confirm_until_hours: s.fair.confirm_until_hours,
            max_reschedules: s.fair.max_reschedules,
        }
    }
}

/// `{"items": [...]}` of rows rendered as `V`, cacheable.
fn items<V: Serialize + From<R>, R>(
    req: &HttpRequest,
    rows: Vec<R>,
) -> Result<HttpResponse, ApiError> {
    let items: Vec<V> = rows.into_iter().map(V::from).collect();
    cache::json(req, &json!({ "items": items }), Freshness::Catalogue)
}

async fn list_offices(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    items::<OfficeView, _>(&req, store::list_offices(&state.pool).await?)
}

async fn get_office(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (office, notices) =
        mawid_persistence::notices::office_with_notices(&state.pool, *id, state.now()).await?;
    let notices: Vec<NoticeView> = notices.iter().map(NoticeView::from).collect();
    let mut view = json!(OfficeView::from(office));
    view["notices"] = json!(notices);
    cache::json(&req, &view, Freshness::Catalogue)
}

async fn list_services(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    items::<ServiceView, _>(&req, store::list_services(&state.pool).await?)
}

async fn get_service(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let service = store::service(&state.pool, *id).await?;
    cache::json(&req, &ServiceView::from(service), Freshness::Catalogue)
}

#[derive(Deserialize)]
struct LocalizedIn {
    #[serde(default)]
    ar: String,
    #[serde(default)]
    ru: String,
    #[serde(default)]
    en: String,
}

impl From<LocalizedIn> for Localized {
    fn from(t: LocalizedIn) -> Self {
        Localized {
            ar: t.ar,
            ru: t.ru,
            en: t.en,
        }
    }
}

#[derive(Deserialize)]
struct OfficeIn {
    code: Option<String>,
    name: Option<LocalizedIn>,
    address: Option<LocalizedIn>,
    timezone: Option<String>,
    active: Option<bool>,
}

impl OfficeIn {
    fn into_domain(self) -> OfficeDraft {
        OfficeDraft {
            code: self.code,
            name: self.name.map(Localized::from),
            address: self.address.map(Localized::from),
            timezone: self.timezone,
            active: self.active,
        }
    }
}

async fn create_office(
    admin: Admin,
    state: web::Data<AppState>,
    body: Json<OfficeIn>,
) -> Result<HttpResponse, ApiError> {
    let draft = body.into_inner().into_domain();
    let office = store::create_office(&state.pool, admin.id(), &draft).await?;
    Ok(HttpResponse::Created().json(OfficeView::from(office)))
}

async fn patch_office(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: Json<OfficeIn>,
) -> Result<HttpResponse, ApiError> {
    let draft = body.into_inner().into_domain();
    let office = store::patch_office(&state.pool, admin.id(), *id, &draft).await?;
    Ok(HttpResponse::Ok().json(OfficeView::from(office)))
}

#[derive(Deserialize)]
struct ServiceIn {
    code: Option<String>,
    name: Option<LocalizedIn>,
    duration_minutes: Option<i32>,
    required_documents: Option<Vec<LocalizedIn>>,
    /// A decimal string such as "25.00"; a JSON number is accepted too.
    fee_amount: Option<Value>,
    fee_currency: Option<String>,
    min_notice_hours: Option<i32>,
    max_advance_days: Option<i32>,
    creates_document_request: Option<bool>,
    active: Option<bool>,
    release_cooldown_minutes: Option<i32>,
    confirmation_required: Option<bool>,
    confirm_from_hours: Option<i32>,
    confirm_until_hours: Option<i32>,
    max_reschedules: Option<i32>,
}

impl ServiceIn {
    fn into_domain(self) -> ServiceDraft {
        ServiceDraft {
            code: self.code,
            name: self.name.map(Localized::from),
            duration_minutes: self.duration_minutes,
            required_documents: self
                .required_documents
                .map(|docs| docs.into_iter().map(Localized::from).collect()),
            // Any other JSON value is sent on as text, for the domain to refuse as a fee.
            fee_amount: self.fee_amount.map(|v| match v {
                Value::String(s) => s,
                other => other.to_string(),
            }),
            fee_currency: self.fee_currency,
            min_notice_hours: self.min_notice_hours,
            max_advance_days: self.max_advance_days,
            creates_document_request: self.creates_document_request,
            active: self.active,
            fair: FairAccessDraft {
                release_cooldown_minutes: self.release_cooldown_minutes,
                confirmation_required: self.confirmation_required,
                confirm_from_hours: self.confirm_from_hours,
                confirm_until_hours: self.confirm_until_hours,
                max_reschedules: self.max_reschedules,
            },
        }
    }
}

async fn create_service(
    admin: Admin,
    state: web::Data<AppState>,
    body: Json<ServiceIn>,
) -> Result<HttpResponse, ApiError> {
    let draft = body.into_inner().into_domain();
    let service = store::create_service(&state.pool, admin.id(), &draft).await?;
    Ok(HttpResponse::Created().json(ServiceView::from(service)))
}

async fn patch_service(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: Json<ServiceIn>,
) -> Result<HttpResponse, ApiError> {
    let draft = body.into_inner().into_domain();
    let service = store::patch_service(&state.pool, admin.id(), *id, &draft).await?;
    Ok(HttpResponse::Ok().json(ServiceView::from(service)))
}
