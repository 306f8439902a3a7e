//! The one mapping from failures to HTTP: every error is RFC 9457 problem+json with a stable `code`.

use actix_web::dev::ServiceResponse;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use mawid_domain::error::FieldError;
use mawid_domain::Invalid;
use mawid_persistence::StoreError;
use serde::Serialize;

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Invalid(Invalid),
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("{detail}")]
    Unauthenticated {
        code: &'static str,
        detail: &'static str,
    },
    #[error("this account may not do that")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{detail}")]
    Conflict {
        code: &'static str,
        detail: String,
        extra: Option<serde_json::Value>,
    },
    /// A business rule refused an otherwise well-formed request.
    #[error("{detail}")]
    Refused {
        code: &'static str,
        detail: String,
        extra: Option<serde_json::Value>,
    },
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("{detail}")]
    TooManyRequests {
        code: &'static str,
        detail: &'static str,
        retry_after_secs: u64,
    },
    #[error("{detail}")]
    Unavailable {
        code: &'static str,
        detail: &'static str,
    },
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn refused(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Refused {
            code,
            detail: detail.into(),
            extra: None,
        }
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            detail: detail.into(),
            extra: None,
        }
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self::Internal(e.to_string())
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "validation_failed",
            Self::BadRequest { code, .. } => code,
            Self::Unauthenticated { code, .. } => code,
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict { code, .. } => code,
            Self::Refused { code, .. } => code,
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::TooManyRequests { code, .. } => code,
            Self::Unavailable { code, .. } => code,
            Self::Internal(_) => "internal_error",
        }
    }

    /// The answer for a bare status produced outside our handlers (router, actix internals).
    fn for_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => Self::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => Self::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge {
                limit: crate::BODY_LIMIT,
            },
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType,
            StatusCode::UNAUTHORIZED => Self::Unauthenticated {
                code: "unauthenticated",
                detail: "a valid bearer token is required",
            },
            StatusCode::FORBIDDEN => Self::Forbidden,
            s if s.is_client_error() => Self::BadRequest {
                code: "bad_request",
                detail: "the request could not be understood".into(),
            },
            _ => Self::Internal(format!("status {status} without a problem body")),
        }
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    type_: String,
    title: &'static str,
    status: u16,
    detail: String,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    extra: Option<&'a serde_json::Value>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Invalid(_) | Self::Refused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(e) = self {
            tracing::error!(error = %e, "request failed");
        }
        let status = self.status_code();
        let detail = match self {
            // Internals stay in the log, never in the answer.
            Self::Internal(_) => "an unexpected error occurred; it has been logged".to_owned(),
            other => other.to_string(),
        };
        let (errors, extra) = match self {
            Self::Invalid(inv) => (Some(inv.errors.as_slice()), None),
            Self::Conflict { extra, .. } | Self::Refused { extra, .. } => (None, extra.as_ref()),
            _ => (None, None),
        };
        let problem = Problem {
            type_: format!("urn:mawid:problem:{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail,
            code: self.code(),
            errors,
            extra,
        };
        let mut res = HttpResponse::build(status);
        res.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        match self {
            Self::TooManyRequests {
                retry_after_secs, ..
            } => {
                res.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            Self::Unavailable { .. } => {
                res.insert_header((header::RETRY_AFTER, "1"));
            }
            Self::Unauthenticated { .. } => {
                res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            _ => {}
        }
        res.body(serde_json::to_vec(&problem).unwrap_or_default())
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        Self::Invalid(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(code) => Self::conflict(code, conflict_detail(code)),
            StoreError::NotFound => Self::NotFound,
            StoreError::Db(e) => Self::from(e),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                tracing::error!(error = %e, "database unavailable");
                Self::Unavailable {
                    code: "database_unavailable",
                    detail: "the database is not reachable; try again shortly",
                }
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

fn conflict_detail(code: &str) -> String {
    match code {
        "email_taken" => "an account with this email already exists".into(),
        other => other.replace('_', " "),
    }
}

pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let api = match &err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::PayloadTooLarge {
                limit: crate::BODY_LIMIT,
            }
        }
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            ApiError::Invalid(Invalid::new("body", e.to_string()))
        }
        JsonPayloadError::Deserialize(e) => ApiError::BadRequest {
            code: "malformed_json",
            detail: format!("the body is not valid JSON: {e}"),
        },
        JsonPayloadError::Payload(actix_web::error::PayloadError::Overflow) => {
            ApiError::PayloadTooLarge {
                limit: crate::BODY_LIMIT,
            }
        }
        other => ApiError::BadRequest {
            code: "bad_request",
            detail: other.to_string(),
        },
    };
    api.into()
}

pub fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::Invalid(Invalid::new("query", err.to_string())).into()
}

/// A path segment that does not parse (a malformed id) names nothing that exists.
pub fn path_error(_err: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::NotFound.into()
}

/// Rewrites any error response that is not already problem+json, such as the router's 404 and
/// 405 or actix's own 413, so clients see one error shape.
pub fn problem_fallback<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v == HeaderValue::from_static(PROBLEM_JSON));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    // A 405 must say which methods the resource has (RFC 9110 §15.5.6); actix's own answer does.
    let allow = res.headers().get(header::ALLOW).cloned();
    let (req, _) = res.into_parts();
    let mut replaced = ApiError::for_status(status).error_response();
    if let Some(allow) = allow {
        replaced.headers_mut().insert(header::ALLOW, allow);
    }
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, replaced).map_into_right_body(),
    ))
}
