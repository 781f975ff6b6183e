//! `/admin/outbox`: watching and retrying email delivery (admins only).

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::types::utc;
pub use crate::app::admin::OutboxStatus;
use crate::app::admin::{self, Admin};
use crate::auth::Principal;
use crate::db::Db;
use crate::db::outbox::{Attempt, EmailRow};
use crate::error::{ApiError, Problem};
use crate::http::json::Query;
use crate::http::pagination::{PageQuery, Paginated};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/outbox").route(crate::api::get().to(list)))
        .service(web::resource("/admin/outbox/{id}/retry").route(web::post().to(retry)));
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryAttempt {
    pub attempt: i32,
    pub worker: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// `sent`, `transient` or `permanent`.
    pub outcome: String,
    pub error: Option<String>,
    pub retry_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"attempt_log": [], "attempts": 0, "created_at": "2026-12-08T09:30:00Z", "id": "0193a5c2-7f10-7000-8000-000000000a14", "message_id": "<0193a5c2-7f10-7000-8000-000000000a14@kujenga.example.org>", "max_attempts": 3, "next_attempt_at": "2026-12-08T09:30:00Z", "recipient": "amina@example.org", "status": "queued", "subject": "Verify your email address", "template": "verify_email"}))]
pub struct OutboxEmail {
    pub id: String,
    pub message_id: String,
    pub recipient: String,
    pub template: String,
    pub subject: String,
    pub status: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub attempt_log: Vec<DeliveryAttempt>,
}

fn to_api(row: &EmailRow, attempts: &[Attempt]) -> OutboxEmail {
    OutboxEmail {
        id: row.id.clone(),
        message_id: row.message_id.clone(),
        recipient: row.recipient.clone(),
        template: row.template.clone(),
        subject: row.subject.clone(),
        status: row.status.clone(),
        attempts: row.attempts,
        max_attempts: row.max_attempts,
        next_attempt_at: utc(row.next_attempt_at),
        last_error: row.last_error.clone(),
        created_at: utc(row.created_at),
        sent_at: row.sent_at.map(utc),
        attempt_log: attempts
            .iter()
            .filter(|a| a.email_id == row.id)
            .map(|a| DeliveryAttempt {
                attempt: a.attempt,
                worker: a.worker.clone(),
                started_at: utc(a.started_at),
                finished_at: utc(a.finished_at),
                outcome: a.outcome.clone(),
                error: a.error.clone(),
                retry_at: a.retry_at.map(utc),
            })
            .collect(),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxPage {
    pub items: Vec<OutboxEmail>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct OutboxFilter {
    pub status: Option<OutboxStatus>,
}

/// The email outbox, newest first, with every delivery attempt.
#[utoipa::path(get, operation_id = "list_outbox", path = "/api/v1/admin/outbox", tag = "admin", security(("bearer" = [])),
    params(PageQuery, OutboxFilter),
    responses(
        (status = 200, description = "One page", body = OutboxPage),
        (status = 400, description = "Bad parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Admins only", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    Query(page): Query<PageQuery>,
    Query(filter): Query<OutboxFilter>,
) -> Result<HttpResponse, ApiError> {
    let admin = Admin::check(&principal)?;
    let page = page.parse::<(DateTime<Utc>, String)>()?;
    let before = page.after.clone().map(|(t, id)| (t.naive_utc(), id));
    let (rows, attempts) =
        admin::outbox(&db, &admin, filter.status, before, page.fetch_limit()).await?;
    Ok(
        Paginated::from_rows(rows, &page, |r| (utc(r.created_at), r.id.clone()))
            .map(|r| to_api(&r, &attempts))
            .respond(&req),
    )
}

/// Send a dead email again (it gets the configured number of new attempts).
#[utoipa::path(post, path = "/api/v1/admin/outbox/{id}/retry", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Outbox email id")),
    responses(
        (status = 200, description = "Queued again", body = OutboxEmail),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such email", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Only dead emails can be retried", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn retry(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let admin = Admin::check(&principal)?;
    let (row, attempts) = admin::retry_email(&db, &state, &admin, &path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(to_api(&row, &attempts)))
}
