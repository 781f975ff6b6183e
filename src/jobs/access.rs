//! Dataset access over time: grants and requests expire, deciders are
//! reminded (`sweep`). The commands are `app::access::{expire, remind}`;
//! this job picks what is due and keeps going past a row that fails.

use chrono::{Duration, NaiveDateTime};

use crate::app::access::{expire, remind};
use crate::db::DbConnection;
use crate::db::access::{self as store, RequestRow};
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
    let each = |conn: &mut DbConnection, row: &RequestRow| match expire(conn, state, row, now) {
        Ok(done) => done,
        Err(err) => {
            tracing::warn!(request = %row.id, error = %err, "could not expire an access request");
            false
        }
    };
    for row in store::grants_ended(conn, now)? {
        if each(conn, &row) {
            swept.grants_expired += 1;
        }
    }
    let stale = now - Duration::days(i64::from(access.pending_expiry_days));
    for row in store::pending_since(conn, stale)? {
        if each(conn, &row) {
            swept.requests_expired += 1;
        }
    }
    swept.reminders = remind(conn, state, now)?;
    Ok(swept)
}
