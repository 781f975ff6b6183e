//! Platform administration: accounts (`/users`), the email outbox and the
//! audit log. Every function takes an [`Admin`], which only the policy's
//! `Administer` decision makes.

use chrono::NaiveDateTime;

use crate::app::events;
use crate::auth::Principal;
use crate::db::accounts::{self, AdminChanges, UserRow};
use crate::db::audit::{self, AuditEvent, Context, Filter};
use crate::db::outbox::{self, Attempt, EmailRow};
use crate::db::{Db, now, write_transaction};
use crate::domain::Role;
use crate::domain::events::Event;
use crate::error::{ApiError, Invalid};
use crate::problem_types::ProblemType;
use crate::state::AppState;

crate::domain::word::word_enum!(
    OutboxStatus {
        Queued => "queued",
        Sending => "sending",
        Sent => "sent",
        Dead => "dead",
    }
);

/// A caller the policy let administer the platform.
#[derive(Debug, Clone, Copy)]
pub struct Admin<'a>(&'a Principal);

impl<'a> Admin<'a> {
    /// Asks the policy (403 `admin-only` otherwise).
    pub fn check(principal: &'a Principal) -> Result<Self, ApiError> {
        principal.require_admin()?;
        Ok(Self(principal))
    }

    pub(crate) fn id(&self) -> &str {
        &self.0.user.id
    }

    pub(crate) fn context(&self) -> Context {
        Context::new(Some(self.id()))
    }
}

// ----- accounts --------------------------------------------------------------

/// Accounts by creation, after the keyset; `q` (trimmed, at most 254
/// characters) searches email addresses.
pub async fn users(
    db: &Db,
    _admin: &Admin<'_>,
    q: Option<&str>,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> Result<Vec<UserRow>, ApiError> {
    let q = q
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_string);
    if q.as_ref().is_some_and(|q| q.len() > 254) {
        return Err(Invalid::too_long(254, "At most 254 characters.")
            .at("q")
            .into());
    }
    Ok(db
        .run(move |conn| accounts::list_users(conn, q.as_deref(), after, limit))
        .await?)
}

/// One account.
pub async fn user(db: &Db, _admin: &Admin<'_>, id: &str) -> Result<UserRow, ApiError> {
    let id = id.to_string();
    db.run(move |conn| accounts::user_by_id(conn, &id))
        .await?
        .ok_or(ApiError::NotFound)
}

/// What an admin changes on an account; `None` leaves it.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccountChange {
    pub role: Option<Role>,
    /// `false` deactivates, `true` restores.
    pub active: Option<bool>,
}

/// Changes an account's role or deactivates/restores it, after
/// `precondition` accepted the account as it is (the caller's `If-Match`).
/// Nobody changes their own role or activity here. A new role or a
/// deactivation ends every session; a deactivation revokes the API tokens
/// for good. Records `user.role_changed` (when the role differs) and
/// `user.deactivated`/`user.reactivated` (whenever `active` is given).
pub async fn update_user(
    db: &Db,
    admin: &Admin<'_>,
    id: &str,
    change: AccountChange,
    precondition: impl FnOnce(&UserRow) -> Result<(), ApiError>,
) -> Result<UserRow, ApiError> {
    let user = user(db, admin, id).await?;
    precondition(&user)?;
    if id == admin.id() && (change.role.is_some() || change.active.is_some()) {
        return Err(ApiError::Forbidden {
            problem: ProblemType::OwnAccount,
            detail:
                "Nobody can change their own role or deactivate themselves here; ask another admin."
                    .into(),
        });
    }
    let new_role = change.role.filter(|r| *r != user.role);
    let deactivates = change.active == Some(false) && user.active;
    let now = now();
    let changes = AdminChanges {
        role: change.role,
        active: change.active,
        deactivated_at: change.active.map(|a| if a { None } else { Some(now) }),
        updated_at: Some(now),
    };
    let admin_id = admin.id().to_string();
    let ctx = admin.context();
    let (id, from) = (id.to_string(), user.role);
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            accounts::update_admin(conn, &id, &changes)?;
            if deactivates {
                // A deactivated account's API tokens end for good: a
                // later reactivation does not bring them back.
                accounts::revoke_all_api_tokens(conn, &id, now)?;
            }
            if new_role.is_some() || deactivates {
                let reason = if deactivates {
                    "deactivated"
                } else {
                    "role_change"
                };
                accounts::end_sessions(conn, &id, None, reason, now)?;
            }
            if let Some(to) = new_role {
                events::record(conn, &ctx, &id, &[], &Event::UserRoleChanged { from, to })?;
            }
            if let Some(active) = change.active {
                let event = if active {
                    Event::UserReactivated {}
                } else {
                    Event::UserDeactivated { by: "admin".into() }
                };
                events::record(conn, &ctx, &id, &[], &event)?;
            }
            tracing::info!(admin = %admin_id, user = %id, ?changes, "admin changed a user");
            accounts::user_by_id(conn, &id)?
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("user vanished")))
        })
    })
    .await
    .map_err(ApiError::from)
}

