//! The outermost middleware: request id, the request's tracing span, the
//! access log line and the request metrics.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use tracing::Instrument;

use super::metrics::Metrics;
use super::{etag, problems, request_id};
use actix_web::error::InternalError;

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = request_id::from_request(&req);
    request_id::attach(&req, &id);
    let method = req.method().to_string();
    let path = req.path().to_owned();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let span = tracing::info_span!("request", request_id = %id, %method, %path);
    let started = Instant::now();
    let result = request_id::scope(id.clone(), next.call(req))
        .instrument(span.clone())
        .await;
    let elapsed = started.elapsed();
    let record = |status: u16, route: &str| {
        if let Some(m) = &metrics {
            m.observe(&method, route, status, elapsed.as_secs_f64());
        }
        tracing::info!(
            parent: &span,
            status,
            %route,
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            "request finished"
        );
    };
    let header_value = HeaderValue::from_str(&id).ok();
    match result {
        Ok(res) => {
            let mut res = res.map_into_boxed_body();
            let route = res
                .request()
                .match_pattern()
                .unwrap_or_else(|| "unmatched".to_owned());
            record(res.status().as_u16(), &route);
            etag::mark_content_coding(res.headers_mut());
            if let Some(value) = header_value {
                res.headers_mut()
                    .insert(HeaderName::from_static(request_id::HEADER), value);
            }
            Ok(res)
        }
        Err(err) => {
            // An error that escaped the inner services (e.g. a CORS
            // rejection): answer it as a problem with the request id.
            tracing::warn!(parent: &span, error = %err, "request rejected by middleware");
            let mut res =
                request_id::scope(id.clone(), async { problems::problem_from_error(&err) }).await;
            record(res.status().as_u16(), "unmatched");
            if let Some(value) = header_value {
                res.headers_mut()
                    .insert(HeaderName::from_static(request_id::HEADER), value);
            }
            Err(InternalError::from_response(err.to_string(), res).into())
        }
    }
}
