//! One error type for the whole HTTP surface, rendered as RFC 9457
//! `application/problem+json`.
//!
//! | variant                | status | `type`                                  |
//! |------------------------|--------|-----------------------------------------|
//! | `Validation`           | 400    | `urn:kujenga:problem:validation-error`  |
//! | `BadRequest`           | 400    | `about:blank`                           |
//! | `Unauthorized`         | 401    | `about:blank`                           |
//! | `Forbidden`            | 403    | a `ProblemType` from the catalogue      |
//! | `NotFound`, `NotFoundNamed` | 404 | `about:blank`                        |
//! | `MethodNotAllowed`     | 405    | `about:blank` (+ `Allow`)               |
//! | `NotAcceptable`        | 406    | `about:blank`, `detail` lists the offers |
//! | `Conflict`             | 409    | a `ProblemType` from the catalogue      |
//! | `RequestTimeout`       | 408    | `about:blank` (connection closed)       |
//! | `PreconditionFailed`   | 412    | `urn:kujenga:problem:stale-version`     |
//! | `PayloadTooLarge`      | 413    | `about:blank`                           |
//! | `UnsupportedMediaType` | 415    | `about:blank`                           |
//! | `Gone`                 | 410    | a `ProblemType` from the catalogue      |
//! | `Unprocessable`        | 422    | a `ProblemType` from the catalogue      |
//! | `TooManyRequests`      | 429    | `about:blank` (+ `Retry-After`)         |
//! | `Unavailable`          | 503    | `about:blank` (+ `Retry-After`)         |
//! | `Internal`             | 500    | `about:blank`, no detail                |
//!
//! A 5xx body never carries internal detail: the cause chain is logged
//! (inside the request's span, so with its request id) and the client gets
//! the request id to quote.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::request_id;
use crate::problem_types::ProblemType;

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Prefix of the problem types Kujenga defines itself.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:kujenga:problem:";

pub use crate::domain::field::{FieldCode, FieldError, Invalid};

/// How many field errors a validation problem's `detail` names before
/// `(and N more)`.
const SUMMARY_ERRORS: usize = 3;

/// The `detail` of a problem with field errors: the first few as
/// `field: message`, joined by `; `, then `(and N more)`.
pub fn summarise(errors: &[FieldError]) -> String {
    if errors.is_empty() {
        return "The request is not valid.".into();
    }
    let mut out = errors
        .iter()
        .take(SUMMARY_ERRORS)
        .map(FieldError::summary)
        .collect::<Vec<_>>()
        .join("; ");
    if errors.len() > SUMMARY_ERRORS {
        out.push_str(&format!(" (and {} more)", errors.len() - SUMMARY_ERRORS));
    }
    out.push('.');
    out
}

/// RFC 9457 problem details, as sent on the wire.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem; `about:blank` when the status says it all.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short, human-readable summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Explanation specific to this occurrence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Per-field validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub errors: Vec<FieldError>,
    /// The request id (also in the `X-Request-Id` header), to quote when reporting a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// `deaccessioned` (410): what was withdrawn, why and when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tombstone: Option<Box<crate::domain::version::Tombstone>>,
    /// `embargoed` (403): when the files are handed out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embargo_until: Option<chrono::DateTime<chrono::Utc>>,
}

