//! In-app notifications and email preferences.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::{notification_preferences as np, notifications as nt};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = nt)]
pub struct NotificationRow {
    pub id: String,
    pub user_id: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub link: Option<String>,
    pub created_at: NaiveDateTime,
    pub read_at: Option<NaiveDateTime>,
    /// The domain event that caused it (`access_request.approved`); `None`
    /// on rows written before these columns (their reader derives one).
    pub event_type: Option<String>,
    pub subject_kind: Option<String>,
    pub subject_id: Option<String>,
    /// JSON: the fields an app renders it with.
    pub data: Option<String>,
}

pub fn insert(conn: &mut DbConnection, row: &NotificationRow) -> QueryResult<()> {
    diesel::insert_into(nt::table).values(row).execute(conn)?;
    Ok(())
}

/// Newest first.
pub fn list(
    conn: &mut DbConnection,
    user_id: &str,
    unread_only: bool,
    before: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<NotificationRow>> {
    let mut query = nt::table
        .filter(nt::user_id.eq(user_id))
        .select(NotificationRow::as_select())
        .order((nt::created_at.desc(), nt::id.desc()))
        .limit(limit)
        .into_boxed();
    if unread_only {
        query = query.filter(nt::read_at.is_null());
    }
    if let Some((at, id)) = before {
        // The bound makes the keyset an index range (see `keyset` in db/mod.rs).
        query = query.filter(nt::created_at.le(at));
        query = query.filter(
            nt::created_at
                .lt(at)
                .or(nt::created_at.eq(at).and(nt::id.lt(id))),
        );
    }
    query.load(conn)
}

/// Marks one of the user's notifications read; `None` if they have no such one.
pub fn mark_read(
    conn: &mut DbConnection,
    user_id: &str,
    id: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<NotificationRow>> {
    diesel::update(
        nt::table
            .filter(nt::id.eq(id))
            .filter(nt::user_id.eq(user_id))
            .filter(nt::read_at.is_null()),
    )
    .set(nt::read_at.eq(Some(now)))
    .execute(conn)?;
    nt::table
        .filter(nt::id.eq(id))
        .filter(nt::user_id.eq(user_id))
        .select(NotificationRow::as_select())
        .first(conn)
        .optional()
}

/// How many of the user's notifications are unread.
pub fn count_unread(conn: &mut DbConnection, user_id: &str) -> QueryResult<i64> {
    nt::table
        .filter(nt::user_id.eq(user_id))
        .filter(nt::read_at.is_null())
        .count()
        .get_result(conn)
}

/// Marks every unread notification of the user read; how many it marked.
pub fn mark_all_read(
    conn: &mut DbConnection,
    user_id: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        nt::table
            .filter(nt::user_id.eq(user_id))
            .filter(nt::read_at.is_null()),
    )
    .set(nt::read_at.eq(Some(now)))
    .execute(conn)
}

/// `(slug, id)` of the institutions with these slugs.
pub fn institution_ids(
    conn: &mut DbConnection,
    slugs: &[String],
) -> QueryResult<Vec<(String, String)>> {
    use super::schema::institutions as it;
    if slugs.is_empty() {
        return Ok(Vec::new());
    }
    it::table
        .filter(it::slug.eq_any(slugs))
        .select((it::slug, it::id))
        .load(conn)
}

/// `(slug, id)` of the partnerships with these slugs.
pub fn partnership_ids(
    conn: &mut DbConnection,
    slugs: &[String],
) -> QueryResult<Vec<(String, String)>> {
    use super::schema::partnerships as ps;
    if slugs.is_empty() {
        return Ok(Vec::new());
    }
    ps::table
        .filter(ps::slug.eq_any(slugs))
        .select((ps::slug, ps::id))
        .load(conn)
}

/// `(kind, email)` opt-ins and opt-outs the user set.
pub fn preferences(conn: &mut DbConnection, user_id: &str) -> QueryResult<Vec<(String, bool)>> {
    np::table
        .filter(np::user_id.eq(user_id))
        .select((np::kind, np::email))
        .load(conn)
}

pub fn set_preference(
    conn: &mut DbConnection,
    user_id: &str,
    kind: &str,
    email: bool,
) -> QueryResult<()> {
    let n = diesel::update(
        np::table
            .filter(np::user_id.eq(user_id))
            .filter(np::kind.eq(kind)),
    )
    .set(np::email.eq(email))
    .execute(conn)?;
    if n == 0 {
        diesel::insert_into(np::table)
            .values((
                np::user_id.eq(user_id),
                np::kind.eq(kind),
                np::email.eq(email),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Whether the user wants emails of this kind (yes unless they opted out).
pub fn wants_email(conn: &mut DbConnection, user_id: &str, kind: &str) -> QueryResult<bool> {
    let pref: Option<bool> = np::table
        .filter(np::user_id.eq(user_id))
        .filter(np::kind.eq(kind))
        .select(np::email)
        .first(conn)
        .optional()?;
    Ok(pref.unwrap_or(true))
}
