//! Makes every error response problem+json, including the ones actix
//! builds itself (405 with `Allow`, extractor and CORS rejections).

use actix_web::HttpResponse;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;

use crate::error::{ApiError, PROBLEM_JSON, Problem, problem_response};
use crate::http::request_id;

fn is_problem(res: &ServiceResponse<impl MessageBody>) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON))
}

/// The problem for a bare status.
fn problem_for(status: StatusCode) -> Problem {
    let mut problem = match status {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed { allow: None }.problem(),
        StatusCode::NOT_FOUND => ApiError::NotFound.problem(),
        StatusCode::PAYLOAD_TOO_LARGE => Problem {
            detail: Some("The request body is too large.".into()),
            ..ApiError::PayloadTooLarge { limit: 0 }.problem()
        },
        _ => Problem {
            problem_type: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail: None,
            errors: Vec::new(),
            request_id: None,
            tombstone: None,
            embargo_until: None,
        },
    };
    problem.request_id = request_id::current();
    problem
}

/// The response for an error, made a problem if it is not one already.
pub fn problem_from_error(err: &actix_web::Error) -> HttpResponse {
    let res = err.error_response();
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON));
    if is_problem {
        return res;
    }
    let status = res.status();
    let mut new = problem_response(status, &problem_for(status));
    for (name, value) in res.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().append(name.clone(), value.clone());
        }
    }
    new
}

pub async fn ensure_problem(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) || is_problem(&res) {
        return Ok(res.map_into_boxed_body());
    }
    let (http_req, old) = res.into_parts();
    let mut new = problem_response(status, &problem_for(status));
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().append(name.clone(), value.clone());
        }
    }
    Ok(ServiceResponse::new(http_req, new))
}
