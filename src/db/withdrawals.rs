//! Deaccessions and the dates that fall due (`resource_deaccessions`,
//! `resource_deadlines`). `app::deaccession` and `app::embargo` decide.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::{
    embargo_watchers as ew, resource_deaccessions as rd, resource_deadlines as dl,
};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = rd)]
pub struct DeaccessionRow {
    pub resource_id: String,
    /// `1.2`, or `*` for the whole resource.
    pub version: String,
    pub reason: String,
    pub title: String,
    /// APA, as it was when withdrawn.
    pub citation: String,
    pub deaccessioned_by: Option<String>,
    pub deaccessioned_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, row: &DeaccessionRow) -> QueryResult<()> {
    diesel::insert_into(rd::table).values(row).execute(conn)?;
    Ok(())
}

pub fn one(
    conn: &mut DbConnection,
    resource: &str,
    version: &str,
) -> QueryResult<Option<DeaccessionRow>> {
    rd::table
        .filter(rd::resource_id.eq(resource))
        .filter(rd::version.eq(version))
        .select(DeaccessionRow::as_select())
        .first(conn)
        .optional()
}

/// Every withdrawn version of a resource (and `*`).
pub fn of(conn: &mut DbConnection, resource: &str) -> QueryResult<Vec<DeaccessionRow>> {
    rd::table
        .filter(rd::resource_id.eq(resource))
        .select(DeaccessionRow::as_select())
        .load(conn)
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = dl)]
pub struct DeadlineRow {
    pub resource_id: String,
    /// `''` for the dataset itself.
    pub file_id: String,
    pub what: String,
    pub due_at: NaiveDateTime,
    pub done_at: Option<NaiveDateTime>,
}

/// Sets the deadlines of one dataset (or one of its files) to exactly
/// `due` (what → when): a changed date is due again, a removed one goes,
/// an unchanged one keeps whether it was done.
pub fn set(
    conn: &mut DbConnection,
    resource: &str,
    file: &str,
    due: &[(&str, NaiveDateTime)],
) -> QueryResult<()> {
    let current: Vec<DeadlineRow> = dl::table
        .filter(dl::resource_id.eq(resource))
        .filter(dl::file_id.eq(file))
        .select(DeadlineRow::as_select())
        .load(conn)?;
    for row in &current {
        let keep = due
            .iter()
            .any(|(what, at)| *what == row.what && *at == row.due_at);
        if !keep {
            diesel::delete(
                dl::table
                    .filter(dl::resource_id.eq(resource))
                    .filter(dl::file_id.eq(file))
                    .filter(dl::what.eq(&row.what)),
            )
            .execute(conn)?;
        }
    }
    for (what, at) in due {
        let present = current.iter().any(|r| r.what == *what && r.due_at == *at);
        if !present {
            diesel::insert_into(dl::table)
                .values(DeadlineRow {
                    resource_id: resource.to_string(),
                    file_id: file.to_string(),
                    what: (*what).to_string(),
                    due_at: *at,
                    done_at: None,
                })
                .execute(conn)?;
        }
    }
    Ok(())
}

/// Deadlines not done whose time came at `now`, oldest first.
pub fn due(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<DeadlineRow>> {
    dl::table
        .filter(dl::done_at.is_null())
        .filter(dl::due_at.le(now))
        .order((dl::due_at.asc(), dl::resource_id.asc()))
        .limit(limit)
        .select(DeadlineRow::as_select())
        .load(conn)
}

/// Marks a deadline done: `false` when another instance got there first
/// (or it changed meanwhile).
pub fn claim(conn: &mut DbConnection, row: &DeadlineRow, now: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(
        dl::table
            .filter(dl::resource_id.eq(&row.resource_id))
            .filter(dl::file_id.eq(&row.file_id))
            .filter(dl::what.eq(&row.what))
            .filter(dl::due_at.eq(row.due_at))
            .filter(dl::done_at.is_null()),
    )
    .set(dl::done_at.eq(Some(now)))
    .execute(conn)?;
    Ok(n == 1)
}

/// Remembers that `user` was refused a file under embargo (told when it
/// lifts); once per (dataset, file, person).
pub fn watch(
    conn: &mut DbConnection,
    resource: &str,
    file: &str,
    user: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    crate::with_conn!(conn, |c| diesel::insert_into(ew::table)
        .values((
            ew::resource_id.eq(resource),
            ew::file_id.eq(file),
            ew::user_id.eq(user),
            ew::created_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(c)?);
    Ok(())
}

/// Who waits for the embargo of `resource` (`file`: `''` for the
/// dataset's own) to lift: user ids. Forgets them.
pub fn take_watchers(
    conn: &mut DbConnection,
    resource: &str,
    file: &str,
) -> QueryResult<Vec<String>> {
    let q = ew::table
        .filter(ew::resource_id.eq(resource))
        .filter(ew::file_id.eq(file));
    let users = q.select(ew::user_id).order(ew::user_id.asc()).load(conn)?;
    diesel::delete(q).execute(conn)?;
    Ok(users)
}
