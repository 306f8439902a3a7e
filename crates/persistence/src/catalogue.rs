//! Offices and services: rows decoded into domain types when read, and the admin use cases that
//! change them, each one transaction with its audit row.

use chrono_tz::Tz;
use mawid_domain::appointment::Refusal;
use mawid_domain::catalogue::{
    parse_timezone, DraftError, FairAccess, Fee, Localized, Office, OfficeCode, OfficeDraft,
    Service, ServiceCode, ServiceDraft,
};
use mawid_domain::mail;
use mawid_domain::schedule::Policy;
use mawid_domain::Invalid;
use serde::Deserialize;
use serde_json::json;
use sqlx::types::Json;
use sqlx::{PgExecutor, PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::audit::{self, Entry};
use crate::{corrupt_because, map_err, StoreError};

/// Why a catalogue, schedule or availability use case did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error(transparent)]
    Draft(#[from] DraftError),
    /// The office does not offer the service: it has no schedule for it.
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Invalid> for CatalogueError {
    fn from(e: Invalid) -> Self {
        Self::Draft(e.into())
    }
}

impl From<sqlx::Error> for CatalogueError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

#[derive(Debug, Clone)]
pub struct OfficeRow {
    pub id: Uuid,
    pub code: OfficeCode,
    pub name: Localized,
    pub address: Localized,
    pub timezone: Tz,
    pub active: bool,
}

impl OfficeRow {
    pub fn name(&self) -> Localized {
        self.name.clone()
    }

    pub fn address(&self) -> Localized {
        self.address.clone()
    }

    pub fn tz(&self) -> Tz {
        self.timezone
    }

    pub fn office(&self) -> Office {
        Office {
            code: self.code.clone(),
            name: self.name.clone(),
            address: self.address.clone(),
            timezone: self.timezone,
            active: self.active,
        }
    }
}

/// The columns [`OfficeRecord`] reads, written once for [`offices`] and the JSON read of
/// [`crate::offer`] (the query macros take string literals only, so the list is handed on):
/// `office_columns!(m!(args))` is `m!(args "<columns>")`.
macro_rules! office_columns {
    ($($m:ident)::+ !($($args:tt)*)) => {
        $($m)::+!($($args)*
            "id, code, name_ar, name_ru, name_en, address_ar, address_ru, address_en, timezone, active")
    };
}
pub(crate) use office_columns;

/// An office's columns as stored (also read as JSON by [`crate::offer`]).
#[derive(Deserialize)]
pub(crate) struct OfficeRecord {
    id: Uuid,
    code: String,
    name_ar: String,
    name_ru: String,
    name_en: String,
    address_ar: String,
    address_ru: String,
    address_en: String,
    timezone: String,
    active: bool,
}

impl TryFrom<OfficeRecord> for OfficeRow {
    type Error = StoreError;

    fn try_from(r: OfficeRecord) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            code: OfficeCode::parse(&r.code)
                .map_err(|e| corrupt_because("offices.code", &r.code, e))?,
            timezone: parse_timezone(&r.timezone)
                .map_err(|e| corrupt_because("offices.timezone", &r.timezone, e))?,
            name: Localized {
                ar: r.name_ar,
                ru: r.name_ru,
                en: r.name_en,
            },
            address: Localized {
                ar: r.address_ar,
                ru: r.address_ru,
                en: r.address_en,
            },
            active: r.active,
        })
    }
}

/// The row a lookup by id found.
fn the_one<T>(rows: Vec<T>) -> Result<T, StoreError> {
    rows.into_iter().next().ok_or(StoreError::NotFound)
}

/// The office `id` whatever its state, or with `None` every active office, by code.
#[tracing::instrument(skip_all)]
async fn offices(ex: impl PgExecutor<'_>, id: Option<Uuid>) -> Result<Vec<OfficeRow>, StoreError> {
    macro_rules! read {
        ($columns:literal) => {
            sqlx::query_as!(
                OfficeRecord,
                "SELECT "
                    + $columns
                    + " FROM offices WHERE id = $1 OR ($1::uuid IS NULL AND active) ORDER BY code",
                id,
            )
        };
    }
    office_columns!(read!())
        .fetch_all(ex)
        .await?
        .into_iter()
        .map(OfficeRow::try_from)
        .collect()
}

