//! Strong ETags for single objects: `If-None-Match` → 304 on reads,
//! `If-Match` → 412 on a stale write.
//!
//! The tag is a hash of the object's JSON representation, so it changes
//! exactly when what the client sees changes. A handler answers reads with
//! [`respond`] and, before a PATCH or DELETE, calls [`check_if_match`] with
//! the tag of the current representation.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// The strong ETag (with quotes) of a representation.
pub fn etag_of(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..18]))
}

/// The ETag of a value's JSON representation.
pub fn etag_of_json<T: Serialize>(value: &T) -> Result<String, ApiError> {
    let body = serde_json::to_vec(value).map_err(ApiError::internal)?;
    Ok(etag_of(&body))
}

/// Content codings whose tags get a suffix (a strong validator must differ
/// between the identity and the compressed bytes, RFC 9110 §8.8.3).
const CODINGS: [&str; 4] = ["gzip", "br", "zstd", "deflate"];

/// After compression: `"tag"` → `"tag-gzip"` for a compressed body.
pub fn mark_content_coding(headers: &mut actix_web::http::header::HeaderMap) {
    let Some(coding) = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .filter(|c| CODINGS.contains(c))
        .map(str::to_owned)
    else {
        return;
    };
    let Some(tag) = headers.get(header::ETAG).and_then(|v| v.to_str().ok()) else {
        return;
    };
    if tag.starts_with("W/") || !tag.ends_with('"') {
        return;
    }
    let marked = format!("{}-{coding}\"", &tag[..tag.len() - 1]);
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&marked) {
        headers.insert(header::ETAG, value);
    }
}

/// The representation-independent part of a tag (`"x-gzip"` → `"x"`).
fn strip_coding(tag: &str) -> std::borrow::Cow<'_, str> {
    for coding in CODINGS {
        if let Some(base) = tag.strip_suffix(&format!("-{coding}\"")) {
            return format!("{base}\"").into();
        }
    }
    tag.into()
}

/// Splits a header like `"a", W/"b"` into its tags.
fn tags(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|t| !t.is_empty())
}

/// Weak comparison (RFC 9110 §8.8.3.2), used by `If-None-Match`.
fn matches_weak(list: &str, etag: &str) -> bool {
    tags(list).any(|t| t == "*" || strip_coding(t.trim_start_matches("W/")) == etag)
}

/// Strong comparison, used by `If-Match`: weak tags never match.
fn matches_strong(list: &str, etag: &str) -> bool {
    tags(list).any(|t| t == "*" || (!t.starts_with("W/") && strip_coding(t) == etag))
}

/// Answers a read with the value, its ETag, or 304 when the client's copy
/// is current.
/// Answers `value` under the strong tag `etag` computed by the caller (a
/// representation with derived parts the tag leaves out, see
/// `api::resources::show`), or 304 when the client's copy is current.
pub fn respond_tagged<T: Serialize>(
    req: &HttpRequest,
    etag: String,
    value: &T,
) -> Result<HttpResponse, ApiError> {
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| matches_weak(v, &etag));
    if fresh {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    let body = serde_json::to_vec(value).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag))
        .content_type("application/json")
        .body(body))
}

pub fn respond<T: Serialize>(req: &HttpRequest, value: &T) -> Result<HttpResponse, ApiError> {
    respond_with_status(req, StatusCode::OK, value)
}

pub fn respond_with_status<T: Serialize>(
    req: &HttpRequest,
    status: StatusCode,
    value: &T,
) -> Result<HttpResponse, ApiError> {
    let body = serde_json::to_vec(value).map_err(ApiError::internal)?;
    let etag = etag_of(&body);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| matches_weak(v, &etag));
    if fresh {
        // RFC 9110 §13.1.2: 304 for reads, 412 for anything else.
        if matches!(
            *req.method(),
            actix_web::http::Method::GET | actix_web::http::Method::HEAD
        ) {
            return Ok(HttpResponse::NotModified()
                .insert_header((header::ETAG, etag))
                .finish());
        }
        return Err(ApiError::PreconditionFailed);
    }
    Ok(HttpResponse::build(status)
        .insert_header((header::ETAG, etag))
        .content_type("application/json")
        .body(body))
}

/// Answers a read with bytes already rendered (RDF, XML…) of
/// `content_type`, their strong ETag, or 304 when the client's copy is current.
pub fn respond_bytes(req: &HttpRequest, body: Vec<u8>, content_type: &str) -> HttpResponse {
    let etag = etag_of(&body);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| matches_weak(v, &etag));
    if fresh {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish();
    }
    HttpResponse::Ok()
        .insert_header((header::ETAG, etag))
        .content_type(content_type)
        .body(body)
}

/// Answers a list page (already JSON) with a weak ETag (a page is
/// equivalent, not byte-identical, across codings and orders of keys it
/// does not promise), or 304 when the client's copy is current.
pub fn respond_weak(req: &HttpRequest, body: Vec<u8>, link: Option<String>) -> HttpResponse {
    let strong = etag_of(&body);
    let etag = format!("W/{strong}");
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| matches_weak(v, &strong));
    let mut res = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::ETAG, etag));
    if let Some(link) = link {
        res.insert_header((header::LINK, link));
    }
    if fresh {
        res.finish()
    } else {
        res.content_type("application/json").body(body)
    }
}

