//! The change feed's projection (`feed_*` tables) and the facts it is
//! computed from. `app::changes` decides what goes in; this only reads and
//! writes rows.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::DbConnection;
use super::schema::{
    access_requests as ar, feed_log as fl, feed_state as fs, feed_subjects as fsub,
    feed_viewer_log as fvl, feed_viewers as fv, institutions as it, memberships as ms,
    notifications as nt, partnership_members as pm, partnership_resources as pr,
    partnerships as ps, resources as rs, users as us,
};

/// The advisory lock that serialises the projection on PostgreSQL
/// ("kjfeed"); SQLite write transactions are serial already.
pub const PROJECT_LOCK: i64 = 0x6b6a_6665_6564;

/// A subject as the feed knows it now.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = fsub, treat_none_as_null = true)]
pub struct SubjectRow {
    pub kind: String,
    pub id: String,
    pub institution_id: Option<String>,
    pub audience: String,
    pub changed_seq: i64,
    pub changed_at: NaiveDateTime,
}

/// One change of a subject.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = fl)]
pub struct LogRow {
    pub event_seq: i64,
    pub kind: String,
    pub id: String,
    pub before: String,
    pub after: String,
    pub changed_at: NaiveDateTime,
}

/// One change of a person's keys.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = fvl)]
pub struct ViewerLogRow {
    pub event_seq: i64,
    pub user_id: String,
    pub before: String,
    pub after: String,
    pub changed_at: NaiveDateTime,
}

/// Takes the projection's lock (PostgreSQL; held to the end of the
/// transaction).
pub fn lock(conn: &mut DbConnection) -> QueryResult<()> {
    if let DbConnection::Postgres(pg) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<BigInt, _>(PROJECT_LOCK)
            .execute(pg)?;
    }
    Ok(())
}

/// `(last_seq, floor_seq)`; `None` before the projection's first run.
pub fn state(conn: &mut DbConnection) -> QueryResult<Option<(i64, i64)>> {
    fs::table
        .filter(fs::id.eq(1))
        .select((fs::last_seq, fs::floor_seq))
        .first(conn)
        .optional()
}

