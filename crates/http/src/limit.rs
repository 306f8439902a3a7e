//! The rate limits as the handlers use them: the client address a limit counts against, and one
//! call per limit that answers `429 rate_limited` with `Retry-After` when it is reached.

use std::future::{ready, Ready};
use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use mawid_domain::limit::{Decision, LimitName, Limits};
use mawid_domain::Code;
use mawid_persistence::limits::{self, Hit};

use crate::error::ApiError;
use crate::AppState;

/// The limits in force and how clients are told apart.
#[derive(Debug, Clone, Default)]
pub struct AbuseSettings {
    pub limits: Limits,
    /// Take the client address from the right-most `X-Forwarded-For` entry. Only behind a
    /// reverse proxy that sets it: otherwise any client could pick its own address.
    pub trust_forwarded_for: bool,
}

/// The address a per-client limit counts against (product.md v1.1, "Client address"). IPv6
/// clients usually hold a whole /64, so that is the unit; without an address (not over TCP)
/// all such requests share one bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr(pub String);

impl ClientAddr {
    pub fn of(req: &HttpRequest, trust_forwarded_for: bool) -> Self {
        let forwarded = trust_forwarded_for
            .then(|| req.headers().get("x-forwarded-for")?.to_str().ok())
            .flatten()
            // The right-most entry is the one our own proxy saw; those to its left are the
            // client's to invent.
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok());
        Self(
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
            },
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromRequest for ClientAddr {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let trust = req
            .app_data::<web::Data<AppState>>()
            .is_some_and(|s| s.abuse.trust_forwarded_for);
        ready(Ok(Self::of(req, trust)))
    }
}

/// The answer to a request over a limit.
pub fn refusal(name: LimitName, secs: u64) -> ApiError {
    let detail = match name {
        LimitName::LoginFailures | LimitName::LoginAccount => {
            return ApiError::retry_after(
                Code::TooManyLoginAttempts,
                "too many failed sign-ins; wait and try again",
                secs,
            )
        }
        LimitName::Track => "too many tracking lookups from this address; wait and try again",
        LimitName::TrackFailures => {
            "too many failed lookups of this tracking number; wait and try again"
        }
        LimitName::Booking => "too many booking changes from this account; wait and try again",
        LimitName::Waitlist => "too many waitlist joins from this account; wait and try again",
        LimitName::DocumentRequest => {
            "too many document requests from this account; wait and try again"
        }
        _ => "too many requests from this address; wait and try again",
    };
    ApiError::retry_after(Code::RateLimited, detail, secs)
}

impl AppState {
    /// Counts one hit of `name` for `key`, refused with a 429 over the limit.
    pub async fn limit(&self, name: LimitName, key: &str) -> Result<Hit, ApiError> {
        let hit = self.count(name, key).await?;
        match hit.decision {
            Decision::Allowed => Ok(hit),
            Decision::RetryAfter(secs) => Err(refusal(name, secs)),
        }
    }

    /// Counts one hit and returns it decided, for the caller to refuse (or give back).
    pub async fn count(&self, name: LimitName, key: &str) -> Result<Hit, ApiError> {
        let now = self.now();
        let rate = self.abuse.limits.rate(name);
        Ok(limits::hit(&self.pool, name, key, rate, now).await?)
    }
}
