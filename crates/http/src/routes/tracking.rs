//! Public tracking: anyone holding a tracking number and the applicant's date of birth may see
//! the status, and nothing else. Rate-limited per client address and per tracking number.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use mawid_domain::document::{DocumentStatus, TrackQuery};
use mawid_domain::limit::LimitName;
use mawid_persistence::document_requests::{self as store, Tracked};
use mawid_persistence::limits;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::limit::ClientAddr;
use crate::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/track/{tracking_number}").get(track));
}

#[derive(Deserialize)]
struct TrackQueryParams {
    date_of_birth: Option<String>,
}

#[derive(Serialize)]
struct TrackView {
    tracking_number: String,
    status: DocumentStatus,
    status_changed_at: String,
}

impl From<Tracked> for TrackView {
    fn from(t: Tracked) -> Self {
        Self {
            status_changed_at: t
                .status_changed_at
                .with_timezone(&t.office_timezone)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
            tracking_number: t.tracking_number,
            status: t.status,
        }
    }
}

/// Counts the lookup against the client address, then one possible failure against the number
/// (reserved before the lookup, so parallel guesses cannot pass the check together, and given
/// back when the lookup finds the request).
async fn track(
    client: ClientAddr,
    state: web::Data<AppState>,
    number: web::Path<String>,
    q: web::Query<TrackQueryParams>,
) -> Result<HttpResponse, ApiError> {
    state.limit(LimitName::Track, client.as_str()).await?;
    let query = TrackQuery::parse(&number, q.date_of_birth.as_deref())?;
    let number = query.number.ok_or_else(ApiError::not_found)?;
    let failure = state
        .limit(LimitName::TrackFailures, number.as_str())
        .await?;
    let found = store::track(&state.pool, &number, query.date_of_birth).await?;
    limits::give_back(&state.pool, &failure).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(TrackView::from(found)))
}
