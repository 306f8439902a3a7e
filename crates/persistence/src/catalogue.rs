//! Offices and services.

use mawid_domain::catalogue::{Fee, Localized, OfficeCode, ServiceCode};
use mawid_domain::mail;
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::{map_err, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OfficeRow {
    pub id: Uuid,
    pub code: String,
    pub name_ar: String,
    pub name_ru: String,
    pub name_en: String,
    pub address_ar: String,
    pub address_ru: String,
    pub address_en: String,
    pub timezone: String,
    pub active: bool,
}

impl OfficeRow {
    pub fn name(&self) -> Localized {
        Localized {
            ar: self.name_ar.clone(),
            ru: self.name_ru.clone(),
            en: self.name_en.clone(),
        }
    }

    pub fn address(&self) -> Localized {
        Localized {
            ar: self.address_ar.clone(),
            ru: self.address_ru.clone(),
            en: self.address_en.clone(),
        }
    }

    /// The zone was validated before it was stored; Moscow is the documented default.
    pub fn tz(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::Europe::Moscow)
    }
}

/// A complete office, as created or after a patch has been applied.
pub struct OfficeData {
    pub code: OfficeCode,
    pub name: Localized,
    pub address: Localized,
    pub timezone: chrono_tz::Tz,
    pub active: bool,
}

const OFFICE_COLUMNS: &str =
    "id, code, name_ar, name_ru, name_en, address_ar, address_ru, address_en, timezone, active";

