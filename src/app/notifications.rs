//! In-app notifications and their emails: `notify` records the notification
//! and queues its email (unless the person switched that kind off) in the
//! caller's transaction. Commands reach it through the event dispatcher
//! (`app::events::record_notifying`), so each notification belongs to the
//! domain event that caused it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::accounts::UserRow;
use crate::db::notifications::{self as store, NotificationRow};
use crate::db::{DbConnection, now};
use crate::error::ApiError;
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
