//! `/users`: platform administration of accounts (admins only).

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::api::types::{User, utc};
use crate::app::admin::{self, AccountChange, Admin};
use crate::auth::Principal;
use crate::db::Db;
use crate::domain::Role;
use crate::error::{ApiError, Problem};
use crate::http::etag;
use crate::http::json::{Json, Query};
use crate::http::pagination::{PageQuery, Paginated};

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
    let admin = Admin::check(&principal)?;
    let page = page.parse::<(DateTime<Utc>, String)>()?;
    let after = page.after.clone().map(|(t, id)| (t.naive_utc(), id));
    let rows = admin::users(&db, &admin, filter.q.as_deref(), after, page.fetch_limit()).await?;
    Ok(
        Paginated::from_rows(rows, &page, |u| (utc(u.created_at), u.id.clone()))
            .map(|u| User::from(&u))
            .respond(&req),
    )
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
    let admin = Admin::check(&principal)?;
    let user = admin::user(&db, &admin, &path.into_inner()).await?;
    etag::respond(&req, &User::from(&user))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"active": false}))]
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
    let admin = Admin::check(&principal)?;
    let change = AccountChange {
        role: body.role,
        active: body.active,
    };
    let if_match = |user: &crate::db::accounts::UserRow| {
        etag::check_if_match(&req, &etag::etag_of_json(&User::from(user))?)
    };
    let user = admin::update_user(&db, &admin, &path.into_inner(), change, if_match).await?;
    etag::respond(&req, &User::from(&user))
}
