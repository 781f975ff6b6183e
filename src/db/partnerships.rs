//! Partnerships, their member institutions, coordinators and shared resources.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::DbConnection;
use super::schema::{
    institutions as it, memberships as ms, partnership_coordinators as pc,
    partnership_members as pm, partnership_resources as pr, partnerships as ps, resources as rs,
    users as us,
};
use crate::domain::partnership::{MemberStatus, PartnershipStatus};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = ps)]
pub struct PartnershipRow {
    pub id: String,
    pub slug: String,
    pub title: String,
    pub description: String,
    pub goals: String,
    pub agreement_url: Option<String>,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    /// Inserted as its word: `text_column!` gives the multi-backend's
    /// `ToSql`, not the inner backends' that `insert` (on the inner
    /// connection, for `ON CONFLICT DO NOTHING`) and multi-backend inserts
    /// and subselects need. Queries bind `as_str()` for the same reason.
    #[diesel(serialize_as = String)]
    pub status: PartnershipStatus,
    pub public: bool,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_digest_at: Option<NaiveDateTime>,
}

// Statuses are stored as their word; a stored word outside the set fails
// the read (a 500 naming the value), never a default.
super::words::text_column!(PartnershipStatus, MemberStatus);

/// `false` when the slug is taken.
pub fn insert(conn: &mut DbConnection, row: &PartnershipRow) -> QueryResult<bool> {
    let n = crate::with_conn!(conn, |c| diesel::insert_into(ps::table)
        .values(row.clone())
        .on_conflict_do_nothing()
        .execute(c)?);
    Ok(n == 1)
}

pub fn by_slug(conn: &mut DbConnection, slug: &str) -> QueryResult<Option<PartnershipRow>> {
    ps::table
        .filter(ps::slug.eq(slug))
        .select(PartnershipRow::as_select())
        .first(conn)
        .optional()
}

/// Takes the partnership row's lock for the rest of the transaction.
pub fn lock(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::update(ps::table.filter(ps::id.eq(id)))
        .set(ps::updated_at.eq(ps::updated_at))
        .execute(conn)?;
    Ok(())
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = ps)]
pub struct Changes {
    pub title: Option<String>,
    pub description: Option<String>,
    pub goals: Option<String>,
    pub agreement_url: Option<Option<String>>,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
    pub status: Option<PartnershipStatus>,
    pub public: Option<bool>,
    pub updated_at: Option<NaiveDateTime>,
    pub last_digest_at: Option<Option<NaiveDateTime>>,
}

pub fn update(conn: &mut DbConnection, id: &str, changes: &Changes) -> QueryResult<()> {
    diesel::update(ps::table.filter(ps::id.eq(id)))
        .set(changes)
        .execute(conn)?;
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<PartnershipStatus>,
    pub country: Option<String>,
    pub institution: Option<String>,
    /// Besides public ones, the partnerships the caller may see; `None`: all (admins).
    pub also: Option<Vec<String>>,
    /// Only these partnerships (`member=me`: the caller's).
    pub member_of: Option<Vec<String>>,
}

pub fn list(
    conn: &mut DbConnection,
    f: &ListFilter,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<PartnershipRow>> {
    let mut q = ps::table
        .select(PartnershipRow::as_select())
        .order((ps::created_at.asc(), ps::id.asc()))
        .limit(limit)
        .into_boxed();
    if let Some(also) = &f.also {
        q = q.filter(ps::public.eq(true).or(ps::id.eq_any(also.clone())));
    }
    if let Some(ids) = &f.member_of {
        q = q.filter(ps::id.eq_any(ids.clone()));
    }
    if let Some(s) = &f.status {
        q = q.filter(ps::status.eq(s.as_str()));
    }
    if let Some(c) = &f.country {
        q = q.filter(
            ps::id.eq_any(
                pm::table
                    .inner_join(it::table)
                    .filter(pm::status.eq(MemberStatus::Active.as_str()))
                    .filter(it::country.eq(c.clone()))
                    .select(pm::partnership_id),
            ),
        );
    }
    if let Some(slug) = &f.institution {
        q = q.filter(
            ps::id.eq_any(
                pm::table
                    .inner_join(it::table)
                    .filter(pm::status.eq(MemberStatus::Active.as_str()))
                    .filter(it::slug.eq(slug.clone()))
                    .select(pm::partnership_id),
            ),
        );
    }
    if let Some((at, id)) = after {
        // The bound makes the keyset an index range (see `keyset` in db/mod.rs).
        q = q.filter(ps::created_at.ge(at));
        q = q.filter(
            ps::created_at
                .gt(at)
                .or(ps::created_at.eq(at).and(ps::id.gt(id))),
        );
    }
    q.load(conn)
}

// ----- members -------------------------------------------------------------------

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = pm)]
pub struct MemberRow {
    pub partnership_id: String,
    pub institution_id: String,
    /// Inserted as its word (see `PartnershipRow::status`).
    #[diesel(serialize_as = String)]
    pub status: MemberStatus,
    pub invited_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A member with its institution's slug, name, country and verification.
#[derive(Debug, Clone)]
pub struct Member {
    pub row: MemberRow,
    pub slug: String,
    pub name: String,
    pub country: String,
}

pub fn members(conn: &mut DbConnection, partnership_id: &str) -> QueryResult<Vec<Member>> {
    let rows: Vec<(MemberRow, String, String, String)> = pm::table
        .inner_join(it::table)
        .filter(pm::partnership_id.eq(partnership_id))
        .order((pm::created_at.asc(), pm::institution_id.asc()))
        .select((MemberRow::as_select(), it::slug, it::name, it::country))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(row, slug, name, country)| Member {
            row,
            slug,
            name,
            country,
        })
        .collect())
}

