//! The OAI-PMH records (`oai_records`) and how far their projection has
//! read the event log (`oai_state`). `app::oai` decides what goes in; this
//! only reads and writes rows.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::DbConnection;
use super::schema::institutions as it;
use super::schema::{oai_records as or, oai_state as os};

/// The advisory lock that serialises the projection on PostgreSQL
/// ("kjoaip"); SQLite write transactions are serial already.
pub const PROJECT_LOCK: i64 = 0x6b6a_6f61_6970;

/// One record as a harvester sees its header.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = or, treat_none_as_null = true)]
pub struct OaiRow {
    pub resource_id: String,
    /// The resource kind's word (`course`, `dataset`, `model_card`).
    pub kind: String,
    pub institution_id: String,
    /// The institution's country (ISO 3166-1 alpha-2) when last seen.
    pub country: String,
    pub datestamp: NaiveDateTime,
    pub deleted: bool,
}

/// Which records a list wants (each `None`: any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// At or after.
    pub from: Option<NaiveDateTime>,
    /// Strictly before.
    pub before: Option<NaiveDateTime>,
    pub kind: Option<String>,
    pub institution_id: Option<String>,
    pub country: Option<String>,
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

/// The last event seq the projection has applied; `None` before its first run.
pub fn last_seq(conn: &mut DbConnection) -> QueryResult<Option<i64>> {
    os::table
        .filter(os::id.eq(1))
        .select(os::last_seq)
        .first(conn)
        .optional()
}

pub fn set_last_seq(conn: &mut DbConnection, seq: i64) -> QueryResult<()> {
    let n = diesel::update(os::table.filter(os::id.eq(1)))
        .set(os::last_seq.eq(seq))
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(os::table)
            .values((os::id.eq(1), os::last_seq.eq(seq)))
            .execute(conn)?;
    }
    Ok(())
}

/// The highest event seq, and whether an event at or before `seq` is
/// still kept (`false` when `seq` is past what was pruned).
pub fn log_bounds(conn: &mut DbConnection, seq: i64) -> QueryResult<(Option<i64>, bool)> {
    use super::schema::events as ev;
    let max: Option<i64> = ev::table.select(diesel::dsl::max(ev::seq)).first(conn)?;
    let kept =
        diesel::select(diesel::dsl::exists(ev::table.filter(ev::seq.le(seq)))).get_result(conn)?;
    Ok((max, kept))
}

/// The stored records among `ids`.
pub fn get(conn: &mut DbConnection, ids: &[String]) -> QueryResult<Vec<OaiRow>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(super::BIND_MAX / 2) {
        out.extend(
            or::table
                .filter(or::resource_id.eq_any(chunk))
                .select(OaiRow::as_select())
                .load(conn)?,
        );
    }
    Ok(out)
}

/// Every stored record (a full reconciliation).
pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<OaiRow>> {
    or::table.select(OaiRow::as_select()).load(conn)
}

/// Writes `row` (new or replacing the stored one).
pub fn put(conn: &mut DbConnection, row: &OaiRow) -> QueryResult<()> {
    let n = diesel::update(or::table.filter(or::resource_id.eq(&row.resource_id)))
        .set(row)
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(or::table).values(row).execute(conn)?;
    }
    Ok(())
}

/// Inserts records that do not exist yet, many per statement (the first
/// projection of a large catalogue writes one per public resource).
pub fn insert_all(conn: &mut DbConnection, rows: &[OaiRow]) -> QueryResult<()> {
    insert_batched!(conn, or::table, rows, 6)
}

/// The ids of the records of an institution.
pub fn ids_of_institution(
    conn: &mut DbConnection,
    institution_id: &str,
) -> QueryResult<Vec<String>> {
    or::table
        .filter(or::institution_id.eq(institution_id))
        .select(or::resource_id)
        .load(conn)
}

