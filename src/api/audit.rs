//! `/audit-events`: the accountable record (admins).

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::types::utc;
use crate::auth::Principal;
use crate::db::Db;
use crate::db::audit::{self, AuditEvent as Row, Filter};
use crate::error::{ApiError, Problem};
use crate::http::json::Query;
use crate::http::pagination::{PageQuery, Paginated};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/audit-events").route(crate::api::get().to(list)));
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEvent {
    pub id: String,
    /// The user who acted (none for the system).
    pub actor_id: Option<String>,
    /// e.g. `institution.verified`, `membership.role_changed`, `user.deactivated`.
    pub action: String,
    pub subject_type: String,
    pub subject_id: String,
    pub detail: serde_json::Value,
    pub request_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<&Row> for AuditEvent {
    fn from(r: &Row) -> Self {
        Self {
            id: r.id.clone(),
            actor_id: r.actor_id.clone(),
            action: r.action.clone(),
            subject_type: r.subject_type.clone(),
            subject_id: r.subject_id.clone(),
            detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null),
            request_id: r.request_id.clone(),
            created_at: utc(r.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEvent>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditFilter {
    pub actor_id: Option<String>,
    pub action: Option<String>,
    pub subject_type: Option<String>,
    pub subject_id: Option<String>,
    /// From this time on (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
}

/// The audit log, newest first (admins).
#[utoipa::path(get, operation_id = "list_audit_events", path = "/api/v1/audit-events", tag = "admin", security(("bearer" = [])),
    params(PageQuery, AuditFilter),
    responses(
        (status = 200, description = "One page", body = AuditPage),
        (status = 400, description = "Bad parameters", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Admins only", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    Query(page): Query<PageQuery>,
    Query(filter): Query<AuditFilter>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin()?;
    let page = page.parse::<(DateTime<Utc>, String)>()?;
    for (name, value) in [
        ("actor_id", &filter.actor_id),
        ("action", &filter.action),
        ("subject_type", &filter.subject_type),
        ("subject_id", &filter.subject_id),
    ] {
        if value.as_ref().is_some_and(|v| v.len() > 200) {
            return Err(ApiError::field(name, "At most 200 characters."));
        }
    }
    let f = Filter {
        actor_id: filter.actor_id,
        action: filter.action,
        subject_type: filter.subject_type,
        subject_id: filter.subject_id,
        since: filter.since.map(|t| t.naive_utc()),
        until: filter.until.map(|t| t.naive_utc()),
    };
    let before = page.after.clone().map(|(t, id)| (t.naive_utc(), id));
    let limit = page.fetch_limit();
    let rows = db
        .run(move |conn| audit::list(conn, &f, before, limit))
        .await?;
    Ok(
        Paginated::from_rows(rows, &page, |r| (utc(r.created_at), r.id.clone()))
            .map(|r| AuditEvent::from(&r))
            .respond(&req),
    )
}
