//! The email outbox: rows written in the caller's transaction, claimed by
//! workers under a lease, and their delivery attempts.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text, Timestamp};

use super::DbConnection;
use super::schema::{outbox_attempts as oa, outbox_emails as oe};
use crate::with_conn;

pub const QUEUED: &str = "queued";
pub const SENDING: &str = "sending";
pub const SENT: &str = "sent";
pub const DEAD: &str = "dead";
pub const STATUSES: [&str; 4] = [QUEUED, SENDING, SENT, DEAD];

#[derive(Debug, Insertable)]
#[diesel(table_name = oe)]
pub struct NewEmail<'a> {
    pub id: &'a str,
    pub message_id: &'a str,
    pub dedupe_key: Option<&'a str>,
    pub recipient: &'a str,
    pub user_id: Option<&'a str>,
    pub template: &'a str,
    pub data: &'a str,
    pub subject: &'a str,
    pub text_body: &'a str,
    pub html_body: &'a str,
    pub status: &'a str,
    pub attempts: i32,
    pub max_attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Inserts an email; `false` when an email with its `dedupe_key` exists
/// (in whatever state: a dedupe key sends at most once, ever).
pub fn insert(conn: &mut DbConnection, email: &NewEmail<'_>) -> QueryResult<bool> {
    let inserted = with_conn!(conn, |c| diesel::insert_into(oe::table)
        .values(email)
        .on_conflict_do_nothing()
        .execute(c)?);
    Ok(inserted == 1)
}

/// An email a worker has claimed and must deliver.
#[derive(Debug, Clone, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub message_id: String,
    #[diesel(sql_type = Text)]
    pub recipient: String,
    #[diesel(sql_type = Text)]
    pub subject: String,
    #[diesel(sql_type = Text)]
    pub text_body: String,
    #[diesel(sql_type = Text)]
    pub html_body: String,
    /// This attempt's number (1 for the first).
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    #[diesel(sql_type = Integer)]
    pub max_attempts: i32,
}

// Two claims, each an index-ordered scan with its own LIMIT (an OR of both
// conditions would make the database collect and sort every due row):
// first claims whose worker's lease ran out, then queued emails that are due.
const RECLAIM_SQLITE: &str = "UPDATE outbox_emails \
    SET status = 'sending', lease_owner = ?, lease_expires_at = ?, attempts = attempts + 1, updated_at = ? \
    WHERE id IN (SELECT id FROM outbox_emails \
        WHERE status = 'sending' AND lease_expires_at <= ? \
        ORDER BY lease_expires_at LIMIT ?) \
    RETURNING id, message_id, recipient, subject, text_body, html_body, attempts, max_attempts";

const CLAIM_SQLITE: &str = "UPDATE outbox_emails \
    SET status = 'sending', lease_owner = ?, lease_expires_at = ?, attempts = attempts + 1, updated_at = ? \
    WHERE id IN (SELECT id FROM outbox_emails \
        WHERE status = 'queued' AND next_attempt_at <= ? \
        ORDER BY next_attempt_at LIMIT ?) \
    RETURNING id, message_id, recipient, subject, text_body, html_body, attempts, max_attempts";

const RECLAIM_POSTGRES: &str = "UPDATE outbox_emails \
    SET status = 'sending', lease_owner = $1, lease_expires_at = $2, attempts = attempts + 1, updated_at = $3 \
    WHERE id IN (SELECT id FROM outbox_emails \
        WHERE status = 'sending' AND lease_expires_at <= $4 \
        ORDER BY lease_expires_at LIMIT $5 \
        FOR UPDATE SKIP LOCKED) \
    RETURNING id, message_id, recipient, subject, text_body, html_body, attempts, max_attempts";

const CLAIM_POSTGRES: &str = "UPDATE outbox_emails \
    SET status = 'sending', lease_owner = $1, lease_expires_at = $2, attempts = attempts + 1, updated_at = $3 \
    WHERE id IN (SELECT id FROM outbox_emails \
        WHERE status = 'queued' AND next_attempt_at <= $4 \
        ORDER BY next_attempt_at LIMIT $5 \
        FOR UPDATE SKIP LOCKED) \
    RETURNING id, message_id, recipient, subject, text_body, html_body, attempts, max_attempts";

/// Claims up to `batch` due emails (claimed by a worker whose lease has run
/// out, then queued and due) for `worker` until `lease_until`.
///
/// PostgreSQL: `FOR UPDATE SKIP LOCKED`, so concurrent workers take disjoint
/// rows. SQLite: `UPDATE … RETURNING` inside `BEGIN IMMEDIATE`, so claims
/// are serialised by the write lock.
pub fn claim(
    conn: &mut DbConnection,
    worker: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    batch: i64,
) -> QueryResult<Vec<Claimed>> {
    // The same statement on either inner connection.
    macro_rules! run {
        ($c:expr, $sql:expr, $limit:expr) => {
            diesel::sql_query($sql)
                .bind::<Text, _>(worker)
                .bind::<Timestamp, _>(lease_until)
                .bind::<Timestamp, _>(now)
                .bind::<Timestamp, _>(now)
                .bind::<BigInt, _>($limit)
                .load::<Claimed>($c)
        };
    }
    match conn {
        DbConnection::Postgres(c) => {
            let mut claimed = run!(c, RECLAIM_POSTGRES, batch)?;
            let rest = batch - i64::try_from(claimed.len()).unwrap_or(batch);
            if rest > 0 {
                claimed.extend(run!(c, CLAIM_POSTGRES, rest)?);
            }
            Ok(claimed)
        }
        DbConnection::Sqlite(c) => c.immediate_transaction(|c| {
            let mut claimed = run!(c, RECLAIM_SQLITE, batch)?;
            let rest = batch - i64::try_from(claimed.len()).unwrap_or(batch);
            if rest > 0 {
                claimed.extend(run!(c, CLAIM_SQLITE, rest)?);
            }
            Ok(claimed)
        }),
    }
}

