//! The one mapping from failures to HTTP: every error is RFC 9457 problem+json with a stable `code`.

use actix_web::dev::ServiceResponse;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use std::borrow::Cow;

use mawid_domain::account::{self, Language};
use mawid_domain::appointment as booking;
use mawid_domain::catalogue::DraftError;
use mawid_domain::document;
use mawid_domain::error::{FieldError, Step};
use mawid_domain::schedule::{BookingsAffected, RangeRefusal};
use mawid_domain::{Code, Invalid};
use mawid_persistence::accounts::AccountError;
use mawid_persistence::appointments::BookingError;
use mawid_persistence::catalogue::CatalogueError;
use mawid_persistence::document_requests::DocumentError;
use mawid_persistence::schedules::ChangeError;
use mawid_persistence::StoreError;
use serde::Serialize;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// Every failure a handler or extractor answers with: a [`Code`], a human detail and the members
/// that code carries. Each code has one body shape: the constructors below are the only way in.
#[derive(Debug, Clone)]
pub struct ApiError {
    code: Code,
    detail: Cow<'static, str>,
    extension: Extension,
}

#[derive(Debug, Clone)]
enum Extension {
    None,
    /// `validation_failed`: one entry per invalid field.
    Fields(Vec<FieldError>),
    /// `illegal_transition`: `from`, `to` and `allowed`.
    Step(Step),
    /// `bookings_affected`: how many.
    Affected(usize),
    /// Sent as `Retry-After`.
    RetryAfter(u64),
    /// `booking_suspended`: the first date the citizen may book again.
    Until(chrono::NaiveDate),
    /// Logged, never answered.
    Internal(String),
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

/// The one place that decides the HTTP status of each code.
pub fn status_of(code: Code) -> StatusCode {
    use Code::*;
    match code {
        ValidationFailed
        | UnknownTimezone
        | RangeTooLong
        | InvalidRange
        | ServiceNotOffered
        | OffGrid
        | OfficeClosed
        | TooSoon
        | TooFar
        | EmailNotVerified
        | CitizenLimit
        | ServiceLimit
        | PassportLimit
        | IdempotencyKeyReused
        | SameSlot
        | RescheduleLimit
        | BookingSuspended
        | ConfirmationNotRequired
        | ConfirmationNotOpen
        | ConfirmationClosed
        | UnknownOffice
        | UnknownService
        | ServiceNotDocumentary
        | UnknownAppointment
        | DocumentRequestLimit
        | InvalidOrExpiredToken => StatusCode::UNPROCESSABLE_ENTITY,
        MalformedJson | BadRequest => StatusCode::BAD_REQUEST,
        UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        NotFound => StatusCode::NOT_FOUND,
        MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        Unauthenticated | InvalidToken | InvalidCredentials | InvalidRefreshToken
        | RefreshTokenReused | AccountDeactivated => StatusCode::UNAUTHORIZED,
        Forbidden | AccountSuspended => StatusCode::FORBIDDEN,
        TooManyLoginAttempts | RateLimited => StatusCode::TOO_MANY_REQUESTS,
        EmailTaken
        | OfficeCodeTaken
        | ServiceCodeTaken
        | ClosureExists
        | BookingsAffected
        | LastAdmin
        | SlotFull
        | NotBooked
        | IllegalTransition
        | DocumentRequestExists
        | AlreadyWaitlisted
        | ActiveDocumentRequests
        | NotFailed => StatusCode::CONFLICT,
        ServerBusy | DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        InternalError => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ApiError {
    pub fn new(code: Code, detail: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            detail: detail.into(),
            extension: Extension::None,
        }
    }

    pub fn not_found() -> Self {
        Self::new(Code::NotFound, "not found")
    }

    pub fn forbidden() -> Self {
        Self::new(Code::Forbidden, "this account may not do that")
    }

    /// A refused state change; `detail` says it in words.
    pub fn illegal(step: Step, detail: impl Into<Cow<'static, str>>) -> Self {
        Self {
            extension: Extension::Step(step),
            ..Self::new(Code::IllegalTransition, detail)
        }
    }

    /// A limit reached; the client may try again after `secs` seconds.
    pub fn retry_after(code: Code, detail: impl Into<Cow<'static, str>>, secs: u64) -> Self {
        Self {
            extension: Extension::RetryAfter(secs),
            ..Self::new(code, detail)
        }
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self {
            extension: Extension::Internal(e.to_string()),
            ..Self::new(
                Code::InternalError,
                "an unexpected error occurred; it has been logged",
            )
        }
    }

    pub fn code(&self) -> Code {
        self.code
    }

    /// The answer for a bare status produced outside our handlers (router, actix internals).
    fn for_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => Self::not_found(),
            StatusCode::METHOD_NOT_ALLOWED => {
                Self::new(Code::MethodNotAllowed, "method not allowed")
            }
            StatusCode::PAYLOAD_TOO_LARGE => Self::too_large(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::unsupported_media_type(),
            StatusCode::UNAUTHORIZED => {
                Self::new(Code::Unauthenticated, "a valid bearer token is required")
            }
            StatusCode::FORBIDDEN => Self::forbidden(),
            s if s.is_client_error() => {
                Self::new(Code::BadRequest, "the request could not be understood")
            }
            _ => Self::internal(format!("status {status} without a problem body")),
        }
    }

    fn too_large() -> Self {
        Self::new(
            Code::PayloadTooLarge,
            format!("request body larger than {} bytes", crate::BODY_LIMIT),
        )
    }

    fn unsupported_media_type() -> Self {
        Self::new(
            Code::UnsupportedMediaType,
            "expected Content-Type: application/json",
        )
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    type_: String,
    title: &'static str,
    status: u16,
    detail: &'a str,
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    step: Option<&'a Step>,
    #[serde(skip_serializing_if = "Option::is_none")]
    until: Option<chrono::NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    affected_bookings: Option<usize>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status_of(self.code)
    }

    fn error_response(&self) -> HttpResponse {
        if let Extension::Internal(e) = &self.extension {
            tracing::error!(error = %e, "request failed");
        }
        self.render(Language::En)
    }
}

impl ApiError {
    /// The problem in `lang`: the title from the code table, the detail as written for English
    /// clients or in the client's language; `code`, `type` and the members never change.
    fn render(&self, lang: Language) -> HttpResponse {
        let status = self.status_code();
        let detail = self.detail_in(lang);
        let problem = Problem {
            type_: format!("urn:mawid:problem:{}", self.code),
            title: self.code.title_in(lang),
            status: status.as_u16(),
            detail: &detail,
            code: self.code.as_str(),
            errors: match &self.extension {
                Extension::Fields(f) => Some(f.as_slice()),
                _ => None,
            },
            step: match &self.extension {
                Extension::Step(s) => Some(s),
                _ => None,
            },
            until: match self.extension {
                Extension::Until(d) => Some(d),
                _ => None,
            },
            affected_bookings: match self.extension {
                Extension::Affected(n) => Some(n),
                _ => None,
            },
        };
        let mut res = HttpResponse::build(status);
        res.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        res.insert_header((header::CONTENT_LANGUAGE, lang.code()));
        res.insert_header((header::VARY, "Accept-Language"));
        if let Extension::RetryAfter(secs) = self.extension {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        } else if status == StatusCode::SERVICE_UNAVAILABLE {
            res.insert_header((header::RETRY_AFTER, "1"));
        }
        if status == StatusCode::UNAUTHORIZED {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        res.body(serde_json::to_vec(&problem).unwrap_or_default())
    }
}

impl ApiError {
    /// English details are written at the failure and may carry specifics; in Arabic and Russian
    /// the detail is said from the code, with the fields or the wait it concerns.
    fn detail_in(&self, lang: Language) -> Cow<'_, str> {
        if lang == Language::En {
            return Cow::Borrowed(&self.detail);
        }
        match &self.extension {
            Extension::Fields(fields) => {
                let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
                let names = names.join(", ");
                Cow::Owned(match lang {
                    Language::Ar => format!("تحقق من هذه الحقول: {names}"),
                    _ => format!("Проверьте эти поля: {names}"),
                })
            }
            Extension::RetryAfter(secs) => Cow::Owned(match lang {
                Language::Ar => {
                    format!("{}؛ حاول مجددًا بعد {secs} ثانية", self.code.title_in(lang))
                }
                _ => format!("{}; повторите через {secs} с", self.code.title_in(lang)),
            }),
            Extension::Step(step) => Cow::Owned(format!(
                "{}: {} → {}",
                self.code.title_in(lang),
                step.from,
                step.to
            )),
            _ => Cow::Borrowed(self.code.title_in(lang)),
        }
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        Self {
            detail: e.to_string().into(),
            extension: Extension::Fields(e.errors),
            code: Code::ValidationFailed,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(code) => Self::new(code, conflict_detail(code)),
            StoreError::NotFound => Self::not_found(),
            StoreError::Db(e) => Self::from(e),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if mawid_persistence::is_unavailable(&e) {
            tracing::error!(error = %e, "database unavailable");
            return Self::retry_after(
                Code::DatabaseUnavailable,
                "the database is not reachable; try again shortly",
                DATABASE_RETRY_AFTER_SECS,
            );
        }
        Self::internal(e)
    }
}

/// A restart of PostgreSQL takes about a second or two; clients should not come back sooner.
const DATABASE_RETRY_AFTER_SECS: u64 = 2;

impl From<booking::Refusal> for ApiError {
    fn from(r: booking::Refusal) -> Self {
        let e = ApiError::new(r.code(), r.to_string());
        match r {
            booking::Refusal::Suspended { until } => Self {
                extension: Extension::Until(until),
                ..e
            },
            _ => e,
        }
    }
}

impl From<BookingsAffected> for ApiError {
    fn from(a: BookingsAffected) -> Self {
        Self {
            extension: Extension::Affected(a.count),
            ..Self::new(a.code(), a.to_string())
        }
    }
}

impl From<mawid_domain::stats::StatsRangeRefusal> for ApiError {
    fn from(r: mawid_domain::stats::StatsRangeRefusal) -> Self {
        ApiError::new(r.code(), r.to_string())
    }
}

impl From<RangeRefusal> for ApiError {
    fn from(r: RangeRefusal) -> Self {
        ApiError::new(r.code(), r.to_string())
    }
}

impl From<DraftError> for ApiError {
    fn from(e: DraftError) -> Self {
        match e {
            DraftError::Invalid(e) => e.into(),
            DraftError::UnknownTimezone(e) => ApiError::new(Code::UnknownTimezone, e.to_string()),
        }
    }
}

impl From<CatalogueError> for ApiError {
    fn from(e: CatalogueError) -> Self {
        match e {
            CatalogueError::Draft(d) => d.into(),
            CatalogueError::Refused(r) => r.into(),
            CatalogueError::Store(s) => s.into(),
        }
    }
}

impl From<BookingError> for ApiError {
    fn from(e: BookingError) -> Self {
        match e {
            BookingError::Refused(r) => r.into(),
            BookingError::KeyReused => ApiError::new(Code::IdempotencyKeyReused, e.to_string()),
            BookingError::Illegal(t) => ApiError::illegal(t.step(), t.to_string()),
            BookingError::Untimely(t) => ApiError::illegal(t.step(), t.to_string()),
            BookingError::Unknown(field) => {
                Invalid::new(field, "no such active entry in the catalogue").into()
            }
            BookingError::Invalid(i) => i.into(),
            BookingError::Store(s) => s.into(),
        }
    }
}

impl From<ChangeError> for ApiError {
    fn from(e: ChangeError) -> Self {
        match e {
            ChangeError::Affected(a) => a.into(),
            ChangeError::Booking(b) => b.into(),
        }
    }
}

impl From<DocumentError> for ApiError {
    fn from(e: DocumentError) -> Self {
        match e {
            DocumentError::Refused(document::Refusal::IllegalTransition(t)) => {
                let detail = format!(
                    "{t}; allowed from {}: {}",
                    t.from.code(),
                    match t.allowed_codes().as_slice() {
                        [] => "none".to_owned(),
                        codes => codes.join(", "),
                    }
                );
                ApiError::illegal(t.step(), detail)
            }
            DocumentError::Refused(r) => ApiError::new(r.code(), r.to_string()),
            DocumentError::Store(e) => e.into(),
        }
    }
}

impl From<account::Refusal> for ApiError {
    fn from(r: account::Refusal) -> Self {
        match r {
            account::Refusal::Locked { retry_after_secs } => {
                ApiError::retry_after(r.code(), r.to_string(), retry_after_secs)
            }
            _ => ApiError::new(r.code(), r.to_string()),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Refused(r) => r.into(),
            AccountError::Store(e) => e.into(),
        }
    }
}

fn conflict_detail(code: Code) -> String {
    match code {
        Code::EmailTaken => "an account with this email already exists".into(),
        Code::NotFailed => "only a failed notification can be sent again".into(),
        other => other.as_str().replace('_', " "),
    }
}

pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let api = match &err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::too_large()
        }
        JsonPayloadError::ContentType => ApiError::unsupported_media_type(),
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            Invalid::new("body", e.to_string()).into()
        }
        JsonPayloadError::Deserialize(e) => ApiError::new(
            Code::MalformedJson,
            format!("the body is not valid JSON: {e}"),
        ),
        JsonPayloadError::Payload(actix_web::error::PayloadError::Overflow) => {
            ApiError::too_large()
        }
        other => ApiError::new(Code::BadRequest, other.to_string()),
    };
    api.into()
}

