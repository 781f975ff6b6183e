//! Client apps and the sessions opened for them.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::client_apps as ca;
use super::schema::client_sessions as cs;
use super::schema::refresh_tokens as rt;
use super::schema::sessions as se;

/// A stored client app; the lists are JSON arrays of strings.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = ca)]
pub struct ClientRow {
    pub id: String,
    pub name: String,
    pub link_bases: String,
    pub allowed_origins: String,
    pub cookie_sessions: bool,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, row: &ClientRow) -> QueryResult<()> {
    diesel::insert_into(ca::table).values(row).execute(conn)?;
    Ok(())
}

pub fn get(conn: &mut DbConnection, id: &str) -> QueryResult<Option<ClientRow>> {
    ca::table
        .filter(ca::id.eq(id))
        .select(ClientRow::as_select())
        .first(conn)
        .optional()
}

/// Takes the row's lock until commit (a no-op update); `false` if there is
/// no such app.
pub fn lock(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    let n = diesel::update(ca::table.filter(ca::id.eq(id)))
        .set(ca::updated_at.eq(ca::updated_at))
        .execute(conn)?;
    Ok(n == 1)
}

/// Oldest first, after the keyset.
pub fn list(
    conn: &mut DbConnection,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<ClientRow>> {
    let mut query = ca::table
        .select(ClientRow::as_select())
        .order((ca::created_at.asc(), ca::id.asc()))
        .limit(limit)
        .into_boxed();
    if let Some((at, id)) = after {
        // The bound makes the keyset an index range (see `keyset` in db/mod.rs).
        query = query.filter(ca::created_at.ge(at));
        query = query.filter(
            ca::created_at
                .gt(at)
                .or(ca::created_at.eq(at).and(ca::id.gt(id))),
        );
    }
    query.load(conn)
}

/// Every app's origins (JSON arrays), for the CORS cache.
pub fn all_origins(conn: &mut DbConnection) -> QueryResult<Vec<String>> {
    ca::table.select(ca::allowed_origins).load(conn)
}

pub fn update(
    conn: &mut DbConnection,
    id: &str,
    name: &str,
    link_bases: &str,
    allowed_origins: &str,
    cookie_sessions: bool,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(ca::table.filter(ca::id.eq(id)))
        .set((
            ca::name.eq(name),
            ca::link_bases.eq(link_bases),
            ca::allowed_origins.eq(allowed_origins),
            ca::cookie_sessions.eq(cookie_sessions),
            ca::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    Ok(diesel::delete(ca::table.filter(ca::id.eq(id))).execute(conn)? == 1)
}

// ----- sessions opened for a client app ---------------------------------------

/// Records that session `session_id` was opened for `client_id` (with the
/// hash of its CSRF token for a cookie session).
pub fn bind_session(
    conn: &mut DbConnection,
    session_id: &str,
    client_id: &str,
    csrf_hash: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(cs::table)
        .values((
            cs::session_id.eq(session_id),
            cs::client_id.eq(client_id),
            cs::csrf_hash.eq(csrf_hash),
            cs::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// The session a refresh token (spent or not) belongs to, as far as the
/// CSRF check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSession {
    pub session_id: String,
    pub user_id: String,
    /// Whether the session is still live (not revoked).
    pub live: bool,
    /// The client app it was opened for, if any.
    pub client_id: Option<String>,
    /// Set for cookie sessions.
    pub csrf_hash: Option<String>,
}

/// Looks up the session of a refresh token by the token's hash.
pub fn session_of_token(
    conn: &mut DbConnection,
    token_hash: &str,
) -> QueryResult<Option<TokenSession>> {
    let found: Option<(String, String, Option<NaiveDateTime>)> = rt::table
        .inner_join(se::table)
        .filter(rt::token_hash.eq(token_hash))
        .select((se::id, se::user_id, se::revoked_at))
        .first(conn)
        .optional()?;
    let Some((session_id, user_id, revoked_at)) = found else {
        return Ok(None);
    };
    let bound: Option<(String, Option<String>)> = cs::table
        .filter(cs::session_id.eq(&session_id))
        .select((cs::client_id, cs::csrf_hash))
        .first(conn)
        .optional()?;
    let (client_id, csrf_hash) = bound.map_or((None, None), |(c, h)| (Some(c), h));
    Ok(Some(TokenSession {
        session_id,
        user_id,
        live: revoked_at.is_none(),
        client_id,
        csrf_hash,
    }))
}
