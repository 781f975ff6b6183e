//! The one dispatcher of domain events: `record` appends the event and
//! writes the audit entry derived from it (action = the event's name,
//! detail = its payload), in the caller's transaction. A command that
//! records an event therefore cannot forget the audit, and the two never
//! disagree.

use diesel::QueryResult;

use crate::db::DbConnection;
use crate::db::audit::{self, Context};
use crate::db::events::{self, NewEvent};
use crate::domain::events::Event;

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
    let payload = event.payload();
    audit::record(
        conn,
        ctx,
        event.name(),
        event.subject_kind(),
        subject_id,
        payload.clone(),
    )?;
    events::append(
        conn,
        &[NewEvent {
            id: uuid::Uuid::now_v7().to_string(),
            event_type: event.name(),
            subject_kind: event.subject_kind(),
            subject_id: subject_id.to_string(),
            actor_id: ctx.actor_id.clone(),
            payload: payload.to_string(),
            request_id: ctx.request_id.clone(),
            occurred_at: crate::db::now(),
            institutions: institutions.iter().map(|s| s.to_string()).collect(),
        }],
    )?;
    Ok(())
}
