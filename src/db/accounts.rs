//! Users, sessions, refresh tokens, email tokens, API tokens and the
//! login throttle.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};

use super::DbConnection;
use super::schema::{
    api_tokens as at, email_tokens as et, login_brakes as lb, login_failures as lf,
    login_known_clients as kc, refresh_tokens as rt, sessions as se, users as us,
};
use super::words::text_column;
use crate::domain::{Role, TokenScopes};

// The platform role and a token's scopes are stored as their words; a
// stored word outside the set fails the read (500), never becomes a default.
text_column!(Role, TokenScopes);

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = us)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub email_normalized: String,
    pub display_name: String,
    pub password_hash: String,
    pub role: Role,
    pub country: Option<String>,
    pub languages: Languages,
    pub email_verified: bool,
    pub pending_email: Option<String>,
    pub token_version: i32,
    pub active: bool,
    pub deactivated_at: Option<NaiveDateTime>,
    pub last_login_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A person's languages (BCP 47 tags), stored as a JSON list. A stored
/// value that is not such a list fails the read, never becomes `[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, diesel::FromSqlRow)]
pub struct Languages(pub Vec<String>);

impl diesel::deserialize::FromSql<diesel::sql_types::Text, super::MultiBackend> for Languages {
    fn from_sql(
        bytes: <super::MultiBackend as diesel::backend::Backend>::RawValue<'_>,
    ) -> diesel::deserialize::Result<Self> {
        let raw: String = bytes.from_sql::<String, diesel::sql_types::Text>()?;
        serde_json::from_str(&raw).map(Self).map_err(|e| {
            format!("stored languages are not a JSON list of tags: {raw:?} ({e})").into()
        })
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = us)]
pub struct NewUser<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub email_normalized: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    /// The role's word (`Role::as_str`): inserts run on the inner
    /// connection, where only plain text binds.
    pub role: &'a str,
    pub country: Option<&'a str>,
    pub languages: &'a str,
    pub email_verified: bool,
    pub token_version: i32,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl<'a> NewUser<'a> {
    /// An active account with no languages yet.
    pub fn new(
        id: &'a str,
        email: &'a crate::domain::EmailAddress,
        display_name: &'a str,
        password_hash: &'a str,
        role: Role,
        email_verified: bool,
        now: NaiveDateTime,
    ) -> Self {
        Self {
            id,
            email: email.as_str(),
            email_normalized: email.normalized(),
            display_name,
            password_hash,
            role: role.as_str(),
            country: None,
            languages: "[]",
            email_verified,
            token_version: 0,
            active: true,
            created_at: now,
            updated_at: now,
        }
    }
}

/// `false` when the normalised email is taken. (`ON CONFLICT DO NOTHING`,
/// not a caught unique violation: on PostgreSQL that would abort the
/// caller's transaction.)
pub fn insert_user(conn: &mut DbConnection, user: &NewUser<'_>) -> QueryResult<bool> {
    let inserted = crate::with_conn!(conn, |c| diesel::insert_into(us::table)
        .values(user)
        .on_conflict_do_nothing()
        .execute(c)?);
    Ok(inserted == 1)
}

