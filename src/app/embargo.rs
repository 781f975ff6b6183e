//! Embargoes and retention periods of datasets (issue #19).
//!
//! A dataset (or one of its files) may carry `embargo_until`: its metadata
//! is seen as its visibility says, but file links are refused (403
//! `embargoed`, with the date) until then, except to its own institution's
//! owners and editors. A dataset may carry `retention_until` (from its
//! data-sharing agreement): from then on file links are refused (410
//! `retention-ended`) and its grants end.
//!
//! The dates are kept as deadlines (`resource_deadlines`) whenever the
//! published dataset or a file is written; `sweep` (housekeeping, and tests
//! with their own clock) does each one once: it lifts an embargo (event
//! `resource.embargo_lifted`, an email to the owners and to whoever was
//! refused a file meanwhile), reminds the owners 30 and 7 days before a
//! retention period ends, and ends it (`resource.retention_ended`: grants
//! and pending requests end, their holders told).

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde_json::json;

use crate::app::events;
use crate::app::events::Notice;
use crate::app::notifications::Kind;
use crate::db::audit::Context;
use crate::db::resources::{self as store, FileRow, Loaded};
use crate::db::withdrawals::{self as deadlines, DeadlineRow};
use crate::db::{DbConnection, accounts, write_transaction};
use crate::domain::events::Event;
use crate::domain::resource::{DatasetFields, Details, Document, Status};
use crate::error::{ApiError, FieldCode, FieldError};
use crate::problem_types::ProblemType;
use crate::state::AppState;

pub const EMBARGO_LIFT: &str = "embargo_lift";
pub const RETENTION_END: &str = "retention_end";
/// Reminders before a retention period ends: (what, days before).
pub const REMINDERS: [(&str, i64); 2] =
    [("retention_reminder_30", 30), ("retention_reminder_7", 7)];

/// Deadlines done per sweep at most (the rest wait for the next).
const SWEEP_BATCH: i64 = 500;

fn fields(d: &Document) -> Option<&DatasetFields> {
    match &d.details {
        Details::Dataset(f) => Some(f),
        _ => None,
    }
}

/// A date set or changed by this write must lie ahead: an embargo or a
/// retention end in the past is a 400 (one that passed and is unchanged
/// stays).
pub fn check_dates(
    before: Option<&Document>,
    d: &Document,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let Some(is) = fields(d) else {
        return Ok(());
    };
    let was = before.and_then(fields);
    let mut errors = Vec::new();
    let changed =
        |old: Option<DateTime<Utc>>, new: Option<DateTime<Utc>>| new.is_some() && old != new;
    if changed(was.and_then(|w| w.embargo_until), is.embargo_until)
        && is.embargo_until.is_some_and(|t| t <= now)
    {
        errors.push(FieldError::new(
            "embargo_until",
            FieldCode::OutOfRange,
            "An embargo ends in the future.",
        ));
    }
    if changed(was.and_then(|w| w.retention_until), is.retention_until)
        && is.retention_until.is_some_and(|t| t <= now)
    {
        errors.push(FieldError::new(
            "retention_until",
            FieldCode::OutOfRange,
            "A retention period ends in the future.",
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(errors))
    }
}

/// Keeps the deadlines of dataset `id` equal to the dates of `d` (its
/// published content); reminders already past when set are left out.
pub fn schedule(
    conn: &mut DbConnection,
    id: &str,
    d: &Document,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let Some(f) = fields(d) else {
        return Ok(());
    };
    let mut due: Vec<(&str, NaiveDateTime)> = Vec::new();
    if let Some(t) = f.embargo_until {
        due.push((EMBARGO_LIFT, t.naive_utc()));
    }
    if let Some(t) = f.retention_until {
        let end = t.naive_utc();
        due.push((RETENTION_END, end));
        for (what, days) in REMINDERS {
            let at = end - Duration::days(days);
            if at > now {
                due.push((what, at));
            }
        }
    }
    deadlines::set(conn, id, "", &due)?;
    Ok(())
}

/// Keeps the deadline of one file's embargo.
pub fn schedule_file(conn: &mut DbConnection, file: &FileRow) -> Result<(), ApiError> {
    let due: Vec<(&str, NaiveDateTime)> = file
        .embargo_until
        .map(|t| (EMBARGO_LIFT, t))
        .into_iter()
        .collect();
    deadlines::set(conn, &file.dataset_id, &file.id, &due)?;
    Ok(())
}

/// Whether a file of dataset `ds` may be handed out at `now`: 410
/// `retention-ended` after its retention period, 403 `embargoed` under an
/// embargo of the dataset or the file (`own`: the caller edits for its
/// institution, and is not held by the embargo).
pub fn guard(
    ds: &DatasetFields,
    file: Option<&FileRow>,
    now: NaiveDateTime,
    own: bool,
) -> Result<(), ApiError> {
    if let Some(end) = ds.retention_until
        && end.naive_utc() <= now
    {
        return Err(ApiError::Gone {
            problem: ProblemType::RetentionEnded,
            detail: format!(
                "The retention period of this dataset ended on {}: its files are no longer handed \
                 out.",
                end.format("%Y-%m-%d")
            ),
        });
    }
    if own {
        return Ok(());
    }
    let dataset = ds
        .embargo_until
        .filter(|t| t.naive_utc() > now)
        .map(|t| (t, ds.embargo_reason.clone()));
    let of_file = file.and_then(|f| {
        f.embargo_until
            .filter(|t| *t > now)
            .map(|t| (t.and_utc(), f.embargo_reason.clone()))
    });
    // The later of the two holds.
    match (dataset, of_file) {
        (None, None) => Ok(()),
        (Some(a), Some(b)) => {
            let (until, reason) = if a.0 >= b.0 { a } else { b };
            Err(ApiError::Embargoed { until, reason })
        }
        (Some((until, reason)), None) | (None, Some((until, reason))) => {
            Err(ApiError::Embargoed { until, reason })
        }
    }
}

/// The dataset's own fields (a dataset's stored details).
pub fn dataset_fields(l: &Loaded) -> Result<DatasetFields, ApiError> {
    match crate::app::resources::details_of(&l.row)? {
        Details::Dataset(f) => Ok(f),
        _ => Ok(DatasetFields::default()),
    }
}

/// What one `sweep` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub embargoes_lifted: usize,
    pub reminders: usize,
    pub retentions_ended: usize,
}

