//! Storage of `Idempotency-Key` requests and their responses.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};

use super::DbConnection;
use super::schema::idempotency_keys as ik;

/// A stored, completed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status_code: u16,
    /// `[(name, value)]` as JSON.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What to do with a request that carries a key.
#[derive(Debug, PartialEq, Eq)]
pub enum Begin {
    /// First time: the key is now reserved; run the request.
    Proceed,
    /// Seen and finished with the same body: send this again.
    Replay(StoredResponse),
    /// Seen with a different body.
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
}

#[derive(Queryable)]
struct Row {
    request_hash: String,
    status_code: Option<i32>,
    response_headers: Option<String>,
    response_body: Option<Vec<u8>>,
}

/// Reserves `(scope, key)` for a request with `request_hash`, or tells what
/// happened to an earlier one. Entries older than `expired_before`, and
/// reservations older than `abandoned_before` that never completed (their
/// server died), count as absent and are removed.
/// A request asking to hold a key; `token` identifies this holder, so only
/// it can complete or release the reservation.
#[derive(Debug, Clone, Copy)]
pub struct Reservation<'a> {
    pub scope: &'a str,
    pub key: &'a str,
    pub request_hash: &'a str,
    pub token: &'a str,
}

pub fn begin(
    conn: &mut DbConnection,
    r: &Reservation<'_>,
    now: NaiveDateTime,
    expired_before: NaiveDateTime,
    abandoned_before: NaiveDateTime,
) -> QueryResult<Begin> {
    let (scope, key, request_hash) = (r.scope, r.key, r.request_hash);
    conn.transaction(|conn| {
        diesel::delete(
            ik::table
                .filter(ik::scope.eq(scope))
                .filter(ik::idem_key.eq(key))
                .filter(
                    ik::created_at.lt(expired_before).or(ik::status_code
                        .is_null()
                        .and(ik::created_at.lt(abandoned_before))),
                ),
        )
        .execute(conn)?;
        let inserted = diesel::insert_into(ik::table)
            .values((
                ik::scope.eq(scope),
                ik::idem_key.eq(key),
                ik::request_hash.eq(request_hash),
                ik::owner_token.eq(r.token),
                ik::created_at.eq(now),
            ))
            .execute(conn);
        match inserted {
            Ok(_) => Ok(Begin::Proceed),
            Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                Err(Error::RollbackTransaction)
            }
            Err(e) => Err(e),
        }
    })
    .or_else(|e| match e {
        // Someone holds the key: look at what they stored.
        Error::RollbackTransaction => existing(conn, scope, key, request_hash),
        other => Err(other),
    })
}

fn existing(
    conn: &mut DbConnection,
    scope: &str,
    key: &str,
    request_hash: &str,
) -> QueryResult<Begin> {
    let row: Option<Row> = ik::table
        .filter(ik::scope.eq(scope))
        .filter(ik::idem_key.eq(key))
        .select((
            ik::request_hash,
            ik::status_code,
            ik::response_headers,
            ik::response_body,
        ))
        .first(conn)
        .optional()?;
    let Some(row) = row else {
        // Released between our insert and this read: the client may retry.
        return Ok(Begin::InProgress);
    };
    if row.request_hash != request_hash {
        return Ok(Begin::Mismatch);
    }
    match row.status_code {
        None => Ok(Begin::InProgress),
        Some(status) => Ok(Begin::Replay(StoredResponse {
            status_code: u16::try_from(status).unwrap_or(500),
            headers: row
                .response_headers
                .and_then(|h| serde_json::from_str(&h).ok())
                .unwrap_or_default(),
            body: row.response_body.unwrap_or_default(),
        })),
    }
}

/// Stores the response of a reserved key.
pub fn complete(
    conn: &mut DbConnection,
    scope: &str,
    key: &str,
    token: &str,
    response: &StoredResponse,
) -> QueryResult<()> {
    let headers = serde_json::to_string(&response.headers).unwrap_or_else(|_| "[]".into());
    diesel::update(
        ik::table
            .filter(ik::scope.eq(scope))
            .filter(ik::idem_key.eq(key))
            .filter(ik::owner_token.eq(token)),
    )
    .set((
        ik::status_code.eq(Some(i32::from(response.status_code))),
        ik::response_headers.eq(Some(headers)),
        ik::response_body.eq(Some(&response.body)),
    ))
    .execute(conn)?;
    Ok(())
}

/// Frees a reserved key whose request did not succeed, so it may be retried.
pub fn release(conn: &mut DbConnection, scope: &str, key: &str, token: &str) -> QueryResult<()> {
    diesel::delete(
        ik::table
            .filter(ik::scope.eq(scope))
            .filter(ik::idem_key.eq(key))
            .filter(ik::owner_token.eq(token))
            .filter(ik::status_code.is_null()),
    )
    .execute(conn)?;
    Ok(())
}

/// Removes every entry older than `expired_before`; returns how many.
pub fn purge_expired(conn: &mut DbConnection, expired_before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(ik::table.filter(ik::created_at.lt(expired_before))).execute(conn)
}
