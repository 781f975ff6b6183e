//! The audit log: written in the same transaction as the change it records.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::audit_events as ae;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = ae)]
pub struct AuditEvent {
    pub id: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub subject_type: String,
    pub subject_id: String,
    pub detail: String,
    pub request_id: Option<String>,
    pub created_at: NaiveDateTime,
}

/// Who acts, and in which request (captured before the blocking call).
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub actor_id: Option<String>,
    pub request_id: Option<String>,
}

impl Context {
    pub fn new(actor_id: Option<&str>) -> Self {
        Self {
            actor_id: actor_id.map(str::to_owned),
            request_id: crate::http::request_id::current(),
        }
    }
}

/// Records many entries at once (a bulk import), in order.
pub fn record_all(conn: &mut DbConnection, entries: &[AuditEvent]) -> QueryResult<()> {
    insert_batched!(conn, ae::table, entries, 8)
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor_id: Option<String>,
    pub action: Option<String>,
    pub subject_type: Option<String>,
    pub subject_id: Option<String>,
    pub since: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
}

/// Newest first.
pub fn list(
    conn: &mut DbConnection,
    filter: &Filter,
    before: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<AuditEvent>> {
    let mut q = ae::table
        .select(AuditEvent::as_select())
        .order((ae::created_at.desc(), ae::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some(v) = &filter.actor_id {
        q = q.filter(ae::actor_id.eq(v.clone()));
    }
    if let Some(v) = &filter.action {
        q = q.filter(ae::action.eq(v.clone()));
    }
    if let Some(v) = &filter.subject_type {
        q = q.filter(ae::subject_type.eq(v.clone()));
    }
    if let Some(v) = &filter.subject_id {
        q = q.filter(ae::subject_id.eq(v.clone()));
    }
    if let Some(v) = filter.since {
        q = q.filter(ae::created_at.ge(v));
    }
    if let Some(v) = filter.until {
        q = q.filter(ae::created_at.lt(v));
    }
    if let Some((at, id)) = before {
        // The bound makes the keyset an index range (see `keyset` in db/mod.rs).
        q = q.filter(ae::created_at.le(at));
        q = q.filter(
            ae::created_at
                .lt(at)
                .or(ae::created_at.eq(at).and(ae::id.lt(id))),
        );
    }
    q.load(conn)
}