/// Does every deadline due at `now` once (see the module's comment). One
/// that fails is logged and retried at the next sweep.
pub fn sweep(
    conn: &mut DbConnection,
    state: &AppState,
    now: NaiveDateTime,
) -> Result<Swept, ApiError> {
    let mut swept = Swept::default();
    for row in deadlines::due(conn, now, SWEEP_BATCH)? {
        match write_transaction(conn, |conn| one(conn, state, &row, now)) {
            Ok(Some(what)) if what == EMBARGO_LIFT => swept.embargoes_lifted += 1,
            Ok(Some(what)) if what == RETENTION_END => swept.retentions_ended += 1,
            Ok(Some(_)) => swept.reminders += 1,
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(resource = %row.resource_id, what = %row.what, error = %err,
                    "a dataset deadline could not be done");
            }
        }
    }
    Ok(swept)
}

/// Does deadline `row` (claimed first: another instance may have done it).
fn one(
    conn: &mut DbConnection,
    state: &AppState,
    row: &DeadlineRow,
    now: NaiveDateTime,
) -> Result<Option<String>, ApiError> {
    if !deadlines::claim(conn, row, now)? {
        return Ok(None);
    }
    let Some(l) = store::by_id(conn, &row.resource_id)? else {
        return Ok(None);
    };
    // Only what is in the catalogue: a draft's dates wait for nobody, a
    // withdrawn dataset has no files to hand out.
    if !matches!(l.row.status, Status::Published | Status::Archived) {
        return Ok(None);
    }
    let ctx = Context::new(None);
    let owners = crate::app::access::deciders(conn, &l.row.institution_id)?;
    let ds_id = l.row.id.clone();
    let date = row.due_at.format("%Y-%m-%d").to_string();
    let notice = |user: &accounts::UserRow, what: &str, file: Option<&str>, days: i64| {
        Notice::new(
            user,
            Kind::DatasetDates,
            json!({"display_name": user.display_name, "dataset": l.row.title,
                   "dataset_id": ds_id, "what": what, "file": file,
                   "date": date, "days": days}),
        )
    };
    let concerned = [l.row.institution_id.as_str()];
    match row.what.as_str() {
        EMBARGO_LIFT => {
            let file = if row.file_id.is_empty() {
                None
            } else {
                match store::file(conn, &l.row.id, &row.file_id)? {
                    Some(f) => Some(f),
                    None => return Ok(None),
                }
            };
            let mut notices: Vec<Notice> = owners
                .iter()
                .map(|u| {
                    notice(
                        u,
                        "embargo_lifted",
                        file.as_ref().map(|f| f.name.as_str()),
                        0,
                    )
                })
                .collect();
            for user in deadlines::take_watchers(conn, &l.row.id, &row.file_id)? {
                if owners.iter().any(|o| o.id == user) {
                    continue;
                }
                if let Some(u) = accounts::user_by_id(conn, &user)?.filter(|u| u.active) {
                    notices.push(notice(
                        &u,
                        "embargo_lifted",
                        file.as_ref().map(|f| f.name.as_str()),
                        0,
                    ));
                }
            }
            events::record_notifying(
                conn,
                state,
                &ctx,
                &l.row.id,
                &concerned,
                &Event::ResourceEmbargoLifted {
                    file_id: file.map(|f| f.id),
                    embargo_until: row.due_at.and_utc(),
                },
                notices,
            )?;
        }
        RETENTION_END => {
            let ended = crate::app::deaccession::end_grants(
                conn,
                state,
                &l.row.id,
                now,
                "retention_ended",
                None,
            )?;
            events::record(
                conn,
                &ctx,
                &l.row.id,
                &concerned,
                &Event::ResourceRetentionEnded {
                    retention_until: row.due_at.and_utc(),
                    grants_ended: ended,
                },
            )?;
        }
        what => {
            let Some((_, days)) = REMINDERS.iter().find(|(w, _)| *w == what) else {
                return Ok(None);
            };
            let end = dataset_fields(&l)?.retention_until;
            let Some(end) = end else {
                return Ok(None);
            };
            let end_date = end.format("%Y-%m-%d").to_string();
            let notices: Vec<Notice> = owners
                .iter()
                .map(|u| {
                    let mut n = notice(u, "retention_reminder", None, *days);
                    n.data["date"] = json!(end_date);
                    n
                })
                .collect();
            events::record_notifying(
                conn,
                state,
                &ctx,
                &l.row.id,
                &concerned,
                &Event::ResourceRetentionReminder {
                    retention_until: end,
                    days: *days,
                },
                notices,
            )?;
        }
    }
    Ok(Some(row.what.clone()))
}