/// Every error a handler can return.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("validation failed")]
    Validation {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("unauthorized")]
    Unauthorized(String),
    #[error("forbidden: {detail}")]
    Forbidden {
        problem: ProblemType,
        detail: String,
    },
    #[error("not found")]
    NotFound,
    /// A 404 about something the request named (a linked resource).
    #[error("not found: {0}")]
    NotFoundNamed(String),
    #[error("method not allowed")]
    MethodNotAllowed { allow: Option<HeaderValue> },
    /// 406: no representation the `Accept` header takes; `offered` lists them.
    #[error("not acceptable")]
    NotAcceptable { offered: Vec<String> },
    #[error("conflict: {detail}")]
    Conflict {
        problem: ProblemType,
        detail: String,
    },
    /// 409 `edit-the-draft`: a published resource is changed through the
    /// draft of its next version, at `draft` (a path, sent as a `Link`).
    #[error("edit the draft: {draft}")]
    EditTheDraft { draft: String },
    /// 410 `deaccessioned`, with the tombstone.
    #[error("deaccessioned")]
    Deaccessioned(Box<crate::domain::version::Tombstone>),
    /// 403 `embargoed`: files are refused until then.
    #[error("embargoed until {until}")]
    Embargoed {
        until: chrono::DateTime<chrono::Utc>,
        reason: Option<String>,
    },
    /// 410: it existed, and is no longer usable (an expired link).
    #[error("gone: {detail}")]
    Gone {
        problem: ProblemType,
        detail: String,
    },
    /// The client took too long to send its request (body or whole request).
    #[error("request timeout")]
    RequestTimeout,
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("payload too large")]
    PayloadTooLarge { limit: usize },
    #[error("unsupported media type")]
    UnsupportedMediaType(String),
    #[error("unprocessable: {detail}")]
    Unprocessable {
        problem: ProblemType,
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A 400 with one field error.
    pub fn field(field: impl Into<String>, code: FieldCode, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, code, message)])
    }

    /// A 400 listing every invalid field; `detail` summarises the first ones.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        Self::Validation {
            detail: summarise(&errors),
            errors,
        }
    }

    /// Wraps any error as a 500 whose cause is logged, never shown.
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    /// Builds the problem body for this error.
    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        let blank = |detail: Option<String>| Problem {
            problem_type: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail,
            errors: Vec::new(),
            request_id: None,
            tombstone: None,
            embargo_until: None,
        };
        let typed = |problem: ProblemType, detail: &str, errors: Vec<FieldError>| {
            debug_assert!(
                problem.statuses().contains(&status.as_u16()),
                "{problem:?} answered with {status}"
            );
            Problem {
                problem_type: problem.uri(),
                title: problem.title().into(),
                status: status.as_u16(),
                detail: Some(detail.into()),
                errors,
                request_id: None,
                tombstone: None,
                embargo_until: None,
            }
        };
        let mut problem = match self {
            Self::Validation { detail, errors } => {
                typed(ProblemType::ValidationError, detail, errors.clone())
            }
            Self::BadRequest(detail) | Self::Unauthorized(detail) => blank(Some(detail.clone())),
            Self::Forbidden { problem, detail }
            | Self::Conflict { problem, detail }
            | Self::Gone { problem, detail } => typed(*problem, detail, Vec::new()),
            Self::Unprocessable {
                problem,
                detail,
                errors,
            } => typed(*problem, detail, errors.clone()),
            Self::EditTheDraft { draft } => typed(
                ProblemType::EditTheDraft,
                &format!(
                    "This resource is published, and a published version never changes: change \
                     the draft of its next version at {draft} (PATCH), then publish it."
                ),
                Vec::new(),
            ),
            Self::Deaccessioned(t) => {
                let what = if t.whole {
                    "This resource was withdrawn"
                } else {
                    "This version was withdrawn"
                };
                Problem {
                    tombstone: Some(t.clone()),
                    ..typed(
                        ProblemType::Deaccessioned,
                        &format!(
                            "{what} by its owners on {}: {}",
                            t.deaccessioned_at.format("%Y-%m-%d"),
                            t.reason
                        ),
                        Vec::new(),
                    )
                }
            }
            Self::Embargoed { until, reason } => Problem {
                embargo_until: Some(*until),
                ..typed(
                    ProblemType::Embargoed,
                    &format!(
                        "Under embargo until {}{}; its files are handed out from then on.",
                        until.format("%Y-%m-%d %H:%M UTC"),
                        reason
                            .as_deref()
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    ),
                    Vec::new(),
                )
            },
            Self::NotFound => blank(Some("No such resource.".into())),
            Self::NotFoundNamed(detail) => blank(Some(detail.clone())),
            Self::MethodNotAllowed { .. } => blank(Some(
                "This resource does not support the request method; see the Allow header.".into(),
            )),
            Self::NotAcceptable { offered } => blank(Some(format!(
                "No representation matches the Accept header; this resource is offered as: {}.",
                offered.join(", ")
            ))),
            Self::RequestTimeout => blank(Some(
                "The request was not received in time; the connection is closed.".into(),
            )),
            Self::PreconditionFailed => typed(
                ProblemType::StaleVersion,
                "The If-Match header does not match the current version; fetch it again and retry.",
                Vec::new(),
            ),
            Self::PayloadTooLarge { limit } => blank(Some(format!(
                "The request body is larger than the limit of {limit} bytes."
            ))),
            Self::UnsupportedMediaType(detail) => blank(Some(detail.clone())),
            Self::TooManyRequests { retry_after_secs } => blank(Some(format!(
                "Too many requests; retry after {retry_after_secs} seconds."
            ))),
            Self::Unavailable(_) => blank(Some(
                "The service is temporarily unavailable; retry later.".into(),
            )),
            Self::Internal(_) => blank(Some(
                "Something went wrong on our side; quote the request id if you report it.".into(),
            )),
        };
        problem.request_id = request_id::current();
        problem
    }
}

