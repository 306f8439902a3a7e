//! A citizen's rights over their personal data (152-FZ): who on the staff read their records,
//! everything held about them, and the erasure of their account.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use mawid_domain::account::Refusal;
use mawid_domain::limit::LimitName;
use mawid_domain::page::Page;
use mawid_domain::Code;
use mawid_persistence::access::{self, AccessRow};
use mawid_persistence::personal::{self, ErasureError};
use mawid_persistence::{accounts, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Citizen;
use crate::error::ApiError;
use crate::json::Json;
use crate::limit::ClientAddr;
use crate::routes::accounts::UserView;
use crate::routes::appointments::AppointmentView;
use crate::routes::document_requests::CitizenDetailView;
use crate::routes::waitlist::EntryView;
use crate::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/me/access-log").get(access_log))
        .service(web::resource("/me/export").get(export));
}

/// A staff read as the citizen sees it: the role and the office, never the employee.
#[derive(Serialize)]
pub struct AccessView {
    at: DateTime<Utc>,
    action: String,
    what: String,
    record_type: Option<String>,
    record_id: Option<Uuid>,
    office_id: Option<Uuid>,
    date: Option<NaiveDate>,
    staff_role: String,
}

impl From<AccessRow> for AccessView {
    fn from(r: AccessRow) -> Self {
        Self {
            at: r.at,
            action: r.action,
            what: r.what,
            record_type: r.record_type,
            record_id: r.record_id,
            office_id: r.office_id,
            date: r.day,
            staff_role: r.staff_role,
        }
    }
}

#[derive(Deserialize)]
struct PageQuery {
    page: Option<i64>,
    per_page: Option<i64>,
}

#[derive(Serialize)]
struct AccessPage {
    items: Vec<AccessView>,
    page: i64,
    per_page: i64,
    total: i64,
}

async fn access_log(
    citizen: Citizen,
    state: web::Data<AppState>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = Page::parse(q.page, q.per_page)?;
    let (rows, total) = access::access_log(&state.pool, citizen.id(), page).await?;
    Ok(HttpResponse::Ok().json(AccessPage {
        items: rows.into_iter().map(AccessView::from).collect(),
        page: page.page,
        per_page: page.per_page,
        total,
    }))
}

async fn export(citizen: Citizen, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let e = personal::export(&state.pool, citizen.id()).await?;
    let appointments: Vec<AppointmentView> =
        e.appointments.iter().map(AppointmentView::from).collect();
    let requests: Vec<CitizenDetailView> = e
        .document_requests
        .iter()
        .map(CitizenDetailView::from)
        .collect();
    let waitlist: Vec<EntryView> = e.waitlist.iter().map(EntryView::from).collect();
    let mails: Vec<_> = e
        .mails
        .iter()
        .map(|m| {
            json!({
                "kind": m.kind,
                "language": m.language,
                "status": m.status,
                "created_at": m.created_at,
                "sent_at": m.sent_at,
            })
        })
        .collect();
    let access_log: Vec<AccessView> = e.access_log.into_iter().map(AccessView::from).collect();
    Ok(HttpResponse::Ok().json(json!({
        "exported_at": state.now(),
        "profile": UserView::from(e.user),
        "appointments": appointments,
        "document_requests": requests,
        "waitlist": waitlist,
        "mails": mails,
        "access_log": access_log,
    })))
}

#[derive(Deserialize)]
pub(crate) struct ErasureIn {
    password: String,
}

/// `DELETE /me`: the password again, as for a sign-in, so a token left on a shared device
/// cannot erase the account.
pub(crate) async fn erase(
    citizen: Citizen,
    client: ClientAddr,
    state: web::Data<AppState>,
    body: Json<ErasureIn>,
) -> Result<HttpResponse, ApiError> {
    // A password check like a sign-in's, limited like one: a stolen token is no oracle.
    state.limit(LimitName::Login, client.as_str()).await?;
    let user = accounts::profile(&state.pool, citizen.id()).await?;
    let hash = user.password_hash;
    if !state.passwords.verify(&body.password, Some(&hash)).await? {
        return Err(Refusal::InvalidCredentials.into());
    }
    personal::erase(&state.pool, citizen.id(), &hash, state.now())
        .await
        .map_err(|e| match e {
            ErasureError::WrongPassword => Refusal::InvalidCredentials.into(),
            ErasureError::Store(StoreError::Conflict(Code::ActiveDocumentRequests)) => {
                ApiError::new(
                    Code::ActiveDocumentRequests,
                    "the consulate holds the papers of a document request (under review to \
                     ready for pickup); the account can be erased once it is collected or closed",
                )
            }
            ErasureError::Booking(e) => e.into(),
            ErasureError::Document(e) => e.into(),
            ErasureError::Store(e) => e.into(),
        })?;
    metrics::counter!("mawid_account_erasures_total").increment(1);
    Ok(HttpResponse::NoContent().finish())
}
