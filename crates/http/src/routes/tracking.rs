//! Public tracking: anyone holding a tracking number and the applicant's date of birth may see
//! the status, and nothing else. Rate-limited per client address in PostgreSQL.

use std::net::IpAddr;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use chrono_tz::Tz;
use mawid_domain::document::TrackingNumber;
use mawid_domain::Invalid;
use mawid_persistence::document_requests as store;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::AppState;
use mawid_domain::Code;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/track/{tracking_number}").get(track));
}

#[derive(Deserialize)]
struct TrackQuery {
    date_of_birth: Option<String>,
}

#[derive(Serialize)]
struct TrackView {
    tracking_number: String,
    status: String,
    status_changed_at: String,
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
    q: web::Query<TrackQuery>,
) -> Result<HttpResponse, ApiError> {
    let now = state.now();
    let settings = &state.tracking;
    // Counted before anything is parsed, so malformed guesses spend the budget too.
    let client = client_key(&req, settings.trust_forwarded_for);
    let (hits, window_end) =
        store::count_track_lookup(&state.pool, &client, settings.window, now).await?;
    if hits > settings.max_lookups {
        return Err(ApiError::retry_after(
            Code::RateLimited,
            "too many tracking lookups from this address; wait and try again",
            (window_end - now).num_seconds().max(1) as u64,
        ));
    }

    let date_of_birth = q
        .date_of_birth
        .as_deref()
        .and_then(|d| NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok())
        .ok_or_else(|| {
            Invalid::new("date_of_birth", "the applicant's date of birth, YYYY-MM-DD")
        })?;
    // A malformed number, an unknown one and a wrong date of birth are one answer.
    let number = TrackingNumber::parse(&number).ok_or(ApiError::not_found())?;
    let found = store::track(&state.pool, &number, date_of_birth)
        .await?
        .ok_or(ApiError::not_found())?;
    let tz: Tz = found
        .office_timezone
        .parse()
        .unwrap_or(chrono_tz::Europe::Moscow);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(TrackView {
            tracking_number: found.tracking_number,
            status: found.status,
            status_changed_at: found
                .status_changed_at
                .with_timezone(&tz)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        }))
}
