//! In-app notifications and email preferences (`/me/notifications*`). They
//! are written by `app::notifications`.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::types::utc;
use crate::app::notifications::Kind;
use crate::auth::Principal;
use crate::db::notifications::{self as store, NotificationRow};
use crate::db::{Db, now, write_transaction};
use crate::error::{ApiError, FieldError, Problem};
use crate::http::json::{Json, Query};
use crate::http::pagination::{PageQuery, Paginated};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/me/notifications").route(crate::api::get().to(list)))
        .service(web::resource("/me/notifications/{id}/read").route(web::post().to(read)))
        .service(
            web::resource("/me/notification-preferences")
                .route(crate::api::get().to(get_preferences))
                .route(web::put().to(put_preferences)),
        );
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Notification {
    pub id: String,
    pub kind: Kind,
    pub title: String,
    pub body: String,
    /// A path under the frontend.
    pub link: Option<String>,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

impl From<&NotificationRow> for Notification {
    fn from(n: &NotificationRow) -> Self {
        Self {
            id: n.id.clone(),
            kind: Kind::parse(&n.kind).unwrap_or(Kind::PasswordChanged),
            title: n.title.clone(),
            body: n.body.clone(),
            link: n.link.clone(),
            created_at: utc(n.created_at),
            read_at: n.read_at.map(utc),
        }
    }
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

/// Your notifications, newest first.
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
    let user_id = principal.user.id.clone();
    let before = page.after.clone().map(|(t, id)| (t.naive_utc(), id));
    let limit = page.fetch_limit();
    let unread = filter.unread.unwrap_or(false);
    let rows = db
        .run(move |conn| store::list(conn, &user_id, unread, before, limit))
        .await?;
    Ok(
        Paginated::from_rows(rows, &page, |n| (utc(n.created_at), n.id.clone()))
            .map(|n| Notification::from(&n))
            .respond(&req),
    )
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
    let id = path.into_inner();
    let user_id = principal.user.id.clone();
    let row = db
        .run(move |conn| store::mark_read(conn, &user_id, &id, now()))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(Notification::from(&row)))
}

/// Whether a kind of notification is also emailed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Preference {
    pub kind: Kind,
    /// Send an email for this kind.
    pub email: bool,
    /// Security notices are always emailed.
    pub essential: bool,
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
pub struct Preferences {
    pub items: Vec<Preference>,
}

fn current(rows: &[(String, bool)]) -> Preferences {
    Preferences {
        items: Kind::ALL
            .into_iter()
            .map(|kind| {
                let essential = kind.template().essential();
                let email = essential
                    || rows
                        .iter()
                        .find(|(k, _)| k == kind.name())
                        .is_none_or(|(_, e)| *e);
                Preference {
                    kind,
                    email,
                    essential,
                }
            })
            .collect(),
    }
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
    let user_id = principal.user.id.clone();
    let rows = db
        .run(move |conn| store::preferences(conn, &user_id))
        .await?;
    Ok(HttpResponse::Ok().json(current(&rows)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
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
    if body.items.len() > Kind::ALL.len() {
        return Err(ApiError::field(
            "items",
            format!("At most {} items, one per kind.", Kind::ALL.len()),
        ));
    }
    let errors: Vec<FieldError> = body
        .items
        .iter()
        .enumerate()
        .filter(|(_, p)| p.kind.template().essential() && !p.email)
        .map(|(i, _)| {
            FieldError::new(
                format!("items[{i}].email"),
                "Security notices are always emailed.",
            )
        })
        .collect();
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let user_id = principal.user.id.clone();
    let rows = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                for p in &body.items {
                    store::set_preference(conn, &user_id, p.kind.name(), p.email)?;
                }
                store::preferences(conn, &user_id)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(current(&rows)))
}
