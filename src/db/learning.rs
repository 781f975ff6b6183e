//! Course modules (a dense 1..n order), enrollments and module completions.
//!
//! Every function that moves positions expects the caller to hold the
//! course's row lock (`db::resources::lock`) in the same transaction: that
//! is what keeps concurrent inserts from producing duplicate positions.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::{
    course_modules as cm, enrollments as en, module_completions as mc, resources as rs, users as us,
};
use crate::domain::learning::EnrollmentStatus;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = cm)]
pub struct ModuleRow {
    pub id: String,
    pub course_id: String,
    pub position: i32,
    pub title: String,
    pub content: Option<String>,
    pub content_url: Option<String>,
    pub duration_minutes: Option<i32>,
    pub download_bytes: Option<i64>,
    pub required: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn modules(conn: &mut DbConnection, course_id: &str) -> QueryResult<Vec<ModuleRow>> {
    cm::table
        .filter(cm::course_id.eq(course_id))
        .order((cm::position.asc(), cm::id.asc()))
        .select(ModuleRow::as_select())
        .load(conn)
}

pub fn module(
    conn: &mut DbConnection,
    course_id: &str,
    module_id: &str,
) -> QueryResult<Option<ModuleRow>> {
    cm::table
        .filter(cm::course_id.eq(course_id))
        .filter(cm::id.eq(module_id))
        .select(ModuleRow::as_select())
        .first(conn)
        .optional()
}

pub fn count_modules(conn: &mut DbConnection, course_id: &str) -> QueryResult<i64> {
    cm::table
        .filter(cm::course_id.eq(course_id))
        .count()
        .get_result(conn)
}

/// Inserts `row` at `row.position`, moving the modules from there on down.
pub fn insert_module(conn: &mut DbConnection, row: &ModuleRow) -> QueryResult<()> {
    diesel::update(
        cm::table
            .filter(cm::course_id.eq(&row.course_id))
            .filter(cm::position.ge(row.position)),
    )
    .set(cm::position.eq(cm::position + 1))
    .execute(conn)?;
    diesel::insert_into(cm::table).values(row).execute(conn)?;
    Ok(())
}

/// Moves a module from `from` to `to`, shifting the ones in between.
pub fn move_module(
    conn: &mut DbConnection,
    course_id: &str,
    module_id: &str,
    from: i32,
    to: i32,
) -> QueryResult<()> {
    let others = cm::table
        .filter(cm::course_id.eq(course_id))
        .filter(cm::id.ne(module_id));
    if to < from {
        diesel::update(
            others
                .filter(cm::position.ge(to))
                .filter(cm::position.lt(from)),
        )
        .set(cm::position.eq(cm::position + 1))
        .execute(conn)?;
    } else if to > from {
        diesel::update(
            others
                .filter(cm::position.gt(from))
                .filter(cm::position.le(to)),
        )
        .set(cm::position.eq(cm::position - 1))
        .execute(conn)?;
    }
    diesel::update(cm::table.filter(cm::id.eq(module_id)))
        .set(cm::position.eq(to))
        .execute(conn)?;
    Ok(())
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = cm)]
pub struct ModuleChanges {
    pub title: Option<String>,
    pub content: Option<Option<String>>,
    pub content_url: Option<Option<String>>,
    pub duration_minutes: Option<Option<i32>>,
    pub download_bytes: Option<Option<i64>>,
    pub required: Option<bool>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn update_module(
    conn: &mut DbConnection,
    module_id: &str,
    changes: &ModuleChanges,
) -> QueryResult<()> {
    diesel::update(cm::table.filter(cm::id.eq(module_id)))
        .set(changes)
        .execute(conn)?;
    Ok(())
}

/// Deletes a module and closes the gap it leaves.
pub fn delete_module(conn: &mut DbConnection, row: &ModuleRow) -> QueryResult<()> {
    diesel::delete(cm::table.filter(cm::id.eq(&row.id))).execute(conn)?;
    diesel::update(
        cm::table
            .filter(cm::course_id.eq(&row.course_id))
            .filter(cm::position.gt(row.position)),
    )
    .set(cm::position.eq(cm::position - 1))
    .execute(conn)?;
    Ok(())
}

// ----- enrollments -------------------------------------------------------------

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = en)]
pub struct EnrollmentRow {
    pub course_id: String,
    pub user_id: String,
    pub status: EnrollmentStatus,
    pub enrolled_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub withdrawn_at: Option<NaiveDateTime>,
    pub completed_at: Option<NaiveDateTime>,
    pub completion_id: Option<String>,
    /// The course version the learner is on (`1.2`), kept until they move
    /// on.
    pub course_version: Option<String>,
}

