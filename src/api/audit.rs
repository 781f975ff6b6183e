//! `/audit-events`: the accountable record (admins).

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::types::utc;
use crate::app::admin::{self, Admin, AuditEntry};
use crate::auth::Principal;
use crate::db::Db;
use crate::db::audit::Filter;
use crate::error::{ApiError, Invalid, Problem};
use crate::http::json::Query;
use crate::http::pagination::{PageQuery, Paginated};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/audit-events").route(crate::api::get().to(list)));
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0193a5c2-7f10-7000-8000-000000000a02", "action": "membership.role_changed", "actor_id": "0193a5c2-7f10-7000-8000-000000000a01", "subject_type": "institution", "subject_id": "0193a5c2-7f10-7000-8000-000000000a04", "detail": {"user_id": "0193a5c2-7f10-7000-8000-000000000a05", "from": "member", "to": "editor"}, "request_id": "0193a5c2-7f10-7000-8000-000000000a03", "created_at": "2026-12-08T09:30:00Z"}))]
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

impl From<AuditEntry> for AuditEvent {
    fn from(AuditEntry { row: r, detail }: AuditEntry) -> Self {
        Self {
            id: r.id,
            actor_id: r.actor_id,
            action: r.action,
            subject_type: r.subject_type,
            subject_id: r.subject_id,
            detail,
            request_id: r.request_id,
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
    let admin = Admin::check(&principal)?;
    let page = page.parse::<(DateTime<Utc>, String)>()?;
    for (name, value) in [
        ("actor_id", &filter.actor_id),
        ("action", &filter.action),
        ("subject_type", &filter.subject_type),
        ("subject_id", &filter.subject_id),
    ] {
        if value.as_ref().is_some_and(|v| v.len() > 200) {
            return Err(Invalid::too_long(200, "At most 200 characters.")
                .at(name)
                .into());
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
    let entries = admin::audit_log(&db, &admin, f, before, page.fetch_limit()).await?;
    Ok(Paginated::from_rows(entries, &page, |e| {
        (utc(e.row.created_at), e.row.id.clone())
    })
    .map(AuditEvent::from)
    .respond(&req))
}
