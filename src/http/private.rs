//! Personal answers stay out of shared caches and off shared computers.
//!
//! The rule, keyed on "this response depends on the caller": a request
//! under `/api/v1` that carries credentials (an `Authorization` header: an
//! access token or an API token) gets its answer — whatever the endpoint,
//! status or body, a 304 too — marked `Cache-Control: private, no-store`,
//! replacing any other directive a handler chose, except a `no-store` the
//! handler already set (a token, a file link: no cache at all may keep
//! those, which is already at least as strict). Every signed-in answer
//! may hold the caller's data (their drafts in a list, their permissions,
//! their progress), so none is stored by a proxy or a browser on a shared
//! computer. `no-store` rather than `private, no-cache` even where there is
//! an `ETag`: a browser would keep a `no-cache` answer on disk, where the
//! next person at an internet café finds it. The validators still work for
//! an app that keeps the last `ETag` itself and sends `If-None-Match` (304,
//! no body: what a metered connection pays for).
//!
//! Every API answer, anonymous ones included, also carries
//! `Vary: Authorization` (added to what is there, e.g. `Accept-Encoding`),
//! so a cache that stores an anonymous answer never serves it to a
//! signed-in request. Anonymous answers are otherwise left as their
//! handlers made them: public reads are not marked private.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::middleware::Next;

/// What personal answers carry.
pub const PRIVATE: &str = "private, no-store";

/// The middleware: see the module's documentation.
pub async fn personal_responses(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let personal = req.headers().contains_key(header::AUTHORIZATION);
    let mut res = next.call(req).await?;
    mark(res.headers_mut(), personal);
    Ok(res)
}

/// Adds `Authorization` to `Vary` and, for a `personal` answer, sets
/// `Cache-Control: private, no-store` unless it already says `no-store`.
pub fn mark(headers: &mut HeaderMap, personal: bool) {
    let no_store = headers
        .get_all(header::CACHE_CONTROL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|d| d.trim().eq_ignore_ascii_case("no-store"));
    if personal && !no_store {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(PRIVATE));
    }
    add_vary(headers, "Authorization");
}

/// Adds `name` to the response's `Vary`, keeping what is there, as one
/// header line (CORS rewrites `Vary` from its first line).
fn add_vary(headers: &mut HeaderMap, name: &str) {
    let present: Vec<String> = headers
        .get_all(header::VARY)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    if present
        .iter()
        .any(|v| v == "*" || v.eq_ignore_ascii_case(name))
    {
        return;
    }
    let joined = present
        .into_iter()
        .chain(std::iter::once(name.to_string()))
        .collect::<Vec<_>>()
        .join(", ");
    if let Ok(value) = HeaderValue::from_str(&joined) {
        headers.insert(header::VARY, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vary(headers: &HeaderMap) -> Vec<String> {
        headers
            .get_all(header::VARY)
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn personal_answers_are_private_and_vary() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=60"),
        );
        mark(&mut h, true);
        assert_eq!(h.get(header::CACHE_CONTROL).unwrap(), PRIVATE);
        assert_eq!(vary(&h), ["Authorization"]);
        // A no-store the handler chose (tokens, links) stays as it is.
        let mut secret = HeaderMap::new();
        secret.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        mark(&mut secret, true);
        assert_eq!(secret.get(header::CACHE_CONTROL).unwrap(), "no-store");
    }

    #[test]
    fn anonymous_answers_keep_their_cache_control() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=60"),
        );
        mark(&mut h, false);
        assert_eq!(h.get(header::CACHE_CONTROL).unwrap(), "public, max-age=60");
        assert_eq!(vary(&h), ["Authorization"]);
        let mut bare = HeaderMap::new();
        mark(&mut bare, false);
        assert!(bare.get(header::CACHE_CONTROL).is_none());
    }

    #[test]
    fn vary_keeps_what_is_there_once() {
        let mut h = HeaderMap::new();
        h.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        h.append(header::VARY, HeaderValue::from_static("Origin"));
        mark(&mut h, true);
        assert_eq!(vary(&h), ["Accept-Encoding, Origin, Authorization"]);
        mark(&mut h, true);
        assert_eq!(vary(&h), ["Accept-Encoding, Origin, Authorization"]);
        let mut star = HeaderMap::new();
        star.insert(header::VARY, HeaderValue::from_static("*"));
        mark(&mut star, false);
        assert_eq!(vary(&star), ["*"]);
    }
}
