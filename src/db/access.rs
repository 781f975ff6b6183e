//! Dataset access requests (and the grants they become), issued file links
//! and the figures of the transparency report.
//!
//! Status changes are conditional updates (`WHERE status = <old>`): of two
//! racing decisions, or a decision racing the periodic job, exactly one
//! lands and the other sees that nothing changed.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::{
    access_requests as ar, institutions as it, memberships as ms, partnership_members as pm,
    partnerships as ps, resources as rs, users as us,
};
use crate::domain::access::{Decision, RequestStatus};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = ar)]
pub struct RequestRow {
    pub id: String,
    pub dataset_id: String,
    pub requester_id: String,
    pub institution_id: Option<String>,
    /// Its slug when the request was made.
    pub institution_slug: Option<String>,
    pub purpose: String,
    pub duration_days: i32,
    pub status: RequestStatus,
    pub decision: Option<Decision>,
    pub decision_note: Option<String>,
    pub revocation_note: Option<String>,
    pub decided_by: Option<String>,
    pub origin_country: Option<String>,
    pub requester_country: Option<String>,
    /// The country that counted when it was approved.
    pub decision_country: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub decided_at: Option<NaiveDateTime>,
    pub expires_at: Option<NaiveDateTime>,
    pub ended_at: Option<NaiveDateTime>,
    pub reminded_at: Option<NaiveDateTime>,
}

/// A request with the names it is shown with.
#[derive(Debug, Clone, Queryable)]
pub struct Listed {
    pub row: RequestRow,
    pub dataset_title: String,
    pub requester_name: String,
}

/// `false` when the user already has a pending request for the dataset.
pub fn insert(conn: &mut DbConnection, row: &RequestRow) -> QueryResult<bool> {
    let n = crate::with_conn!(conn, |c| diesel::insert_into(ar::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c)?);
    Ok(n == 1)
}

pub fn by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Listed>> {
    ar::table
        .inner_join(rs::table.on(rs::id.eq(ar::dataset_id)))
        .inner_join(us::table.on(us::id.eq(ar::requester_id)))
        .filter(ar::id.eq(id))
        .select((RequestRow::as_select(), rs::title, us::display_name))
        .first(conn)
        .optional()
}

/// The user's pending request for the dataset, if any.
pub fn pending(
    conn: &mut DbConnection,
    dataset_id: &str,
    user_id: &str,
) -> QueryResult<Option<RequestRow>> {
    ar::table
        .filter(ar::dataset_id.eq(dataset_id))
        .filter(ar::requester_id.eq(user_id))
        .filter(ar::status.eq(RequestStatus::Pending))
        .select(RequestRow::as_select())
        .first(conn)
        .optional()
}

/// The user's grants for the dataset that are in force at `now`: approved
/// and not yet at `expires_at` (whether or not the periodic job has run),
/// the one lasting longest first.
pub fn grants_in_force(
    conn: &mut DbConnection,
    dataset_id: &str,
    user_id: &str,
    now: NaiveDateTime,
) -> QueryResult<Vec<RequestRow>> {
    ar::table
        .filter(ar::dataset_id.eq(dataset_id))
        .filter(ar::requester_id.eq(user_id))
        .filter(ar::status.eq(RequestStatus::Approved))
        .filter(ar::expires_at.gt(now))
        .order((ar::expires_at.desc(), ar::id.desc()))
        .select(RequestRow::as_select())
        .load(conn)
}

