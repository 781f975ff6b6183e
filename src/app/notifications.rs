//! In-app notifications and their emails: `notify` records the notification
//! and queues its email (unless the person switched that kind off) in the
//! caller's transaction. Commands reach it through the event dispatcher
//! (`app::events::record_notifying`), so each notification belongs to the
//! domain event that caused it.
//!
//! Also what a person does with theirs: read them, mark them read, choose
//! which kinds are emailed.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::events;
use crate::db::accounts::UserRow;
use crate::db::audit::Context;
use crate::db::notifications::{self as store, NotificationRow};
use crate::db::{Db, DbConnection, now, write_transaction};
use crate::domain::events::Event;
use crate::error::{ApiError, FieldError};
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

// A notification, as its person sees it (no doc comment: it would become
// the schema's description).
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

impl TryFrom<NotificationRow> for Notification {
    type Error = ApiError;

    /// A stored kind that is not one of `Kind` is an error, never a default.
    fn try_from(n: NotificationRow) -> Result<Self, ApiError> {
        let kind = stored_kind(&n.kind, "notification", &n.id)?;
        Ok(Self {
            id: n.id,
            kind,
            title: n.title,
            body: n.body,
            link: n.link,
            created_at: n.created_at.and_utc(),
            read_at: n.read_at.map(|t| t.and_utc()),
        })
    }
}

fn stored_kind(raw: &str, what: &str, id: &str) -> Result<Kind, ApiError> {
    Kind::parse(raw).ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!(
            "{what} {id}: stored notification kind is not valid: {raw:?}"
        ))
    })
}

/// The person's notifications, newest first (only unread ones if asked),
/// before the `(created_at, id)` keyset.
pub async fn list(
    db: &Db,
    user_id: &str,
    unread_only: bool,
    before: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> Result<Vec<Notification>, ApiError> {
    let user_id = user_id.to_string();
    let rows = db
        .run(move |conn| store::list(conn, &user_id, unread_only, before, limit))
        .await?;
    rows.into_iter().map(Notification::try_from).collect()
}

/// Marks one of the person's notifications read (reading is not an event:
/// it changes nothing but the person's own inbox).
pub async fn mark_read(db: &Db, user_id: &str, id: &str) -> Result<Notification, ApiError> {
    let (user_id, id) = (user_id.to_string(), id.to_string());
    db.run(move |conn| store::mark_read(conn, &user_id, &id, now()))
        .await?
        .ok_or(ApiError::NotFound)
        .and_then(Notification::try_from)
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

/// Every kind, and whether it is emailed: essential kinds always, the
/// others unless the person switched them off.
fn current(user_id: &str, rows: &[(String, bool)]) -> Result<Vec<Preference>, ApiError> {
    let mut stored = Vec::with_capacity(rows.len());
    for (kind, email) in rows {
        stored.push((
            stored_kind(kind, "notification preference of", user_id)?,
            *email,
        ));
    }
    Ok(Kind::ALL
        .into_iter()
        .map(|kind| {
            let essential = kind.template().essential();
            let email = essential
                || stored
                    .iter()
                    .find(|(k, _)| *k == kind)
                    .is_none_or(|(_, e)| *e);
            Preference {
                kind,
                email,
                essential,
            }
        })
        .collect())
}

/// Which notifications the person also gets by email.
pub async fn preferences(db: &Db, user_id: &str) -> Result<Vec<Preference>, ApiError> {
    let user_id = user_id.to_string();
    let rows = {
        let user_id = user_id.clone();
        db.run(move |conn| store::preferences(conn, &user_id))
            .await?
    };
    current(&user_id, &rows)
}

/// Switches emails of kinds on or off (`(kind, email)` per item; security
/// notices cannot be switched off). Records
/// `user.notification_preferences_changed` when a kind's setting changed.
pub async fn set_preferences(
    db: &Db,
    user_id: &str,
    changes: Vec<(Kind, bool)>,
) -> Result<Vec<Preference>, ApiError> {
    if changes.len() > Kind::ALL.len() {
        return Err(ApiError::field(
            "items",
            format!("At most {} items, one per kind.", Kind::ALL.len()),
        ));
    }
    let errors: Vec<FieldError> = changes
        .iter()
        .enumerate()
        .filter(|(_, (kind, email))| kind.template().essential() && !email)
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
    let user_id = user_id.to_string();
    let ctx = Context::new(Some(&user_id));
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            let before = current(&user_id, &store::preferences(conn, &user_id)?)?;
            for (kind, email) in &changes {
                store::set_preference(conn, &user_id, kind.name(), *email)?;
            }
            let after = current(&user_id, &store::preferences(conn, &user_id)?)?;
            let switched = |on: bool| -> Vec<String> {
                before
                    .iter()
                    .zip(&after)
                    .filter(|(b, a)| b.email != a.email && a.email == on)
                    .map(|(_, a)| a.kind.name().to_string())
                    .collect()
            };
            let (email_on, email_off) = (switched(true), switched(false));
            if !email_on.is_empty() || !email_off.is_empty() {
                events::record(
                    conn,
                    &ctx,
                    &user_id,
                    &[],
                    &Event::NotificationPreferencesChanged {
                        email_on,
                        email_off,
                    },
                )?;
            }
            Ok::<_, ApiError>(after)
        })
    })
    .await
    .map_err(ApiError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_stored_as_its_template_name() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.name()), Some(kind));
            let word = serde_json::to_value(kind).unwrap();
            assert_eq!(word, kind.name(), "the API and the store say the same word");
        }
        assert!(stored_kind("no_such_kind", "notification", "n1").is_err());
    }
}
