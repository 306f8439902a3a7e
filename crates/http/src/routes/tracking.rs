//! Public tracking: anyone holding a tracking number and the applicant's date of birth may see
//! the status, and nothing else. Rate-limited per client address in PostgreSQL.

use std::net::IpAddr;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use mawid_domain::document::{DocumentStatus, TrackQuery};
use mawid_persistence::document_requests::{self as store, Lookup, Tracked};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
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

/// The address a rate limit is counted against. IPv6 clients usually hold a whole /64, so
/// that is the unit; without an address (not over TCP) all such requests share one bucket.
pub fn client_key(req: &HttpRequest, trust_forwarded_for: bool) -> String {
    let forwarded = trust_forwarded_for
        .then(|| req.headers().get("x-forwarded-for")?.to_str().ok())
        .flatten()
        // The right-most entry is the one our own proxy saw; those to its left are the
        // client's to invent.
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse::<IpAddr>().ok());
    match forwarded.or_else(|| req.peer_addr().map(|a| a.ip())) {
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Some(IpAddr::V4(v4)) => v4.to_string(),
        None => "unknown".to_owned(),
    }
}

async fn track(
    req: HttpRequest,
    state: web::Data<AppState>,
    number: web::Path<String>,
    q: web::Query<TrackQueryParams>,
) -> Result<HttpResponse, ApiError> {
    let settings = &state.tracking;
    let client = client_key(&req, settings.trust_forwarded_for);
    let lookup = Lookup {
        client: &client,
        limit: settings.limit,
        query: TrackQuery::parse(&number, q.date_of_birth.as_deref()),
        now: state.now(),
    };
    let found = store::track(&state.pool, lookup).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(TrackView::from(found)))
}
