//! `Idempotency-Key` on POST: the first successful response for a key is
//! stored and replayed for every retry with the same key and body; the same
//! key with another body is a 422; a retry while the first request still
//! runs is a 409. Failed requests (4xx/5xx) free the key so the client can
//! correct and retry, and so do responses marked `Cache-Control: no-store`
//! (tokens, secrets shown once): those are never stored.
//!
//! Keys are scoped to the caller: the authentication layer puts an
//! [`IdempotencyScope`] (the principal) into the request's extensions;
//! without one, a hash of the `Authorization` header is used, or
//! `anonymous`.

use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody, to_bytes};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};
use chrono::Utc;
use sha2::{Digest, Sha256};

use crate::db::Db;
use crate::db::idempotency::{self, Begin, StoredResponse};
use crate::error::{ApiError, FieldCode, FieldError};
use crate::http::json::{body_limit, body_timeout, read_body};
use crate::problem_types::ProblemType;

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// Who the key belongs to; set by the authentication layer.
#[derive(Debug, Clone)]
pub struct IdempotencyScope(pub String);

/// How long keys live; shared through app data.
#[derive(Debug, Clone, Copy)]
pub struct IdempotencyTtl(pub Duration);

/// A reservation that never completed (its server died mid-request) is
/// taken over after this. Long enough that no live request (bounded by
/// timeouts and the shutdown drain) still holds it.
pub const ABANDONED_AFTER: Duration = Duration::from_secs(600);

/// Response headers worth replaying.
const KEPT_HEADERS: [header::HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::LOCATION,
    header::ETAG,
    header::LINK,
];

pub fn validate_key(key: &str) -> Result<(), ApiError> {
    let ok = (1..=255).contains(&key.len()) && key.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::validation(vec![FieldError::new(
            "Idempotency-Key",
            FieldCode::InvalidFormat,
            "Must be 1–255 visible ASCII characters (a UUID is a good choice).",
        )]))
    }
}

/// Fingerprint of what the request asks for.
pub fn request_hash(method: &str, path: &str, query: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b" ");
    h.update(path.as_bytes());
    h.update(b"?");
    h.update(query.as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

fn scope_of(req: &ServiceRequest) -> String {
    if let Some(scope) = req.extensions().get::<IdempotencyScope>() {
        return scope.0.clone();
    }
    match req.headers().get(header::AUTHORIZATION) {
        Some(auth) => format!("auth:{}", hex::encode(Sha256::digest(auth.as_bytes()))),
        None => "anonymous".to_string(),
    }
}

pub async fn idempotency(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let key = match req.headers().get(HEADER) {
        Some(v) if req.method() == Method::POST => v.to_str().unwrap_or("\u{0}").to_owned(),
        _ => {
            return next
                .call(req)
                .await
                .map(ServiceResponse::map_into_boxed_body);
        }
    };
    // Errors before the handler runs answer here, as responses, so they
    // keep their route for the metrics.
    macro_rules! answer {
        ($req:expr, $result:expr) => {
            match $result {
                Ok(v) => v,
                Err(err) => return Ok($req.error_response(ApiError::from(err))),
            }
        };
    }
    answer!(req, validate_key(&key));
    let db = answer!(
        req,
        req.app_data::<web::Data<Db>>()
            .cloned()
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no database in app data")))
    );
    let limit = body_limit(req.request());
    let timeout = body_timeout(req.request());
    let ttl = req
        .app_data::<web::Data<IdempotencyTtl>>()
        .map(|t| t.0)
        .unwrap_or(Duration::from_secs(24 * 3600));

    let body = answer!(req, read_body(req.take_payload(), limit, timeout).await);
    let hash = request_hash(req.method().as_str(), req.path(), req.query_string(), &body);
    req.set_payload(actix_web::dev::Payload::from(body));
    let scope = scope_of(&req);

    let now = Utc::now().naive_utc();
    let expired_before = now - chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(1));
    let abandoned_before =
        now - chrono::Duration::from_std(ABANDONED_AFTER).unwrap_or(chrono::Duration::minutes(1));
    let token = uuid::Uuid::now_v7().to_string();
    let begin = {
        let (scope, key, hash, token) = (scope.clone(), key.clone(), hash.clone(), token.clone());
        answer!(
            req,
            db.run(move |conn| {
                idempotency::begin(
                    conn,
                    &idempotency::Reservation {
                        scope: &scope,
                        key: &key,
                        request_hash: &hash,
                        token: &token,
                    },
                    now,
                    expired_before,
                    abandoned_before,
                )
            })
            .await
        )
    };
    match begin {
        Begin::Proceed => {}
        Begin::Replay(stored) => {
            let (http_req, _) = req.into_parts();
            return Ok(ServiceResponse::new(http_req, replay(&stored)));
        }
        Begin::Mismatch => {
            return Ok(req.error_response(ApiError::Unprocessable {
                problem: ProblemType::IdempotencyKeyReused,
                detail: "This Idempotency-Key was already used for a different request body or \
                         path; use a new key for a new request."
                    .into(),
                errors: Vec::new(),
            }));
        }
        Begin::InProgress => {
            let err = ApiError::Conflict {
                problem: ProblemType::IdempotencyKeyInUse,
                detail:
                    "The first request with this Idempotency-Key has not finished; retry shortly."
                        .into(),
            };
            let (http_req, _) = req.into_parts();
            let mut res = actix_web::ResponseError::error_response(&err);
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return Ok(ServiceResponse::new(http_req, res));
        }
    }

    // The request runs in its own task: if the client disconnects, the
    // work still finishes and its response is stored for the retry, instead
    // of leaving a reservation behind a create that did commit.
    let fut = next.call(req);
    let task = actix_web::rt::spawn(async move {
        let result = fut.await;
        settle(db, scope, key, token, result).await
    });
    match task.await {
        Ok(result) => result,
        Err(err) => Err(ApiError::internal(anyhow::anyhow!("request task failed: {err}")).into()),
    }
}