pub fn upsert_member(conn: &mut DbConnection, row: &MemberRow) -> QueryResult<()> {
    let n = diesel::update(
        pm::table
            .filter(pm::partnership_id.eq(&row.partnership_id))
            .filter(pm::institution_id.eq(&row.institution_id)),
    )
    .set((
        pm::status.eq(row.status.as_str()),
        pm::invited_by.eq(&row.invited_by),
        pm::updated_at.eq(row.updated_at),
    ))
    .execute(conn)?;
    if n == 0 {
        diesel::insert_into(pm::table)
            .values(row.clone())
            .execute(conn)?;
    }
    Ok(())
}

pub fn set_member_status(
    conn: &mut DbConnection,
    partnership_id: &str,
    institution_id: &str,
    status: MemberStatus,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(
        pm::table
            .filter(pm::partnership_id.eq(partnership_id))
            .filter(pm::institution_id.eq(institution_id)),
    )
    .set((pm::status.eq(status.as_str()), pm::updated_at.eq(now)))
    .execute(conn)?;
    Ok(())
}

/// Partnerships where one of `institutions` is an active or invited member.
pub fn involving(conn: &mut DbConnection, institutions: &[String]) -> QueryResult<Vec<String>> {
    if institutions.is_empty() {
        return Ok(Vec::new());
    }
    pm::table
        .filter(pm::institution_id.eq_any(institutions))
        .filter(pm::status.eq_any([
            MemberStatus::Active.as_str(),
            MemberStatus::Invited.as_str(),
        ]))
        .select(pm::partnership_id)
        .load(conn)
}

// ----- coordinators ----------------------------------------------------------------

pub fn coordinators(
    conn: &mut DbConnection,
    partnership_id: &str,
) -> QueryResult<Vec<(String, String)>> {
    pc::table
        .inner_join(us::table)
        .filter(pc::partnership_id.eq(partnership_id))
        .order((pc::created_at.asc(), pc::user_id.asc()))
        .select((pc::user_id, us::display_name))
        .load(conn)
}

pub fn coordinated_by(conn: &mut DbConnection, user_id: &str) -> QueryResult<Vec<String>> {
    pc::table
        .filter(pc::user_id.eq(user_id))
        .select(pc::partnership_id)
        .load(conn)
}

