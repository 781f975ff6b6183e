//! The one dispatcher of domain events. `record` appends the event and
//! writes the audit entry derived from it (action = the event's name,
//! detail = its payload; `Event::audited` names the few that are stream
//! only); `record_notifying` also writes the in-app
//! notifications (and queues their emails) that the event causes. Both run
//! in the caller's transaction, so a command cannot change something without
//! its event and audit entry, and the event, the audit entry and the
//! notifications commit or vanish together.
//!
//! Who is told is the command's knowledge (the deciders of a dataset at that
//! moment, the member who was removed): it passes them as `Notice`s with the
//! event, and the dispatcher is the only writer of notifications.

use diesel::QueryResult;
use serde_json::Value;

use crate::app::notifications::{Cause, Kind, notify};
use crate::db::DbConnection;
use crate::db::accounts::UserRow;
use crate::db::audit::{self, Context};
use crate::db::events::{self, NewEvent};
use crate::domain::events::Event;
use crate::error::ApiError;
use crate::state::AppState;

/// One person to tell about an event: what kind of notification, and the
/// data its template renders.
#[derive(Debug, Clone)]
pub struct Notice {
    pub to: UserRow,
    pub kind: Kind,
    pub data: Value,
    /// A client app's registered link base for the email's links (the
    /// request that caused it named the app); `None`: the platform's
    /// frontend URL.
    pub link_base: Option<String>,
}

impl Notice {
    pub fn new(to: &UserRow, kind: Kind, data: Value) -> Self {
        Self {
            to: to.clone(),
            kind,
            data,
            link_base: None,
        }
    }
}

/// Records `event` about `subject_id`, concerning `institutions` (ids), by
/// the actor and request in `ctx`. Append last in a transaction: appends
/// queue on PostgreSQL until the appending transaction commits.
pub fn record(
    conn: &mut DbConnection,
    ctx: &Context,
    subject_id: &str,
    institutions: &[&str],
    event: &Event,
) -> QueryResult<()> {
    record_all(conn, ctx, &[(subject_id, institutions, event)])
}

/// [`record`] for many events at once, in order, in a few statements (a
/// bulk import records one event per resource).
pub fn record_all(
    conn: &mut DbConnection,
    ctx: &Context,
    items: &[(&str, &[&str], &Event)],
) -> QueryResult<()> {
    let now = crate::db::now();
    let mut entries = Vec::new();
    let mut appended = Vec::with_capacity(items.len());
    for (subject_id, institutions, event) in items {
        let payload = event.payload();
        let payload_text = payload.to_string();
        if event.audited() {
            entries.push(audit::AuditEvent {
                id: uuid::Uuid::now_v7().to_string(),
                actor_id: ctx.actor_id.clone(),
                action: event.name().into(),
                subject_type: event.subject_kind().into(),
                subject_id: (*subject_id).into(),
                detail: payload_text.clone(),
                request_id: ctx.request_id.clone(),
                created_at: now,
            });
        }
        appended.push(NewEvent {
            id: uuid::Uuid::now_v7().to_string(),
            event_type: event.name(),
            subject_kind: event.subject_kind(),
            subject_id: (*subject_id).to_string(),
            actor_id: ctx.actor_id.clone(),
            payload: payload_text,
            request_id: ctx.request_id.clone(),
            occurred_at: now,
            institutions: institutions.iter().map(|s| s.to_string()).collect(),
        });
    }
    audit::record_all(conn, &entries)?;
    crate::app::webhooks::fan_out(conn, &appended)?;
    events::append(conn, &appended)?;
    Ok(())
}

/// `record`, then the notifications the event causes (each also emailed
/// unless its person switched that kind off), each carrying the event's
/// name, subject and payload (`notifications::Cause`).
pub fn record_notifying(
    conn: &mut DbConnection,
    state: &AppState,
    ctx: &Context,
    subject_id: &str,
    institutions: &[&str],
    event: &Event,
    notices: Vec<Notice>,
) -> Result<(), ApiError> {
    let payload = event.payload();
    let cause = Cause {
        event_type: event.name(),
        subject_kind: event.subject_kind(),
        subject_id,
        payload: &payload,
    };
    for notice in notices {
        notify(conn, state, &notice, &cause)?;
    }
    record(conn, ctx, subject_id, institutions, event)?;
    Ok(())
}