/// Moves a learner to version `to` of the course.
pub fn set_course_version(
    conn: &mut DbConnection,
    course_id: &str,
    user_id: &str,
    to: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(
        en::table
            .filter(en::course_id.eq(course_id))
            .filter(en::user_id.eq(user_id)),
    )
    .set((en::course_version.eq(Some(to)), en::updated_at.eq(now)))
    .execute(conn)?;
    Ok(())
}

/// The active learners of a course on a version of an older major than
/// `major`, with the version they are on.
pub fn learners_before_major(
    conn: &mut DbConnection,
    course_id: &str,
    major: i32,
) -> QueryResult<Vec<(String, Option<String>)>> {
    let rows: Vec<(String, Option<String>)> = en::table
        .filter(en::course_id.eq(course_id))
        .filter(en::status.eq(EnrollmentStatus::Active))
        .select((en::user_id, en::course_version))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter(|(_, v)| {
            v.as_deref()
                .and_then(crate::domain::version::Label::parse)
                .is_none_or(|l| l.major < major)
        })
        .collect())
}

pub fn enrollment(
    conn: &mut DbConnection,
    course_id: &str,
    user_id: &str,
) -> QueryResult<Option<EnrollmentRow>> {
    en::table
        .filter(en::course_id.eq(course_id))
        .filter(en::user_id.eq(user_id))
        .select(EnrollmentRow::as_select())
        .first(conn)
        .optional()
}

/// Takes the enrollment row's write lock for the rest of the transaction
/// (PostgreSQL; SQLite write transactions are serial): two progress changes
/// of one learner then see each other's work. `false`: no enrollment.
pub fn lock_enrollment(
    conn: &mut DbConnection,
    course_id: &str,
    user_id: &str,
) -> QueryResult<bool> {
    let n = diesel::update(
        en::table
            .filter(en::course_id.eq(course_id))
            .filter(en::user_id.eq(user_id)),
    )
    .set(en::updated_at.eq(en::updated_at))
    .execute(conn)?;
    Ok(n == 1)
}

/// The learners still active in a course.
pub fn active_learners(conn: &mut DbConnection, course_id: &str) -> QueryResult<Vec<String>> {
    en::table
        .filter(en::course_id.eq(course_id))
        .filter(en::status.eq(EnrollmentStatus::Active))
        .select(en::user_id)
        .load(conn)
}

