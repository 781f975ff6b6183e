//! CORS for the configured origins and the registered client apps' origins
//! (`app::clients::ClientOrigins`, a copy reloaded every few seconds by
//! [`fresh_client_origins`]). A request from another origin is
//! served without CORS headers (the browser then blocks it) rather than
//! rejected, so non-browser clients that send `Origin` keep working; that
//! holds for preflights too (actix-cors would answer them a plain-text 400).
//! Allowed origins may send credentials (the cookies of browser sessions).

use actix_cors::Cors;
use actix_web::HttpResponse;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::web;

use crate::app::clients::ClientOrigins;
use crate::db::Db;
use crate::state::AppState;

/// The allowed origins, shared through app data.
#[derive(Debug, Clone)]
pub struct AllowedOrigins(pub Vec<String>);

/// The CORS middleware for `origins` and the client apps' (exact matches).
pub fn cors(origins: &[String], clients: std::sync::Arc<ClientOrigins>) -> Cors {
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
            header::HeaderName::from_static(crate::http::cookies::CSRF_HEADER),
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
        .supports_credentials()
        .block_on_origin_mismatch(false);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors.allowed_origin_fn(move |origin, _| origin.to_str().is_ok_and(|o| clients.allows(o)))
}

/// Whether `origin` is configured or a client app's.
fn allowed(req: &ServiceRequest, origin: &str) -> bool {
    req.app_data::<web::Data<AllowedOrigins>>()
        .is_some_and(|allowed| allowed.0.iter().any(|a| a == origin))
        || req
            .app_data::<web::Data<AppState>>()
            .is_some_and(|state| state.clients.allows(origin))
}

/// Runs outside the CORS layers: a request with an `Origin` the
/// configuration does not list has the client apps' origins reloaded first
/// when the copy is older than `app::clients::ORIGINS_TTL`.
pub async fn fresh_client_origins(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let unlisted = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .is_some_and(|origin| {
            !req.app_data::<web::Data<AllowedOrigins>>()
                .is_some_and(|allowed| allowed.0.iter().any(|a| a == origin))
        });
    if unlisted
        && let (Some(state), Some(db)) = (
            req.app_data::<web::Data<AppState>>().cloned(),
            req.app_data::<web::Data<Db>>().cloned(),
        )
    {
        state.clients.refresh_if_stale(&db).await;
    }
    Ok(next.call(req).await?.map_into_boxed_body())
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
            .is_some_and(|origin| !allowed(&req, origin));
    if foreign {
        let mut res = HttpResponse::NoContent().finish();
        res.headers_mut()
            .insert(header::VARY, header::HeaderValue::from_static("Origin"));
        return Ok(req.into_response(res));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}