/// Whose requests a list shows.
#[derive(Debug, Clone, Copy)]
pub enum Of<'a> {
    Dataset(&'a str),
    Requester(&'a str),
}

/// Newest first; `after` is the last `(created_at, id)` of the previous page.
pub fn list(
    conn: &mut DbConnection,
    of: Of<'_>,
    status: Option<RequestStatus>,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<Listed>> {
    let mut q = ar::table
        .inner_join(rs::table.on(rs::id.eq(ar::dataset_id)))
        .inner_join(us::table.on(us::id.eq(ar::requester_id)))
        .select((RequestRow::as_select(), rs::title, us::display_name))
        .order((ar::created_at.desc(), ar::id.desc()))
        .limit(limit)
        .into_boxed();
    q = match of {
        Of::Dataset(id) => q.filter(ar::dataset_id.eq(id.to_string())),
        Of::Requester(id) => q.filter(ar::requester_id.eq(id.to_string())),
    };
    if let Some(s) = status {
        q = q.filter(ar::status.eq(s));
    }
    if let Some((at, id)) = after {
        // The bound makes the keyset an index range (see `keyset` in db/mod.rs).
        q = q.filter(ar::created_at.le(at));
        q = q.filter(
            ar::created_at
                .lt(at)
                .or(ar::created_at.eq(at).and(ar::id.lt(id))),
        );
    }
    q.load(conn)
}

/// What a status change writes besides the status.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = ar)]
pub struct Change {
    pub decision: Option<Option<Decision>>,
    pub decision_note: Option<Option<String>>,
    pub revocation_note: Option<Option<String>>,
    pub decision_country: Option<Option<String>>,
    pub decided_by: Option<Option<String>>,
    pub decided_at: Option<Option<NaiveDateTime>>,
    pub expires_at: Option<Option<NaiveDateTime>>,
    pub ended_at: Option<Option<NaiveDateTime>>,
}

/// Moves request `id` from `from` to `to`; `false` when it was no longer
/// `from` (someone else got there first).
pub fn set_status(
    conn: &mut DbConnection,
    id: &str,
    from: RequestStatus,
    to: RequestStatus,
    now: NaiveDateTime,
    change: &Change,
) -> QueryResult<bool> {
    let n = diesel::update(ar::table.filter(ar::id.eq(id)).filter(ar::status.eq(from)))
        .set((ar::status.eq(to), ar::updated_at.eq(now), change))
        .execute(conn)?;
    Ok(n == 1)
}

/// A dataset's grants (approved) and pending requests: what ends when the
/// dataset is withdrawn or its retention period ends.
pub fn open_of_dataset(conn: &mut DbConnection, dataset_id: &str) -> QueryResult<Vec<RequestRow>> {
    ar::table
        .filter(ar::dataset_id.eq(dataset_id))
        .filter(ar::status.eq_any([RequestStatus::Approved, RequestStatus::Pending]))
        .order((ar::created_at.asc(), ar::id.asc()))
        .select(RequestRow::as_select())
        .load(conn)
}

/// Approved grants whose time is up at `now`.
pub fn grants_ended(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<Vec<RequestRow>> {
    ar::table
        .filter(ar::status.eq(RequestStatus::Approved))
        .filter(ar::expires_at.le(now))
        .select(RequestRow::as_select())
        .load(conn)
}

/// Requests pending since before `cutoff`.
pub fn pending_since(
    conn: &mut DbConnection,
    cutoff: NaiveDateTime,
) -> QueryResult<Vec<RequestRow>> {
    ar::table
        .filter(ar::status.eq(RequestStatus::Pending))
        .filter(ar::created_at.le(cutoff))
        .order((ar::created_at.asc(), ar::id.asc()))
        .select(RequestRow::as_select())
        .load(conn)
}

/// Claims request `id` for a reminder: `false` when it was reminded after
/// `cutoff` already (by another instance, or in this period).
pub fn claim_reminder(
    conn: &mut DbConnection,
    id: &str,
    cutoff: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(
        ar::table
            .filter(ar::id.eq(id))
            .filter(ar::status.eq(RequestStatus::Pending))
            .filter(ar::reminded_at.is_null().or(ar::reminded_at.le(cutoff))),
    )
    .set(ar::reminded_at.eq(now))
    .execute(conn)?;
    Ok(n == 1)
}

/// Whether two institutions are active members of one active partnership.
pub fn partners(conn: &mut DbConnection, a: &str, b: &str) -> QueryResult<bool> {
    let of_a = pm::table
        .inner_join(ps::table)
        .filter(pm::institution_id.eq(a))
        .filter(pm::status.eq("active"))
        .filter(ps::status.eq("active"))
        .select(pm::partnership_id)
        .load::<String>(conn)?;
    if of_a.is_empty() {
        return Ok(false);
    }
    let n: i64 = pm::table
        .filter(pm::partnership_id.eq_any(&of_a))
        .filter(pm::institution_id.eq(b))
        .filter(pm::status.eq("active"))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Institution `slug` if `user_id` belongs to it: (id, country, verified).
pub fn member_institution(
    conn: &mut DbConnection,
    user_id: &str,
    slug: &str,
) -> QueryResult<Option<(String, String, bool)>> {
    it::table
        .inner_join(ms::table)
        .filter(it::slug.eq(slug))
        .filter(ms::user_id.eq(user_id))
        .select((it::id, it::country, it::verified))
        .first(conn)
        .optional()
}

/// When `user_id` made their requests for the dataset since `since`, oldest
/// first (a brake on ask-withdraw-ask loops that would flood the deciders
/// with email).
pub fn recent(
    conn: &mut DbConnection,
    dataset_id: &str,
    user_id: &str,
    since: NaiveDateTime,
) -> QueryResult<Vec<NaiveDateTime>> {
    ar::table
        .filter(ar::dataset_id.eq(dataset_id))
        .filter(ar::requester_id.eq(user_id))
        .filter(ar::created_at.ge(since))
        .order(ar::created_at.asc())
        .select(ar::created_at)
        .load(conn)
}

pub fn institution_country(conn: &mut DbConnection, id: &str) -> QueryResult<Option<String>> {
    it::table
        .filter(it::id.eq(id))
        .select(it::country)
        .first(conn)
        .optional()
}

// ----- file links -----------------------------------------------------------

use super::schema::file_links as fl;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = fl)]
pub struct LinkRow {
    pub id: String,
    pub token_hash: String,
    pub dataset_id: String,
    pub file_id: Option<String>,
    pub user_id: Option<String>,
    pub access_request_id: Option<String>,
    pub origin_country: Option<String>,
    pub requester_country: Option<String>,
    pub issued_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub fn insert_link(conn: &mut DbConnection, row: &LinkRow) -> QueryResult<()> {
    diesel::insert_into(fl::table).values(row).execute(conn)?;
    Ok(())
}

pub fn link_by_token_hash(conn: &mut DbConnection, hash: &str) -> QueryResult<Option<LinkRow>> {
    fl::table
        .filter(fl::token_hash.eq(hash))
        .select(LinkRow::as_select())
        .first(conn)
        .optional()
}

pub fn request(conn: &mut DbConnection, id: &str) -> QueryResult<Option<RequestRow>> {
    ar::table
        .filter(ar::id.eq(id))
        .select(RequestRow::as_select())
        .first(conn)
        .optional()
}

/// Whether `user_id` belongs to institution `id` and it is verified.
pub fn member_of_verified(conn: &mut DbConnection, id: &str, user_id: &str) -> QueryResult<bool> {
    let n: i64 = it::table
        .inner_join(ms::table)
        .filter(it::id.eq(id))
        .filter(it::verified.eq(true))
        .filter(ms::user_id.eq(user_id))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

// ----- the transparency report ---------------------------------------------

/// (origin country, requester country, count).
pub type PairCount = (Option<String>, Option<String>, i64);

/// Requests made in `[from, to)`, by country pair.
pub fn requests_by_pair(
    conn: &mut DbConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<PairCount>> {
    ar::table
        .filter(ar::created_at.ge(from))
        .filter(ar::created_at.lt(to))
        .group_by((ar::origin_country, ar::requester_country))
        .select((
            ar::origin_country,
            ar::requester_country,
            diesel::dsl::count_star(),
        ))
        .load(conn)
}

/// One decision for the report.
#[derive(Debug, Clone, Queryable)]
pub struct Decided {
    pub origin_country: Option<String>,
    pub requester_country: Option<String>,
    /// The country that counted at approval, if it was approved.
    pub decision_country: Option<String>,
    pub decision: Option<Decision>,
    pub created_at: NaiveDateTime,
    pub decided_at: Option<NaiveDateTime>,
}

/// Decisions made in `[from, to)`, whatever happened to the grant after.
pub fn decisions(
    conn: &mut DbConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<Decided>> {
    ar::table
        .filter(ar::decided_at.ge(from))
        .filter(ar::decided_at.lt(to))
        .filter(ar::decision.is_not_null())
        .select((
            ar::origin_country,
            ar::requester_country,
            ar::decision_country,
            ar::decision,
            ar::created_at,
            ar::decided_at,
        ))
        .load(conn)
}

/// Links issued in `[from, to)`, by country pair.
pub fn links_by_pair(
    conn: &mut DbConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<PairCount>> {
    fl::table
        .filter(fl::issued_at.ge(from))
        .filter(fl::issued_at.lt(to))
        .group_by((fl::origin_country, fl::requester_country))
        .select((
            fl::origin_country,
            fl::requester_country,
            diesel::dsl::count_star(),
        ))
        .load(conn)
}

crate::db::words::text_column!(RequestStatus, Decision);

/// The user's requests for any of `dataset_ids`, newest first (what
/// `my_access` is read from: one query for a page of datasets).
pub fn requests_for(
    conn: &mut DbConnection,
    user_id: &str,
    dataset_ids: &[String],
) -> QueryResult<Vec<RequestRow>> {
    if dataset_ids.is_empty() {
        return Ok(Vec::new());
    }
    ar::table
        .filter(ar::requester_id.eq(user_id))
        .filter(ar::dataset_id.eq_any(dataset_ids))
        .order((ar::created_at.desc(), ar::id.desc()))
        .select(RequestRow::as_select())
        .load(conn)
}