#[tracing::instrument(skip_all)]
pub async fn insert_office(
    ex: impl PgExecutor<'_>,
    o: &OfficeData,
) -> Result<OfficeRow, StoreError> {
    sqlx::query_as::<_, OfficeRow>(&format!(
        "INSERT INTO offices (id, code, name_ar, name_ru, name_en, address_ar, address_ru, address_en, timezone, active)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {OFFICE_COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(o.code.as_str())
    .bind(&o.name.ar)
    .bind(&o.name.ru)
    .bind(&o.name.en)
    .bind(&o.address.ar)
    .bind(&o.address.ru)
    .bind(&o.address.en)
    .bind(o.timezone.name())
    .bind(o.active)
    .fetch_one(ex)
    .await
    .map_err(map_err)
}

#[tracing::instrument(skip_all)]
pub async fn update_office(
    ex: impl PgExecutor<'_>,
    id: Uuid,
    o: &OfficeData,
) -> Result<OfficeRow, StoreError> {
    sqlx::query_as::<_, OfficeRow>(&format!(
        "UPDATE offices SET code = $2, name_ar = $3, name_ru = $4, name_en = $5, address_ar = $6,
            address_ru = $7, address_en = $8, timezone = $9, active = $10, updated_at = now()
         WHERE id = $1 RETURNING {OFFICE_COLUMNS}"
    ))
    .bind(id)
    .bind(o.code.as_str())
    .bind(&o.name.ar)
    .bind(&o.name.ru)
    .bind(&o.name.en)
    .bind(&o.address.ar)
    .bind(&o.address.ru)
    .bind(&o.address.en)
    .bind(o.timezone.name())
    .bind(o.active)
    .fetch_optional(ex)
    .await
    .map_err(map_err)?
    .ok_or(StoreError::NotFound)
}

#[tracing::instrument(skip_all)]
pub async fn office(ex: impl PgExecutor<'_>, id: Uuid) -> Result<OfficeRow, StoreError> {
    sqlx::query_as::<_, OfficeRow>(&format!(
        "SELECT {OFFICE_COLUMNS} FROM offices WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(ex)
    .await?
    .ok_or(StoreError::NotFound)
}

#[tracing::instrument(skip_all)]
pub async fn list_offices(ex: impl PgExecutor<'_>) -> Result<Vec<OfficeRow>, StoreError> {
    Ok(sqlx::query_as::<_, OfficeRow>(&format!(
        "SELECT {OFFICE_COLUMNS} FROM offices WHERE active ORDER BY code"
    ))
    .fetch_all(ex)
    .await?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ServiceRow {
    pub id: Uuid,
    pub code: String,
    pub name_ar: String,
    pub name_ru: String,
    pub name_en: String,
    pub duration_minutes: i32,
    pub required_documents: serde_json::Value,
    pub fee_amount: String,
    pub fee_currency: String,
    pub min_notice_hours: i32,
    pub max_advance_days: i32,
    pub creates_document_request: bool,
    pub active: bool,
}

impl ServiceRow {
    pub fn name(&self) -> Localized {
        Localized {
            ar: self.name_ar.clone(),
            ru: self.name_ru.clone(),
            en: self.name_en.clone(),
        }
    }

    pub fn documents(&self) -> Vec<Localized> {
        serde_json::from_value(self.required_documents.clone()).unwrap_or_default()
    }

    pub fn policy(&self) -> mawid_domain::schedule::Policy {
        mawid_domain::schedule::Policy {
            duration_minutes: self.duration_minutes,
            min_notice_hours: self.min_notice_hours,
            max_advance_days: self.max_advance_days,
        }
    }
}

pub struct ServiceData {
    pub code: ServiceCode,
    pub name: Localized,
    pub duration_minutes: i32,
    pub required_documents: Vec<Localized>,
    pub fee: Fee,
    pub min_notice_hours: i32,
    pub max_advance_days: i32,
    pub creates_document_request: bool,
    pub active: bool,
}

impl ServiceData {
    pub fn from_row(r: &ServiceRow) -> Result<Self, mawid_domain::Invalid> {
        Ok(Self {
            code: ServiceCode::parse(&r.code)?,
            name: r.name(),
            duration_minutes: r.duration_minutes,
            required_documents: r.documents(),
            fee: Fee::parse(&r.fee_amount, &r.fee_currency)?,
            min_notice_hours: r.min_notice_hours,
            max_advance_days: r.max_advance_days,
            creates_document_request: r.creates_document_request,
            active: r.active,
        })
    }
}

const SERVICE_COLUMNS: &str =
    "id, code, name_ar, name_ru, name_en, duration_minutes, required_documents,
    fee_amount::text AS fee_amount, fee_currency, min_notice_hours, max_advance_days,
    creates_document_request, active";

fn documents_json(docs: &[Localized]) -> serde_json::Value {
    serde_json::to_value(docs).unwrap_or_else(|_| serde_json::Value::Array(vec![]))
}

#[tracing::instrument(skip_all)]
pub async fn insert_service(
    ex: impl PgExecutor<'_>,
    s: &ServiceData,
) -> Result<ServiceRow, StoreError> {
    sqlx::query_as::<_, ServiceRow>(&format!(
        "INSERT INTO services (id, code, name_ar, name_ru, name_en, duration_minutes, required_documents,
            fee_amount, fee_currency, min_notice_hours, max_advance_days, creates_document_request, active)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::numeric, $9, $10, $11, $12, $13) RETURNING {SERVICE_COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(s.code.as_str())
    .bind(&s.name.ar)
    .bind(&s.name.ru)
    .bind(&s.name.en)
    .bind(s.duration_minutes)
    .bind(documents_json(&s.required_documents))
    .bind(&s.fee.amount)
    .bind(&s.fee.currency)
    .bind(s.min_notice_hours)
    .bind(s.max_advance_days)
    .bind(s.creates_document_request)
    .bind(s.active)
    .fetch_one(ex)
    .await
    .map_err(map_err)
}

#[tracing::instrument(skip_all)]
pub async fn update_service(
    ex: impl PgExecutor<'_>,
    id: Uuid,
    s: &ServiceData,
) -> Result<ServiceRow, StoreError> {
    sqlx::query_as::<_, ServiceRow>(&format!(
        "UPDATE services SET code = $2, name_ar = $3, name_ru = $4, name_en = $5, duration_minutes = $6,
            required_documents = $7, fee_amount = $8::numeric, fee_currency = $9, min_notice_hours = $10,
            max_advance_days = $11, creates_document_request = $12, active = $13, updated_at = now()
         WHERE id = $1 RETURNING {SERVICE_COLUMNS}"
    ))
    .bind(id)
    .bind(s.code.as_str())
    .bind(&s.name.ar)
    .bind(&s.name.ru)
    .bind(&s.name.en)
    .bind(s.duration_minutes)
    .bind(documents_json(&s.required_documents))
    .bind(&s.fee.amount)
    .bind(&s.fee.currency)
    .bind(s.min_notice_hours)
    .bind(s.max_advance_days)
    .bind(s.creates_document_request)
    .bind(s.active)
    .fetch_optional(ex)
    .await
    .map_err(map_err)?
    .ok_or(StoreError::NotFound)
}

#[tracing::instrument(skip_all)]
pub async fn service(ex: impl PgExecutor<'_>, id: Uuid) -> Result<ServiceRow, StoreError> {
    sqlx::query_as::<_, ServiceRow>(&format!(
        "SELECT {SERVICE_COLUMNS} FROM services WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(ex)
    .await?
    .ok_or(StoreError::NotFound)
}

#[tracing::instrument(skip_all)]
pub async fn list_services(ex: impl PgExecutor<'_>) -> Result<Vec<ServiceRow>, StoreError> {
    Ok(sqlx::query_as::<_, ServiceRow>(&format!(
        "SELECT {SERVICE_COLUMNS} FROM services WHERE active ORDER BY code"
    ))
    .fetch_all(ex)
    .await?)
}

/// The office and service blocks of appointment mails.
pub fn office_payload(o: &OfficeRow) -> mail::Office {
    mail::Office {
        code: o.code.clone(),
        name: o.name(),
        address: o.address(),
    }
}

pub fn service_payload(s: &ServiceRow) -> mail::Service {
    mail::Service {
        code: s.code.clone(),
        name: s.name(),
        required_documents: s.documents(),
        fee_amount: s.fee_amount.clone(),
        fee_currency: s.fee_currency.clone(),
    }
}