/// `false` when already a coordinator.
pub fn add_coordinator(
    conn: &mut DbConnection,
    partnership_id: &str,
    user_id: &str,
    added_by: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = crate::with_conn!(conn, |c| diesel::insert_into(pc::table)
        .values((
            pc::partnership_id.eq(partnership_id),
            pc::user_id.eq(user_id),
            pc::added_by.eq(added_by),
            pc::created_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(c)?);
    Ok(n == 1)
}

pub fn remove_coordinator(
    conn: &mut DbConnection,
    partnership_id: &str,
    user_id: &str,
) -> QueryResult<bool> {
    let n = diesel::delete(
        pc::table
            .filter(pc::partnership_id.eq(partnership_id))
            .filter(pc::user_id.eq(user_id)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// Whether the user belongs to an active member institution of the partnership.
pub fn is_member_person(
    conn: &mut DbConnection,
    partnership_id: &str,
    user_id: &str,
) -> QueryResult<bool> {
    let n: i64 = pm::table
        .inner_join(ms::table.on(ms::institution_id.eq(pm::institution_id)))
        .filter(pm::partnership_id.eq(partnership_id))
        .filter(pm::status.eq(MemberStatus::Active.as_str()))
        .filter(ms::user_id.eq(user_id))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

// ----- shared resources -------------------------------------------------------------

/// `false` when already shared.
pub fn share(
    conn: &mut DbConnection,
    partnership_id: &str,
    resource_id: &str,
    shared_by: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = crate::with_conn!(conn, |c| diesel::insert_into(pr::table)
        .values((
            pr::partnership_id.eq(partnership_id),
            pr::resource_id.eq(resource_id),
            pr::shared_by.eq(Some(shared_by)),
            pr::created_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(c)?);
    Ok(n == 1)
}

pub fn unshare(
    conn: &mut DbConnection,
    partnership_id: &str,
    resource_id: &str,
) -> QueryResult<bool> {
    let n = diesel::delete(
        pr::table
            .filter(pr::partnership_id.eq(partnership_id))
            .filter(pr::resource_id.eq(resource_id)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// `(resource_id, shared_at)` of a partnership, oldest first.
pub fn shared(
    conn: &mut DbConnection,
    partnership_id: &str,
) -> QueryResult<Vec<(String, NaiveDateTime)>> {
    pr::table
        .filter(pr::partnership_id.eq(partnership_id))
        .order((pr::created_at.asc(), pr::resource_id.asc()))
        .select((pr::resource_id, pr::created_at))
        .load(conn)
}

/// Resources visible through partnerships to someone belonging to
/// `institutions`: shared into an active partnership in which both one of
/// those institutions and the resource's own institution are active members.
pub fn visible_through_partnerships(
    conn: &mut DbConnection,
    institutions: &[String],
) -> QueryResult<Vec<String>> {
    if institutions.is_empty() {
        return Ok(Vec::new());
    }
    let mine: Vec<String> = pm::table
        .inner_join(ps::table)
        .filter(pm::institution_id.eq_any(institutions))
        .filter(pm::status.eq(MemberStatus::Active.as_str()))
        .filter(ps::status.eq(PartnershipStatus::Active.as_str()))
        .select(pm::partnership_id)
        .load(conn)?;
    if mine.is_empty() {
        return Ok(Vec::new());
    }
    let active: Vec<(String, String)> = pm::table
        .filter(pm::partnership_id.eq_any(&mine))
        .filter(pm::status.eq(MemberStatus::Active.as_str()))
        .select((pm::partnership_id, pm::institution_id))
        .load(conn)?;
    let shared: Vec<(String, String, String)> = pr::table
        .inner_join(rs::table)
        .filter(pr::partnership_id.eq_any(&mine))
        .select((pr::partnership_id, pr::resource_id, rs::institution_id))
        .load(conn)?;
    let mut out: Vec<String> = shared
        .into_iter()
        .filter(|(p, _, inst)| active.iter().any(|(ap, ai)| ap == p && ai == inst))
        .map(|(_, r, _)| r)
        .collect();
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// A partnership and its shares not yet announced: `(resource_id, title)`.
pub type DueDigest = (PartnershipRow, Vec<(String, String)>);

/// Partnerships with shares not yet announced whose last digest is older
/// than `before` (or never sent): `(partnership, [(resource_id, title)])`.
pub fn digests_due(
    conn: &mut DbConnection,
    before: NaiveDateTime,
    only: Option<&str>,
) -> QueryResult<Vec<DueDigest>> {
    // Only what every member may read: published, not institution-only
    // (drafts and the like are marked digested without being announced).
    let mut q = pr::table
        .inner_join(rs::table)
        .filter(pr::digested_at.is_null())
        .filter(rs::status.eq("published"))
        .filter(rs::visibility.ne("institution"))
        .order((pr::partnership_id, pr::created_at))
        .select((pr::partnership_id, pr::resource_id, rs::title))
        .into_boxed();
    if let Some(id) = only {
        q = q.filter(pr::partnership_id.eq(id.to_string()));
    }
    let pending: Vec<(String, String, String)> = q.load(conn)?;
    let mut ids: Vec<String> = pending.iter().map(|(p, _, _)| p.clone()).collect();
    ids.dedup();
    let rows: Vec<PartnershipRow> = ps::table
        .filter(ps::id.eq_any(&ids))
        .filter(
            ps::last_digest_at
                .is_null()
                .or(ps::last_digest_at.lt(before)),
        )
        .select(PartnershipRow::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|p| {
            let items = pending
                .iter()
                .filter(|(pid, _, _)| *pid == p.id)
                .map(|(_, r, t)| (r.clone(), t.clone()))
                .collect();
            (p, items)
        })
        .collect())
}

pub fn mark_digested(
    conn: &mut DbConnection,
    partnership_id: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(
        pr::table
            .filter(pr::partnership_id.eq(partnership_id))
            .filter(pr::digested_at.is_null()),
    )
    .set(pr::digested_at.eq(Some(now)))
    .execute(conn)?;
    diesel::update(ps::table.filter(ps::id.eq(partnership_id)))
        .set(ps::last_digest_at.eq(Some(now)))
        .execute(conn)?;
    Ok(())
}

/// Owners (`(user_id)`) of the given institutions.
pub fn owners_of(conn: &mut DbConnection, institutions: &[String]) -> QueryResult<Vec<String>> {
    if institutions.is_empty() {
        return Ok(Vec::new());
    }
    ms::table
        .filter(ms::institution_id.eq_any(institutions))
        .filter(ms::role.eq("owner"))
        .select(ms::user_id)
        .distinct()
        .load(conn)
}