/// Marks a read answered to an anonymous caller as reusable by any cache,
/// after revalidation (`If-None-Match`): the public catalogue changes
/// without notice, so nothing is served unchecked; a signed-in caller's
/// answer is not marked here.
pub fn public_read(res: &mut HttpResponse, anonymous: bool) {
    if !anonymous {
        return;
    }
    let headers = res.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("public, no-cache"),
    );
    headers.append(
        header::VARY,
        header::HeaderValue::from_static("Authorization"),
    );
}

/// Fails with 412 when the request's `If-Match` names another version.
/// No `If-Match` header means the client takes the risk of a lost update.
pub fn check_if_match(req: &HttpRequest, current_etag: &str) -> Result<(), ApiError> {
    check_if_match_value(if_match(req).as_deref(), current_etag)
}

/// The request's `If-Match` header (`Some("")` when it is not text, which
/// matches nothing), to check later off the request's thread.
pub fn if_match(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::IF_MATCH)
        .filter(|v| !v.as_bytes().iter().all(u8::is_ascii_whitespace))
        .map(|v| v.to_str().map(str::to_owned).unwrap_or_default())
}

/// [`check_if_match`] on a header value taken with [`if_match`].
pub fn check_if_match_value(header: Option<&str>, current_etag: &str) -> Result<(), ApiError> {
    match header {
        // No header (or an empty one): the client takes the risk.
        None => Ok(()),
        Some(list) if matches_strong(list, current_etag) => Ok(()),
        Some(_) => Err(ApiError::PreconditionFailed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use serde_json::json;

    #[test]
    fn etag_is_strong_and_content_addressed() {
        let a = etag_of(b"{\"a\":1}");
        assert!(a.starts_with('"') && a.ends_with('"') && !a.starts_with("W/"));
        assert_eq!(a, etag_of(b"{\"a\":1}"));
        assert_ne!(a, etag_of(b"{\"a\":2}"));
    }

    #[test]
    fn if_none_match_gives_304_only_for_the_current_tag() {
        let value = json!({"title": "Maize yields"});
        let etag = etag_of_json(&value).unwrap();
        let cases = [
            (None, StatusCode::OK),
            (Some(etag.clone()), StatusCode::NOT_MODIFIED),
            (Some(format!("W/{etag}")), StatusCode::NOT_MODIFIED),
            (Some(format!("\"other\", {etag}")), StatusCode::NOT_MODIFIED),
            (Some("*".to_string()), StatusCode::NOT_MODIFIED),
            (Some("\"stale\"".to_string()), StatusCode::OK),
        ];
        for (header_value, expected) in cases {
            let mut req = TestRequest::get();
            if let Some(h) = &header_value {
                req = req.insert_header((header::IF_NONE_MATCH, h.as_str()));
            }
            let res = respond(&req.to_http_request(), &value).unwrap();
            assert_eq!(res.status(), expected, "If-None-Match: {header_value:?}");
            assert_eq!(res.headers().get(header::ETAG).unwrap(), etag.as_str());
        }
    }

    #[test]
    fn compressed_tags_differ_but_still_match() {
        let mut headers = actix_web::http::header::HeaderMap::new();
        headers.insert(header::ETAG, "\"abc\"".parse().unwrap());
        headers.insert(header::CONTENT_ENCODING, "gzip".parse().unwrap());
        mark_content_coding(&mut headers);
        assert_eq!(headers.get(header::ETAG).unwrap(), "\"abc-gzip\"");
        assert!(matches_weak("\"abc-gzip\"", "\"abc\""));
        assert!(matches_strong("\"abc-br\"", "\"abc\""));
        assert!(!matches_strong("\"abd-br\"", "\"abc\""));
    }

    #[test]
    fn if_none_match_on_a_write_is_412() {
        let value = json!({"a": 1});
        let etag = etag_of_json(&value).unwrap();
        let req = TestRequest::put()
            .insert_header((header::IF_NONE_MATCH, "*"))
            .to_http_request();
        assert!(matches!(
            respond(&req, &value),
            Err(ApiError::PreconditionFailed)
        ));
        let req = TestRequest::put()
            .insert_header((header::IF_NONE_MATCH, "\"other\""))
            .to_http_request();
        assert_eq!(respond(&req, &value).unwrap().status(), StatusCode::OK);
        let _ = etag;
    }

    #[test]
    fn if_match_gives_412_on_a_stale_or_weak_tag() {
        let current = etag_of(b"v2");
        let cases = [
            (None, true),
            (Some(current.clone()), true),
            (Some("*".to_string()), true),
            (Some(etag_of(b"v1")), false),
            (Some(format!("W/{current}")), false),
            (Some(format!("{}, {current}", etag_of(b"v1"))), true),
        ];
        for (header_value, ok) in cases {
            let mut req = TestRequest::patch();
            if let Some(h) = &header_value {
                req = req.insert_header((header::IF_MATCH, h.as_str()));
            }
            let result = check_if_match(&req.to_http_request(), &current);
            assert_eq!(result.is_ok(), ok, "If-Match: {header_value:?}");
            if !ok {
                assert!(matches!(result, Err(ApiError::PreconditionFailed)));
            }
        }
    }
}