/// Inserts an enrollment. Column by column, with the status as its word:
/// the multi connection's insert of a whole row would need the status's
/// `ToSql` for each inner backend, and `text_column!` gives the multi one.
pub fn insert_enrollment(conn: &mut DbConnection, row: &EnrollmentRow) -> QueryResult<()> {
    diesel::insert_into(en::table)
        .values((
            en::course_id.eq(&row.course_id),
            en::user_id.eq(&row.user_id),
            en::status.eq(row.status.as_str()),
            en::enrolled_at.eq(row.enrolled_at),
            en::updated_at.eq(row.updated_at),
            en::withdrawn_at.eq(row.withdrawn_at),
            en::completed_at.eq(row.completed_at),
            en::completion_id.eq(&row.completion_id),
            en::course_version.eq(&row.course_version),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn set_enrollment_status(
    conn: &mut DbConnection,
    course_id: &str,
    user_id: &str,
    status: EnrollmentStatus,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let target = en::table
        .filter(en::course_id.eq(course_id))
        .filter(en::user_id.eq(user_id));
    if status == EnrollmentStatus::Withdrawn {
        diesel::update(target)
            .set((
                en::status.eq(status),
                en::withdrawn_at.eq(Some(now)),
                en::updated_at.eq(now),
            ))
            .execute(conn)?;
    } else {
        diesel::update(target)
            .set((en::status.eq(status), en::updated_at.eq(now)))
            .execute(conn)?;
    }
    Ok(())
}

/// Completes an active enrollment once; `false` if it was completed
/// already (or is not active): the first completion id stands.
pub fn complete_enrollment(
    conn: &mut DbConnection,
    course_id: &str,
    user_id: &str,
    completion_id: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(
        en::table
            .filter(en::course_id.eq(course_id))
            .filter(en::user_id.eq(user_id))
            .filter(en::status.eq(EnrollmentStatus::Active))
            .filter(en::completion_id.is_null()),
    )
    .set((
        en::status.eq(EnrollmentStatus::Completed),
        en::completed_at.eq(Some(now)),
        en::completion_id.eq(Some(completion_id)),
        en::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Marks a module done; `false` if it already was (the first time is kept).
pub fn mark_done(
    conn: &mut DbConnection,
    user_id: &str,
    course_id: &str,
    module_id: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = crate::with_conn!(conn, |c| diesel::insert_into(mc::table)
        .values((
            mc::user_id.eq(user_id),
            mc::module_id.eq(module_id),
            mc::course_id.eq(course_id),
            mc::completed_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(c)?);
    Ok(n == 1)
}

/// Un-marks a module; `false` if it was not marked.
pub fn unmark_done(conn: &mut DbConnection, user_id: &str, module_id: &str) -> QueryResult<bool> {
    let n = diesel::delete(
        mc::table
            .filter(mc::user_id.eq(user_id))
            .filter(mc::module_id.eq(module_id)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// `(module_id, completed_at)` of a learner in a course, oldest first.
pub fn done(
    conn: &mut DbConnection,
    course_id: &str,
    user_id: &str,
) -> QueryResult<Vec<(String, NaiveDateTime)>> {
    mc::table
        .filter(mc::course_id.eq(course_id))
        .filter(mc::user_id.eq(user_id))
        .order((mc::completed_at.asc(), mc::module_id.asc()))
        .select((mc::module_id, mc::completed_at))
        .load(conn)
}

/// Every completion in a course: `(user_id, module_id)`.
pub fn done_in_course(
    conn: &mut DbConnection,
    course_id: &str,
) -> QueryResult<Vec<(String, String)>> {
    mc::table
        .filter(mc::course_id.eq(course_id))
        .select((mc::user_id, mc::module_id))
        .load(conn)
}

/// Completions of several learners' courses: `(course_id, user_id, module_id)`.
pub fn done_in(
    conn: &mut DbConnection,
    user_id: &str,
    course_ids: &[String],
) -> QueryResult<Vec<(String, String)>> {
    if course_ids.is_empty() {
        return Ok(Vec::new());
    }
    mc::table
        .filter(mc::user_id.eq(user_id))
        .filter(mc::course_id.eq_any(course_ids))
        .select((mc::course_id, mc::module_id))
        .load(conn)
}

/// Modules of several courses.
pub fn modules_of(conn: &mut DbConnection, course_ids: &[String]) -> QueryResult<Vec<ModuleRow>> {
    if course_ids.is_empty() {
        return Ok(Vec::new());
    }
    cm::table
        .filter(cm::course_id.eq_any(course_ids))
        .order((cm::course_id, cm::position))
        .select(ModuleRow::as_select())
        .load(conn)
}

/// A learner's enrollments with their course titles, newest first.
pub fn enrollments_of(
    conn: &mut DbConnection,
    user_id: &str,
    status: Option<EnrollmentStatus>,
    before: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<(EnrollmentRow, String)>> {
    let mut q = en::table
        .inner_join(rs::table)
        .filter(en::user_id.eq(user_id))
        .select((EnrollmentRow::as_select(), rs::title))
        .order((en::enrolled_at.desc(), en::course_id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some(s) = status {
        q = q.filter(en::status.eq(s));
    }
    if let Some((at, id)) = before {
        // The bound makes the keyset an index range (see `keyset` in db/mod.rs).
        q = q.filter(en::enrolled_at.le(at));
        q = q.filter(
            en::enrolled_at
                .lt(at)
                .or(en::enrolled_at.eq(at).and(en::course_id.lt(id))),
        );
    }
    q.load(conn)
}

/// A course's learners with their display names, oldest enrollment first.
pub fn learners(
    conn: &mut DbConnection,
    course_id: &str,
    status: Option<EnrollmentStatus>,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<(EnrollmentRow, String)>> {
    let mut q = en::table
        .inner_join(us::table)
        .filter(en::course_id.eq(course_id))
        .select((EnrollmentRow::as_select(), us::display_name))
        .order((en::enrolled_at.asc(), en::user_id.asc()))
        .limit(limit)
        .into_boxed();
    if let Some(s) = status {
        q = q.filter(en::status.eq(s));
    }
    if let Some((at, id)) = after {
        // The bound makes the keyset an index range (see `keyset` in db/mod.rs).
        q = q.filter(en::enrolled_at.ge(at));
        q = q.filter(
            en::enrolled_at
                .gt(at)
                .or(en::enrolled_at.eq(at).and(en::user_id.gt(id))),
        );
    }
    q.load(conn)
}

/// Every enrollment of a course (for aggregates).
pub fn all_enrollments(
    conn: &mut DbConnection,
    course_id: &str,
) -> QueryResult<Vec<EnrollmentRow>> {
    en::table
        .filter(en::course_id.eq(course_id))
        .select(EnrollmentRow::as_select())
        .load(conn)
}

/// A completion by its public id: the enrollment, the course title and the
/// learner's display name.
pub fn completion(
    conn: &mut DbConnection,
    completion_id: &str,
) -> QueryResult<Option<(EnrollmentRow, String, String, String)>> {
    use super::schema::institutions as it;
    en::table
        .inner_join(us::table)
        .inner_join(rs::table.inner_join(it::table))
        .filter(en::completion_id.eq(completion_id))
        .select((
            EnrollmentRow::as_select(),
            rs::title,
            it::slug,
            us::display_name,
        ))
        .first(conn)
        .optional()
}

crate::db::words::text_column!(EnrollmentStatus);
