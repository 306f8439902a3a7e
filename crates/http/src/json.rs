//! The JSON body extractor of every route: actix's (size limit, content type and syntax errors
//! as configured in `app`), plus the rule that a body is a JSON object. serde would otherwise
//! read a struct from an array, so `[null, null]` could pass as a request.

use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use mawid_domain::Invalid;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let value = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let value = value.await?.into_inner();
            if !value.is_object() {
                return Err(ApiError::from(Invalid::new("body", "a JSON object")).into());
            }
            refuse_nul(&value, "")?;
            serde_json::from_value(value)
                .map(Json)
                .map_err(|e| ApiError::from(Invalid::new("body", e.to_string())).into())
        })
    }
}

/// A NUL character in any string of the body (PostgreSQL text cannot hold one) is a 422 naming
/// the field, not a 500 from the database.
fn refuse_nul(value: &serde_json::Value, path: &str) -> Result<(), ApiError> {
    let field = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        serde_json::Value::String(s) if s.contains('\0') => Err(Invalid::new(
            if path.is_empty() { "body" } else { path },
            "no NUL characters",
        )
        .into()),
        serde_json::Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            if k.contains('\0') {
                return Err(Invalid::new("body", "no NUL characters").into());
            }
            refuse_nul(v, &field(k))
        }),
        serde_json::Value::Array(items) => items.iter().try_for_each(|v| refuse_nul(v, path)),
        _ => Ok(()),
    }
}

/// A JSON body that may be left out: no body at all is `None`; a body that is there must be a
/// JSON object of `T` like any other (`{not json` is a 400, `{"reason": 5}` a 422), so a
/// client's mistake never passes for "no body" and lets the action happen.
pub struct OptionalJson<T>(pub Option<T>);

impl<T> OptionalJson<T> {
    pub fn into_inner(self) -> Option<T> {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let bytes = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let bytes = bytes.await?;
            if bytes.is_empty() {
                return Ok(Self(None));
            }
            let is_json = req.mime_type().ok().flatten().is_some_and(|m| {
                m.subtype() == actix_web::mime::JSON || m.suffix() == Some(actix_web::mime::JSON)
            });
            if !is_json {
                return Err(crate::error::json_error(
                    actix_web::error::JsonPayloadError::ContentType,
                    &req,
                ));
            }
            let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
                crate::error::json_error(actix_web::error::JsonPayloadError::Deserialize(e), &req)
            })?;
            if !value.is_object() {
                return Err(ApiError::from(Invalid::new("body", "a JSON object")).into());
            }
            refuse_nul(&value, "")?;
            serde_json::from_value(value)
                .map(|v| Self(Some(v)))
                .map_err(|e| ApiError::from(Invalid::new("body", e.to_string())).into())
        })
    }
}
