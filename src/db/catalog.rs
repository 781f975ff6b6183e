//! The public catalogue's pages for the open-standards exports (DCAT):
//! published datasets an anonymous reader may see — the list condition of
//! `db::resources` with an anonymous viewer, not a rule of its own — in
//! the order they were listed (new ones come last, so numbered pages stay
//! put while a harvester walks them).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::resources::{FileRow, Filter, Loaded, Viewer, by_ids, condition_alone};
use super::schema::{dataset_files as df, resources as rs};
use crate::db::resources::Facet;
use crate::domain::resource::{ResourceKind, Status};

fn filter(modified_since: Option<NaiveDateTime>) -> Filter {
    Filter {
        status: Status::Published,
        facets: vec![(
            Facet::Kind,
            vec![ResourceKind::Dataset.as_str().to_string()],
        )],
        fixed: Vec::new(),
        text: None,
        updated_since: modified_since,
        max_duration: None,
    }
}

/// How many public published datasets there are (changed at or after
/// `modified_since`).
pub fn count(conn: &mut DbConnection, modified_since: Option<NaiveDateTime>) -> QueryResult<i64> {
    let backend = conn.backend();
    rs::table
        .filter(condition_alone(
            backend,
            &Viewer::default(),
            &filter(modified_since),
            None,
        ))
        .count()
        .get_result(conn)
}

/// Where resource `id` stands in the catalogue's order (its `listed_at`),
/// whatever it is now: the start of a keyset page.
pub fn key_of(conn: &mut DbConnection, id: &str) -> QueryResult<Option<(NaiveDateTime, String)>> {
    rs::table
        .filter(rs::id.eq(id))
        .select((rs::listed_at, rs::id))
        .first(conn)
        .optional()
}

/// Where a page starts: after the first `offset` datasets, or right after
/// a key (the last dataset of the page before).
#[derive(Debug, Clone)]
pub enum Start {
    Offset(i64),
    After(NaiveDateTime, String),
}

/// `limit` of them from `from`, oldest listed first.
pub fn page(
    conn: &mut DbConnection,
    modified_since: Option<NaiveDateTime>,
    from: Start,
    limit: i64,
) -> QueryResult<Vec<Loaded>> {
    let backend = conn.backend();
    // The offset is skipped on `resources` alone (an index walk), then the
    // page's rows are read with their institutions.
    let mut q = rs::table
        .filter(condition_alone(
            backend,
            &Viewer::default(),
            &filter(modified_since),
            None,
        ))
        .order((rs::listed_at.asc(), rs::id.asc()))
        .limit(limit)
        .select(rs::id)
        .into_boxed();
    match from {
        Start::Offset(offset) => q = q.offset(offset),
        Start::After(at, id) => {
            // The bound makes the keyset an index range (see `keyset` in db/mod.rs).
            q = q.filter(rs::listed_at.ge(at));
            q = q.filter(
                rs::listed_at
                    .gt(at)
                    .or(rs::listed_at.eq(at).and(rs::id.gt(id))),
            );
        }
    }
    let ids: Vec<String> = q.load(conn)?;
    let mut rows = by_ids(conn, &ids)?;
    rows.sort_by_key(|l| ids.iter().position(|id| *id == l.row.id));
    Ok(rows)
}

/// The files of these datasets, each dataset's in the order they were added.
pub fn files_of(conn: &mut DbConnection, dataset_ids: &[String]) -> QueryResult<Vec<FileRow>> {
    if dataset_ids.is_empty() {
        return Ok(Vec::new());
    }
    df::table
        .filter(df::dataset_id.eq_any(dataset_ids))
        .select(FileRow::as_select())
        .order((df::dataset_id.asc(), df::created_at.asc(), df::id.asc()))
        .load(conn)
}
