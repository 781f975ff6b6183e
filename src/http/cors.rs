//! CORS for the configured origins only. A request from another origin is
//! served without CORS headers (the browser then blocks it) rather than
//! rejected, so non-browser clients that send `Origin` keep working; that
//! holds for preflights too (actix-cors would answer them a plain-text 400).

use actix_cors::Cors;
use actix_web::HttpResponse;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::web;

/// The allowed origins, shared through app data.
#[derive(Debug, Clone)]
pub struct AllowedOrigins(pub Vec<String>);

/// The CORS middleware for `origins` (exact matches).
pub fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            header::HeaderName::from_static("idempotency-key"),
            header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::ETAG,
            header::LINK,
            header::LOCATION,
            header::RETRY_AFTER,
            header::HeaderName::from_static("x-request-id"),
            header::HeaderName::from_static("idempotent-replayed"),
        ])
        .max_age(3600)
        .block_on_origin_mismatch(false);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

/// Runs outside [`cors`]: a preflight (`OPTIONS` with
/// `Access-Control-Request-Method`) from an origin that is not allowed is
/// answered 204 without CORS headers, so the browser refuses the real
/// request and nobody sees a plain-text error.
pub async fn foreign_preflight(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let foreign = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        && req
            .headers()
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .is_some_and(|origin| {
                !req.app_data::<web::Data<AllowedOrigins>>()
                    .is_some_and(|allowed| allowed.0.iter().any(|a| a == origin))
            });
    if foreign {
        let mut res = HttpResponse::NoContent().finish();
        res.headers_mut()
            .insert(header::VARY, header::HeaderValue::from_static("Origin"));
        return Ok(req.into_response(res));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}
