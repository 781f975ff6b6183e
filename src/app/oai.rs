//! OAI-PMH records, kept from the domain events (`docs/standards/oai.md`).
//!
//! `oai_records` holds every resource that an anonymous reader has been able
//! to see since the projection began; `catch_up` reads the events appended
//! since it last ran (in `seq` order, so none is missed) and, for every
//! resource an event touched (an event about the resource itself, or about
//! its institution: renamed, verified, un-verified by a change, deleted),
//! asks the one visibility rule (`policy::resource_visible` for the
//! anonymous actor) whether it is public now:
//! - public: the record is written (not deleted) with the datestamp now;
//! - not public (any more), with a record that was not deleted: the record
//!   becomes deleted, datestamp now; records are never removed
//!   (`deletedRecord=persistent`);
//! - never public: nothing.
//!
//! The datestamp is the time the projection applied the change, taken under
//! its lock, not the time of the event: an event committed late (after a
//! harvest that started later than the event occurred) still gets a
//! datestamp later than that harvest's `responseDate`, so an incremental
//! harvest `from` the last `responseDate` never misses a change.
//!
//! The first run (no `oai_state` row) and a run that finds the events it
//! has not read pruned away reconcile every resource with the rule instead.
//! `catch_up` runs before every OAI-PMH answer and in the hourly
//! housekeeping.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;
use diesel::QueryResult;

use crate::app::resources::visible;
use crate::db::resources::{Loaded, Viewer};
use crate::db::{self, DbConnection, oai as store};
use crate::domain::policy::Actor;

/// Events read per batch.
const BATCH: i64 = 2_000;
/// Resources reconciled per batch.
const RECONCILE_BATCH: usize = 2_000;

/// Whether an anonymous reader may see the resource.
pub fn public(l: &Loaded) -> bool {
    visible(&Actor::ANONYMOUS, l, &Viewer::default())
}

/// Brings `oai_records` up to the last committed event. Cheap when nothing
/// happened (two indexed reads).
pub fn catch_up(conn: &mut DbConnection) -> QueryResult<()> {
    let last = store::last_seq(conn)?;
    if let Some(last) = last {
        let (max, _) = store::log_bounds(conn, last)?;
        if max.is_none_or(|m| m <= last) {
            return Ok(());
        }
    }
    db::write_transaction(conn, |conn| {
        store::lock(conn)?;
        let now = db::now();
        let last = store::last_seq(conn)?;
        let (max, kept) = store::log_bounds(conn, last.unwrap_or(0))?;
        let mut seq = match last {
            None => {
                reconcile(conn, now, true)?;
                store::set_last_seq(conn, max.unwrap_or(0))?;
                return Ok(());
            }
            Some(l) => l,
        };
        if max.is_none_or(|m| m <= seq) {
            return Ok(());
        }
        if seq > 0 && !kept {
            // Events it had not read were pruned: start again from the state.
            reconcile(conn, now, false)?;
            store::set_last_seq(conn, max.unwrap_or(seq))?;
            return Ok(());
        }
        loop {
            let events = db::events::after(conn, seq, BATCH)?;
            let Some(last_event) = events.last() else {
                break;
            };
            seq = last_event.seq;
            let mut touched: Vec<String> = Vec::new();
            for e in &events {
                match (e.subject_kind.as_str(), e.event_type.as_str()) {
                    ("resource", ty) if crate::domain::version::DRAFT_EVENTS.contains(&ty) => {}
                    ("resource", _) => touched.push(e.subject_id.clone()),
                    (
                        "institution",
                        "institution.updated" | "institution.verified" | "institution.deleted",
                    ) => {
                        touched.extend(db::resources::ids_of_institution(conn, &e.subject_id)?);
                        touched.extend(store::ids_of_institution(conn, &e.subject_id)?);
                    }
                    _ => {}
                }
            }
            touched.sort();
            touched.dedup();
            apply(conn, &touched, now)?;
            store::set_last_seq(conn, seq)?;
        }
        Ok(())
    })
}

/// Asks the rule about each of `ids` and writes what changed.
fn apply(conn: &mut DbConnection, ids: &[String], now: NaiveDateTime) -> QueryResult<()> {
    for chunk in ids.chunks(RECONCILE_BATCH) {
        let loaded: HashMap<String, Loaded> = db::resources::by_ids(conn, chunk)?
            .into_iter()
            .map(|l| (l.row.id.clone(), l))
            .collect();
        let stored: HashMap<String, store::OaiRow> = store::get(conn, chunk)?
            .into_iter()
            .map(|r| (r.resource_id.clone(), r))
            .collect();
        let mut new = Vec::new();
        for id in chunk {
            let stored = stored.get(id);
            match decide(loaded.get(id), stored, now, now) {
                Some(row) if stored.is_none() => new.push(row),
                Some(row) => store::put(conn, &row)?,
                None => {}
            }
        }
        store::insert_all(conn, &new)?;
    }
    Ok(())
}

