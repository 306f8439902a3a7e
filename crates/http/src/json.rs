//! The JSON body extractor of every route: actix's (size limit, content type and syntax errors
//! as configured in `app`), plus the rule that a body is a JSON object. serde would otherwise
//! read a struct from an array, so `[null, null]` could pass as a request.

use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
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
            serde_json::from_value(value)
                .map(Json)
                .map_err(|e| ApiError::from(Invalid::new("body", e.to_string())).into())
        })
    }
}