pub fn set_state(conn: &mut DbConnection, last_seq: i64, floor_seq: i64) -> QueryResult<()> {
    let n = diesel::update(fs::table.filter(fs::id.eq(1)))
        .set((fs::last_seq.eq(last_seq), fs::floor_seq.eq(floor_seq)))
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(fs::table)
            .values((
                fs::id.eq(1),
                fs::last_seq.eq(last_seq),
                fs::floor_seq.eq(floor_seq),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The highest event seq.
pub fn max_event_seq(conn: &mut DbConnection) -> QueryResult<Option<i64>> {
    use super::schema::events as ev;
    ev::table.select(diesel::dsl::max(ev::seq)).first(conn)
}

// ----- subjects and their log ---------------------------------------------------

/// The subjects of `kind` among `ids`.
pub fn subjects(
    conn: &mut DbConnection,
    kind: &str,
    ids: &[String],
) -> QueryResult<Vec<SubjectRow>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(super::BIND_MAX / 2) {
        out.extend(
            fsub::table
                .filter(fsub::kind.eq(kind))
                .filter(fsub::id.eq_any(chunk))
                .select(SubjectRow::as_select())
                .load(conn)?,
        );
    }
    Ok(out)
}

/// Writes `row` (new or replacing the stored one).
pub fn put_subject(conn: &mut DbConnection, row: &SubjectRow) -> QueryResult<()> {
    let n = diesel::update(
        fsub::table
            .filter(fsub::kind.eq(&row.kind))
            .filter(fsub::id.eq(&row.id)),
    )
    .set(row)
    .execute(conn)?;
    if n == 0 {
        diesel::insert_into(fsub::table).values(row).execute(conn)?;
    }
    Ok(())
}

/// Writes subjects that are not stored yet, many per statement.
pub fn insert_subjects(conn: &mut DbConnection, rows: &[SubjectRow]) -> QueryResult<()> {
    insert_batched!(conn, fsub::table, rows, 6)
}

pub fn insert_log(conn: &mut DbConnection, rows: &[LogRow]) -> QueryResult<()> {
    insert_batched!(conn, fl::table, rows, 6)
}

/// Up to `limit` log rows after event `seq` — or, with `after`, the rows
/// of `seq` itself past the subject `(kind, id)` and those after `seq` —
/// in order.
pub fn log_after(
    conn: &mut DbConnection,
    seq: i64,
    after: Option<(&str, &str)>,
    limit: i64,
) -> QueryResult<Vec<LogRow>> {
    let order = (fl::event_seq.asc(), fl::kind.asc(), fl::id.asc());
    // Two range reads of the primary key rather than one `OR` over both
    // (which the planners answer by filtering a wider range: a page from a
    // mid-log cursor cost three times one from a plain seq).
    let mut rows: Vec<LogRow> = match after {
        None => Vec::new(),
        Some((kind, id)) => fl::table
            .filter(fl::event_seq.eq(seq))
            .filter(fl::kind.gt(kind).or(fl::kind.eq(kind).and(fl::id.gt(id))))
            .order(order)
            .limit(limit)
            .select(LogRow::as_select())
            .load(conn)?,
    };
    let rest = limit - rows.len() as i64;
    if rest > 0 {
        rows.extend(
            fl::table
                .filter(fl::event_seq.gt(seq))
                .order(order)
                .limit(rest)
                .select(LogRow::as_select())
                .load::<LogRow>(conn)?,
        );
    }
    Ok(rows)
}

/// `(kind, id)` of the subjects of an institution.
pub fn subjects_of_institution(
    conn: &mut DbConnection,
    institution_id: &str,
) -> QueryResult<Vec<(String, String)>> {
    fsub::table
        .filter(fsub::institution_id.eq(institution_id))
        .select((fsub::kind, fsub::id))
        .load(conn)
}

/// The log rows of the subjects `(kind, id)` after `after`, in order.
pub fn log_of_after(
    conn: &mut DbConnection,
    subjects: &[(String, String)],
    after: i64,
) -> QueryResult<Vec<LogRow>> {
    let mut by_kind: HashMap<&str, Vec<String>> = HashMap::new();
    for (k, id) in subjects {
        by_kind.entry(k.as_str()).or_default().push(id.clone());
    }
    let mut out = Vec::new();
    for (kind, ids) in by_kind {
        for chunk in ids.chunks(super::BIND_MAX / 2) {
            out.extend(
                fl::table
                    .filter(fl::kind.eq(kind))
                    .filter(fl::id.eq_any(chunk))
                    .filter(fl::event_seq.gt(after))
                    .order(fl::event_seq.asc())
                    .select(LogRow::as_select())
                    .load(conn)?,
            );
        }
    }
    out.sort_by_key(|r| r.event_seq);
    Ok(out)
}

/// The subjects whose audience now holds `key`.
pub fn subjects_with_key(conn: &mut DbConnection, key: &str) -> QueryResult<Vec<SubjectRow>> {
    fsub::table
        .filter(fsub::audience.like(format!("% {key} %")))
        .select(SubjectRow::as_select())
        .load(conn)
}

/// The subjects `(kind, id)` whose audience held `key` before a change
/// after `after`.
pub fn subjects_that_had_key(
    conn: &mut DbConnection,
    key: &str,
    after: i64,
) -> QueryResult<Vec<(String, String)>> {
    fl::table
        .filter(fl::event_seq.gt(after))
        .filter(fl::before.like(format!("% {key} %")))
        .select((fl::kind, fl::id))
        .distinct()
        .load(conn)
}

// ----- people and their keys ------------------------------------------------------

/// The stored keys of `users` (those without a row hold none).
pub fn viewer_keys(
    conn: &mut DbConnection,
    users: &[String],
) -> QueryResult<HashMap<String, String>> {
    let mut out = HashMap::with_capacity(users.len());
    for chunk in users.chunks(super::BIND_MAX / 2) {
        out.extend(
            fv::table
                .filter(fv::user_id.eq_any(chunk))
                .select((fv::user_id, fv::keys))
                .load::<(String, String)>(conn)?,
        );
    }
    Ok(out)
}

pub fn put_viewer(conn: &mut DbConnection, user_id: &str, keys: &str) -> QueryResult<()> {
    let n = diesel::update(fv::table.filter(fv::user_id.eq(user_id)))
        .set(fv::keys.eq(keys))
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(fv::table)
            .values((fv::user_id.eq(user_id), fv::keys.eq(keys)))
            .execute(conn)?;
    }
    Ok(())
}

pub fn insert_viewer_log(conn: &mut DbConnection, rows: &[ViewerLogRow]) -> QueryResult<()> {
    insert_batched!(conn, fvl::table, rows, 5)
}

/// The changes of one person's keys after `after`, in order.
pub fn viewer_log_of(
    conn: &mut DbConnection,
    user_id: &str,
    after: i64,
) -> QueryResult<Vec<ViewerLogRow>> {
    fvl::table
        .filter(fvl::user_id.eq(user_id))
        .filter(fvl::event_seq.gt(after))
        .order(fvl::event_seq.asc())
        .select(ViewerLogRow::as_select())
        .load(conn)
}

/// The people whose stored keys hold `key`.
pub fn viewers_with_key(conn: &mut DbConnection, key: &str) -> QueryResult<Vec<String>> {
    fv::table
        .filter(fv::keys.like(format!("% {key} %")))
        .select(fv::user_id)
        .load(conn)
}

/// Deletes the changes that happened before `before`; returns the highest
/// event seq deleted.
pub fn prune(conn: &mut DbConnection, before: NaiveDateTime) -> QueryResult<Option<i64>> {
    let a: Option<i64> = fl::table
        .filter(fl::changed_at.lt(before))
        .select(diesel::dsl::max(fl::event_seq))
        .first(conn)?;
    let b: Option<i64> = fvl::table
        .filter(fvl::changed_at.lt(before))
        .select(diesel::dsl::max(fvl::event_seq))
        .first(conn)?;
    let top = a.max(b);
    if let Some(top) = top {
        diesel::delete(fl::table.filter(fl::event_seq.le(top))).execute(conn)?;
        diesel::delete(fvl::table.filter(fvl::event_seq.le(top))).execute(conn)?;
    }
    Ok(top)
}

// ----- the facts audiences and keys are computed from -----------------------------

/// Each person's `(institution_id, role)` memberships.
pub type RolesByPerson = HashMap<String, Vec<(String, String)>>;

/// A notification as the feed needs it: `(id, user, event type, subject id)`.
pub type NotificationCause = (String, String, Option<String>, Option<String>);

/// `(institution_id, role)` of each membership of each of `users`, and
/// which of them are platform administrators.
pub fn people(
    conn: &mut DbConnection,
    users: &[String],
) -> QueryResult<(RolesByPerson, Vec<String>)> {
    let mut roles: HashMap<String, Vec<(String, String)>> = HashMap::new();
    let mut admins = Vec::new();
    for chunk in users.chunks(super::BIND_MAX / 2) {
        for (u, i, r) in ms::table
            .filter(ms::user_id.eq_any(chunk))
            .select((ms::user_id, ms::institution_id, ms::role))
            .load::<(String, String, String)>(conn)?
        {
            roles.entry(u).or_default().push((i, r));
        }
        admins.extend(
            us::table
                .filter(us::id.eq_any(chunk))
                .filter(us::role.eq("admin"))
                .select(us::id)
                .load::<String>(conn)?,
        );
    }
    Ok((roles, admins))
}

/// The active partnerships in which each of `institutions` is an active
/// member.
pub fn active_partnerships_of(
    conn: &mut DbConnection,
    institutions: &[String],
) -> QueryResult<HashMap<String, Vec<String>>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for chunk in institutions.chunks(super::BIND_MAX / 2) {
        for (i, p) in pm::table
            .inner_join(ps::table)
            .filter(pm::institution_id.eq_any(chunk))
            .filter(pm::status.eq("active"))
            .filter(ps::status.eq("active"))
            .select((pm::institution_id, pm::partnership_id))
            .load::<(String, String)>(conn)?
        {
            out.entry(i).or_default().push(p);
        }
    }
    Ok(out)
}