/// One delivery attempt, as recorded.
#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = oa)]
pub struct Attempt {
    pub email_id: String,
    pub attempt: i32,
    pub worker: String,
    pub started_at: NaiveDateTime,
    pub finished_at: NaiveDateTime,
    pub outcome: String,
    pub error: Option<String>,
    pub retry_at: Option<NaiveDateTime>,
}

/// What became of an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// Try again at the given time.
    Retry(NaiveDateTime, String),
    /// Give up.
    Dead(String),
}

/// Records an attempt and moves the email on, if `worker` still holds its
/// lease (a worker that lost its lease records the attempt only). Returns
/// whether the email's state was updated.
pub fn finish(
    conn: &mut DbConnection,
    worker: &str,
    attempt: &Attempt,
    outcome: &Outcome,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    super::write_transaction(conn, |conn| {
        with_conn!(&mut *conn, |c| diesel::insert_into(oa::table)
            .values(attempt)
            .on_conflict_do_nothing()
            .execute(c)?);
        let mine = oe::table
            .filter(oe::id.eq(&attempt.email_id))
            .filter(oe::status.eq(SENDING))
            .filter(oe::lease_owner.eq(worker));
        let updated = match outcome {
            // Once sent, the bodies (which may hold single-use tokens) are
            // no longer kept; subject, recipient and attempts stay.
            Outcome::Sent => diesel::update(mine)
                .set((
                    oe::data.eq("{}"),
                    oe::text_body.eq(""),
                    oe::html_body.eq(""),
                    oe::status.eq(SENT),
                    oe::sent_at.eq(Some(now)),
                    oe::lease_owner.eq(None::<String>),
                    oe::lease_expires_at.eq(None::<NaiveDateTime>),
                    oe::last_error.eq(None::<String>),
                    oe::updated_at.eq(now),
                ))
                .execute(conn)?,
            Outcome::Retry(at, error) => diesel::update(mine)
                .set((
                    oe::status.eq(QUEUED),
                    oe::next_attempt_at.eq(at),
                    oe::lease_owner.eq(None::<String>),
                    oe::lease_expires_at.eq(None::<NaiveDateTime>),
                    oe::last_error.eq(Some(error)),
                    oe::updated_at.eq(now),
                ))
                .execute(conn)?,
            Outcome::Dead(error) => diesel::update(mine)
                .set((
                    oe::status.eq(DEAD),
                    oe::lease_owner.eq(None::<String>),
                    oe::lease_expires_at.eq(None::<NaiveDateTime>),
                    oe::last_error.eq(Some(error)),
                    oe::updated_at.eq(now),
                ))
                .execute(conn)?,
        };
        Ok(updated == 1)
    })
}

/// An outbox row as operators see it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = oe)]
pub struct EmailRow {
    pub id: String,
    pub message_id: String,
    pub dedupe_key: Option<String>,
    pub recipient: String,
    pub user_id: Option<String>,
    pub template: String,
    pub subject: String,
    pub status: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
}

/// A page of the outbox, newest first, optionally of one status.
pub fn list(
    conn: &mut DbConnection,
    status: Option<&str>,
    before: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<EmailRow>> {
    let mut query = oe::table
        .select(EmailRow::as_select())
        .order((oe::created_at.desc(), oe::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(oe::status.eq(status.to_owned()));
    }
    if let Some((at, id)) = before {
        // The bound makes the keyset an index range (see `keyset` in db/mod.rs).
        query = query.filter(oe::created_at.le(at));
        query = query.filter(
            oe::created_at
                .lt(at)
                .or(oe::created_at.eq(at).and(oe::id.lt(id))),
        );
    }
    query.load(conn)
}

pub fn get(conn: &mut DbConnection, id: &str) -> QueryResult<Option<EmailRow>> {
    oe::table
        .filter(oe::id.eq(id))
        .select(EmailRow::as_select())
        .first(conn)
        .optional()
}

/// The attempts of the given emails, in order.
pub fn attempts_of(conn: &mut DbConnection, ids: &[String]) -> QueryResult<Vec<Attempt>> {
    oa::table
        .filter(oa::email_id.eq_any(ids))
        .order((oa::email_id, oa::attempt))
        .select(Attempt::as_select())
        .load(conn)
}

/// Puts a dead email back in the queue with `extra_attempts` more tries.
/// `false` if it is not dead.
pub fn retry_dead(
    conn: &mut DbConnection,
    id: &str,
    extra_attempts: i32,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let updated = diesel::update(oe::table.filter(oe::id.eq(id)).filter(oe::status.eq(DEAD)))
        .set((
            oe::status.eq(QUEUED),
            oe::next_attempt_at.eq(now),
            oe::max_attempts.eq(oe::attempts + extra_attempts),
            oe::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(updated == 1)
}

/// How many emails are in each status.
pub fn counts(conn: &mut DbConnection) -> QueryResult<Vec<(String, i64)>> {
    oe::table
        .group_by(oe::status)
        .select((oe::status, diesel::dsl::count_star()))
        .load(conn)
}