/// Renders a problem as a response with the right media type.
pub fn problem_response(status: StatusCode, problem: &Problem) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    res.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
    match serde_json::to_vec(problem) {
        Ok(body) => res.body(body),
        Err(_) => res.body(r#"{"type":"about:blank","title":"Error"}"#),
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Validation { .. } | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound | Self::NotFoundNamed(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotAcceptable { .. } => StatusCode::NOT_ACCEPTABLE,
            Self::Conflict { .. } | Self::EditTheDraft { .. } => StatusCode::CONFLICT,
            Self::Gone { .. } | Self::Deaccessioned(_) => StatusCode::GONE,
            Self::Embargoed { .. } => StatusCode::FORBIDDEN,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(err) => tracing::error!(error = ?err, "internal error"),
            Self::Unavailable(cause) => tracing::warn!(%cause, "service unavailable"),
            _ => {}
        }
        let mut res = problem_response(self.status_code(), &self.problem());
        match self {
            Self::MethodNotAllowed { allow: Some(allow) } => {
                res.headers_mut().insert(header::ALLOW, allow.clone());
            }
            Self::TooManyRequests { retry_after_secs } => {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            Self::Unavailable(_) => {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            Self::EditTheDraft { draft } => {
                if let Ok(link) = HeaderValue::from_str(&format!("<{draft}>; rel=\"working-copy\""))
                {
                    res.headers_mut().insert(header::LINK, link);
                }
            }
            Self::RequestTimeout => {
                res.head_mut()
                    .set_connection_type(actix_web::http::ConnectionType::Close);
            }
            Self::Unauthorized(_) => {
                res.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"kujenga\""),
                );
            }
            _ => {}
        }
        res
    }
}

/// Database errors are internal unless a caller maps them first — even
/// `NotFound`: a lookup that should find something and doesn't is our bug,
/// not the client's (queries that may find nothing use `.optional()`).
impl From<diesel::result::Error> for ApiError {
    fn from(err: diesel::result::Error) -> Self {
        Self::Internal(err.into())
    }
}

/// A 400 with one field error.
impl From<FieldError> for ApiError {
    fn from(err: FieldError) -> Self {
        Self::validation(vec![err])
    }
}

impl From<crate::db::PoolError> for ApiError {
    fn from(err: crate::db::PoolError) -> Self {
        Self::Unavailable(err.to_string())
    }
}

/// The policy's refusals as answers: hidden objects are 404, refusals 401
/// (sign in) or 403 with their problem type.
impl From<crate::domain::policy::Refusal> for ApiError {
    fn from(refusal: crate::domain::policy::Refusal) -> Self {
        use crate::domain::policy::{Denial, Refusal};
        match refusal {
                    Refusal::Hidden => ApiError::NotFound,
            Refusal::Forbidden(Denial::SignIn) => ApiError::Unauthorized(
                "Sign in: this needs `Authorization: Bearer <token>`.".into(),
            ),
            Refusal::Forbidden(Denial::EmailNotVerified) => ApiError::Forbidden {
                problem: ProblemType::EmailNotVerified,
                detail: "Verify your email address first: follow the link we sent you.".into(),
            },
            Refusal::Forbidden(Denial::AdminOnly) => ApiError::Forbidden {
                problem: ProblemType::AdminOnly,
                detail: "Only platform administrators may do this.".into(),
            },
            Refusal::Forbidden(Denial::InstitutionNotVerified) => ApiError::Forbidden {
                problem: ProblemType::InstitutionNotVerified,
                detail: "An administrator must verify the institution before it can publish.".into(),
            },
            Refusal::Forbidden(Denial::CoordinatorOnly) => ApiError::Forbidden {
                problem: ProblemType::CoordinatorsOnly,
                detail: "Only the partnership's coordinators (or platform coordinators, to create one) may do this.".into(),
            },
            Refusal::Forbidden(Denial::AccountRequired) => ApiError::Forbidden {
                problem: ProblemType::DownloadNeedsAccount,
                detail: "This dataset's files are for signed-in users with a verified email address."
                    .into(),
            },
            Refusal::Forbidden(Denial::GrantRequired) => ApiError::Forbidden {
                problem: ProblemType::AccessGrantRequired,
                detail: "This dataset is restricted: ask for access (POST \
                         /api/v1/datasets/{id}/access-requests) and download once the owners approve."
                    .into(),
            },
            Refusal::Forbidden(Denial::Role) => ApiError::Forbidden {
                problem: ProblemType::InsufficientRole,
                detail: "Your role in this institution does not allow this action.".into(),
            },
        }
    }
}

