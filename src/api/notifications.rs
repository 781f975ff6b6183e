//! In-app notifications and email preferences (`/me/notifications*`). They
//! are written by `app::notifications`.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::notifications::{self as app, Kind};
pub use crate::app::notifications::{
    Marked, Notification, Preference, Route, RouteName, Subject, UnreadCount,
};
use crate::auth::Principal;
use crate::db::Db;
use crate::error::{ApiError, Problem};
use crate::http::etag;
use crate::http::json::{Json, Query};
use crate::http::pagination::{PageQuery, Paginated};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/me/notifications").route(crate::api::get().to(list)))
        .service(
            web::resource("/me/notifications/unread-count")
                .route(crate::api::get().to(unread_count)),
        )
        .service(web::resource("/me/notifications/read-all").route(web::post().to(read_all)))
        .service(web::resource("/me/notifications/{id}/read").route(web::post().to(read)))
        .service(
            web::resource("/me/notification-preferences")
                .route(crate::api::get().to(get_preferences))
                .route(web::put().to(put_preferences)),
        );
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationPage {
    pub items: Vec<Notification>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct NotificationFilter {
    /// Only unread notifications.
    pub unread: Option<bool>,
}

/// Your notifications, newest first. Each has a stable `type` (the domain
/// event that caused it), a `subject`, structured `data` and, where it
/// leads somewhere, a `route` of the app (docs/FRONTEND-NOTIFICATIONS.md).
#[utoipa::path(get, operation_id = "list_notifications", path = "/api/v1/me/notifications", tag = "me", security(("bearer" = [])),
    params(PageQuery, NotificationFilter),
    responses(
        (status = 200, description = "One page", body = NotificationPage),
        (status = 400, description = "Bad parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    Query(page): Query<PageQuery>,
    Query(filter): Query<NotificationFilter>,
) -> Result<HttpResponse, ApiError> {
    let page = page.parse::<(DateTime<Utc>, String)>()?;
    let before = page.after.clone().map(|(t, id)| (t.naive_utc(), id));
    let unread = filter.unread.unwrap_or(false);
    let items = app::list(&db, &principal.user.id, unread, before, page.fetch_limit()).await?;
    Ok(Paginated::from_rows(items, &page, |n| (n.created_at, n.id.clone())).respond(&req))
}

/// How many of your notifications are unread: `{"unread": n}`, cheap to
/// poll. It carries a strong `ETag`: send it back in `If-None-Match` and an
/// unchanged count answers 304 with no body.
#[utoipa::path(get, path = "/api/v1/me/notifications/unread-count", tag = "me", security(("bearer" = [])),
    params(("If-None-Match" = Option<String>, Header, description = "The ETag of the count you have")),
    responses(
        (status = 200, description = "The count", body = UnreadCount, headers(("ETag" = String, description = "Strong validator"))),
        (status = 304, description = "Not modified: the count is the one you have"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn unread_count(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let count = app::unread_count(&db, &principal.user.id).await?;
    etag::respond(&req, &count)
}

/// Mark every unread notification read. Answers 200 with how many it
/// marked (`{"marked": 0}` when none was unread).
#[utoipa::path(post, path = "/api/v1/me/notifications/read-all", tag = "me", security(("bearer" = [])),
    responses(
        (status = 200, description = "Marked", body = Marked),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn read_all(db: web::Data<Db>, principal: Principal) -> Result<HttpResponse, ApiError> {
    let marked = app::mark_all_read(&db, &principal.user.id).await?;
    Ok(HttpResponse::Ok().json(marked))
}

/// Mark a notification read.
#[utoipa::path(post, path = "/api/v1/me/notifications/{id}/read", tag = "me", security(("bearer" = [])),
    params(("id" = String, Path, description = "Notification id")),
    responses(
        (status = 200, description = "Read", body = Notification),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such notification of yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn read(
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let notification = app::mark_read(&db, &principal.user.id, &path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(notification))
}

/// A change of one kind's email setting. (What GET returns can be sent
/// back as is: `essential` is read-only and ignored.)
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferenceChange {
    pub kind: Kind,
    /// Send an email for this kind.
    pub email: bool,
    /// Read-only; ignored.
    #[serde(default)]
    #[allow(dead_code)]
    pub essential: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"items": [{"kind": "access_decided", "email": true, "essential": false}, {"kind": "password_changed", "email": true, "essential": true}]}))]
pub struct Preferences {
    pub items: Vec<Preference>,
}

/// Which notifications you also get by email.
#[utoipa::path(get, path = "/api/v1/me/notification-preferences", tag = "me", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every kind and whether it is emailed", body = Preferences),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_preferences(
    db: web::Data<Db>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let items = app::preferences(&db, &principal.user.id).await?;
    Ok(HttpResponse::Ok().json(Preferences { items }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"items": [{"kind": "access_decided", "email": false}]}))]
pub struct PreferencesUpdate {
    pub items: Vec<PreferenceChange>,
}

/// Switch emails of non-essential kinds on or off.
#[utoipa::path(put, path = "/api/v1/me/notification-preferences", tag = "me", security(("bearer" = [])),
    request_body = PreferencesUpdate,
    responses(
        (status = 200, description = "The preferences now", body = Preferences),
        (status = 400, description = "A security notice cannot be switched off", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_preferences(
    db: web::Data<Db>,
    principal: Principal,
    Json(body): Json<PreferencesUpdate>,
) -> Result<HttpResponse, ApiError> {
    let changes = body.items.iter().map(|p| (p.kind, p.email)).collect();
    let items = app::set_preferences(&db, &principal.user.id, changes).await?;
    Ok(HttpResponse::Ok().json(Preferences { items }))
}
