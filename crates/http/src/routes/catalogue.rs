//! The catalogue: offices and services, public to read and managed by admins.

use actix_web::{web, HttpResponse};
use mawid_domain::catalogue::{
    self, check_range, parse_timezone, Fee, Localized, OfficeCode, ServiceCode,
};
use mawid_domain::{Code, Invalid};
use mawid_persistence::audit::{self, Entry};
use mawid_persistence::catalogue::{self as store, OfficeData, OfficeRow, ServiceData, ServiceRow};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::auth::Admin;
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
        .service(web::resource("/admin/services").post(create_service))
        .service(web::resource("/admin/services/{id}").patch(patch_service));
}

#[derive(Serialize)]
pub struct OfficeView {
    id: Uuid,
    code: String,
    name: Localized,
    address: Localized,
    timezone: String,
    active: bool,
}

impl From<OfficeRow> for OfficeView {
    fn from(o: OfficeRow) -> Self {
        Self {
            id: o.id,
            name: o.name(),
            address: o.address(),
            code: o.code,
            timezone: o.timezone,
            active: o.active,
        }
    }
}

#[derive(Serialize)]
pub struct ServiceView {
    id: Uuid,
    code: String,
    name: Localized,
    duration_minutes: i32,
    required_documents: Vec<Localized>,
    fee_amount: String,
    fee_currency: String,
    min_notice_hours: i32,
    max_advance_days: i32,
    creates_document_request: bool,
    active: bool,
}

impl From<ServiceRow> for ServiceView {
    fn from(s: ServiceRow) -> Self {
        Self {
            id: s.id,
            name: s.name(),
            required_documents: s.documents(),
            code: s.code,
            duration_minutes: s.duration_minutes,
            fee_amount: s.fee_amount,
            fee_currency: s.fee_currency,
            min_notice_hours: s.min_notice_hours,
            max_advance_days: s.max_advance_days,
            creates_document_request: s.creates_document_request,
            active: s.active,
        }
    }
}

