//! Public reads a client or a CDN may keep: a strong `ETag` over the exact body, a
//! `Cache-Control` saying for how long, and `304 Not Modified` when `If-None-Match` names the
//! current tag, so a release storm is absorbed before it reaches the database twice.

use actix_web::http::header::{self, EntityTag, Header, IfNoneMatch};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// How long a shared cache may serve a read without asking again.
#[derive(Debug, Clone, Copy)]
pub enum Freshness {
    /// Offices and services change when an admin edits them: rarely.
    Catalogue,
    /// Free slots change with every booking: a few seconds only, but enough to fold a burst.
    Availability,
}

impl Freshness {
    fn cache_control(self) -> &'static str {
        match self {
            Self::Catalogue => "public, max-age=60",
            Self::Availability => "public, max-age=5",
        }
    }
}

/// The tag of a body: the same bytes always give the same tag, on every server process.
fn tag_of(body: &[u8]) -> EntityTag {
    let digest = Sha256::digest(body);
    EntityTag::new_strong(hex::encode(&digest[..16]))
}

/// Whether `If-None-Match` names `current`. RFC 9110 §13.1.2 compares weakly here: `W/"x"`
/// matches `"x"`; `*` matches any current representation. A header that does not parse is
/// ignored, as if absent, so the client gets the full answer.
fn not_modified(req: &HttpRequest, current: &EntityTag) -> bool {
    if !req.headers().contains_key(header::IF_NONE_MATCH) {
        return false;
    }
    match IfNoneMatch::parse(req) {
        Ok(IfNoneMatch::Any) => true,
        Ok(IfNoneMatch::Items(tags)) => tags.iter().any(|t| t.weak_eq(current)),
        Err(_) => false,
    }
}

/// `200` with `value` as JSON, or `304` when the client already holds it; both carry the tag and
/// the freshness, as RFC 9110 §15.4.5 asks of a 304.
pub fn json<T: Serialize>(
    req: &HttpRequest,
    value: &T,
    freshness: Freshness,
) -> Result<HttpResponse, ApiError> {
    let (body, tag) = encode(value)?;
    Ok(respond(req, body, &tag, freshness))
}

/// The JSON body of `value` and its tag, to answer now or to keep.
pub fn encode<T: Serialize>(value: &T) -> Result<(Bytes, EntityTag), ApiError> {
    let body = Bytes::from(serde_json::to_vec(value).map_err(ApiError::internal)?);
    let tag = tag_of(&body);
    Ok((body, tag))
}

/// The answer for a body already encoded (its bytes are shared, not copied).
pub fn respond(
    req: &HttpRequest,
    body: Bytes,
    tag: &EntityTag,
    freshness: Freshness,
) -> HttpResponse {
    let fresh = not_modified(req, tag);
    let mut res = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header(header::ETag(tag.clone()))
        .insert_header((header::CACHE_CONTROL, freshness.cache_control()));
    if fresh {
        res.finish()
    } else {
        res.content_type("application/json").body(body)
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn asking(if_none_match: &str) -> HttpRequest {
        TestRequest::default()
            .insert_header((header::IF_NONE_MATCH, if_none_match))
            .to_http_request()
    }

    #[test]
    fn if_none_match_compares_weakly_and_takes_any_or_a_list() {
        let tag = tag_of(b"{}");
        let strong = format!("\"{}\"", tag.tag());
        assert!(not_modified(&asking(&strong), &tag));
        assert!(not_modified(&asking(&format!("W/{strong}")), &tag));
        assert!(not_modified(&asking(&format!("\"other\", {strong}")), &tag));
        assert!(not_modified(&asking("*"), &tag));
        assert!(!not_modified(&asking("\"other\""), &tag));
        assert!(!not_modified(&asking("not a tag"), &tag));
        assert!(!not_modified(
            &TestRequest::default().to_http_request(),
            &tag
        ));
    }

    #[test]
    fn the_tag_follows_the_bytes() {
        assert_eq!(tag_of(b"[1]"), tag_of(b"[1]"));
        assert_ne!(tag_of(b"[1]"), tag_of(b"[2]"));
        assert!(!tag_of(b"[1]").weak);
    }
}
