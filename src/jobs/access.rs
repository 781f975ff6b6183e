//! Dataset access over time: grants and requests expire, deciders are
//! reminded (`sweep`).

use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, NaiveDateTime};
use serde_json::json;

use crate::api::access::{deciders, institution_name, listed};
use crate::app::events;
use crate::app::notifications::{Kind, notify};
use crate::db::access::{self as store, Change, RequestRow};
use crate::db::accounts::{self, UserRow};
use crate::db::audit::Context;
use crate::db::resources as resources_store;
use crate::db::{DbConnection, write_transaction};
use crate::domain::access::RequestStatus;
use crate::domain::events::Event as DomainEvent;
use crate::error::ApiError;
use crate::state::AppState;

/// What one `sweep` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub grants_expired: usize,
    pub requests_expired: usize,
    pub reminders: usize,
}

/// The periodic job (run by housekeeping, and by tests with their own
/// clock): marks grants whose time is up as `expired`, expires requests
/// nobody decided within `access.pending_expiry_days`, and reminds the
/// deciders of requests pending longer than `access.reminder_after_days`:
/// one email per decider and run, each request at most once per period.
/// Each change is a conditional update, so instances running it at once
/// never double an email.
pub fn sweep(
    conn: &mut DbConnection,
    state: &AppState,
    now: NaiveDateTime,
) -> Result<Swept, ApiError> {
    let access = &state.settings.access;
    let mut swept = Swept::default();
    // One row that fails (and rolls back alone) does not stop the rest.
    let each = |conn: &mut DbConnection, row: &RequestRow, from| match expire(
        conn, state, row, from, now,
    ) {
        Ok(done) => done,
        Err(err) => {
            tracing::warn!(request = %row.id, error = %err, "could not expire an access request");
            false
        }
    };
    for row in store::grants_ended(conn, now)? {
        if each(conn, &row, RequestStatus::Approved) {
            swept.grants_expired += 1;
        }
    }
    let stale = now - Duration::days(i64::from(access.pending_expiry_days));
    for row in store::pending_since(conn, stale)? {
        if each(conn, &row, RequestStatus::Pending) {
            swept.requests_expired += 1;
        }
    }
    swept.reminders = remind(conn, state, now)?;
    Ok(swept)
}

fn expire(
    conn: &mut DbConnection,
    state: &AppState,
    row: &RequestRow,
    from: RequestStatus,
    now: NaiveDateTime,
) -> Result<bool, ApiError> {
    let change = Change {
        ended_at: Some(Some(now)),
        ..Change::default()
    };
    write_transaction(conn, |conn| {
        if !store::set_status(conn, &row.id, from.as_str(), "expired", now, &change)? {
            return Ok(false);
        }
        let l = listed(conn, &row.id)?;
        let dataset = resources_store::by_id(conn, &row.dataset_id)?;
        if let Some(user) = accounts::user_by_id(conn, &row.requester_id)?.filter(|u| u.active) {
            let owner = dataset
                .as_ref()
                .map(|d| d.institution_slug.as_str())
                .unwrap_or_default();
            let owner_name = institution_name(conn, owner)?;
            let how = if from == RequestStatus::Approved {
                "grant_expired"
            } else {
                "request_expired"
            };
            notify(
                conn,
                state,
                &user,
                Kind::AccessEnded,
                json!({"display_name": user.display_name, "dataset": l.dataset_title,
                       "owner_institution": owner_name, "how": how, "note": null,
                       "request_id": row.id}),
            )?;
        }
        let concerned: Vec<&str> = dataset
            .as_ref()
            .map(|d| d.row.institution_id.as_str())
            .into_iter()
            .chain(row.institution_id.as_deref())
            .collect();
        events::record(
            conn,
            &Context::new(None),
            &row.id,
            &concerned,
            &DomainEvent::AccessRequestExpired {
                dataset_id: row.dataset_id.clone(),
                from: from.as_str().into(),
                to: "expired".into(),
            },
        )?;
        Ok(true)
    })
}

fn remind(
    conn: &mut DbConnection,
    state: &AppState,
    now: NaiveDateTime,
) -> Result<usize, ApiError> {
    let access = &state.settings.access;
    let period = now - Duration::days(i64::from(access.reminder_after_days));
    write_transaction(conn, |conn| {
        // Each decider gets one email listing every claimed request they may
        // decide, whichever of their institutions it belongs to.
        let mut deciders_of: HashMap<String, Vec<UserRow>> = HashMap::new();
        let mut due: BTreeMap<String, (UserRow, Vec<serde_json::Value>)> = BTreeMap::new();
        for row in store::pending_since(conn, period)? {
            if !store::claim_reminder(conn, &row.id, period, now)? {
                continue;
            }
            let (Some(l), Some(ds)) = (
                store::by_id(conn, &row.id)?,
                resources_store::by_id(conn, &row.dataset_id)?,
            ) else {
                continue;
            };
            let institution = ds.row.institution_id;
            if !deciders_of.contains_key(&institution) {
                let found = deciders(conn, &institution)?;
                deciders_of.insert(institution.clone(), found);
            }
            let item = json!({"id": row.id, "dataset": l.dataset_title,
                              "requester": l.requester_name,
                              "created_on": row.created_at.format("%Y-%m-%d").to_string()});
            for decider in deciders_of.get(&institution).into_iter().flatten() {
                if decider.id == row.requester_id {
                    continue;
                }
                due.entry(decider.id.clone())
                    .or_insert_with(|| (decider.clone(), Vec::new()))
                    .1
                    .push(item.clone());
            }
        }
        let sent = due.len();
        for (decider, requests) in due.into_values() {
            notify(
                conn,
                state,
                &decider,
                Kind::AccessReminder,
                json!({"display_name": decider.display_name,
                       "after_days": access.reminder_after_days,
                       "expire_days": access.pending_expiry_days,
                       "requests": requests}),
            )?;
        }
        Ok(sent)
    })
}