pub fn user_by_email(conn: &mut DbConnection, normalized: &str) -> QueryResult<Option<UserRow>> {
    us::table
        .filter(us::email_normalized.eq(normalized))
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

/// Takes the user row's lock until the transaction ends (a no-op UPDATE:
/// PostgreSQL holds the row; SQLite write transactions are serial anyway),
/// so decisions about one account (how many links were sent) queue.
pub fn lock_user(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    let n = diesel::update(us::table.filter(us::id.eq(id)))
        .set(us::token_version.eq(us::token_version))
        .execute(conn)?;
    Ok(n == 1)
}

pub fn user_by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Option<UserRow>> {
    us::table
        .filter(us::id.eq(id))
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

pub fn set_password(
    conn: &mut DbConnection,
    user_id: &str,
    hash: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(us::table.filter(us::id.eq(user_id)))
        .set((us::password_hash.eq(hash), us::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

pub fn touch_login(conn: &mut DbConnection, user_id: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(us::table.filter(us::id.eq(user_id)))
        .set(us::last_login_at.eq(Some(now)))
        .execute(conn)?;
    Ok(())
}

/// Ends every session of the user at once: access tokens carry the
/// version they were issued under.
pub fn bump_token_version(conn: &mut DbConnection, user_id: &str) -> QueryResult<()> {
    diesel::update(us::table.filter(us::id.eq(user_id)))
        .set(us::token_version.eq(us::token_version + 1))
        .execute(conn)?;
    Ok(())
}

/// The profile fields a user may change.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = us)]
pub struct ProfileChanges {
    pub display_name: Option<String>,
    pub country: Option<Option<String>>,
    pub languages: Option<String>,
    pub pending_email: Option<Option<String>>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn update_profile(
    conn: &mut DbConnection,
    user_id: &str,
    changes: &ProfileChanges,
) -> QueryResult<()> {
    diesel::update(us::table.filter(us::id.eq(user_id)))
        .set(changes)
        .execute(conn)?;
    Ok(())
}

/// Admin changes.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = us)]
pub struct AdminChanges {
    pub role: Option<Role>,
    pub active: Option<bool>,
    pub deactivated_at: Option<Option<NaiveDateTime>>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn update_admin(
    conn: &mut DbConnection,
    user_id: &str,
    changes: &AdminChanges,
) -> QueryResult<()> {
    diesel::update(us::table.filter(us::id.eq(user_id)))
        .set(changes)
        .execute(conn)?;
    Ok(())
}

/// Users by creation, optionally filtered by a substring of the email.
pub fn list_users(
    conn: &mut DbConnection,
    email_contains: Option<&str>,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<UserRow>> {
    let mut query = us::table
        .select(UserRow::as_select())
        .order((us::created_at.asc(), us::id.asc()))
        .limit(limit)
        .into_boxed();
    if let Some(q) = email_contains {
        let escaped = q
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        query = query.filter(
            us::email_normalized
                .like(format!("%{escaped}%"))
                .escape('\\'),
        );
    }
    if let Some((at, id)) = after {
        // The bound makes the keyset an index range (see `keyset` in db/mod.rs).
        query = query.filter(us::created_at.ge(at));
        query = query.filter(
            us::created_at
                .gt(at)
                .or(us::created_at.eq(at).and(us::id.gt(id))),
        );
    }
    query.load(conn)
}

/// What confirming an address did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailVerification {
    /// The account's own address is verified.
    Confirmed,
    /// The pending new address replaced the account's address.
    Changed,
    /// The address matches neither any more, or the new address was taken
    /// meanwhile: nothing changed.
    Unavailable,
}

/// Marks `email` verified for the user: the current address, or the
/// pending new one (which then becomes the address).
pub fn verify_email(
    conn: &mut DbConnection,
    user_id: &str,
    email: &str,
    now: NaiveDateTime,
) -> QueryResult<EmailVerification> {
    let Some(user) = user_by_id(conn, user_id)? else {
        return Ok(EmailVerification::Unavailable);
    };
    if user.email == email {
        diesel::update(us::table.filter(us::id.eq(user_id)))
            .set((us::email_verified.eq(true), us::updated_at.eq(now)))
            .execute(conn)?;
        return Ok(EmailVerification::Confirmed);
    }
    if user.pending_email.as_deref() == Some(email) {
        // In a savepoint: a unique violation must not abort the caller's
        // transaction on PostgreSQL.
        let result = conn.transaction(|conn| {
            diesel::update(us::table.filter(us::id.eq(user_id)))
                .set((
                    us::email.eq(email),
                    us::email_normalized.eq(email.to_lowercase()),
                    us::pending_email.eq(None::<String>),
                    us::email_verified.eq(true),
                    us::updated_at.eq(now),
                ))
                .execute(conn)
        });
        return match result {
            Ok(_) => Ok(EmailVerification::Changed),
            Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                Ok(EmailVerification::Unavailable)
            }
            Err(e) => Err(e),
        };
    }
    Ok(EmailVerification::Unavailable)
}

// ----- email tokens ------------------------------------------------------

pub const VERIFY_EMAIL: &str = "verify_email";
pub const PASSWORD_RESET: &str = "password_reset";

pub fn insert_email_token(
    conn: &mut DbConnection,
    token_hash: &str,
    user_id: &str,
    purpose: &str,
    email: &str,
    expires_at: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(et::table)
        .values((
            et::token_hash.eq(token_hash),
            et::user_id.eq(user_id),
            et::purpose.eq(purpose),
            et::email.eq(email),
            et::expires_at.eq(expires_at),
            et::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Uses a token once: `(user_id, email)` if it exists for `purpose`, is
/// unused and unexpired; it cannot be used again.
pub fn consume_email_token(
    conn: &mut DbConnection,
    token_hash: &str,
    purpose: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<(String, String)>> {
    let row: Option<(String, String)> = et::table
        .filter(et::token_hash.eq(token_hash))
        .filter(et::purpose.eq(purpose))
        .filter(et::used_at.is_null())
        .filter(et::expires_at.gt(now))
        .select((et::user_id, et::email))
        .first(conn)
        .optional()?;
    let Some(row) = row else { return Ok(None) };
    let claimed = diesel::update(
        et::table
            .filter(et::token_hash.eq(token_hash))
            .filter(et::used_at.is_null()),
    )
    .set(et::used_at.eq(Some(now)))
    .execute(conn)?;
    Ok((claimed == 1).then_some(row))
}

/// How many links of `purpose` went to `email` for the user since `since`,
/// and when the newest was made.
pub fn recent_email_tokens(
    conn: &mut DbConnection,
    user_id: &str,
    purpose: &str,
    email: &str,
    since: NaiveDateTime,
) -> QueryResult<(i64, Option<NaiveDateTime>)> {
    let recent = et::table
        .filter(et::user_id.eq(user_id))
        .filter(et::purpose.eq(purpose))
        .filter(et::email.eq(email))
        .filter(et::created_at.gt(since));
    let count = recent.count().get_result(conn)?;
    let newest = recent
        .select(diesel::dsl::max(et::created_at))
        .first::<Option<NaiveDateTime>>(conn)?;
    Ok((count, newest))
}

/// Invalidates a user's unused tokens of one purpose (a new one replaces them).
pub fn expire_email_tokens(
    conn: &mut DbConnection,
    user_id: &str,
    purpose: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(
        et::table
            .filter(et::user_id.eq(user_id))
            .filter(et::purpose.eq(purpose))
            .filter(et::used_at.is_null()),
    )
    .set(et::used_at.eq(Some(now)))
    .execute(conn)?;
    Ok(())
}

// ----- sessions and refresh tokens ---------------------------------------

pub fn create_session(
    conn: &mut DbConnection,
    id: &str,
    user_id: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(se::table)
        .values((
            se::id.eq(id),
            se::user_id.eq(user_id),
            se::created_at.eq(now),
            se::last_used_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Whether the session is live (exists for this user, not revoked).
pub fn session_is_live(conn: &mut DbConnection, id: &str, user_id: &str) -> QueryResult<bool> {
    let found: Option<String> = se::table
        .filter(se::id.eq(id))
        .filter(se::user_id.eq(user_id))
        .filter(se::revoked_at.is_null())
        .select(se::id)
        .first(conn)
        .optional()?;
    Ok(found.is_some())
}

pub fn revoke_session(
    conn: &mut DbConnection,
    id: &str,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(
        se::table
            .filter(se::id.eq(id))
            .filter(se::revoked_at.is_null()),
    )
    .set((
        se::revoked_at.eq(Some(now)),
        se::revoked_reason.eq(Some(reason)),
    ))
    .execute(conn)?;
    Ok(())
}

/// Revokes every live session of the user except `keep`.
pub fn revoke_sessions(
    conn: &mut DbConnection,
    user_id: &str,
    keep: Option<&str>,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let mut query = diesel::update(se::table)
        .filter(se::user_id.eq(user_id))
        .filter(se::revoked_at.is_null())
        .into_boxed();
    if let Some(keep) = keep {
        query = query.filter(se::id.ne(keep.to_owned()));
    }
    query
        .set((
            se::revoked_at.eq(Some(now)),
            se::revoked_reason.eq(Some(reason)),
        ))
        .execute(conn)
}

pub fn insert_refresh_token(
    conn: &mut DbConnection,
    token_hash: &str,
    session_id: &str,
    user_id: &str,
    expires_at: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(rt::table)
        .values((
            rt::token_hash.eq(token_hash),
            rt::session_id.eq(session_id),
            rt::user_id.eq(user_id),
            rt::expires_at.eq(expires_at),
            rt::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// What presenting a refresh token led to.
#[derive(Debug, PartialEq, Eq)]
pub enum Refresh {
    /// Rotated: the old token is spent, the new hash stored.
    Rotated { user_id: String, session_id: String },
    /// Unknown, expired, or its session ended.
    Invalid,
    /// Already used once: a sign of theft; the session was revoked.
    Reused,
}

/// Spends `old_hash` and stores `new_hash` in the same session, atomically.
pub fn rotate_refresh_token(
    conn: &mut DbConnection,
    old_hash: &str,
    new_hash: &str,
    new_expires_at: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<Refresh> {
    let row: Option<(String, String, NaiveDateTime, Option<NaiveDateTime>)> = rt::table
        .filter(rt::token_hash.eq(old_hash))
        .select((rt::session_id, rt::user_id, rt::expires_at, rt::used_at))
        .first(conn)
        .optional()?;
    let Some((session_id, user_id, expires_at, used_at)) = row else {
        return Ok(Refresh::Invalid);
    };
    let reuse = |conn: &mut DbConnection| -> QueryResult<Refresh> {
        revoke_session(conn, &session_id, "refresh_reuse", now)?;
        Ok(Refresh::Reused)
    };
    if used_at.is_some() {
        return reuse(conn);
    }
    if expires_at <= now || !session_is_live(conn, &session_id, &user_id)? {
        return Ok(Refresh::Invalid);
    }
    // Spend it; losing this race to a concurrent refresh is reuse too.
    let spent = diesel::update(
        rt::table
            .filter(rt::token_hash.eq(old_hash))
            .filter(rt::used_at.is_null()),
    )
    .set(rt::used_at.eq(Some(now)))
    .execute(conn)?;
    if spent == 0 {
        return reuse(conn);
    }
    insert_refresh_token(conn, new_hash, &session_id, &user_id, new_expires_at, now)?;
    diesel::update(se::table.filter(se::id.eq(&session_id)))
        .set(se::last_used_at.eq(now))
        .execute(conn)?;
    Ok(Refresh::Rotated {
        user_id,
        session_id,
    })
}

// ----- API tokens --------------------------------------------------------

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = at)]
pub struct ApiTokenRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub token_hash: String,
    pub scopes: TokenScopes,
    pub expires_at: Option<NaiveDateTime>,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

pub fn insert_api_token(conn: &mut DbConnection, row: &ApiTokenRow) -> QueryResult<()> {
    diesel::insert_into(at::table)
        .values((
            at::id.eq(&row.id),
            at::user_id.eq(&row.user_id),
            at::name.eq(&row.name),
            at::token_hash.eq(&row.token_hash),
            at::scopes.eq(row.scopes.as_str()),
            at::expires_at.eq(row.expires_at),
            at::last_used_at.eq(row.last_used_at),
            at::revoked_at.eq(row.revoked_at),
            at::created_at.eq(row.created_at),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn list_api_tokens(
    conn: &mut DbConnection,
    user_id: &str,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<ApiTokenRow>> {
    let mut query = at::table
        .filter(at::user_id.eq(user_id))
        .filter(at::revoked_at.is_null())
        .select(ApiTokenRow::as_select())
        .order((at::created_at.asc(), at::id.asc()))
        .limit(limit)
        .into_boxed();
    if let Some((t, id)) = after {
        // The bound makes the keyset an index range (see `keyset` in db/mod.rs).
        query = query.filter(at::created_at.ge(t));
        query = query.filter(
            at::created_at
                .gt(t)
                .or(at::created_at.eq(t).and(at::id.gt(id))),
        );
    }
    query.load(conn)
}

/// `false` if the user has no such live token.
pub fn revoke_api_token(
    conn: &mut DbConnection,
    user_id: &str,
    id: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(
        at::table
            .filter(at::id.eq(id))
            .filter(at::user_id.eq(user_id))
            .filter(at::revoked_at.is_null()),
    )
    .set(at::revoked_at.eq(Some(now)))
    .execute(conn)?;
    Ok(n == 1)
}

/// Revokes every API token of the user (on deactivation).
pub fn revoke_all_api_tokens(
    conn: &mut DbConnection,
    user_id: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        at::table
            .filter(at::user_id.eq(user_id))
            .filter(at::revoked_at.is_null()),
    )
    .set(at::revoked_at.eq(Some(now)))
    .execute(conn)
}

/// A live, unexpired token by hash, with its user.
pub fn api_token_by_hash(
    conn: &mut DbConnection,
    token_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<(ApiTokenRow, UserRow)>> {
    at::table
        .inner_join(us::table)
        .filter(at::token_hash.eq(token_hash))
        .filter(at::revoked_at.is_null())
        .filter(at::expires_at.is_null().or(at::expires_at.gt(now)))
        .select((ApiTokenRow::as_select(), UserRow::as_select()))
        .first(conn)
        .optional()
}

/// Records use, at most once a minute per token (no write per request).
pub fn touch_api_token(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<()> {
    let minute_ago = now - chrono::Duration::seconds(60);
    diesel::update(
        at::table.filter(at::id.eq(id)).filter(
            at::last_used_at
                .is_null()
                .or(at::last_used_at.lt(minute_ago)),
        ),
    )
    .set(at::last_used_at.eq(Some(now)))
    .execute(conn)?;
    Ok(())
}

// ----- login throttle ----------------------------------------------------
//
// Two brakes on password guessing (README, "Sign-in protection"):
// - the lock-out, per (address, client IP): `threshold` failures from one
//   client lock that client out of that address, for longer each time;
// - the brake, per address: once `brake_threshold` failures came from all
//   clients together, attempts from clients that never signed in to the
//   address take turns, `brake_interval` apart, waiting for theirs.
// Failures fade: counts untouched for a day start again.

/// Hours after which a failed-login count starts again.
pub const FAILURES_FADE_HOURS: i64 = 24;

fn faded(now: NaiveDateTime) -> NaiveDateTime {
    now - chrono::Duration::hours(FAILURES_FADE_HOURS)
}

/// Until when this client is locked out of this address, if it is.
pub fn locked_until(
    conn: &mut DbConnection,
    email: &str,
    client_ip: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<NaiveDateTime>> {
    let until: Option<Option<NaiveDateTime>> = lf::table
        .filter(lf::email_normalized.eq(email))
        .filter(lf::client_ip.eq(client_ip))
        .select(lf::locked_until)
        .first(conn)
        .optional()?;
    Ok(until.flatten().filter(|u| *u > now))
}

/// Whether this client signed in to this address since `since`.
pub fn is_known_client(
    conn: &mut DbConnection,
    email: &str,
    client_ip: &str,
    since: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        kc::table
            .filter(kc::email_normalized.eq(email))
            .filter(kc::client_ip.eq(client_ip))
            .filter(kc::last_success_at.gt(since)),
    ))
    .get_result(conn)
}

/// The brake's answer to one attempt from a client it does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrakeTurn {
    /// Go ahead now.
    Now,
    /// Go ahead after waiting this long (the turn is reserved).
    After(chrono::Duration),
    /// The next free turn is further away than anyone should wait.
    Refused { retry_after_secs: u64 },
}

/// Takes the next turn of the address's brake, if it is on.
pub fn brake_turn(
    conn: &mut DbConnection,
    email: &str,
    threshold: u32,
    interval: chrono::Duration,
    max_wait: chrono::Duration,
    now: NaiveDateTime,
) -> QueryResult<BrakeTurn> {
    let threshold = i32::try_from(threshold).unwrap_or(i32::MAX);
    // Compare-and-set on the next turn: concurrent attempts (other
    // instances too) each get their own.
    for _ in 0..8 {
        let row: Option<(i32, Option<NaiveDateTime>, NaiveDateTime)> = lb::table
            .filter(lb::email_normalized.eq(email))
            .select((lb::failures, lb::next_turn_at, lb::updated_at))
            .first(conn)
            .optional()?;
        let Some((failures, next, updated)) = row else {
            return Ok(BrakeTurn::Now);
        };
        if failures < threshold || updated < faded(now) {
            return Ok(BrakeTurn::Now);
        }
        let turn = next.filter(|n| *n > now).unwrap_or(now);
        let wait = turn - now;
        if wait > max_wait {
            let secs = ((wait - max_wait).num_milliseconds() + 999) / 1000;
            return Ok(BrakeTurn::Refused {
                retry_after_secs: u64::try_from(secs.max(1)).unwrap_or(1),
            });
        }
        let target = lb::table.filter(lb::email_normalized.eq(email));
        let taken = match next {
            Some(n) => diesel::update(target.filter(lb::next_turn_at.eq(n)))
                .set(lb::next_turn_at.eq(turn + interval))
                .execute(conn)?,
            None => diesel::update(target.filter(lb::next_turn_at.is_null()))
                .set(lb::next_turn_at.eq(turn + interval))
                .execute(conn)?,
        };
        if taken == 1 {
            return Ok(if wait > chrono::Duration::zero() {
                BrakeTurn::After(wait)
            } else {
                BrakeTurn::Now
            });
        }
    }
    Ok(BrakeTurn::Refused {
        retry_after_secs: u64::try_from(interval.num_seconds().max(1)).unwrap_or(1),
    })
}

/// Counts a failure of `client_ip` on `email` (and for the address's
/// brake); from the `threshold`-th on, locks the pair for
/// `base · 2^(n−threshold)` seconds (at most `max`). Returns the lock's end.
pub fn record_login_failure(
    conn: &mut DbConnection,
    email: &str,
    client_ip: &str,
    threshold: u32,
    base_secs: u32,
    max_secs: u32,
    now: NaiveDateTime,
) -> QueryResult<Option<NaiveDateTime>> {
    super::write_transaction(conn, |conn| {
        // Make sure the rows exist, then increment in the database: the
        // UPDATE's row lock (PostgreSQL) or the write lock (SQLite) makes
        // concurrent failures count one each.
        crate::with_conn!(&mut *conn, |c| diesel::insert_into(lf::table)
            .values((
                lf::email_normalized.eq(email),
                lf::client_ip.eq(client_ip),
                lf::failures.eq(0),
                lf::updated_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(c)?);
        crate::with_conn!(&mut *conn, |c| diesel::insert_into(lb::table)
            .values((
                lb::email_normalized.eq(email),
                lb::failures.eq(0),
                lb::updated_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(c)?);
        let pair = lf::table
            .filter(lf::email_normalized.eq(email))
            .filter(lf::client_ip.eq(client_ip));
        diesel::update(pair.filter(lf::updated_at.lt(faded(now))))
            .set(lf::failures.eq(0))
            .execute(conn)?;
        diesel::update(pair)
            .set((lf::failures.eq(lf::failures + 1), lf::updated_at.eq(now)))
            .execute(conn)?;
        let brake = lb::table.filter(lb::email_normalized.eq(email));
        diesel::update(brake.filter(lb::updated_at.lt(faded(now))))
            .set((
                lb::failures.eq(0),
                lb::next_turn_at.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?;
        diesel::update(brake)
            .set((lb::failures.eq(lb::failures + 1), lb::updated_at.eq(now)))
            .execute(conn)?;
        let failures: i32 = pair.select(lf::failures).first(conn)?;
        let threshold = i32::try_from(threshold).unwrap_or(i32::MAX);
        let locked_until = (failures >= threshold).then(|| {
            let exp = u32::try_from(failures - threshold).unwrap_or(0).min(20);
            let secs = u64::from(base_secs)
                .saturating_mul(1 << exp)
                .min(u64::from(max_secs));
            now + chrono::Duration::seconds(i64::try_from(secs).unwrap_or(900))
        });
        diesel::update(pair)
            .set(lf::locked_until.eq(locked_until))
            .execute(conn)?;
        Ok(locked_until)
    })
}

/// A successful sign-in (or password reset) from `client_ip`: its failures
/// are forgotten and it is known to the address from now on.
pub fn remember_client(
    conn: &mut DbConnection,
    email: &str,
    client_ip: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::delete(
        lf::table
            .filter(lf::email_normalized.eq(email))
            .filter(lf::client_ip.eq(client_ip)),
    )
    .execute(conn)?;
    crate::with_conn!(&mut *conn, |c| diesel::insert_into(kc::table)
        .values((
            kc::email_normalized.eq(email),
            kc::client_ip.eq(client_ip),
            kc::last_success_at.eq(now),
        ))
        .on_conflict((kc::email_normalized, kc::client_ip))
        .do_update()
        .set(kc::last_success_at.eq(now))
        .execute(c)?);
    Ok(())
}

/// A password reset: every lock-out and the brake of the address end.
pub fn reset_login_failures(conn: &mut DbConnection, email: &str) -> QueryResult<()> {
    diesel::delete(lf::table.filter(lf::email_normalized.eq(email))).execute(conn)?;
    diesel::delete(lb::table.filter(lb::email_normalized.eq(email))).execute(conn)?;
    Ok(())
}

/// Housekeeping: forgets failure counts and brakes that have faded, and
/// known clients not seen since `known_since`. Returns how many rows went.
pub fn purge_sign_in_records(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    known_since: NaiveDateTime,
) -> QueryResult<usize> {
    let fade = faded(now);
    let failures = diesel::delete(
        lf::table
            .filter(lf::updated_at.lt(fade))
            .filter(lf::locked_until.is_null().or(lf::locked_until.lt(now))),
    )
    .execute(conn)?;
    let brakes = diesel::delete(lb::table.filter(lb::updated_at.lt(fade))).execute(conn)?;
    let clients =
        diesel::delete(kc::table.filter(kc::last_success_at.lt(known_since))).execute(conn)?;
    Ok(failures + brakes + clients)
}

/// Drops a pending email change and the tokens that would complete it
/// (the account's current address keeps its own verification tokens).
pub fn cancel_pending_email(
    conn: &mut DbConnection,
    user_id: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let Some(user) = user_by_id(conn, user_id)? else {
        return Ok(());
    };
    diesel::update(us::table.filter(us::id.eq(user_id)))
        .set(us::pending_email.eq(None::<String>))
        .execute(conn)?;
    diesel::update(
        et::table
            .filter(et::user_id.eq(user_id))
            .filter(et::purpose.eq(VERIFY_EMAIL))
            .filter(et::email.ne(user.email))
            .filter(et::used_at.is_null()),
    )
    .set(et::used_at.eq(Some(now)))
    .execute(conn)?;
    Ok(())
}

/// Ends every session of the user but `keep`; without `keep` the token
/// version is bumped too, so access tokens already issued die at once.
pub fn end_sessions(
    conn: &mut DbConnection,
    user_id: &str,
    keep: Option<&str>,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    if keep.is_none() {
        bump_token_version(conn, user_id)?;
    }
    revoke_sessions(conn, user_id, keep, reason, now)?;
    Ok(())
}

/// What someone does who fears their account was taken over (password
/// reset or change, logout-all): every session ends, API tokens are
/// revoked, a pending email change is dropped.
pub fn secure_account(
    conn: &mut DbConnection,
    user_id: &str,
    keep_session: Option<&str>,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    end_sessions(conn, user_id, keep_session, reason, now)?;
    revoke_all_api_tokens(conn, user_id, now)?;
    cancel_pending_email(conn, user_id, now)
}

/// The `(user_id, email)` of a usable token, without spending it.
pub fn peek_email_token(
    conn: &mut DbConnection,
    token_hash: &str,
    purpose: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<(String, String)>> {
    et::table
        .filter(et::token_hash.eq(token_hash))
        .filter(et::purpose.eq(purpose))
        .filter(et::used_at.is_null())
        .filter(et::expires_at.gt(now))
        .select((et::user_id, et::email))
        .first(conn)
        .optional()
}
