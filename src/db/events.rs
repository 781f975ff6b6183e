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

/// An event row as inserted (`seq` is handed out by the database).
#[derive(Insertable)]
#[diesel(table_name = ev)]
struct Insert<'a> {
    id: &'a str,
    event_type: &'a str,
    subject_kind: &'a str,
    subject_id: &'a str,
    actor_id: Option<&'a str>,
    payload: &'a str,
    request_id: Option<&'a str>,
    occurred_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = ei)]
struct Concerns<'a> {
    event_seq: i64,
    institution_id: &'a str,
}

/// Appends `events` in order, inside the caller's transaction (or in one of
/// its own). Returns their sequence numbers. Many events cost a few
/// statements, not a few per event (a bulk import appends thousands).
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
        let rows: Vec<Insert> = events
            .iter()
            .map(|e| Insert {
                id: &e.id,
                event_type: e.event_type,
                subject_kind: e.subject_kind,
                subject_id: &e.subject_id,
                actor_id: e.actor_id.as_deref(),
                payload: &e.payload,
                request_id: e.request_id.as_deref(),
                occurred_at: e.occurred_at,
            })
            .collect();
        // In order, so that `seq` follows the order of `events`.
        let inserted: QueryResult<()> = insert_batched!(conn, ev::table, &rows, 8);
        inserted?;
        let mut seq_of: std::collections::HashMap<String, i64> =
            std::collections::HashMap::with_capacity(events.len());
        let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        for chunk in ids.chunks(super::BIND_MAX / 2) {
            seq_of.extend(
                ev::table
                    .filter(ev::id.eq_any(chunk))
                    .select((ev::id, ev::seq))
                    .load::<(String, i64)>(conn)?,
            );
        }
        let mut seqs = Vec::with_capacity(events.len());
        let mut concerns = Vec::new();
        for e in events {
            let seq = *seq_of.get(&e.id).ok_or(diesel::result::Error::NotFound)?;
            let mut institutions: Vec<&String> = e.institutions.iter().collect();
            institutions.sort();
            institutions.dedup();
            concerns.extend(institutions.into_iter().map(|i| Concerns {
                event_seq: seq,
                institution_id: i,
            }));
            seqs.push(seq);
        }
        let inserted: QueryResult<()> = insert_batched!(conn, ei::table, &concerns, 2);
        inserted?;
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
