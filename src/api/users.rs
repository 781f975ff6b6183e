//! `/users`: platform administration of accounts (admins only).

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::api::types::{User, utc};
use crate::auth::Principal;
use crate::db::accounts::{self, AdminChanges};
use crate::db::{Db, now, write_transaction};
use crate::domain::Role;
use crate::error::{ApiError, Problem};
use crate::http::etag;
use crate::http::json::{Json, Query};
use crate::http::pagination::{PageQuery, Paginated};
use crate::problem_types::ProblemType;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/users").route(crate::api::get().to(list)))
        .service(
            web::resource("/users/{id}")
                .route(crate::api::get().to(get))
                .route(web::patch().to(patch)),
        );
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<User>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct UserFilter {
    /// Part of the email address.
    pub q: Option<String>,
}

/// Every account (admins only), oldest first; `q` searches email addresses.
#[utoipa::path(get, operation_id = "list_users", path = "/api/v1/users", tag = "users", security(("bearer" = [])),
    params(PageQuery, UserFilter),
    responses(
        (status = 200, description = "One page of users", body = UserPage),
        (status = 400, description = "Bad parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Admins only", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    Query(page): Query<PageQuery>,
    Query(filter): Query<UserFilter>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin()?;
    let page = page.parse::<(DateTime<Utc>, String)>()?;
    let q = filter
        .q
        .map(|q| q.trim().to_string())
        .filter(|q| !q.is_empty());
    if q.as_ref().is_some_and(|q| q.len() > 254) {
        return Err(ApiError::field("q", "At most 254 characters."));
    }
    let after = page.after.clone().map(|(t, id)| (t.naive_utc(), id));
    let limit = page.fetch_limit();
    let rows = db
        .run(move |conn| accounts::list_users(conn, q.as_deref(), after, limit))
        .await?;
    Ok(
        Paginated::from_rows(rows, &page, |u| (utc(u.created_at), u.id.clone()))
            .map(|u| User::from(&u))
            .respond(&req),
    )
}

async fn load(db: &Db, id: String) -> Result<crate::db::accounts::UserRow, ApiError> {
    db.run(move |conn| accounts::user_by_id(conn, &id))
        .await?
        .ok_or(ApiError::NotFound)
}

/// One account (admins only).
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = User, headers(("ETag" = String, description = "Strong validator"))),
        (status = 304, description = "Not modified"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin()?;
    let user = load(&db, path.into_inner()).await?;
    etag::respond(&req, &User::from(&user))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub role: Option<Role>,
    /// `false` deactivates the account (its sessions end), `true` restores it.
    pub active: Option<bool>,
}

/// Change an account's role or deactivate it (admins only; not your own
/// role). Every session of the account ends.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id"),
           ("If-Match" = Option<String>, Header, description = "ETag of the user you edited")),
    request_body = UserPatch,
    responses(
        (status = 200, description = "Updated", body = User),
        (status = 400, description = "Invalid input", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Admins only; not your own role or account", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn patch(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
    Json(body): Json<UserPatch>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin()?;
    let id = path.into_inner();
    let user = load(&db, id.clone()).await?;
    etag::check_if_match(&req, &etag::etag_of_json(&User::from(&user))?)?;
    if id == principal.user.id && (body.role.is_some() || body.active.is_some()) {
        return Err(ApiError::Forbidden {
            problem: ProblemType::OwnAccount,
            detail:
                "Nobody can change their own role or deactivate themselves here; ask another admin."
                    .into(),
        });
    }
    let role_changes = body.role.is_some_and(|r| r.as_str() != user.role);
    let deactivates = body.active == Some(false) && user.active;
    let now = now();
    let changes = AdminChanges {
        role: body.role.map(|r| r.as_str().to_string()),
        active: body.active,
        deactivated_at: body.active.map(|a| if a { None } else { Some(now) }),
        updated_at: Some(now),
    };
    let admin = principal.user.id.clone();
    let ctx = crate::db::audit::Context::new(Some(&principal.user.id));
    let (new_role, new_active) = (body.role, body.active);
    let user = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                accounts::update_admin(conn, &id, &changes)?;
                if role_changes {
                    crate::db::audit::record(
                        conn,
                        &ctx,
                        "user.role_changed",
                        "user",
                        &id,
                        serde_json::json!({"to": new_role.map(Role::as_str)}),
                    )?;
                }
                if let Some(active) = new_active {
                    crate::db::audit::record(
                        conn,
                        &ctx,
                        if active {
                            "user.reactivated"
                        } else {
                            "user.deactivated"
                        },
                        "user",
                        &id,
                        serde_json::json!({}),
                    )?;
                }
                if deactivates {
                    // A deactivated account's API tokens end for good: a
                    // later reactivation does not bring them back.
                    accounts::revoke_all_api_tokens(conn, &id, now)?;
                }
                if role_changes || deactivates {
                    let reason = if deactivates {
                        "deactivated"
                    } else {
                        "role_change"
                    };
                    accounts::end_sessions(conn, &id, None, reason, now)?;
                }
                tracing::info!(admin = %admin, user = %id, ?changes, "admin changed a user");
                accounts::user_by_id(conn, &id)?
                    .ok_or_else(|| ApiError::internal(anyhow::anyhow!("user vanished")))
            })
        })
        .await?;
    etag::respond(&req, &User::from(&user))
}
