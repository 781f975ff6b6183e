//! The domain event log: rows appended in the transaction of the change
//! they record, read in the order of `seq`.
//!
//! `seq` is the order in which the appending transactions commit, on both
//! backends, so a reader that remembers the last `seq` it saw and asks for
//! the ones after it never misses an event:
//! - SQLite has one writer at a time (write transactions are
//!   `BEGIN IMMEDIATE`), so numbers are handed out in commit order;
//! - on PostgreSQL a sequence hands out numbers in the order of the
//!   *inserts*, and a transaction that inserted first may commit last: a
//!   reader could then pass its number before it becomes visible and never
//!   see it. `append` therefore takes a transaction-scoped advisory lock
//!   first, held until commit: the next appender gets its numbers only
//!   after the previous one committed (or rolled back). The cost is that
//!   appends (not whole transactions) queue; commands append last, just
//!   before they commit, to keep that queue short.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::DbConnection;
use super::schema::{event_institutions as ei, events as ev};

/// The advisory lock that orders appends on PostgreSQL ("kjevts").
pub const APPEND_LOCK: i64 = 0x6b6a_6576_7473;

/// An event to append.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub event_type: &'static str,
    pub subject_kind: &'static str,
    pub subject_id: String,
    pub actor_id: Option<String>,
    /// The typed payload, as JSON.
    pub payload: String,
    pub request_id: Option<String>,
    pub occurred_at: NaiveDateTime,
    /// The institutions the event concerns (ids).
    pub institutions: Vec<String>,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = ev)]
pub struct EventRow {
    pub seq: i64,
    pub id: String,
    pub event_type: String,
    pub subject_kind: String,
    pub subject_id: String,
    pub actor_id: Option<String>,
    pub payload: String,
    pub request_id: Option<String>,
    pub occurred_at: NaiveDateTime,
}

/// Appends `events` in order, inside the caller's transaction (or in one of
/// its own). Returns their sequence numbers.
pub fn append(conn: &mut DbConnection, events: &[NewEvent]) -> QueryResult<Vec<i64>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    super::write_transaction(conn, |conn| {
        if let DbConnection::Postgres(pg) = conn {
            diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                .bind::<BigInt, _>(APPEND_LOCK)
                .execute(pg)?;
        }
        let mut seqs = Vec::with_capacity(events.len());
        for e in events {
            diesel::insert_into(ev::table)
                .values((
                    ev::id.eq(&e.id),
                    ev::event_type.eq(e.event_type),
                    ev::subject_kind.eq(e.subject_kind),
                    ev::subject_id.eq(&e.subject_id),
                    ev::actor_id.eq(&e.actor_id),
                    ev::payload.eq(&e.payload),
                    ev::request_id.eq(&e.request_id),
                    ev::occurred_at.eq(e.occurred_at),
                ))
                .execute(conn)?;
            let seq: i64 = ev::table
                .filter(ev::id.eq(&e.id))
                .select(ev::seq)
                .first(conn)?;
            let mut institutions: Vec<&String> = e.institutions.iter().collect();
            institutions.sort();
            institutions.dedup();
            for institution in institutions {
                diesel::insert_into(ei::table)
                    .values((ei::event_seq.eq(seq), ei::institution_id.eq(institution)))
                    .execute(conn)?;
            }
            seqs.push(seq);
        }
        Ok(seqs)
    })
}

/// Up to `limit` events after `after`, in order.
pub fn after(conn: &mut DbConnection, after: i64, limit: i64) -> QueryResult<Vec<EventRow>> {
    ev::table
        .filter(ev::seq.gt(after))
        .order(ev::seq.asc())
        .limit(limit)
        .select(EventRow::as_select())
        .load(conn)
}

/// The institutions an event concerns.
pub fn institutions_of(conn: &mut DbConnection, seq: i64) -> QueryResult<Vec<String>> {
    ei::table
        .filter(ei::event_seq.eq(seq))
        .order(ei::institution_id.asc())
        .select(ei::institution_id)
        .load(conn)
}

/// Deletes the events that occurred before `before` (and what they
/// concern); returns how many.
pub fn prune(conn: &mut DbConnection, before: NaiveDateTime) -> QueryResult<usize> {
    super::write_transaction(conn, |conn| {
        let old = ev::table.filter(ev::occurred_at.lt(before)).select(ev::seq);
        diesel::delete(ei::table.filter(ei::event_seq.eq_any(old))).execute(conn)?;
        diesel::delete(ev::table.filter(ev::occurred_at.lt(before))).execute(conn)
    })
}

/// The last sequence number handed out, if any event is stored.
pub fn last_seq(conn: &mut DbConnection) -> QueryResult<Option<i64>> {
    ev::table
        .select(diesel::dsl::max(ev::seq))
        .first::<Option<i64>>(conn)
}