async fn list_offices(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let items: Vec<OfficeView> = store::list_offices(&state.pool)
        .await?
        .into_iter()
        .map(OfficeView::from)
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

async fn get_office(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let o = store::office(&state.pool, *id).await?;
    Ok(HttpResponse::Ok().json(OfficeView::from(o)))
}

async fn list_services(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let items: Vec<ServiceView> = store::list_services(&state.pool)
        .await?
        .into_iter()
        .map(ServiceView::from)
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

async fn get_service(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let s = store::service(&state.pool, *id).await?;
    Ok(HttpResponse::Ok().json(ServiceView::from(s)))
}

/// Raw localized text as sent; empty languages are reported by `Localized::parse`.
#[derive(Deserialize)]
struct LocalizedIn {
    #[serde(default)]
    ar: String,
    #[serde(default)]
    ru: String,
    #[serde(default)]
    en: String,
}

impl LocalizedIn {
    fn parse(&self, field: &str) -> Result<Localized, Invalid> {
        Localized::parse(
            field,
            &Localized {
                ar: self.ar.clone(),
                ru: self.ru.clone(),
                en: self.en.clone(),
            },
        )
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

/// Applies the present fields of `body` over `base` (the stored office, or none when creating,
/// where every field but timezone and active is required).
fn office_data(body: &OfficeIn, base: Option<&OfficeRow>) -> Result<OfficeData, ApiError> {
    let mut v = Invalid::collect();
    let required = |field: &str| Invalid::new(field, "required");
    let code = v.check(match (&body.code, base) {
        (Some(c), _) => OfficeCode::parse(c),
        (None, Some(b)) => OfficeCode::parse(&b.code),
        (None, None) => Err(required("code")),
    });
    let name = v.check(match (&body.name, base) {
        (Some(n), _) => n.parse("name"),
        (None, Some(b)) => Ok(b.name()),
        (None, None) => Err(required("name")),
    });
    let address = v.check(match (&body.address, base) {
        (Some(a), _) => a.parse("address"),
        (None, Some(b)) => Ok(b.address()),
        (None, None) => Err(required("address")),
    });
    v.finish()?;
    let timezone = match (&body.timezone, base) {
        (Some(t), _) => {
            parse_timezone(t).map_err(|e| ApiError::new(Code::UnknownTimezone, e.to_string()))?
        }
        (None, Some(b)) => b.tz(),
        (None, None) => chrono_tz::Europe::Moscow,
    };
    let (Some(code), Some(name), Some(address)) = (code, name, address) else {
        unreachable!("finish() returned Ok, so every field parsed");
    };
    Ok(OfficeData {
        code,
        name,
        address,
        timezone,
        active: body.active.or(base.map(|b| b.active)).unwrap_or(true),
    })
}

async fn create_office(
    admin: Admin,
    state: web::Data<AppState>,
    body: Json<OfficeIn>,
) -> Result<HttpResponse, ApiError> {
    let data = office_data(&body, None)?;
    let mut tx = state.pool.begin().await?;
    let office = store::insert_office(&mut *tx, &data).await?;
    audit::record(
        &mut *tx,
        Entry {
            actor_id: admin.id(),
            action: "office.create",
            target_type: "office",
            target_id: office.id.to_string(),
            details: json!({ "code": office.code, "timezone": office.timezone }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(OfficeView::from(office)))
}

async fn patch_office(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: Json<OfficeIn>,
) -> Result<HttpResponse, ApiError> {
    let mut tx = state.pool.begin().await?;
    let current = store::office(&mut *tx, *id).await?;
    let data = office_data(&body, Some(&current))?;
    let office = store::update_office(&mut *tx, *id, &data).await?;
    audit::record(
        &mut *tx,
        Entry {
            actor_id: admin.id(),
            action: "office.update",
            target_type: "office",
            target_id: office.id.to_string(),
            details: json!({ "fields": present_fields(&body_fields_office(&body)) }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(OfficeView::from(office)))
}

fn body_fields_office(b: &OfficeIn) -> Vec<(&'static str, bool)> {
    vec![
        ("code", b.code.is_some()),
        ("name", b.name.is_some()),
        ("address", b.address.is_some()),
        ("timezone", b.timezone.is_some()),
        ("active", b.active.is_some()),
    ]
}

fn present_fields(fields: &[(&'static str, bool)]) -> Vec<&'static str> {
    fields.iter().filter(|(_, p)| *p).map(|(f, _)| *f).collect()
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
}

fn service_data(body: &ServiceIn, base: Option<&ServiceRow>) -> Result<ServiceData, ApiError> {
    let base = match base {
        Some(b) => Some(ServiceData::from_row(b)?),
        None => None,
    };
    let mut v = Invalid::collect();
    let required = |field: &str| Invalid::new(field, "required");
    let code = v.check(match (&body.code, &base) {
        (Some(c), _) => ServiceCode::parse(c),
        (None, Some(b)) => Ok(b.code.clone()),
        (None, None) => Err(required("code")),
    });
    let name = v.check(match (&body.name, &base) {
        (Some(n), _) => n.parse("name"),
        (None, Some(b)) => Ok(b.name.clone()),
        (None, None) => Err(required("name")),
    });
    let duration = v.check(match (body.duration_minutes, &base) {
        (Some(d), _) => check_range("duration_minutes", d, catalogue::DURATION_MINUTES),
        (None, Some(b)) => Ok(b.duration_minutes),
        (None, None) => Err(required("duration_minutes")),
    });
    let documents = v.check(match (&body.required_documents, &base) {
        (Some(docs), _) => docs
            .iter()
            .enumerate()
            .map(|(i, d)| d.parse(&format!("required_documents[{i}]")))
            .collect(),
        (None, Some(b)) => Ok(b.required_documents.clone()),
        (None, None) => Ok(Vec::new()),
    });
    let amount = match (&body.fee_amount, &base) {
        (Some(Value::String(s)), _) => s.clone(),
        (Some(Value::Number(n)), _) => n.to_string(),
        (Some(_), _) => "invalid".to_owned(),
        (None, Some(b)) => b.fee.amount.clone(),
        (None, None) => "0".to_owned(),
    };
    let currency = match (&body.fee_currency, &base) {
        (Some(c), _) => c.clone(),
        (None, Some(b)) => b.fee.currency.clone(),
        (None, None) => "USD".to_owned(),
    };
    let fee = v.check(Fee::parse(&amount, &currency));
    let notice = v.check(check_range(
        "min_notice_hours",
        body.min_notice_hours
            .or(base.as_ref().map(|b| b.min_notice_hours))
            .unwrap_or(24),
        catalogue::MIN_NOTICE_HOURS,
    ));
    let advance = v.check(check_range(
        "max_advance_days",
        body.max_advance_days
            .or(base.as_ref().map(|b| b.max_advance_days))
            .unwrap_or(60),
        catalogue::MAX_ADVANCE_DAYS,
    ));
    v.finish()?;
    let (
        Some(code),
        Some(name),
        Some(duration),
        Some(documents),
        Some(fee),
        Some(notice),
        Some(advance),
    ) = (code, name, duration, documents, fee, notice, advance)
    else {
        unreachable!("finish() returned Ok, so every field parsed");
    };
    Ok(ServiceData {
        code,
        name,
        duration_minutes: duration,
        required_documents: documents,
        fee,
        min_notice_hours: notice,
        max_advance_days: advance,
        creates_document_request: body
            .creates_document_request
            .or(base.as_ref().map(|b| b.creates_document_request))
            .unwrap_or(false),
        active: body
            .active
            .or(base.as_ref().map(|b| b.active))
            .unwrap_or(true),
    })
}

async fn create_service(
    admin: Admin,
    state: web::Data<AppState>,
    body: Json<ServiceIn>,
) -> Result<HttpResponse, ApiError> {
    let data = service_data(&body, None)?;
    let mut tx = state.pool.begin().await?;
    let service = store::insert_service(&mut *tx, &data).await?;
    audit::record(
        &mut *tx,
        Entry {
            actor_id: admin.id(),
            action: "service.create",
            target_type: "service",
            target_id: service.id.to_string(),
            details: json!({ "code": service.code }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(ServiceView::from(service)))
}

async fn patch_service(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: Json<ServiceIn>,
) -> Result<HttpResponse, ApiError> {
    let mut tx = state.pool.begin().await?;
    let current = store::service(&mut *tx, *id).await?;
    let data = service_data(&body, Some(&current))?;
    let service = store::update_service(&mut *tx, *id, &data).await?;
    let fields = [
        ("code", body.code.is_some()),
        ("name", body.name.is_some()),
        ("duration_minutes", body.duration_minutes.is_some()),
        ("required_documents", body.required_documents.is_some()),
        ("fee_amount", body.fee_amount.is_some()),
        ("fee_currency", body.fee_currency.is_some()),
        ("min_notice_hours", body.min_notice_hours.is_some()),
        ("max_advance_days", body.max_advance_days.is_some()),
        (
            "creates_document_request",
            body.creates_document_request.is_some(),
        ),
        ("active", body.active.is_some()),
    ];
    audit::record(
        &mut *tx,
        Entry {
            actor_id: admin.id(),
            action: "service.update",
            target_type: "service",
            target_id: service.id.to_string(),
            details: json!({ "fields": present_fields(&fields) }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(ServiceView::from(service)))
}