/// For each of `resources`, the active partnerships it is shared into in
/// which its own institution is an active member.
pub fn showing_partnerships(
    conn: &mut DbConnection,
    resources: &[String],
) -> QueryResult<HashMap<String, Vec<String>>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for chunk in resources.chunks(super::BIND_MAX / 2) {
        let shared: Vec<(String, String, String)> = pr::table
            .inner_join(ps::table)
            .inner_join(rs::table)
            .filter(pr::resource_id.eq_any(chunk))
            .filter(ps::status.eq("active"))
            .select((pr::resource_id, pr::partnership_id, rs::institution_id))
            .load(conn)?;
        if shared.is_empty() {
            continue;
        }
        let mut partnerships: Vec<String> = shared.iter().map(|(_, p, _)| p.clone()).collect();
        partnerships.sort();
        partnerships.dedup();
        let active: Vec<(String, String)> = pm::table
            .filter(pm::partnership_id.eq_any(&partnerships))
            .filter(pm::status.eq("active"))
            .select((pm::partnership_id, pm::institution_id))
            .load(conn)?;
        for (r, p, i) in shared {
            if active.iter().any(|(ap, ai)| *ap == p && *ai == i) {
                out.entry(r).or_default().push(p);
            }
        }
    }
    Ok(out)
}