pub fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::from(Invalid::new("query", err.to_string())).into()
}

/// A path segment that does not parse (a malformed id) names nothing that exists.
pub fn path_error(_err: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::not_found().into()
}

/// Rewrites any error response that is not already problem+json, such as the router's 404 and
/// 405 or actix's own 413, so clients see one error shape.
pub fn problem_fallback<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let lang = Language::negotiate(
        res.request()
            .headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v == HeaderValue::from_static(PROBLEM_JSON));
    if is_problem {
        // Our own errors were rendered in English before the request's language was known.
        let localized = match res.response().error() {
            Some(e) if lang != Language::En => e.as_error::<ApiError>().map(|a| a.render(lang)),
            _ => None,
        };
        let Some(mut localized) = localized else {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        };
        for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
            if let Some(v) = res.headers().get(&name).cloned() {
                localized.headers_mut().insert(name, v);
            }
        }
        let (req, _) = res.into_parts();
        return Ok(ErrorHandlerResponse::Response(
            ServiceResponse::new(req, localized).map_into_right_body(),
        ));
    }
    let status = res.status();
    // A 405 must say which methods the resource has (RFC 9110 §15.5.6); actix's own answer does.
    let allow = res.headers().get(header::ALLOW).cloned();
    let (req, _) = res.into_parts();
    let api = ApiError::for_status(status);
    if let Extension::Internal(e) = &api.extension {
        tracing::error!(error = %e, "request failed");
    }
    let mut replaced = api.render(lang);
    if let Some(allow) = allow {
        replaced.headers_mut().insert(header::ALLOW, allow);
    }
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, replaced).map_into_right_body(),
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_contract_lists_exactly_the_code_table() {
        let spec: serde_yaml::Value = serde_yaml::from_str(crate::OPENAPI_YAML).unwrap();
        let listed: BTreeSet<&str> = spec["components"]["schemas"]["Problem"]["properties"]["code"]
            ["enum"]
            .as_sequence()
            .expect("Problem.code is an enum")
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let table: BTreeSet<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, table);
    }

    #[test]
    fn every_code_answers_an_error_status() {
        for &code in Code::ALL {
            let status = status_of(code);
            assert!(
                status.is_client_error() || status.is_server_error(),
                "{code}: {status}"
            );
        }
    }

    #[test]
    fn a_problem_carries_its_code_title_and_only_its_own_members() {
        let res = ApiError::new(Code::SlotFull, "the slot is full").error_response();
        assert_eq!(res.status(), StatusCode::CONFLICT);
        let body = actix_web::body::to_bytes(res.into_body());
        let body: serde_json::Value = serde_json::from_slice(
            &futures_util::FutureExt::now_or_never(body)
                .unwrap()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "type": "urn:mawid:problem:slot_full",
                "title": Code::SlotFull.title(),
                "status": 409,
                "detail": "the slot is full",
                "code": "slot_full",
            })
        );
    }

    #[test]
    fn an_internal_error_keeps_its_cause_out_of_the_answer() {
        let e = ApiError::internal("connection string postgres://secret@db");
        let res = e.error_response();
        let body = actix_web::body::to_bytes(res.into_body());
        let bytes = futures_util::FutureExt::now_or_never(body)
            .unwrap()
            .unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("secret"));
    }
}