macro_rules! selection {
    ($s:expr) => {{
        let s: &Selection = $s;
        let mut q = or::table.into_boxed();
        if let Some(t) = s.from {
            q = q.filter(or::datestamp.ge(t));
        }
        if let Some(t) = s.before {
            q = q.filter(or::datestamp.lt(t));
        }
        if let Some(k) = &s.kind {
            q = q.filter(or::kind.eq(k.clone()));
        }
        if let Some(i) = &s.institution_id {
            q = q.filter(or::institution_id.eq(i.clone()));
        }
        if let Some(c) = &s.country {
            q = q.filter(or::country.eq(c.clone()));
        }
        q
    }};
}

/// Up to `limit` records of `s` after `(datestamp, id)`, oldest first.
pub fn page(
    conn: &mut DbConnection,
    s: &Selection,
    after: Option<&(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<OaiRow>> {
    let mut q = selection!(s);
    if let Some((t, id)) = after {
        // The bound makes the keyset an index range (see `keyset` in db/mod.rs).
        q = q.filter(or::datestamp.ge(*t));
        q = q.filter(
            or::datestamp
                .gt(*t)
                .or(or::datestamp.eq(*t).and(or::resource_id.gt(id.clone()))),
        );
    }
    q.order((or::datestamp.asc(), or::resource_id.asc()))
        .limit(limit)
        .select(OaiRow::as_select())
        .load(conn)
}

/// How many records `s` selects.
pub fn count(conn: &mut DbConnection, s: &Selection) -> QueryResult<i64> {
    selection!(s).count().get_result(conn)
}

/// The oldest datestamp.
pub fn earliest(conn: &mut DbConnection) -> QueryResult<Option<NaiveDateTime>> {
    or::table
        .select(diesel::dsl::min(or::datestamp))
        .first(conn)
}

/// The kinds that hold records (in no promised order).
pub fn kinds(conn: &mut DbConnection) -> QueryResult<Vec<String>> {
    or::table.select(or::kind).distinct().load(conn)
}

/// The countries that hold records (in no promised order).
pub fn countries(conn: &mut DbConnection) -> QueryResult<Vec<String>> {
    or::table.select(or::country).distinct().load(conn)
}

/// Up to `limit` institutions that hold records, with a slug after
/// `after`, by slug (in the database's order, which the keyset follows):
/// (slug, name).
pub fn institution_sets(
    conn: &mut DbConnection,
    after: &str,
    limit: i64,
) -> QueryResult<Vec<(String, String)>> {
    it::table
        .filter(it::id.eq_any(or::table.select(or::institution_id)))
        .filter(it::slug.gt(after))
        .order(it::slug.asc())
        .limit(limit)
        .select((it::slug, it::name))
        .load(conn)
}

/// How many institutions hold records.
pub fn institution_set_count(conn: &mut DbConnection) -> QueryResult<i64> {
    it::table
        .filter(it::id.eq_any(or::table.select(or::institution_id)))
        .count()
        .get_result(conn)
}

/// The slugs of institutions by id.
pub fn slugs(
    conn: &mut DbConnection,
    ids: &[String],
) -> QueryResult<std::collections::HashMap<String, String>> {
    let mut out = std::collections::HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(super::BIND_MAX / 2) {
        out.extend(
            it::table
                .filter(it::id.eq_any(chunk))
                .select((it::id, it::slug))
                .load::<(String, String)>(conn)?,
        );
    }
    Ok(out)
}

/// The id of the institution with `slug`.
pub fn institution_by_slug(conn: &mut DbConnection, slug: &str) -> QueryResult<Option<String>> {
    it::table
        .filter(it::slug.eq(slug))
        .select(it::id)
        .first(conn)
        .optional()
}

/// Up to `limit` resource ids after `after`, in order (a reconciliation
/// walks every resource).
pub fn resource_ids_after(
    conn: &mut DbConnection,
    after: &str,
    limit: i64,
) -> QueryResult<Vec<String>> {
    use super::schema::resources as rs;
    rs::table
        .filter(rs::id.gt(after))
        .order(rs::id.asc())
        .limit(limit)
        .select(rs::id)
        .load(conn)
}