/// The record to write for a resource (or `None`: leave it as it is).
/// `stamp` is the datestamp of a change; `changed_at` the resource's own
/// last change (used to notice edits when reconciling).
fn decide(
    l: Option<&Loaded>,
    stored: Option<&store::OaiRow>,
    stamp: NaiveDateTime,
    changed_at: NaiveDateTime,
) -> Option<store::OaiRow> {
    match (l.filter(|l| public(l)), stored) {
        (Some(l), stored) => {
            let row = store::OaiRow {
                resource_id: l.row.id.clone(),
                kind: l.row.kind.as_str().to_string(),
                institution_id: l.row.institution_id.clone(),
                country: l.institution_country.clone(),
                datestamp: stamp,
                deleted: false,
            };
            match stored {
                Some(s)
                    if !s.deleted
                        && s.datestamp >= changed_at
                        && s.kind == row.kind
                        && s.institution_id == row.institution_id
                        && s.country == row.country
                        && stamp != changed_at =>
                {
                    // Reconciling: nothing changed since it was stamped.
                    None
                }
                _ => Some(row),
            }
        }
        (None, Some(s)) if !s.deleted => Some(store::OaiRow {
            datestamp: stamp,
            deleted: true,
            ..s.clone()
        }),
        (None, _) => None,
    }
}

/// Compares every resource and every record with the rule.
/// `bootstrap`: the first run, datestamps are the resources' own
/// `updated_at`; otherwise `now` for whatever changed.
fn reconcile(conn: &mut DbConnection, now: NaiveDateTime, bootstrap: bool) -> QueryResult<()> {
    let mut stored: BTreeMap<String, store::OaiRow> = store::all(conn)?
        .into_iter()
        .map(|r| (r.resource_id.clone(), r))
        .collect();
    let mut after = String::new();
    loop {
        let ids = store::resource_ids_after(conn, &after, RECONCILE_BATCH as i64)?;
        let Some(last) = ids.last() else { break };
        after = last.clone();
        let mut new = Vec::new();
        for l in db::resources::by_ids(conn, &ids)? {
            let s = stored.remove(&l.row.id);
            let stamp = if bootstrap { l.row.updated_at } else { now };
            match decide(Some(&l), s.as_ref(), stamp, l.row.updated_at) {
                Some(row) if s.is_none() => new.push(row),
                Some(row) => store::put(conn, &row)?,
                None => {}
            }
        }
        store::insert_all(conn, &new)?;
    }
    // Records whose resource is gone.
    for s in stored.values() {
        if let Some(row) = decide(None, Some(s), now, now) {
            store::put(conn, &row)?;
        }
    }
    Ok(())
}

/// One page of a list: the records, and the resources behind the ones that
/// are public (a record whose resource is not public right now is shown as
/// deleted, whatever the projection says: nothing leaks between a write
/// and the next catch-up).
#[derive(Debug)]
pub struct Listed {
    pub row: store::OaiRow,
    pub resource: Option<Loaded>,
    /// The setSpecs of the record's institution (its slug), when it exists.
    pub institution_slug: Option<String>,
}

/// Loads the resources behind `rows`.
pub fn with_resources(
    conn: &mut DbConnection,
    rows: Vec<store::OaiRow>,
) -> QueryResult<Vec<Listed>> {
    let ids: Vec<String> = rows
        .iter()
        .filter(|r| !r.deleted)
        .map(|r| r.resource_id.clone())
        .collect();
    let mut loaded: HashMap<String, Loaded> = db::resources::by_ids(conn, &ids)?
        .into_iter()
        .filter(public)
        .map(|l| (l.row.id.clone(), l))
        .collect();
    let institutions: Vec<String> = rows.iter().map(|r| r.institution_id.clone()).collect();
    let slugs = store::slugs(conn, &institutions)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let resource = if row.deleted {
                None
            } else {
                loaded.remove(&row.resource_id)
            };
            let institution_slug = slugs.get(&row.institution_id).cloned();
            Listed {
                row,
                resource,
                institution_slug,
            }
        })
        .collect())
}