pub async fn office(ex: impl PgExecutor<'_>, id: Uuid) -> Result<OfficeRow, StoreError> {
    the_one(offices(ex, Some(id)).await?)
}

pub async fn list_offices(ex: impl PgExecutor<'_>) -> Result<Vec<OfficeRow>, StoreError> {
    offices(ex, None).await
}

/// Writes `o` under `id`: a new id inserts, a stored one is overwritten.
#[tracing::instrument(skip_all)]
async fn save_office(ex: impl PgExecutor<'_>, id: Uuid, o: &Office) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO offices (id, code, name_ar, name_ru, name_en, address_ar, address_ru, address_en, timezone, active)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (id) DO UPDATE SET code = $2, name_ar = $3, name_ru = $4, name_en = $5,
            address_ar = $6, address_ru = $7, address_en = $8, timezone = $9, active = $10,
            updated_at = now()",
        id,
        o.code.as_str(),
        o.name.ar,
        o.name.ru,
        o.name.en,
        o.address.ar,
        o.address.ru,
        o.address.en,
        o.timezone.name(),
        o.active,
    )
    .execute(ex)
    .await
    .map_err(map_err)?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn create_office(
    pool: &PgPool,
    actor_id: Uuid,
    draft: &OfficeDraft,
) -> Result<OfficeRow, CatalogueError> {
    let new = draft.create()?;
    let mut tx = pool.begin().await?;
    let id = Uuid::new_v4();
    save_office(&mut *tx, id, &new).await?;
    let row = office(&mut *tx, id).await?;
    let details = json!({ "code": row.code, "timezone": row.timezone });
    commit_audited(tx, actor_id, "office.create", "office", id, details).await?;
    Ok(row)
}

/// Applies the fields `draft` sets over the stored office.
#[tracing::instrument(skip_all)]
pub async fn patch_office(
    pool: &PgPool,
    actor_id: Uuid,
    id: Uuid,
    draft: &OfficeDraft,
) -> Result<OfficeRow, CatalogueError> {
    let mut tx = pool.begin().await?;
    // Two patches of one office apply one after the other: each rewrites every column.
    sqlx::query!("SELECT id FROM offices WHERE id = $1 FOR UPDATE", id)
        .fetch_optional(&mut *tx)
        .await?;
    let changed = draft.apply(&office(&mut *tx, id).await?.office())?;
    save_office(&mut *tx, id, &changed).await?;
    let row = office(&mut *tx, id).await?;
    let details = json!({ "fields": draft.fields() });
    commit_audited(tx, actor_id, "office.update", "office", id, details).await?;
    Ok(row)
}

#[derive(Debug, Clone)]
pub struct ServiceRow {
    pub id: Uuid,
    pub code: ServiceCode,
    pub name: Localized,
    pub duration_minutes: i32,
    pub required_documents: Vec<Localized>,
    /// The fee as the database prints it, e.g. "25.00".
    pub fee_amount: String,
    pub fee_currency: String,
    pub min_notice_hours: i32,
    pub max_advance_days: i32,
    pub creates_document_request: bool,
    pub active: bool,
    pub fair: FairAccess,
}

impl ServiceRow {
    pub fn name(&self) -> Localized {
        self.name.clone()
    }

    pub fn documents(&self) -> Vec<Localized> {
        self.required_documents.clone()
    }

    pub fn policy(&self) -> Policy {
        Policy {
            duration_minutes: self.duration_minutes,
            min_notice_hours: self.min_notice_hours,
            max_advance_days: self.max_advance_days,
        }
    }

