//! Published versions and drafts of the next version (`resource_versions`,
//! `resource_drafts`). `app::versions` decides what goes in.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::{resource_drafts as rd, resource_versions as rv};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = rv, treat_none_as_null = true)]
pub struct VersionRow {
    pub resource_id: String,
    pub major: i32,
    pub minor: i32,
    pub revision: i64,
    pub note: Option<String>,
    pub summary: String,
    pub snapshot: Option<String>,
    pub published_by: Option<String>,
    pub published_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = rd)]
pub struct DraftRow {
    pub resource_id: String,
    pub document: String,
    pub revision: i64,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, row: &VersionRow) -> QueryResult<()> {
    diesel::insert_into(rv::table).values(row).execute(conn)?;
    Ok(())
}

/// Inserts many versions (a bulk import).
pub fn insert_all(conn: &mut DbConnection, rows: &[VersionRow]) -> QueryResult<()> {
    insert_batched!(conn, rv::table, rows, 9)
}

/// The latest version of a resource.
pub fn head(conn: &mut DbConnection, resource: &str) -> QueryResult<Option<VersionRow>> {
    rv::table
        .filter(rv::resource_id.eq(resource))
        .order((rv::major.desc(), rv::minor.desc()))
        .select(VersionRow::as_select())
        .first(conn)
        .optional()
}

/// A version's `(major, minor, note)`.
pub type Head = (i32, i32, Option<String>);

diesel::alias!(rv as newer: NewerVersions);

/// The latest version of each of these resources: one row each, read by
/// the primary key (however many versions they have).
pub fn heads(conn: &mut DbConnection, resources: &[String]) -> QueryResult<HashMap<String, Head>> {
    let mut out: HashMap<String, Head> = HashMap::new();
    for chunk in resources.chunks(500) {
        let later = newer
            .filter(newer.field(rv::resource_id).eq(rv::resource_id))
            .filter(
                newer.field(rv::major).gt(rv::major).or(newer
                    .field(rv::major)
                    .eq(rv::major)
                    .and(newer.field(rv::minor).gt(rv::minor))),
            );
        let rows: Vec<(String, i32, i32, Option<String>)> = rv::table
            .filter(rv::resource_id.eq_any(chunk))
            .filter(diesel::dsl::not(diesel::dsl::exists(later)))
            .select((rv::resource_id, rv::major, rv::minor, rv::note))
            .load(conn)?;
        for (id, major, minor, note) in rows {
            out.insert(id, (major, minor, note));
        }
    }
    Ok(out)
}

pub fn one(
    conn: &mut DbConnection,
    resource: &str,
    major: i32,
    minor: i32,
) -> QueryResult<Option<VersionRow>> {
    rv::table
        .filter(rv::resource_id.eq(resource))
        .filter(rv::major.eq(major))
        .filter(rv::minor.eq(minor))
        .select(VersionRow::as_select())
        .first(conn)
        .optional()
}

/// A page of versions, newest first, after `(major, minor)` if given.
pub fn page(
    conn: &mut DbConnection,
    resource: &str,
    before: Option<(i32, i32)>,
    limit: i64,
) -> QueryResult<Vec<VersionRow>> {
    let mut q = rv::table
        .filter(rv::resource_id.eq(resource))
        .select(VersionRow::as_select())
        .order((rv::major.desc(), rv::minor.desc()))
        .limit(limit)
        .into_boxed();
    if let Some((major, minor)) = before {
        q = q.filter(
            rv::major
                .lt(major)
                .or(rv::major.eq(major).and(rv::minor.lt(minor))),
        );
    }
    q.load(conn)
}

/// Fills in the snapshot of a version kept as "the resource as it is now".
pub fn set_snapshot(
    conn: &mut DbConnection,
    resource: &str,
    major: i32,
    minor: i32,
    snapshot: &str,
) -> QueryResult<()> {
    diesel::update(
        rv::table
            .filter(rv::resource_id.eq(resource))
            .filter(rv::major.eq(major))
            .filter(rv::minor.eq(minor)),
    )
    .set(rv::snapshot.eq(Some(snapshot)))
    .execute(conn)?;
    Ok(())
}

pub fn draft(conn: &mut DbConnection, resource: &str) -> QueryResult<Option<DraftRow>> {
    rd::table
        .filter(rd::resource_id.eq(resource))
        .select(DraftRow::as_select())
        .first(conn)
        .optional()
}

/// Writes the draft (creating it, or replacing its document and counting
/// one more revision).
pub fn save_draft(conn: &mut DbConnection, row: &DraftRow) -> QueryResult<()> {
    let n = diesel::update(rd::table.filter(rd::resource_id.eq(&row.resource_id)))
        .set((
            rd::document.eq(&row.document),
            rd::revision.eq(row.revision),
            rd::updated_at.eq(row.updated_at),
        ))
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(rd::table).values(row).execute(conn)?;
    }
    Ok(())
}

/// Deletes the draft; whether there was one.
pub fn delete_draft(conn: &mut DbConnection, resource: &str) -> QueryResult<bool> {
    Ok(diesel::delete(rd::table.filter(rd::resource_id.eq(resource))).execute(conn)? == 1)
}
