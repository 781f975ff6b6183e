//! Institutions, memberships and invitations. Roles are stored as their
//! word (`InstitutionRole`), and so are kinds where this module writes or
//! filters them; reading a word that is not in the set is an error, never a
//! default.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::accounts::UserRow;
use super::schema::{institutions as it, invitations as iv, memberships as ms, users as us};
use super::words::text_column;
use crate::domain::institution::InstitutionKind;
use crate::domain::policy::InstitutionRole;

text_column!(InstitutionRole, InstitutionKind);

/// An institution as stored. `kind` stays text here because the demo seeder
/// builds these rows from text; `app::institutions` reads it strictly.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = it)]
pub struct InstitutionRow {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub name_lower: String,
    pub country: String,
    pub kind: String,
    pub website: Option<String>,
    pub description: String,
    pub verified: bool,
    pub verified_at: Option<NaiveDateTime>,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// `false` when the slug is taken.
pub fn insert(conn: &mut DbConnection, row: &InstitutionRow) -> QueryResult<bool> {
    let n = crate::with_conn!(conn, |c| diesel::insert_into(it::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c)?);
    Ok(n == 1)
}

pub fn by_slug(conn: &mut DbConnection, slug: &str) -> QueryResult<Option<InstitutionRow>> {
    it::table
        .filter(it::slug.eq(slug))
        .select(InstitutionRow::as_select())
        .first(conn)
        .optional()
}

pub fn by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Option<InstitutionRow>> {
    it::table
        .filter(it::id.eq(id))
        .select(InstitutionRow::as_select())
        .first(conn)
        .optional()
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = it)]
pub struct Changes {
    pub name: Option<String>,
    pub name_lower: Option<String>,
    pub country: Option<String>,
    pub kind: Option<InstitutionKind>,
    pub website: Option<Option<String>>,
    pub description: Option<String>,
    pub verified: Option<bool>,
    pub verified_at: Option<Option<NaiveDateTime>>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn update(conn: &mut DbConnection, id: &str, changes: &Changes) -> QueryResult<()> {
    diesel::update(it::table.filter(it::id.eq(id)))
        .set(changes)
        .execute(conn)?;
    Ok(())
}

pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::delete(it::table.filter(it::id.eq(id))).execute(conn)?;
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub country: Option<String>,
    pub kind: Option<InstitutionKind>,
    pub verified: Option<bool>,
    pub q: Option<String>,
    /// Institutions the caller may see besides verified ones (their own);
    /// `None` means every institution (admins).
    pub visible_unverified: Option<Vec<String>>,
    /// Only these institutions (`member=me`: the caller's).
    pub member_of: Option<Vec<String>>,
}