    pub fn service(&self) -> Service {
        Service {
            code: self.code.clone(),
            name: self.name.clone(),
            duration_minutes: self.duration_minutes,
            required_documents: self.required_documents.clone(),
            fee: Fee {
                amount: self.fee_amount.clone(),
                currency: self.fee_currency.clone(),
            },
            min_notice_hours: self.min_notice_hours,
            max_advance_days: self.max_advance_days,
            creates_document_request: self.creates_document_request,
            active: self.active,
            fair: self.fair,
        }
    }
}

/// The columns [`ServiceRecord`] reads, written once for [`services`] and the JSON read of
/// [`crate::offer`]: `service_columns!(m!(args))` is `m!(args "<columns>")`. The fee is read as
/// text, exact; its `!` tells sqlx the cast is never null.
macro_rules! service_columns {
    ($($m:ident)::+ !($($args:tt)*)) => {
        $($m)::+!($($args)*
            r#"id, code, name_ar, name_ru, name_en, duration_minutes, required_documents,
               fee_amount::text AS "fee_amount!", fee_currency, min_notice_hours, max_advance_days,
               creates_document_request, active, release_cooldown_minutes, confirmation_required,
               confirm_from_hours, confirm_until_hours, max_reschedules"#)
    };
}
pub(crate) use service_columns;

/// A service's columns as stored (also read as JSON by [`crate::offer`]).
#[derive(Deserialize)]
pub(crate) struct ServiceRecord {
    id: Uuid,
    code: String,
    name_ar: String,
    name_ru: String,
    name_en: String,
    duration_minutes: i32,
    required_documents: serde_json::Value,
    // The JSON read keeps sqlx's not-null mark in the key.
    #[serde(rename = "fee_amount!")]
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

impl TryFrom<ServiceRecord> for ServiceRow {
    type Error = StoreError;

    fn try_from(r: ServiceRecord) -> Result<Self, StoreError> {
        let documents = Vec::<Localized>::deserialize(&r.required_documents).map_err(|e| {
            corrupt_because(
                "services.required_documents",
                &r.required_documents.to_string(),
                e,
            )
        })?;
        Ok(Self {
            id: r.id,
            code: ServiceCode::parse(&r.code)
                .map_err(|e| corrupt_because("services.code", &r.code, e))?,
            name: Localized {
                ar: r.name_ar,
                ru: r.name_ru,
                en: r.name_en,
            },
            duration_minutes: r.duration_minutes,
            required_documents: documents,
            fee_amount: r.fee_amount,
            fee_currency: r.fee_currency,
            min_notice_hours: r.min_notice_hours,
            max_advance_days: r.max_advance_days,
            creates_document_request: r.creates_document_request,
            active: r.active,
            fair: FairAccess {
                release_cooldown_minutes: r.release_cooldown_minutes,
                confirmation_required: r.confirmation_required,
                confirm_from_hours: r.confirm_from_hours,
                confirm_until_hours: r.confirm_until_hours,
                max_reschedules: r.max_reschedules,
            },
        })
    }
}

/// The service `id` whatever its state, or with `None` every active service, by code.
#[tracing::instrument(skip_all)]
async fn services(
    ex: impl PgExecutor<'_>,
    id: Option<Uuid>,
) -> Result<Vec<ServiceRow>, StoreError> {
    macro_rules! read {
        ($columns:literal) => {
            sqlx::query_as!(
                ServiceRecord,
                "SELECT "
                    + $columns
                    + " FROM services WHERE id = $1 OR ($1::uuid IS NULL AND active) ORDER BY code",
                id,
            )
        };
    }
    service_columns!(read!())
        .fetch_all(ex)
        .await?
        .into_iter()
        .map(ServiceRow::try_from)
        .collect()
}

pub async fn service(ex: impl PgExecutor<'_>, id: Uuid) -> Result<ServiceRow, StoreError> {
    the_one(services(ex, Some(id)).await?)
}

pub async fn list_services(ex: impl PgExecutor<'_>) -> Result<Vec<ServiceRow>, StoreError> {
    services(ex, None).await
}

/// Writes `s` under `id`: a new id inserts, a stored one is overwritten.
#[tracing::instrument(skip_all)]
async fn save_service(ex: impl PgExecutor<'_>, id: Uuid, s: &Service) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO services (id, code, name_ar, name_ru, name_en, duration_minutes, required_documents,
            fee_amount, fee_currency, min_notice_hours, max_advance_days, creates_document_request, active,
            release_cooldown_minutes, confirmation_required, confirm_from_hours, confirm_until_hours,
            max_reschedules)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::numeric, $9, $10, $11, $12, $13, $14, $15,
            $16, $17, $18)
         ON CONFLICT (id) DO UPDATE SET code = $2, name_ar = $3, name_ru = $4, name_en = $5,
            duration_minutes = $6, required_documents = $7, fee_amount = $8::text::numeric,
            fee_currency = $9, min_notice_hours = $10, max_advance_days = $11,
            creates_document_request = $12, active = $13, release_cooldown_minutes = $14,
            confirmation_required = $15, confirm_from_hours = $16, confirm_until_hours = $17,
            max_reschedules = $18, updated_at = now()",
        id,
        s.code.as_str(),
        s.name.ar,
        s.name.ru,
        s.name.en,
        s.duration_minutes,
        Json(&s.required_documents) as _,
        s.fee.amount,
        s.fee.currency,
        s.min_notice_hours,
        s.max_advance_days,
        s.creates_document_request,
        s.active,
        s.fair.release_cooldown_minutes,
        s.fair.confirmation_required,
        s.fair.confirm_from_hours,
        s.fair.confirm_until_hours,
        s.fair.max_reschedules,
    )
    .execute(ex)
    .await
    .map_err(map_err)?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn create_service(
    pool: &PgPool,
    actor_id: Uuid,
    draft: &ServiceDraft,
) -> Result<ServiceRow, CatalogueError> {
    let new = draft.create()?;
    let mut tx = pool.begin().await?;
    let id = Uuid::new_v4();
    save_service(&mut *tx, id, &new).await?;
    let row = service(&mut *tx, id).await?;
    let details = json!({ "code": row.code });
    commit_audited(tx, actor_id, "service.create", "service", id, details).await?;
    Ok(row)
}

