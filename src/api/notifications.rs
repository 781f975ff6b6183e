//! In-app notifications and email preferences (`/me/notifications*`), and
//! `notify`, which every event uses to reach a person in the app and by email.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::types::utc;
use crate::auth::Principal;
use crate::db::accounts::UserRow;
use crate::db::notifications::{self as store, NotificationRow};
use crate::db::{Db, DbConnection, now, write_transaction};
use crate::error::{ApiError, FieldError, Problem};
use crate::http::json::{Json, Query};
use crate::http::pagination::{PageQuery, Paginated};
use crate::mail::{Email, Template};
use crate::state::AppState;

/// Events a person is notified of. Each has an email template; security
/// events are always emailed, the others can be switched off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    PasswordChanged,
    ApiTokenCreated,
    MembershipAdded,
    MemberRoleChanged,
    MemberRemoved,
    InstitutionVerified,
    EnrollmentConfirmed,
    CourseCompleted,
    PartnershipInvitation,
    PartnershipResponse,
    PartnershipMembershipEnded,
    PartnershipStatusChanged,
    PartnershipSharedDigest,
    AccessRequested,
    AccessDecided,
    AccessEnded,
    AccessReminder,
}

impl Kind {
    pub const ALL: [Kind; 17] = [
        Kind::PasswordChanged,
        Kind::ApiTokenCreated,
        Kind::MembershipAdded,
        Kind::MemberRoleChanged,
        Kind::MemberRemoved,
        Kind::InstitutionVerified,
        Kind::EnrollmentConfirmed,
        Kind::CourseCompleted,
        Kind::PartnershipInvitation,
        Kind::PartnershipResponse,
        Kind::PartnershipMembershipEnded,
        Kind::PartnershipStatusChanged,
        Kind::PartnershipSharedDigest,
        Kind::AccessRequested,
        Kind::AccessDecided,
        Kind::AccessEnded,
        Kind::AccessReminder,
    ];

    pub fn template(self) -> Template {
        match self {
            Self::PasswordChanged => Template::PasswordChanged,
            Self::ApiTokenCreated => Template::ApiTokenCreated,
            Self::MembershipAdded => Template::MembershipAdded,
            Self::MemberRoleChanged => Template::MemberRoleChanged,
            Self::MemberRemoved => Template::MemberRemoved,
            Self::InstitutionVerified => Template::InstitutionVerified,
            Self::EnrollmentConfirmed => Template::EnrollmentConfirmed,
            Self::CourseCompleted => Template::CourseCompleted,
            Self::PartnershipInvitation => Template::PartnershipInvitation,
            Self::PartnershipResponse => Template::PartnershipResponse,
            Self::PartnershipMembershipEnded => Template::PartnershipMembershipEnded,
            Self::PartnershipStatusChanged => Template::PartnershipStatusChanged,
            Self::PartnershipSharedDigest => Template::PartnershipSharedDigest,
            Self::AccessRequested => Template::AccessRequested,
            Self::AccessDecided => Template::AccessDecided,
            Self::AccessEnded => Template::AccessEnded,
            Self::AccessReminder => Template::AccessReminder,
        }
    }

    pub fn name(self) -> &'static str {
        self.template().name()
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Where the in-app notification links to (under the frontend).
    fn link(self, data: &serde_json::Value) -> String {
        match self {
            Self::PasswordChanged => "/settings/security".into(),
            Self::ApiTokenCreated => "/settings/tokens".into(),
            Self::MembershipAdded | Self::MemberRoleChanged | Self::InstitutionVerified => {
                format!("/institutions/{}", data["slug"].as_str().unwrap_or(""))
            }
            Self::MemberRemoved => "/institutions".into(),
            Self::EnrollmentConfirmed | Self::CourseCompleted => {
                format!("/courses/{}", data["course_id"].as_str().unwrap_or(""))
            }
            Self::PartnershipInvitation
            | Self::PartnershipResponse
            | Self::PartnershipMembershipEnded
            | Self::PartnershipStatusChanged
            | Self::PartnershipSharedDigest => {
                format!("/partnerships/{}", data["slug"].as_str().unwrap_or(""))
            }
            Self::AccessRequested | Self::AccessDecided | Self::AccessEnded => format!(
                "/access-requests/{}",
                data["request_id"].as_str().unwrap_or("")
            ),
            Self::AccessReminder => "/access-requests".into(),
        }
    }
}

/// Records an in-app notification and queues its email (unless the person
/// switched that kind off), in the caller's transaction.
pub fn notify(
    conn: &mut DbConnection,
    state: &AppState,
    user: &UserRow,
    kind: Kind,
    data: serde_json::Value,
) -> Result<(), ApiError> {
    let rendered = state
        .outbox
        .templates()
        .render(kind.template(), &data)
        .map_err(ApiError::internal)?;
    let body = rendered
        .text
        .lines()
        .skip_while(|l| l.trim().is_empty() || l.starts_with("Hello"))
        .take_while(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    store::insert(
        conn,
        &NotificationRow {
            id: uuid::Uuid::now_v7().to_string(),
            user_id: user.id.clone(),
            kind: kind.name().into(),
            title: rendered.subject,
            body,
            link: Some(kind.link(&data)),
            created_at: now(),
            read_at: None,
        },
    )?;
    let essential = kind.template().essential();
    if essential || store::wants_email(conn, &user.id, kind.name())? {
        state.outbox.enqueue(
            conn,
            Email::new(user.email.clone(), kind.template(), data).for_user(&user.id),
        )?;
    }
    Ok(())
}

/// Tells the person their password changed (a security notice).
pub fn password_changed(
    conn: &mut DbConnection,
    state: &AppState,
    user: &UserRow,
) -> Result<(), ApiError> {
    notify(
        conn,
        state,
        user,
        Kind::PasswordChanged,
        serde_json::json!({"display_name": user.display_name}),
    )
}

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