impl<E: Into<ApiError>> From<crate::db::RunError<E>> for ApiError {
    fn from(err: crate::db::RunError<E>) -> Self {
        match err {
            crate::db::RunError::Pool(e) => e.into(),
            crate::db::RunError::Blocking => {
                Self::Internal(anyhow::anyhow!("the blocking thread pool is gone"))
            }
            crate::db::RunError::Failed(e) => e.into(),
        }
    }
}

impl From<crate::mail::EnqueueError> for ApiError {
    fn from(err: crate::mail::EnqueueError) -> Self {
        Self::internal(err)
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(err: actix_web::error::BlockingError) -> Self {
        Self::Internal(anyhow::anyhow!("blocking task failed: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    #[actix_web::test]
    async fn internal_errors_reveal_nothing() {
        let err = ApiError::internal(anyhow::anyhow!("password=hunter2 at db.internal:5432"));
        let res = err.error_response();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            res.headers()
                .get(header::CONTENT_TYPE)
                .map(|v| v.as_bytes()),
            Some(PROBLEM_JSON.as_bytes())
        );
        let body = to_bytes(res.into_body()).await.unwrap_or_default();
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("db.internal"), "{text}");
    }

    #[test]
    fn every_variant_maps_to_its_documented_status() {
        let cases: Vec<(ApiError, u16)> = vec![
            (
                ApiError::field("title", FieldCode::Required, "required"),
                400,
            ),
            (ApiError::BadRequest("x".into()), 400),
            (ApiError::Unauthorized("x".into()), 401),
            (
                ApiError::Forbidden {
                    problem: ProblemType::AdminOnly,
                    detail: "d".into(),
                },
                403,
            ),
            (ApiError::NotFound, 404),
            (ApiError::MethodNotAllowed { allow: None }, 405),
            (ApiError::NotAcceptable { offered: vec![] }, 406),
            (
                ApiError::Conflict {
                    problem: ProblemType::SlugTaken,
                    detail: "d".into(),
                },
                409,
            ),
            (ApiError::PreconditionFailed, 412),
            (ApiError::PayloadTooLarge { limit: 1 }, 413),
            (ApiError::UnsupportedMediaType("x".into()), 415),
            (
                ApiError::Unprocessable {
                    problem: ProblemType::IncompleteResource,
                    detail: "d".into(),
                    errors: vec![],
                },
                422,
            ),
            (
                ApiError::TooManyRequests {
                    retry_after_secs: 3,
                },
                429,
            ),
            (ApiError::Unavailable("db".into()), 503),
            (ApiError::internal(anyhow::anyhow!("x")), 500),
        ];
        for (err, status) in cases {
            assert_eq!(err.status_code().as_u16(), status, "{err:?}");
            assert_eq!(err.problem().status, status, "{err:?}");
        }
    }

    #[test]
    fn validation_problem_lists_fields() {
        let p = ApiError::validation(vec![
            FieldError::new("title", FieldCode::Required, "is required"),
            FieldError::new("license", FieldCode::InvalidLicence, "is not an SPDX id"),
        ])
        .problem();
        assert_eq!(p.problem_type, "urn:kujenga:problem:validation-error");
        assert_eq!(p.errors.len(), 2);
        assert_eq!(p.errors[1].field, "license");
        assert_eq!(
            p.detail.as_deref(),
            Some("title: is required; license: is not an SPDX id.")
        );
    }

    #[test]
    fn validation_detail_summarises_the_first_errors() {
        let errors: Vec<FieldError> = (0..5)
            .map(|i| FieldError::new(format!("f{i}"), FieldCode::Required, "Required."))
            .collect();
        let p = ApiError::validation(errors).problem();
        assert_eq!(
            p.detail.as_deref(),
            Some("f0: Required; f1: Required; f2: Required (and 2 more).")
        );
    }
}