// ----- the email outbox ------------------------------------------------------

/// The outbox, newest first (optionally of one status), before the
/// keyset, with the delivery attempts of the emails listed.
pub async fn outbox(
    db: &Db,
    _admin: &Admin<'_>,
    status: Option<OutboxStatus>,
    before: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> Result<(Vec<EmailRow>, Vec<Attempt>), ApiError> {
    Ok(db
        .run(move |conn| {
            let rows = outbox::list(conn, status.map(OutboxStatus::as_str), before, limit)?;
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            let attempts = outbox::attempts_of(conn, &ids)?;
            Ok::<_, diesel::result::Error>((rows, attempts))
        })
        .await?)
}

/// Queues a dead email again with `mail.max_attempts` new attempts (409
/// `not-dead` for any other status; `outbox.retried`).
pub async fn retry_email(
    db: &Db,
    state: &AppState,
    admin: &Admin<'_>,
    id: &str,
) -> Result<(EmailRow, Vec<Attempt>), ApiError> {
    let extra = i32::try_from(state.settings.mail.max_attempts).unwrap_or(8);
    let admin_id = admin.id().to_string();
    let ctx = admin.context();
    let id = id.to_string();
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            let Some(row) = outbox::get(conn, &id)? else {
                return Err(ApiError::NotFound);
            };
            if !outbox::retry_dead(conn, &id, extra, now())? {
                return Err(ApiError::Conflict {
                    problem: ProblemType::NotDead,
                    detail: format!("This email is `{}`.", row.status),
                });
            }
            // Wakes the worker once this call is done (on this thread).
            crate::mail::mark_enqueued();
            events::record(
                conn,
                &ctx,
                &id,
                &[],
                &Event::OutboxRetried {
                    recipient: row.recipient,
                },
            )?;
            tracing::info!(admin = %admin_id, email = %id, "admin retried a dead email");
            let row = outbox::get(conn, &id)?.ok_or(ApiError::NotFound)?;
            let attempts = outbox::attempts_of(conn, std::slice::from_ref(&row.id))?;
            Ok((row, attempts))
        })
    })
    .await
    .map_err(ApiError::from)
}

// ----- the audit log ---------------------------------------------------------

/// An audit entry with its detail read back.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub row: AuditEvent,
    pub detail: serde_json::Value,
}

/// The audit log, newest first, filtered, before the keyset. A stored
/// detail that is not JSON is an error (500 naming the entry), never `null`.
pub async fn audit_log(
    db: &Db,
    _admin: &Admin<'_>,
    filter: Filter,
    before: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> Result<Vec<AuditEntry>, ApiError> {
    let rows = db
        .run(move |conn| audit::list(conn, &filter, before, limit))
        .await?;
    rows.into_iter()
        .map(|row| {
            let detail = serde_json::from_str(&row.detail).map_err(|e| {
                ApiError::internal(anyhow::anyhow!(
                    "audit entry {}: stored detail is not JSON: {e}",
                    row.id
                ))
            })?;
            Ok(AuditEntry { row, detail })
        })
        .collect()
}