/// The resources shared into a partnership.
pub fn shared_into(conn: &mut DbConnection, partnership_id: &str) -> QueryResult<Vec<String>> {
    pr::table
        .filter(pr::partnership_id.eq(partnership_id))
        .select(pr::resource_id)
        .load(conn)
}

/// The people who belong to an institution that is (or was) a member of
/// the partnership.
pub fn people_of_partnership(
    conn: &mut DbConnection,
    partnership_id: &str,
) -> QueryResult<Vec<String>> {
    let institutions: Vec<String> = pm::table
        .filter(pm::partnership_id.eq(partnership_id))
        .select(pm::institution_id)
        .load(conn)?;
    ms::table
        .filter(ms::institution_id.eq_any(institutions))
        .select(ms::user_id)
        .distinct()
        .load(conn)
}

/// `(id, verified)` of the institutions among `ids` that exist.
pub fn institutions(conn: &mut DbConnection, ids: &[String]) -> QueryResult<HashMap<String, bool>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(super::BIND_MAX / 2) {
        out.extend(
            it::table
                .filter(it::id.eq_any(chunk))
                .select((it::id, it::verified))
                .load::<(String, bool)>(conn)?,
        );
    }
    Ok(out)
}

/// `id → (requester, the dataset's institution)` of the access requests among `ids`.
pub fn access_requests(
    conn: &mut DbConnection,
    ids: &[String],
) -> QueryResult<HashMap<String, (String, Option<String>)>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(super::BIND_MAX / 2) {
        let rows: Vec<(String, String, String)> = ar::table
            .filter(ar::id.eq_any(chunk))
            .select((ar::id, ar::requester_id, ar::dataset_id))
            .load(conn)?;
        let datasets: Vec<String> = rows.iter().map(|(_, _, d)| d.clone()).collect();
        let owners: HashMap<String, String> = rs::table
            .filter(rs::id.eq_any(&datasets))
            .select((rs::id, rs::institution_id))
            .load::<(String, String)>(conn)?
            .into_iter()
            .collect();
        for (id, requester, dataset) in rows {
            let owner = owners.get(&dataset).cloned();
            out.insert(id, (requester, owner));
        }
    }
    Ok(out)
}

/// `(id, user, event_type, subject_id)` of the notifications created in
/// `[from, to]` that name an event.
pub fn notifications_between(
    conn: &mut DbConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<NotificationCause>> {
    nt::table
        .filter(nt::created_at.ge(from))
        .filter(nt::created_at.le(to))
        .select((nt::id, nt::user_id, nt::event_type, nt::subject_id))
        .load(conn)
}

/// Up to `limit` ids of `table`'s rows after `after` (a bootstrap walks them all).
pub fn resource_ids_after(
    conn: &mut DbConnection,
    after: &str,
    limit: i64,
) -> QueryResult<Vec<String>> {
    rs::table
        .filter(rs::id.gt(after))
        .order(rs::id.asc())
        .limit(limit)
        .select(rs::id)
        .load(conn)
}

pub fn all_institution_ids(conn: &mut DbConnection) -> QueryResult<Vec<String>> {
    it::table.select(it::id).load(conn)
}

/// Everyone with a membership or the admin role.
pub fn people_with_keys(conn: &mut DbConnection) -> QueryResult<Vec<String>> {
    let mut out: Vec<String> = ms::table.select(ms::user_id).distinct().load(conn)?;
    out.extend(
        us::table
            .filter(us::role.eq("admin"))
            .select(us::id)
            .load::<String>(conn)?,
    );
    out.sort();
    out.dedup();
    Ok(out)
}

/// The institution of each resource among `ids` that exists.
pub fn institution_of_resources(
    conn: &mut DbConnection,
    ids: &[String],
) -> QueryResult<HashMap<String, String>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(super::BIND_MAX / 2) {
        out.extend(
            rs::table
                .filter(rs::id.eq_any(chunk))
                .select((rs::id, rs::institution_id))
                .load::<(String, String)>(conn)?,
        );
    }
    Ok(out)
}
