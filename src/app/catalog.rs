//! The open-standards exports' queries (DCAT catalogue, dataset, ODRL
//! policy): always as an anonymous reader sees the catalogue, whoever
//! asks — only public, published datasets of verified institutions, never
//! a file's URL. Visibility is `domain::policy` (single reads) and the
//! list condition of `db::resources` (pages), nothing of its own.

use std::sync::Mutex;

use chrono::NaiveDateTime;

use crate::app::resources::{details_of, facts, load, unreadable};
use crate::db::DbConnection;
use crate::db::catalog as store;
use crate::db::resources::{FileRow, Loaded};
use crate::domain::policy::{self, Action, Actor};
use crate::domain::resource::{DatasetFields, Details, ResourceKind};
use crate::error::ApiError;

/// Datasets per catalogue page.
pub const PAGE_SIZE: i64 = 100;
/// Pages beyond this are refused (a harvester never needs them at
/// `PAGE_SIZE`, an offset scan of them would cost).
pub const MAX_PAGE: i64 = 100_000;

/// A dataset with what its DCAT description needs.
#[derive(Debug, Clone)]
pub struct Entry {
    pub loaded: Loaded,
    pub fields: DatasetFields,
    pub files: Vec<FileRow>,
}

impl Entry {
    /// Where its data comes from: its own origin country, else its
    /// institution's (as the transfer checks take it).
    pub fn origin_country(&self) -> &str {
        self.fields
            .origin_country
            .as_deref()
            .unwrap_or(&self.loaded.institution_country)
    }
}

/// One page of the catalogue.
#[derive(Debug, Clone)]
pub struct Page {
    pub entries: Vec<Entry>,
    /// Datasets in the whole catalogue (with the same `modified_since`).
    pub total: i64,
}

fn dataset_fields(l: &Loaded) -> Result<DatasetFields, ApiError> {
    match details_of(&l.row)? {
        Details::Dataset(f) => Ok(f),
        other => Err(ApiError::internal(anyhow::anyhow!(
            "resource {} is a dataset with {:?} details",
            l.row.id,
            other.kind()
        ))),
    }
}

/// The catalogue's size for each `modified_since` asked, kept while the
/// data's generation (`db::generation`: it moves after every write of this
/// process and when another process's writes are seen) stays the same. A
/// harvester walking 300 pages would otherwise count the whole public
/// catalogue 300 times for the same `hydra:last`.
#[derive(Debug, Default)]
pub struct CountMemo(Mutex<(u64, Vec<Counted>)>);

/// A `modified_since` and the catalogue's size with it.
type Counted = (Option<NaiveDateTime>, i64);

impl CountMemo {
    /// Counts kept per generation at most (distinct `modified_since`).
    const KEPT: usize = 32;

    fn get(&self, generation: u64, since: Option<NaiveDateTime>) -> Option<i64> {
        let kept = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.0 != generation {
            return None;
        }
        kept.1.iter().find(|(s, _)| *s == since).map(|(_, n)| *n)
    }

    fn put(&self, generation: u64, since: Option<NaiveDateTime>, n: i64) {
        let mut kept = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.0 != generation {
            *kept = (generation, Vec::new());
        }
        if kept.1.len() < Self::KEPT && !kept.1.iter().any(|(s, _)| *s == since) {
            kept.1.push((since, n));
        }
    }
}

/// Page `page` (from 1) of the public published datasets, changed at or
/// after `modified_since` if given, with their files.
pub fn page(
    conn: &mut DbConnection,
    memo: &CountMemo,
    modified_since: Option<NaiveDateTime>,
    page: i64,
    after: Option<&str>,
) -> Result<Page, ApiError> {
    // The generation is read before counting: a write committed meanwhile
    // moves it, and the count is then kept under the old one, never asked for.
    let generation = crate::db::generation();
    let total = match memo.get(generation, modified_since) {
        Some(n) => n,
        None => {
            let n = store::count(conn, modified_since)?;
            memo.put(generation, modified_since, n);
            n
        }
    };
    let offset = (page.clamp(1, MAX_PAGE) - 1) * PAGE_SIZE;
    // Following `hydra:next`: from where the page before ended (an id that
    // is none any more falls back to the page's number).
    let from = match after {
        Some(id) => match store::key_of(conn, id)? {
            Some((at, id)) => store::Start::After(at, id),
            None => store::Start::Offset(offset),
        },
        None => store::Start::Offset(offset),
    };
    let rows = if offset < total {
        store::page(conn, modified_since, from, PAGE_SIZE).map_err(|e| unreadable(conn, e))?
    } else {
        Vec::new()
    };
    let ids: Vec<String> = rows.iter().map(|l| l.row.id.clone()).collect();
    let mut files = store::files_of(conn, &ids)?;
    let mut entries = Vec::with_capacity(rows.len());
    for loaded in rows {
        let fields = dataset_fields(&loaded)?;
        let (mine, rest): (Vec<FileRow>, Vec<FileRow>) = files
            .into_iter()
            .partition(|f| f.dataset_id == loaded.row.id);
        files = rest;
        entries.push(Entry {
            loaded,
            fields,
            files: mine,
        });
    }
    Ok(Page { entries, total })
}

/// One dataset as an anonymous reader may see it (else 404), with its files.
pub fn dataset(conn: &mut DbConnection, id: &str) -> Result<Entry, ApiError> {
    let (loaded, viewer) = load(conn, ResourceKind::Dataset, id, None)?;
    policy::enforce(policy::may(
        &Actor::ANONYMOUS,
        Action::ViewResource(facts(&loaded, &viewer)),
    ))?;
    let fields = dataset_fields(&loaded)?;
    let files = store::files_of(conn, std::slice::from_ref(&loaded.row.id))?;
    Ok(Entry {
        loaded,
        fields,
        files,
    })
}