/// Stores a successful response under the key, or frees the key.
async fn settle(
    db: web::Data<Db>,
    scope: String,
    key: String,
    token: String,
    result: Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let release = |db: web::Data<Db>, scope: String, key: String, token: String| async move {
        if let Err(err) = db
            .run(move |conn| idempotency::release(conn, &scope, &key, &token))
            .await
        {
            tracing::warn!(error = %err, "could not release an idempotency key");
        }
    };
    let res = match result {
        Ok(res) => res,
        Err(err) => {
            release(db, scope, key, token).await;
            return Err(err);
        }
    };
    // Failures free the key; so do responses that must never be stored
    // (tokens and other secrets are sent with `Cache-Control: no-store`).
    let no_store = res
        .headers()
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("no-store"));
    if !res.status().is_success() || no_store {
        release(db, scope, key, token).await;
        return Ok(res.map_into_boxed_body());
    }
    let (http_req, res) = res.into_parts();
    let status = res.status();
    let headers: Vec<(String, String)> = KEPT_HEADERS
        .iter()
        .filter_map(|name| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| (name.as_str().to_owned(), v.to_owned()))
        })
        .collect();
    let (head, body) = res.into_parts();
    let Ok(bytes) = to_bytes(body).await else {
        release(db, scope, key, token).await;
        return Err(ApiError::internal(anyhow::anyhow!("response body unreadable")).into());
    };
    let stored = StoredResponse {
        status_code: status.as_u16(),
        headers,
        body: bytes.to_vec(),
    };
    if let Err(err) = db
        .run(move |conn| idempotency::complete(conn, &scope, &key, &token, &stored))
        .await
    {
        // The work is done; only the replay is lost. Say so, don't fail.
        tracing::error!(error = %err, "could not store an idempotent response");
    }
    Ok(ServiceResponse::new(
        http_req,
        head.set_body(bytes).map_into_boxed_body(),
    ))
}

fn replay(stored: &StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status_code).unwrap_or(StatusCode::OK);
    let mut res = HttpResponse::build(status);
    for (name, value) in &stored.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            res.insert_header((n, v));
        }
    }
    res.insert_header((HeaderName::from_static(REPLAYED_HEADER), "true"));
    res.body(stored.body.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        assert!(validate_key("0193a3f2-6c1e-7a40-9c4e-3d2f5e6a7b8c").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key("has space").is_err());
        assert!(validate_key(&"k".repeat(256)).is_err());
    }

    #[test]
    fn hash_covers_method_path_query_and_body() {
        let base = request_hash("POST", "/a", "", b"{}");
        assert_eq!(base, request_hash("POST", "/a", "", b"{}"));
        assert_ne!(base, request_hash("POST", "/b", "", b"{}"));
        assert_ne!(base, request_hash("POST", "/a", "x=1", b"{}"));
        assert_ne!(base, request_hash("POST", "/a", "", b"{ }"));
        assert_ne!(base, request_hash("PUT", "/a", "", b"{}"));
    }
}