/// Applies the fields `draft` sets over the stored service.
#[tracing::instrument(skip_all)]
pub async fn patch_service(
    pool: &PgPool,
    actor_id: Uuid,
    id: Uuid,
    draft: &ServiceDraft,
) -> Result<ServiceRow, CatalogueError> {
    let mut tx = pool.begin().await?;
    sqlx::query!("SELECT id FROM services WHERE id = $1 FOR UPDATE", id)
        .fetch_optional(&mut *tx)
        .await?;
    let changed = draft.apply(&service(&mut *tx, id).await?.service())?;
    save_service(&mut *tx, id, &changed).await?;
    let row = service(&mut *tx, id).await?;
    let details = json!({ "fields": draft.fields() });
    commit_audited(tx, actor_id, "service.update", "service", id, details).await?;
    Ok(row)
}

/// Writes the audit row of an admin's catalogue change and commits it with the change.
pub(crate) async fn commit_audited(
    mut tx: Transaction<'_, Postgres>,
    actor_id: Uuid,
    action: &str,
    target_type: &str,
    target_id: impl ToString,
    details: serde_json::Value,
) -> Result<(), StoreError> {
    audit::record(
        &mut *tx,
        Entry {
            actor_id,
            action,
            target_type,
            target_id: target_id.to_string(),
            details,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The office and service blocks of appointment mails.
pub fn office_payload(o: &OfficeRow) -> mail::Office {
    mail::Office {
        code: o.code.to_string(),
        name: o.name(),
        address: o.address(),
    }
}

pub fn service_payload(s: &ServiceRow) -> mail::Service {
    mail::Service {
        code: s.code.to_string(),
        name: s.name(),
        required_documents: s.documents(),
        fee_amount: s.fee_amount.clone(),
        fee_currency: s.fee_currency.clone(),
    }
}