pub fn list(
    conn: &mut DbConnection,
    f: &ListFilter,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<InstitutionRow>> {
    let mut q = it::table
        .select(InstitutionRow::as_select())
        .order((it::created_at.asc(), it::id.asc()))
        .limit(limit)
        .into_boxed();
    if let Some(own) = &f.visible_unverified {
        q = q.filter(it::verified.eq(true).or(it::id.eq_any(own.clone())));
    }
    if let Some(v) = &f.country {
        q = q.filter(it::country.eq(v.clone()));
    }
    if let Some(ids) = &f.member_of {
        q = q.filter(it::id.eq_any(ids.clone()));
    }
    if let Some(v) = f.kind {
        q = q.filter(it::kind.eq(v));
    }
    if let Some(v) = f.verified {
        q = q.filter(it::verified.eq(v));
    }
    if let Some(v) = &f.q {
        let escaped = v
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        q = q.filter(it::name_lower.like(format!("%{escaped}%")).escape('\\'));
    }
    if let Some((at, id)) = after {
        // The bound makes the keyset an index range (see `keyset` in db/mod.rs).
        q = q.filter(it::created_at.ge(at));
        q = q.filter(
            it::created_at
                .gt(at)
                .or(it::created_at.eq(at).and(it::id.gt(id))),
        );
    }
    q.load(conn)
}

// ----- memberships -------------------------------------------------------

pub fn role_of(
    conn: &mut DbConnection,
    institution_id: &str,
    user_id: &str,
) -> QueryResult<Option<InstitutionRole>> {
    ms::table
        .filter(ms::institution_id.eq(institution_id))
        .filter(ms::user_id.eq(user_id))
        .select(ms::role)
        .first(conn)
        .optional()
}

/// Ids of the institutions the user belongs to.
pub fn institutions_of(conn: &mut DbConnection, user_id: &str) -> QueryResult<Vec<String>> {
    ms::table
        .filter(ms::user_id.eq(user_id))
        .select(ms::institution_id)
        .load(conn)
}

/// Adds or updates a membership; returns the previous role.
pub fn upsert_member(
    conn: &mut DbConnection,
    institution_id: &str,
    user_id: &str,
    role: InstitutionRole,
    now: NaiveDateTime,
) -> QueryResult<Option<InstitutionRole>> {
    let previous = role_of(conn, institution_id, user_id)?;
    if previous.is_some() {
        diesel::update(
            ms::table
                .filter(ms::institution_id.eq(institution_id))
                .filter(ms::user_id.eq(user_id)),
        )
        .set((ms::role.eq(role), ms::updated_at.eq(now)))
        .execute(conn)?;
    } else {
        diesel::insert_into(ms::table)
            .values((
                ms::institution_id.eq(institution_id),
                ms::user_id.eq(user_id),
                ms::role.eq(role),
                ms::created_at.eq(now),
                ms::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(previous)
}

pub fn remove_member(
    conn: &mut DbConnection,
    institution_id: &str,
    user_id: &str,
) -> QueryResult<bool> {
    let n = diesel::delete(
        ms::table
            .filter(ms::institution_id.eq(institution_id))
            .filter(ms::user_id.eq(user_id)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// Counts the owners and, on PostgreSQL, locks their rows until the
/// transaction ends: two owners leaving at once then see each other's
/// change, and one of them gets the last-owner answer. (SQLite write
/// transactions are serialised already.)
pub fn count_owners_locked(conn: &mut DbConnection, institution_id: &str) -> QueryResult<i64> {
    let owners: Vec<String> = match conn {
        DbConnection::Postgres(c) => ms::table
            .filter(ms::institution_id.eq(institution_id))
            .filter(ms::role.eq(InstitutionRole::Owner.as_str()))
            .select(ms::user_id)
            .for_update()
            .load(c)?,
        DbConnection::Sqlite(c) => ms::table
            .filter(ms::institution_id.eq(institution_id))
            .filter(ms::role.eq(InstitutionRole::Owner.as_str()))
            .select(ms::user_id)
            .load(c)?,
    };
    Ok(i64::try_from(owners.len()).unwrap_or(i64::MAX))
}

/// When the user joined the institution.
pub fn joined_at(
    conn: &mut DbConnection,
    institution_id: &str,
    user_id: &str,
) -> QueryResult<Option<NaiveDateTime>> {
    ms::table
        .filter(ms::institution_id.eq(institution_id))
        .filter(ms::user_id.eq(user_id))
        .select(ms::created_at)
        .first(conn)
        .optional()
}

/// Slugs of the institutions where the user is the only owner.
pub fn solely_owned(conn: &mut DbConnection, user_id: &str) -> QueryResult<Vec<String>> {
    let owned: Vec<String> = ms::table
        .filter(ms::user_id.eq(user_id))
        .filter(ms::role.eq(InstitutionRole::Owner))
        .select(ms::institution_id)
        .load(conn)?;
    let mut sole = Vec::new();
    for id in owned {
        if count_owners_locked(conn, &id)? <= 1 {
            let slug: String = it::table
                .filter(it::id.eq(&id))
                .select(it::slug)
                .first(conn)?;
            sole.push(slug);
        }
    }
    Ok(sole)
}

pub fn count_role(
    conn: &mut DbConnection,
    institution_id: &str,
    role: InstitutionRole,
) -> QueryResult<i64> {
    ms::table
        .filter(ms::institution_id.eq(institution_id))
        .filter(ms::role.eq(role))
        .count()
        .get_result(conn)
}

pub fn count_members(conn: &mut DbConnection, institution_id: &str) -> QueryResult<i64> {
    ms::table
        .filter(ms::institution_id.eq(institution_id))
        .count()
        .get_result(conn)
}

/// Members with their users, by join time.
pub fn members(
    conn: &mut DbConnection,
    institution_id: &str,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<(InstitutionRole, NaiveDateTime, UserRow)>> {
    let mut q = ms::table
        .inner_join(us::table)
        .filter(ms::institution_id.eq(institution_id))
        .select((ms::role, ms::created_at, UserRow::as_select()))
        .order((ms::created_at.asc(), ms::user_id.asc()))
        .limit(limit)
        .into_boxed();
    if let Some((at, id)) = after {
        // The bound makes the keyset an index range (see `keyset` in db/mod.rs).
        q = q.filter(ms::created_at.ge(at));
        q = q.filter(
            ms::created_at
                .gt(at)
                .or(ms::created_at.eq(at).and(ms::user_id.gt(id))),
        );
    }
    q.load(conn)
}

/// Users with the given role (its word) in the institution (e.g. its owners,
/// to email).
pub fn users_with_role(
    conn: &mut DbConnection,
    institution_id: &str,
    role: &str,
) -> QueryResult<Vec<UserRow>> {
    ms::table
        .inner_join(us::table)
        .filter(ms::institution_id.eq(institution_id))
        .filter(ms::role.eq(role))
        .select(UserRow::as_select())
        .load(conn)
}

// ----- invitations -------------------------------------------------------

/// An invitation as stored (inserted field by field by `replace_invitation`:
/// diesel's derived insert of a typed word goes through each inner backend).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = iv)]
pub struct InvitationRow {
    pub id: String,
    pub institution_id: String,
    pub email: String,
    pub email_normalized: String,
    pub role: InstitutionRole,
    pub token_hash: String,
    pub invited_by: Option<String>,
    pub expires_at: NaiveDateTime,
    pub accepted_at: Option<NaiveDateTime>,
    pub accepted_by: Option<String>,
    pub withdrawn_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

/// Withdraws any pending invitation of this address to this institution
/// (re-inviting replaces it), then stores the new one.
pub fn replace_invitation(
    conn: &mut DbConnection,
    row: &InvitationRow,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(
        iv::table
            .filter(iv::institution_id.eq(&row.institution_id))
            .filter(iv::email_normalized.eq(&row.email_normalized))
            .filter(iv::accepted_at.is_null())
            .filter(iv::withdrawn_at.is_null()),
    )
    .set(iv::withdrawn_at.eq(Some(now)))
    .execute(conn)?;
    diesel::insert_into(iv::table)
        .values((
            iv::id.eq(&row.id),
            iv::institution_id.eq(&row.institution_id),
            iv::email.eq(&row.email),
            iv::email_normalized.eq(&row.email_normalized),
            iv::role.eq(row.role),
            iv::token_hash.eq(&row.token_hash),
            iv::invited_by.eq(&row.invited_by),
            iv::expires_at.eq(row.expires_at),
            iv::accepted_at.eq(row.accepted_at),
            iv::accepted_by.eq(&row.accepted_by),
            iv::withdrawn_at.eq(row.withdrawn_at),
            iv::created_at.eq(row.created_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Pending (not accepted, withdrawn or expired) invitations.
pub fn pending(
    conn: &mut DbConnection,
    institution_id: &str,
    now: NaiveDateTime,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<InvitationRow>> {
    let mut q = iv::table
        .filter(iv::institution_id.eq(institution_id))
        .filter(iv::accepted_at.is_null())
        .filter(iv::withdrawn_at.is_null())
        .filter(iv::expires_at.gt(now))
        .select(InvitationRow::as_select())
        .order((iv::created_at.asc(), iv::id.asc()))
        .limit(limit)
        .into_boxed();
    if let Some((at, id)) = after {
        // The bound makes the keyset an index range (see `keyset` in db/mod.rs).
        q = q.filter(iv::created_at.ge(at));
        q = q.filter(
            iv::created_at
                .gt(at)
                .or(iv::created_at.eq(at).and(iv::id.gt(id))),
        );
    }
    q.load(conn)
}

/// Withdraws a pending invitation of the institution; `false` if none.
pub fn withdraw(
    conn: &mut DbConnection,
    institution_id: &str,
    id: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(
        iv::table
            .filter(iv::id.eq(id))
            .filter(iv::institution_id.eq(institution_id))
            .filter(iv::accepted_at.is_null())
            .filter(iv::withdrawn_at.is_null())
            .filter(iv::expires_at.gt(now)),
    )
    .set(iv::withdrawn_at.eq(Some(now)))
    .execute(conn)?;
    Ok(n == 1)
}

/// The invitation `id` of the institution, whatever its status.
pub fn invitation(
    conn: &mut DbConnection,
    institution_id: &str,
    id: &str,
) -> QueryResult<Option<InvitationRow>> {
    iv::table
        .filter(iv::id.eq(id))
        .filter(iv::institution_id.eq(institution_id))
        .select(InvitationRow::as_select())
        .first(conn)
        .optional()
}

/// The pending invitation of this address to this institution, if any.
pub fn pending_for(
    conn: &mut DbConnection,
    institution_id: &str,
    email_normalized: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<InvitationRow>> {
    iv::table
        .filter(iv::institution_id.eq(institution_id))
        .filter(iv::email_normalized.eq(email_normalized))
        .filter(iv::accepted_at.is_null())
        .filter(iv::withdrawn_at.is_null())
        .filter(iv::expires_at.gt(now))
        .select(InvitationRow::as_select())
        .first(conn)
        .optional()
}

/// The invitation with this token hash, whatever its status.
pub fn by_token(conn: &mut DbConnection, token_hash: &str) -> QueryResult<Option<InvitationRow>> {
    iv::table
        .filter(iv::token_hash.eq(token_hash))
        .select(InvitationRow::as_select())
        .first(conn)
        .optional()
}

/// Spends an invitation; `false` if someone else just did.
pub fn mark_accepted(
    conn: &mut DbConnection,
    id: &str,
    user_id: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    // Still pending at the moment of the write: a withdrawal or expiry that
    // won the race wins.
    let n = diesel::update(
        iv::table
            .filter(iv::id.eq(id))
            .filter(iv::accepted_at.is_null())
            .filter(iv::withdrawn_at.is_null())
            .filter(iv::expires_at.gt(now)),
    )
    .set((
        iv::accepted_at.eq(Some(now)),
        iv::accepted_by.eq(Some(user_id)),
    ))
    .execute(conn)?;
    Ok(n == 1)
}
