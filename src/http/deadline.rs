//! The total request deadline (`http.request_timeout_secs`): a request
//! whose answer is not ready in time is answered 408 problem+json and its
//! connection closed. The body has its own, shorter deadline
//! (`http.body_timeout_secs`, in `json::read_body`); the request head is
//! bounded by actix's client request timeout.

use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

use crate::error::ApiError;

/// The whole-request deadline, shared through app data.
#[derive(Debug, Clone, Copy)]
pub struct RequestTimeout(pub Duration);

pub async fn request_deadline(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let timeout = req
        .app_data::<web::Data<RequestTimeout>>()
        .map(|t| t.0)
        .unwrap_or(Duration::from_secs(60));
    match tokio::time::timeout(timeout, next.call(req)).await {
        Ok(result) => Ok(result?.map_into_boxed_body()),
        Err(_) => {
            tracing::warn!(
                timeout_secs = timeout.as_secs(),
                "request deadline passed; answering 408"
            );
            // An error, not a response: building one would need a clone of
            // the request, which routing inside must not see shared.
            Err(ApiError::RequestTimeout.into())
        }
    }
}
